import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CertmidClient, JobProgress } from '../../src/client/client.js';
import { openssl } from '../helpers/openssl.js';
import { adminClient, createInternalCertificate, createIntermediateCa, createRootCa, scratchDir, subjectParams, validationErrorsOf, type Entry } from '../helpers/pki-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
let client: CertmidClient;
let root: Entry;
let intermediate: Entry;
const scratch = scratchDir();

beforeAll(async () => {
  server = await startTestServer();
  client = await adminClient(server);
  root = await createRootCa(client, 'cert-root');
  intermediate = await createIntermediateCa(client, 'cert-inter', root.id);
});
afterAll(async () => {
  await client?.close();
  await server?.close();
  scratch.remove();
});

async function opensslOk(args: string[], input?: string | Buffer): Promise<string> {
  const result = await openssl(args, input);
  expect(result.code, `openssl ${args.join(' ')}: ${result.stderr}`).toBe(0);
  return result.stdout;
}

async function verifyWithChain(certificate: string): Promise<void> {
  const rootFile = scratch.file('root.pem', root.certificate!);
  const interFile = scratch.file('inter.pem', intermediate.certificate!);
  expect(await opensslOk(['verify', '-CAfile', rootFile, '-untrusted', interFile], certificate)).toContain('OK');
}

/** A self-signed certificate and key made by openssl alone, in PEM. */
async function opensslSelfSigned(name: string, keyArgs: string[], days = 30): Promise<{ cert: string; key: string; keyFile: string }> {
  const keyFile = path.join(scratch.dir, `${name}.key`);
  await opensslOk(['genpkey', ...keyArgs, '-out', keyFile]);
  const cert = await opensslOk(['req', '-x509', '-key', keyFile, '-subj', `/CN=${name}`, '-days', String(days)]);
  return { cert, key: fs.readFileSync(keyFile, 'utf8'), keyFile };
}

async function importCertificate(name: string, fields: Record<string, unknown>): Promise<Entry> {
  return client.callJob<Entry>('certificate.create', [{ name, create_type: 'CERTIFICATE_CREATE_IMPORTED', ...fields }]);
}

async function certificateCount(): Promise<number> {
  return client.call<number>('certificate.query', [], { count: true });
}

describe('certificate.create CERTIFICATE_CREATE_INTERNAL', () => {
  it('issues a certificate openssl verifies, with every requested name and extension, reporting TrueNAS progress', async () => {
    const progress: JobProgress[] = [];
    const entry = await client.callJob<Entry>(
      'certificate.create',
      [
        {
          ...subjectParams(),
          name: 'web',
          create_type: 'CERTIFICATE_CREATE_INTERNAL',
          signedby: intermediate.id,
          san: ['*.example.com', 'bücher.example', '10.0.0.1', '2001:db8::1', 'email:ops@example.com', 'URI:https://example.com/id'],
          cert_extensions: {
            BasicConstraints: { enabled: true, ca: false, extension_critical: true },
            AuthorityKeyIdentifier: { enabled: true, authority_cert_issuer: true },
            ExtendedKeyUsage: { enabled: true, usages: ['SERVER_AUTH', 'CLIENT_AUTH'], extension_critical: true },
            KeyUsage: { enabled: true, digital_signature: true, key_encipherment: true, extension_critical: true },
          },
        },
      ],
      { onProgress: (p) => p.percent > 0 && progress.push({ ...p }) },
    );
    expect(progress.map((p) => [p.percent, p.description])).toEqual([
      [10, 'Initial validation complete'],
      [20, 'Generating RSA-2048 key…'],
      [60, `Signing with ${intermediate.name}`],
      [90, 'Finalizing changes'],
      [100, 'Certificate created successfully'],
    ]);
    expect(entry).toMatchObject({
      type: 16,
      cert_type_internal: true,
      internal: 'YES',
      expired: false,
      key_type: 'RSA',
      key_length: 2048,
      san: ['DNS:*.example.com', 'DNS:xn--bcher-kva.example', 'IP Address:10.0.0.1', 'IP Address:2001:DB8:0:0:0:0:0:1', 'email:ops@example.com', 'URI:https://example.com/id'],
      days_left: expect.any(Number),
      not_after: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    expect((entry.signedby as Entry).id).toBe(intermediate.id);
    expect(entry.chain_list).toEqual([entry.certificate, intermediate.certificate, root.certificate]);
    expect(entry.from).toMatch(/^[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}$/);
    await verifyWithChain(entry.certificate!);
    const text = await opensslOk(['x509', '-noout', '-text'], entry.certificate!);
    expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:FALSE/);
    expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature, Key Encipherment/);
    expect(text).toMatch(/X509v3 Extended Key Usage: critical\s+TLS Web Server Authentication, TLS Web Client Authentication/);
    expect(text).toContain('DNS:*.example.com');
    expect(text).toContain('DNS:xn--bcher-kva.example');
    expect(text).toContain('IP Address:2001:DB8:0:0:0:0:0:1');
    expect(text).toContain('email:ops@example.com');
    expect(text).toContain('URI:https://example.com/id');
    expect(text).toContain(`URI:${intermediate.crl_url as string}`);
    expect(text).toContain('CA Issuers - URI:');
    expect(text).toContain('X509v3 Subject Key Identifier');
    expect(text).toContain('X509v3 Authority Key Identifier');
    const hash = await opensslOk(['x509', '-noout', '-hash'], entry.certificate!);
    expect(entry.subject_name_hash).toBe(parseInt(hash.trim(), 16));
  });

  it.each([
    [{ key_type: 'RSA', key_length: 3072, digest_algorithm: 'SHA224' }, 'RSA', 3072, 'SHA224'],
    [{ key_type: 'RSA', key_length: 4096, digest_algorithm: 'SHA512' }, 'RSA', 4096, 'SHA512'],
    [{ key_type: 'EC', ec_curve: 'SECP256R1', key_length: undefined, digest_algorithm: 'SHA256' }, 'EC', 256, 'SHA256'],
    [{ key_type: 'EC', ec_curve: 'SECP521R1', key_length: undefined, digest_algorithm: 'SHA512' }, 'EC', 521, 'SHA512'],
    [{ key_type: 'EC', ec_curve: 'ed25519', key_length: undefined }, 'EC', 32, 'ED25519'],
  ])('issues with %j', async (keyFields, keyType, keyLength, digest) => {
    const name = `matrix-${String(keyType)}-${String(keyLength)}-${String(digest)}`.toLowerCase();
    const entry = await createInternalCertificate(client, name, intermediate.id, keyFields);
    expect(entry).toMatchObject({ key_type: keyType, key_length: keyLength });
    await verifyWithChain(entry.certificate!);
    await opensslOk(['pkey', '-noout', '-check'], entry.privatekey!).catch(() => opensslOk(['pkey', '-noout'], entry.privatekey!));
  });

  it('reports the per-type required fields and the empty SAN', async () => {
    const errors = await validationErrorsOf(client.callJob('certificate.create', [{ name: 'incomplete', create_type: 'CERTIFICATE_CREATE_INTERNAL', key_length: 2048, digest_algorithm: 'SHA256', signedby: root.id }]));
    // TrueNAS reports missing fields in certificate_create's field order, and the generator's SAN check only after.
    expect(errors).toEqual([
      ['certificate_create_internal.lifetime', 'attribute required', 22],
      ['certificate_create_internal.city', 'attribute required', 22],
      ['certificate_create_internal.country', 'attribute required', 22],
      ['certificate_create_internal.email', 'attribute required', 22],
      ['certificate_create_internal.organization', 'attribute required', 22],
      ['certificate_create_internal.state', 'attribute required', 22],
    ]);
    expect(await validationErrorsOf(createInternalCertificate(client, 'no-san', root.id, { san: [] }))).toEqual([['certificate_cert_info.san', 'Empty value not allowed', 22]]);
  });

  it('validates extensions as TrueNAS does', async () => {
    const errors = await validationErrorsOf(
      createInternalCertificate(client, 'bad-ext', root.id, {
        cert_extensions: { KeyUsage: { enabled: true, key_cert_sign: true }, ExtendedKeyUsage: { enabled: true, usages: [] } },
      }),
    );
    expect(errors).toEqual(
      expect.arrayContaining([
        ['certificate_create.BasicConstraints', 'Please enable ca when key_cert_sign is set in KeyUsage as per RFC 5280.', 22],
        ['certificate_create.ExtendedKeyUsage.usages', 'Please specify at least one USAGE for this extension.', 22],
      ]),
    );
  });

  it('rejects bad names, an unknown CA, SHA-1 and unknown fields', async () => {
    expect(await validationErrorsOf(createInternalCertificate(client, 'external', root.id))).toContainEqual(['certificate_create.name', 'external is a reserved internal keyword for Certificate Management', 22]);
    expect(await validationErrorsOf(createInternalCertificate(client, 'no-ca', 9999))).toContainEqual(['certificate_create.signedby', 'Please provide a valid signing authority', 22]);
    expect(await validationErrorsOf(createInternalCertificate(client, 'sha1', root.id, { digest_algorithm: 'SHA1' }))).toContainEqual([
      'certificate_create.digest_algorithm',
      expect.stringContaining('Invalid choice'),
      22,
    ]);
    expect(await validationErrorsOf(createInternalCertificate(client, 'extra', root.id, { colour: 'red' }))).toContainEqual(['certificate_create.colour', 'Field was not expected', 22]);
    expect(await validationErrorsOf(createInternalCertificate(client, 'bad-san', root.id, { san: ['999.1.1.1/x y'] }))).toContainEqual(['certificate_create.san.0', expect.any(String), 22]);
  });
});

describe('certificate.create CERTIFICATE_CREATE_CSR', () => {
  it('makes a CSR openssl verifies, without certificate-only fields', async () => {
    const progress: Array<[number, string]> = [];
    const csr = await client.callJob<Entry>(
      'certificate.create',
      [{ ...subjectParams({ lifetime: undefined, san: ['csr.example.com'] }), name: 'csr-1', create_type: 'CERTIFICATE_CREATE_CSR' }],
      { onProgress: (p) => p.percent > 0 && progress.push([p.percent, p.description]) },
    );
    expect(progress.map(([percent]) => percent)).toEqual([10, 20, 60, 80, 90, 100]);
    expect(progress[1]).toEqual([20, 'Generating RSA-2048 key…']);
    expect(csr).toMatchObject({ type: 32, cert_type_CSR: true, issuer: 'external - signature pending', certificate: null, from: null, until: null, san: ['DNS:csr.example.com'] });
    for (const absent of ['digest_algorithm', 'lifetime', 'serial', 'chain', 'fingerprint', 'expired']) expect(csr).not.toHaveProperty(absent);
    expect(await openssl(['req', '-noout', '-verify'], csr.CSR as string)).toMatchObject({ code: 0 });
  });

  it('refuses lifetime and signedby, and AuthorityKeyIdentifier', async () => {
    const errors = await validationErrorsOf(
      client.callJob('certificate.create', [
        { ...subjectParams(), signedby: root.id, name: 'csr-bad', create_type: 'CERTIFICATE_CREATE_CSR', cert_extensions: { AuthorityKeyIdentifier: { enabled: true } } },
      ]),
    );
    // The AuthorityKeyIdentifier check is create_csr's own, reached only once its schema passed.
    expect(errors).toEqual([
      ['certificate_create_csr.lifetime', 'Field was not expected', 22],
      ['certificate_create_csr.signedby', 'Field was not expected', 22],
    ]);
    expect(
      await validationErrorsOf(
        client.callJob('certificate.create', [
          { ...subjectParams({ lifetime: undefined }), name: 'csr-bad', create_type: 'CERTIFICATE_CREATE_CSR', cert_extensions: { AuthorityKeyIdentifier: { enabled: true } } },
        ]),
      ),
    ).toEqual([['cert_extensions.AuthorityKeyIdentifier.enabled', 'This extension is not valid for CSR', 22]]);
  });
});

describe('importing', () => {
  it.each([
    ['pkcs8', ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'], []],
    ['ec-pkcs8', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'], []],
    ['ed25519', ['-algorithm', 'ED25519'], []],
    ['pkcs1', ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'], ['rsa', '-traditional']],
    ['sec1', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384'], ['ec']],
  ])('imports a certificate with a %s key', async (shape, keyArgs, convert) => {
    const made = await opensslSelfSigned(`imp-${shape}`, keyArgs);
    const key = convert.length ? await opensslOk([...convert, '-in', made.keyFile]) : made.key;
    const entry = await importCertificate(`imp-${shape}`, { certificate: made.cert, privatekey: key });
    expect(entry).toMatchObject({ type: 8, cert_type_existing: true, issuer: 'external', internal: 'NO', common: `imp-${shape}` });
    expect(entry.privatekey).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    const modulus = await opensslOk(['pkey', '-pubout'], entry.privatekey!);
    expect(modulus).toBe(await opensslOk(['x509', '-noout', '-pubkey'], made.cert));
  });

  it('imports encrypted keys with their passphrase: PKCS#8 and legacy Proc-Type', async () => {
    const made = await opensslSelfSigned('imp-enc', ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048']);
    const pkcs8 = await opensslOk(['pkcs8', '-topk8', '-v2', 'aes-256-cbc', '-in', made.keyFile, '-passout', 'pass:s3cret']);
    const legacy = await opensslOk(['rsa', '-aes256', '-traditional', '-in', made.keyFile, '-passout', 'pass:s3cret']);
    expect(legacy).toContain('Proc-Type: 4,ENCRYPTED');
    expect((await importCertificate('imp-enc-pkcs8', { certificate: made.cert, privatekey: pkcs8, passphrase: 's3cret' })).privatekey).toMatch(/BEGIN PRIVATE KEY/);
    expect((await importCertificate('imp-enc-legacy', { certificate: made.cert, privatekey: legacy, passphrase: 's3cret' })).privatekey).toMatch(/BEGIN PRIVATE KEY/);

    const before = await certificateCount();
    const message = 'A valid private key is required, with a passphrase if one has been set.';
    expect(await validationErrorsOf(importCertificate('imp-enc-wrong', { certificate: made.cert, privatekey: pkcs8, passphrase: 'wrong' }))).toEqual([['certificate_create.privatekey', message, 22]]);
    expect(await validationErrorsOf(importCertificate('imp-enc-missing', { certificate: made.cert, privatekey: legacy }))).toEqual([['certificate_create.privatekey', message, 22]]);
    expect(await certificateCount()).toBe(before);
  });

  it('imports DER and PKCS#12 made by openssl', async () => {
    const made = await opensslSelfSigned('imp-der', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']);
    const der = (await openssl(['x509', '-outform', 'DER'], made.cert)).stdoutBuffer;
    const derKey = (await openssl(['pkey', '-in', made.keyFile, '-outform', 'DER'])).stdoutBuffer;
    const fromDer = await importCertificate('imp-der', { certificate: der.toString('base64'), privatekey: derKey.toString('base64') });
    expect(fromDer.privatekey).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(fromDer.fingerprint).toBe((await opensslOk(['x509', '-noout', '-fingerprint', '-sha1'], made.cert)).trim().split('=')[1]);
    const certFile = scratch.file('p12.crt', made.cert);
    const p12 = (await openssl(['pkcs12', '-export', '-in', certFile, '-inkey', made.keyFile, '-passout', 'pass:p12pass'])).stdoutBuffer;
    const fromP12 = await importCertificate('imp-p12', { pkcs12: p12.toString('base64'), passphrase: 'p12pass' });
    expect(fromP12).toMatchObject({ fingerprint: fromDer.fingerprint, key_type: 'EC' });
    expect(await validationErrorsOf(importCertificate('imp-p12-bad', { pkcs12: p12.toString('base64'), passphrase: 'nope' }))).toEqual([
      ['certificate_create.pkcs12', expect.stringContaining('passphrase'), 22],
    ]);
  });

  it('rejects garbage, a key that does not match, and a chain in the wrong order, storing nothing', async () => {
    const a = await opensslSelfSigned('mismatch-a', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']);
    const b = await opensslSelfSigned('mismatch-b', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']);
    const leaf = await createInternalCertificate(client, 'chain-leaf', intermediate.id);
    const before = await certificateCount();
    expect(await validationErrorsOf(importCertificate('garbage', { certificate: '-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----', privatekey: a.key }))).toContainEqual([
      'certificate_create.certificate',
      'Not a valid certificate',
      22,
    ]);
    expect(await validationErrorsOf(importCertificate('garbage-key', { certificate: a.cert, privatekey: 'hello' }))).toEqual([
      ['certificate_create.privatekey', 'A valid private key is required, with a passphrase if one has been set.', 22],
    ]);
    expect(await validationErrorsOf(importCertificate('mismatch', { certificate: a.cert, privatekey: b.key }))).toEqual([
      ['certificate_create.privatekey', 'Private key does not match certificate: key values mismatch', 22],
    ]);
    expect(await validationErrorsOf(importCertificate('no-key', { certificate: a.cert }))).toEqual([['certificate_create.privatekey', 'Private key is required when importing a certificate', 22]]);
    const wrongOrder = `${root.certificate!}${intermediate.certificate!}${leaf.certificate!}`;
    expect(await validationErrorsOf(importCertificate('wrong-order', { certificate: wrongOrder, privatekey: leaf.privatekey }))).toContainEqual([
      'certificate_create.certificate',
      expect.stringContaining('not in order'),
      22,
    ]);
    expect(await certificateCount()).toBe(before);
    const rightOrder = `${leaf.certificate!}${intermediate.certificate!}${root.certificate!}`;
    const chained = await importCertificate('right-order', { certificate: rightOrder, privatekey: leaf.privatekey });
    expect(chained).toMatchObject({ chain: true });
    expect(chained.chain_list).toHaveLength(3);
  });

  it('accepts expired and not-yet-valid certificates and flags them', async () => {
    const keyFile = path.join(scratch.dir, 'dated.key');
    await opensslOk(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', keyFile]);
    const csrFile = scratch.file('dated.csr', await opensslOk(['req', '-new', '-key', keyFile, '-subj', '/CN=dated']));
    // notAfter one day before notBefore: already expired.
    const expired = await opensslOk(['x509', '-req', '-in', csrFile, '-signkey', keyFile, '-days', '-1']);
    // A self-signed certificate whose validity starts in 2099, made with `openssl ca`.
    fs.mkdirSync(path.join(scratch.dir, 'ca-db'), { recursive: true });
    scratch.file('ca-db/index.txt', '');
    scratch.file('ca-db/serial', '01\n');
    const config = scratch.file(
      'ca.cnf',
      `[ca]\ndefault_ca = local\n[local]\ndatabase = ${scratch.dir}/ca-db/index.txt\nserial = ${scratch.dir}/ca-db/serial\nnew_certs_dir = ${scratch.dir}/ca-db\ndefault_md = sha256\npolicy = anything\nunique_subject = no\n[anything]\ncommonName = supplied\n`,
    );
    const futureFile = path.join(scratch.dir, 'future.pem');
    await opensslOk(['ca', '-batch', '-config', config, '-selfsign', '-keyfile', keyFile, '-in', csrFile, '-startdate', '20991231000000Z', '-enddate', '21001231000000Z', '-out', futureFile]);
    const key = fs.readFileSync(keyFile, 'utf8');
    const old = await importCertificate('expired-cert', { certificate: expired, privatekey: key });
    expect(old).toMatchObject({ parsed: true, expired: true, not_yet_valid: false });
    expect(old.days_left as number).toBeLessThan(0);
    const future = await importCertificate('future-cert', { certificate: fs.readFileSync(futureFile, 'utf8'), privatekey: key });
    expect(future).toMatchObject({ parsed: true, expired: false, not_yet_valid: true, not_before: '2099-12-31T00:00:00.000Z' });
  });

  it('imports a CSR with its key and refuses a CSR whose key does not match', async () => {
    const keyFile = path.join(scratch.dir, 'csr.key');
    await opensslOk(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', keyFile]);
    const csr = await opensslOk(['req', '-new', '-key', keyFile, '-subj', '/CN=imported-csr/O=Example', '-addext', 'subjectAltName=DNS:imported.example']);
    const entry = await client.callJob<Entry>('certificate.create', [{ name: 'imp-csr', create_type: 'CERTIFICATE_CREATE_IMPORTED_CSR', CSR: csr, privatekey: fs.readFileSync(keyFile, 'utf8') }]);
    expect(entry).toMatchObject({ cert_type_CSR: true, common: 'imported-csr', organization: 'Example', san: ['DNS:imported.example'] });
    const other = await opensslSelfSigned('other', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']);
    expect(await validationErrorsOf(client.callJob('certificate.create', [{ name: 'imp-csr-bad', create_type: 'CERTIFICATE_CREATE_IMPORTED_CSR', CSR: csr, privatekey: other.key }]))).toEqual([
      ['certificate_create.privatekey', 'Private key does not match the CSR', 22],
    ]);
  });
});

describe('certificate.export', () => {
  it('exports PEM, full chain and PKCS#12 (AES-256) that openssl opens', async () => {
    const leaf = await createInternalCertificate(client, 'export-leaf', intermediate.id);
    const pem = await client.call<{ data: string }>('certificate.export', leaf.id, { format: 'PEM', include_key: true });
    expect(pem.data).toContain('BEGIN CERTIFICATE');
    expect(pem.data).toContain('BEGIN PRIVATE KEY');
    const fullchain = await client.call<{ data: string }>('certificate.export', leaf.id, { format: 'FULLCHAIN' });
    expect(fullchain.data.match(/BEGIN CERTIFICATE/g)).toHaveLength(3);
    const p12 = await client.call<{ data: string; encoding: string }>('certificate.export', leaf.id, { format: 'PKCS12', include_key: true, password: 'export-pass' });
    const info = await openssl(['pkcs12', '-info', '-nodes', '-passin', 'pass:export-pass'], Buffer.from(p12.data, 'base64'));
    expect(info.code, info.stderr).toBe(0);
    expect(info.stderr + info.stdout).toContain('AES-256-CBC');
    expect(info.stdout).toContain('BEGIN PRIVATE KEY');
    expect(await validationErrorsOf(client.call('certificate.export', leaf.id, { format: 'PKCS12' }))).toEqual([['certificate_export.password', 'A password is required for PKCS12', 22]]);
  });

  it('writes PEM files with the key that openssl reads whole: every block on its own lines', async () => {
    const internal = await createInternalCertificate(client, 'export-pem-internal', intermediate.id);
    // Imported text without a trailing newline, as a pasted certificate often is.
    const made = await opensslSelfSigned('export-pem-imported', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']);
    const imported = await importCertificate('export-pem-imported', { certificate: made.cert.trimEnd(), privatekey: made.key.trimEnd() });
    const csr = await client.callJob<Entry>('certificate.create', [{ ...subjectParams({ key_type: 'EC', ec_curve: 'SECP256R1', key_length: undefined, lifetime: undefined }), name: 'export-pem-csr', create_type: 'CERTIFICATE_CREATE_CSR' }]);
    const exports: Array<[string, number, string, number]> = [
      ['certificate', internal.id, 'PEM', 1],
      ['certificate', internal.id, 'FULLCHAIN', 3],
      ['certificate', imported.id, 'PEM', 1],
      ['certificate', imported.id, 'FULLCHAIN', 1],
      ['certificate', csr.id, 'PEM', 0],
      ['certificateauthority', intermediate.id, 'PEM', 1],
      ['certificateauthority', intermediate.id, 'FULLCHAIN', 2],
    ];
    for (const [namespace, id, format, certificates] of exports) {
      const { data } = await client.call<{ data: string }>(`${namespace}.export`, id, { format, include_key: true });
      const what = `${namespace} ${id} ${format}`;
      expect(data, what).toMatch(/\n$/);
      for (const line of data.split('\n')) expect(line, what).not.toMatch(/.-----BEGIN /);
      const file = scratch.file(`export-${namespace}-${id}-${format}.pem`, data);
      await opensslOk(['pkey', '-in', file, '-noout']);
      if (certificates === 0) await opensslOk(['req', '-in', file, '-noout', '-verify']);
      else {
        const bundle = await opensslOk(['crl2pkcs7', '-nocrl', '-certfile', file]);
        expect((await opensslOk(['pkcs7', '-print_certs', '-noout'], bundle)).match(/^subject=/gm), what).toHaveLength(certificates);
      }
    }
  });
});

describe('certificate.update and delete', () => {
  it('renames, refuses to revoke an imported certificate, and deletes', async () => {
    const made = await opensslSelfSigned('upd', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']);
    const imported = await importCertificate('upd', { certificate: made.cert, privatekey: made.key });
    expect((await client.callJob<Entry>('certificate.update', [imported.id, { name: 'upd-renamed' }])).name).toBe('upd-renamed');
    expect(await validationErrorsOf(client.callJob('certificate.update', [imported.id, { revoked: true }]))).toEqual([
      ['certificate_update.revoked', 'Only certificate(s) can be revoked which have a CA present on the system', 22],
    ]);
    expect(await validationErrorsOf(client.callJob('certificate.update', [imported.id, { renew_days: 5 }]))).toEqual([
      ['certificate_update.renew_days', 'Certificate renewal days is only supported for ACME certificates', 22],
    ]);
    expect(await client.callJob('certificate.delete', [imported.id])).toBe(true);
    expect(await validationErrorsOf(client.call('certificate.get_instance', imported.id))).toEqual([[null, `Certificate ${imported.id} does not exist`, 2]]);
  });
});

describe('storage and first start', () => {
  it('keeps no private key material in the database file', async () => {
    const leaf = await createInternalCertificate(client, 'secret-leaf', intermediate.id);
    const keyBody = leaf.privatekey!.split('\n')[1]!;
    const files = fs.readdirSync(server.dataDir).filter((f) => f.startsWith('certmid.db'));
    for (const file of files) {
      const raw = fs.readFileSync(path.join(server.dataDir, file));
      expect(raw.includes(Buffer.from('PRIVATE KEY')), file).toBe(false);
      expect(raw.includes(Buffer.from(keyBody)), file).toBe(false);
    }
  });

  it('created the default self-signed certificate once', async () => {
    const defaults = await client.call<Entry[]>('certificate.query', [['name', '=', 'truenas_default']]);
    expect(defaults).toHaveLength(1);
    expect(defaults[0]).toMatchObject({ cert_type_existing: true, issuer: 'external', key_type: 'RSA', key_length: 2048, digest_algorithm: 'SHA256', lifetime: 397, san: ['DNS:localhost'], common: 'localhost' });
    const text = await opensslOk(['x509', '-noout', '-text'], defaults[0]!.certificate!);
    expect(text).toContain('TLS Web Server Authentication');
  });

  it('refuses to delete the certificate the web UI uses', async () => {
    const [ui] = await client.call<Entry[]>('certificate.query', [['name', '=', 'truenas_default']]);
    await expect(client.callJob('certificate.delete', [ui!.id, true])).rejects.toMatchObject({
      state: 'FAILED',
      error: '[EFAULT] Certificate is being used by following service(s):\n1) UI Service\n',
    });
    expect(await client.call('certificate.query', [['id', '=', ui!.id]], { count: true })).toBe(1);
  });

  it('sends id-only certificate.query events', async () => {
    const events: unknown[] = [];
    const unsubscribe = await client.subscribe('certificate.query', (event) => events.push(event));
    const leaf = await createInternalCertificate(client, 'evented', root.id);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(events).toContainEqual({ msg: 'added', collection: 'certificate.query', id: leaf.id });
    await unsubscribe();
  });

  it('hides private keys from a read-only caller', async () => {
    await client.call('user.create', { username: 'cert-reader', password: 'a-long-password', roles: ['READONLY_ADMIN'] });
    const { CertmidClient } = await import('../../src/client/client.js');
    const { WebSocket } = await import('ws');
    const reader = await CertmidClient.connect(server.url, { WebSocket });
    await reader.login('cert-reader', 'a-long-password');
    const entries = await reader.call<Entry[]>('certificate.query', [['privatekey', '!=', null]]);
    expect(entries.length).toBeGreaterThan(0);
    expect(new Set(entries.map((e) => e.privatekey))).toEqual(new Set(['********']));
    await expect(reader.call('certificate.export', entries[0]!.id, { include_key: true })).rejects.toMatchObject({ data: { errname: 'EACCES' } });
    await reader.close();
  });
});

describe('private keys by role', () => {
  const REDACTED = '********';

  async function userClient(username: string, roles: string[]): Promise<CertmidClient> {
    await client.call('user.create', { username, password: 'a-long-password', roles });
    const { CertmidClient } = await import('../../src/client/client.js');
    const { WebSocket } = await import('ws');
    const user = await CertmidClient.connect(server.url, { WebSocket });
    await user.login(username, 'a-long-password');
    return user;
  }

  /** Every `privatekey` in an entry, nested CA entries (signedby, issuer, theirs) included, by path. */
  function keysOf(value: unknown, at = ''): Array<[string, unknown]> {
    if (value === null || typeof value !== 'object') return [];
    if (Array.isArray(value)) return value.flatMap((item, i) => keysOf(item, `${at}.${i}`));
    return Object.entries(value).flatMap(([key, item]): Array<[string, unknown]> =>
      key === 'privatekey' ? [[`${at}.${key}`.slice(1), item]] : keysOf(item, `${at}.${key}`),
    );
  }

  it('hides nested CA keys from a CERTIFICATE_WRITE-only caller in query, get_instance and the job result', async () => {
    const writer = await userClient('cert-writer-only', ['CERTIFICATE_WRITE']);
    try {
      await expect(writer.call('certificateauthority.get_instance', intermediate.id)).rejects.toMatchObject({ data: { errname: 'EACCES' } });
      const created = await createInternalCertificate(writer, 'writer-leaf', intermediate.id);
      const fetched = await writer.call<Entry>('certificate.get_instance', created.id);
      const [queried] = await writer.call<Entry[]>('certificate.query', [['id', '=', created.id]]);
      for (const entry of [created, fetched, queried!]) {
        // Its own key is the caller's to read; the signing CA's (and its parent's) are not.
        expect(entry.privatekey).toMatch(/^-----BEGIN PRIVATE KEY-----/);
        const nested = keysOf(entry).filter(([where]) => where !== 'privatekey');
        expect(nested.map(([where]) => where)).toEqual(expect.arrayContaining(['signedby.privatekey', 'issuer.privatekey', 'signedby.signedby.privatekey']));
        for (const [where, key] of nested) expect(key, where).toBe(REDACTED);
      }
      // Filters and ordering run on the entry as shown, so they cannot probe a hidden key either.
      expect(await writer.call('certificate.query', [['signedby.privatekey', '^', '-----BEGIN']], { count: true })).toBe(0);
      // The same certificate seen by an administrator carries every key.
      const asAdmin = await client.call<Entry>('certificate.get_instance', created.id);
      for (const [where, key] of keysOf(asAdmin)) expect(key, where).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    } finally {
      await writer.close();
    }
  });

  it('hides certificate keys from a CERTIFICATE_AUTHORITY_WRITE-only caller, who still sees the CA keys', async () => {
    const caWriter = await userClient('ca-writer-only', ['CERTIFICATE_AUTHORITY_WRITE']);
    try {
      const csr = await client.callJob<Entry>('certificate.create', [{ ...subjectParams(), name: 'ca-writer-csr', create_type: 'CERTIFICATE_CREATE_CSR', lifetime: undefined }]);
      const signed = await caWriter.call<Entry>('certificateauthority.ca_sign_csr', { ca_id: intermediate.id, csr_cert_id: csr.id, name: 'ca-writer-signed' });
      expect(signed.privatekey).toBe(REDACTED);
      expect(keysOf(signed).filter(([where]) => where !== 'privatekey').every(([, key]) => typeof key === 'string' && key.startsWith('-----BEGIN'))).toBe(true);
      const ca = await caWriter.call<Entry>('certificateauthority.get_instance', intermediate.id);
      for (const [where, key] of keysOf(ca)) expect(key, where).toMatch(/^-----BEGIN PRIVATE KEY-----/);
      await expect(caWriter.call('certificate.get_instance', signed.id)).rejects.toMatchObject({ data: { errname: 'EACCES' } });
    } finally {
      await caWriter.close();
    }
  });

  it('sends a CERTIFICATE_READ subscriber id-only events and none of another user\'s jobs', async () => {
    const reader = await userClient('cert-read-only', ['CERTIFICATE_READ']);
    try {
      const entityEvents: unknown[] = [];
      const jobEvents: unknown[] = [];
      const stopEntities = await reader.subscribe('certificate.query', (event) => entityEvents.push(event));
      const stopJobs = await reader.subscribe('core.get_jobs', (event) => jobEvents.push(event));
      const leaf = await createInternalCertificate(client, 'watched-by-reader', intermediate.id);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(entityEvents).toContainEqual({ msg: 'added', collection: 'certificate.query', id: leaf.id });
      expect(JSON.stringify(entityEvents)).not.toContain('PRIVATE KEY');
      expect(jobEvents).toEqual([]);
      await stopEntities();
      await stopJobs();
      const [entry] = await reader.call<Entry[]>('certificate.query', [['id', '=', leaf.id]]);
      for (const [where, key] of keysOf(entry)) expect(key, where).toBe(REDACTED);
    } finally {
      await reader.close();
    }
  });
});
