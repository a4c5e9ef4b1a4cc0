import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CertmidClient } from '../../src/client/client.js';
import { openssl, opensslSerial } from '../helpers/openssl.js';
import { adminClient, createInternalCertificate, createIntermediateCa, createRootCa, rpcErrorOf, scratchDir, subjectParams, validationErrorsOf, type Entry } from '../helpers/pki-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
let client: CertmidClient;
const scratch = scratchDir();

beforeAll(async () => {
  server = await startTestServer();
  client = await adminClient(server);
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

describe('certificateauthority.create', () => {
  it('creates a self-signed root CA that openssl reads as a critical CA', async () => {
    const root = await createRootCa(client, 'root-a');
    expect(root).toMatchObject({
      name: 'root-a',
      type: 2,
      CA_type_internal: true,
      CA_type_existing: false,
      issuer: 'self-signed',
      internal: 'YES',
      cert_type: 'CA',
      key_type: 'RSA',
      key_length: 2048,
      digest_algorithm: 'SHA256',
      lifetime: 397,
      revoked: false,
      can_be_revoked: true,
      signed_certificates: 0,
      revoked_certs: [],
      san: ['DNS:domain1', 'IP Address:8.8.8.8'],
      DN: '/CN=root-a root/C=US/ST=TN/L=Knoxville/O=iX/OU=dev/emailAddress=dev@ix.com/subjectAltName=DNS:domain1, IP Address:8.8.8.8',
      crl_url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/crl\/\d+\.crl$/),
    });
    expect(root.chain_list).toEqual([root.certificate]);
    expect(root.privatekey).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    const text = await opensslOk(['x509', '-noout', '-text'], root.certificate!);
    expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:TRUE/);
    expect(text).toMatch(/X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign/);
    expect(text).toContain('sha256WithRSAEncryption');
    const fingerprint = await opensslOk(['x509', '-noout', '-fingerprint', '-sha1'], root.certificate!);
    expect(fingerprint.trim().split('=')[1]).toBe(root.fingerprint);
  });

  it('creates an intermediate whose issuer is the root entry and whose chain openssl verifies', async () => {
    const root = await createRootCa(client, 'root-b');
    const intermediate = await createIntermediateCa(client, 'inter-b', root.id, { key_type: 'EC', ec_curve: 'SECP384R1', key_length: undefined, digest_algorithm: 'SHA384' });
    expect(intermediate).toMatchObject({ type: 4, CA_type_intermediate: true, key_type: 'EC', key_length: 384, digest_algorithm: 'SHA384' });
    expect((intermediate.issuer as Entry).id).toBe(root.id);
    expect((intermediate.signedby as Entry).id).toBe(root.id);
    expect(intermediate.chain_list).toEqual([intermediate.certificate, root.certificate]);
    const rootFile = scratch.file('root-b.pem', root.certificate!);
    expect(await opensslOk(['verify', '-CAfile', rootFile], intermediate.certificate!)).toContain('OK');
  });

  it('imports a CA certificate with and without its key', async () => {
    const made = await createRootCa(client, 'to-import');
    const withKey = await client.call<Entry>('certificateauthority.create', { name: 'imported-with-key', create_type: 'CA_CREATE_IMPORTED', certificate: made.certificate, privatekey: made.privatekey });
    expect(withKey).toMatchObject({ type: 1, CA_type_existing: true, issuer: 'external', internal: 'NO', can_be_revoked: true });
    const withoutKey = await client.call<Entry>('certificateauthority.create', { name: 'imported-no-key', create_type: 'CA_CREATE_IMPORTED', certificate: made.certificate });
    expect(withoutKey).toMatchObject({ privatekey: null, can_be_revoked: false });
  });

  it('reports TrueNAS messages for missing and invalid fields', async () => {
    expect(await validationErrorsOf(client.call('certificateauthority.create', { name: 'ca1', create_type: 'CA_CREATE_INTERNAL' }))).toEqual([
      ['certificate_authority_create.key_length', 'RSA-based keys require an entry in this field.', 22],
      ['certificate_authority_create.digest_algorithm', 'This field is required.', 22],
    ]);
    // TrueNAS reports missing fields in ca_create's field order, and the generator's SAN check only after.
    expect(await validationErrorsOf(client.call('certificateauthority.create', { name: 'ca1', create_type: 'CA_CREATE_INTERNAL', key_length: 2048, digest_algorithm: 'SHA256' }))).toEqual([
      ['ca_create_internal.lifetime', 'attribute required', 22],
      ['ca_create_internal.city', 'attribute required', 22],
      ['ca_create_internal.country', 'attribute required', 22],
      ['ca_create_internal.email', 'attribute required', 22],
      ['ca_create_internal.organization', 'attribute required', 22],
      ['ca_create_internal.state', 'attribute required', 22],
    ]);
    expect(await validationErrorsOf(client.call('certificateauthority.create', { ...subjectParams({ san: [] }), name: 'ca1', create_type: 'CA_CREATE_INTERNAL' }))).toEqual([
      ['certificate_cert_info.san', 'Empty value not allowed', 22],
    ]);
    const errors = await validationErrorsOf(
      client.call('certificateauthority.create', { ...subjectParams(), name: 'bad name!', create_type: 'CA_CREATE_INTERNAL', country: 'XX', cert_extensions: { BasicConstraints: { enabled: false }, KeyUsage: { enabled: true, key_cert_sign: false } } }),
    );
    expect(errors).toEqual(
      expect.arrayContaining([
        ['certificate_authority_create.country', 'XX not in countries recognized by the system', 22],
        ['certificate_authority_create.name', 'Use alphanumeric characters, "_" and "-".', 22],
        ['certificate_authority_create.cert_extensions.BasicConstraints.enabled', 'This must be enabled for a Certificate Authority.', 22],
        ['certificate_authority_create.cert_extensions.KeyUsage.key_cert_sign', '"key_cert_sign" must be enabled for a Certificate Authority.', 22],
      ]),
    );
  });

  it('refuses a duplicate name and a lifetime past year 9999', async () => {
    await createRootCa(client, 'dup-ca');
    expect(await validationErrorsOf(createRootCa(client, 'dup-ca'))).toContainEqual(['certificate_authority_create.name', 'A certificate with this name already exists', 22]);
    expect(await validationErrorsOf(createRootCa(client, 'long-ca', { lifetime: 9_999_999 }))).toContainEqual(['certificate_authority_create.lifetime', 'Lifetime for the certificate is too long.', 22]);
  });
});

describe('signing, revocation and CRLs', () => {
  it('signs a CSR, revokes the certificate, and the CRL served over HTTP makes openssl reject it', async () => {
    const root = await createRootCa(client, 'crl-root');
    const csr = await client.callJob<Entry>('certificate.create', [
      { ...subjectParams({ key_type: 'EC', ec_curve: 'SECP256R1', key_length: undefined, lifetime: undefined, san: ['app.example.com'] }), name: 'crl-csr', create_type: 'CERTIFICATE_CREATE_CSR' },
    ]);
    const signed = await client.call<Entry>('certificateauthority.ca_sign_csr', { ca_id: root.id, csr_cert_id: csr.id, name: 'crl-signed' });
    const good = await createInternalCertificate(client, 'crl-good', root.id);
    expect(signed).toMatchObject({ type: 16, cert_type_internal: true, san: ['DNS:app.example.com'] });
    const rootFile = scratch.file('crl-root.pem', root.certificate!);
    expect(await opensslOk(['verify', '-CAfile', rootFile], signed.certificate!)).toContain('OK');

    const revoked = await client.callJob<Entry>('certificate.update', [signed.id, { revoked: true, revoked_reason: 'KEY_COMPROMISE' }]);
    expect(revoked).toMatchObject({ revoked: true, can_be_revoked: false, revoked_reason: 'KEY_COMPROMISE' });
    const ca = await client.call<Entry>('certificateauthority.get_instance', root.id);
    expect(ca.revoked_certs).toEqual([expect.objectContaining({ id: signed.id, cert_type: 'CERTIFICATE' })]);

    const response = await fetch(ca.crl_url as string);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/pkix-crl');
    const der = Buffer.from(await response.arrayBuffer());
    const crlText = await opensslOk(['crl', '-inform', 'DER', '-noout', '-text', '-CAfile', rootFile], der);
    expect(crlText).toMatch(/X509v3 CRL Number:\s+\d+/);
    expect(crlText).toContain('X509v3 Authority Key Identifier');
    expect(crlText).toContain(`Serial Number: ${opensslSerial(signed.serial as number)}`);
    expect(crlText).toContain('Key Compromise');
    const crlPem = await opensslOk(['crl', '-inform', 'DER', '-outform', 'PEM'], der);
    const crlFile = scratch.file('crl-root.crl.pem', crlPem);
    const rejected = await openssl(['verify', '-crl_check', '-CAfile', rootFile, '-CRLfile', crlFile], signed.certificate!);
    expect(rejected.code).not.toBe(0);
    expect(rejected.stdout + rejected.stderr).toContain('certificate revoked');
    expect(await opensslOk(['verify', '-crl_check', '-CAfile', rootFile, '-CRLfile', crlFile], good.certificate!)).toContain('OK');
  });

  it('revokes a CA with its whole subtree and refuses to undo it', async () => {
    const root = await createRootCa(client, 'tree-root');
    const intermediate = await createIntermediateCa(client, 'tree-inter', root.id);
    const leaf = await createInternalCertificate(client, 'tree-leaf', intermediate.id);
    const revokedCa = await client.call<Entry>('certificateauthority.update', intermediate.id, { revoked: true });
    expect(revokedCa.revoked).toBe(true);
    expect((await client.call<Entry>('certificate.get_instance', leaf.id)).revoked).toBe(true);
    const rootEntry = await client.call<Entry>('certificateauthority.get_instance', root.id);
    expect((rootEntry.revoked_certs as Entry[]).map((m) => m.name).sort()).toEqual(['tree-inter', 'tree-leaf']);
    expect(await validationErrorsOf(client.call('certificateauthority.update', intermediate.id, { revoked: false }))).toEqual([
      ['certificate_authority_update.revoked', 'Certificate Authority has already been revoked and this cannot be reversed', 22],
    ]);
    const rootCrl = Buffer.from(await (await fetch(rootEntry.crl_url as string)).arrayBuffer());
    const text = await opensslOk(['crl', '-inform', 'DER', '-noout', '-text'], rootCrl);
    expect(text).toContain(`Serial Number: ${opensslSerial(intermediate.serial as number)}`);
  });

  it('refuses to delete a CA that signed something, naming the dependants', async () => {
    const root = await createRootCa(client, 'busy-root');
    expect((await client.call<Entry>('certificateauthority.get_instance', root.id)).signed_certificates).toBe(0);
    const leaf = await createInternalCertificate(client, 'busy-leaf', root.id);
    expect((await client.call<Entry>('certificateauthority.get_instance', root.id)).signed_certificates).toBe(1);
    await expect(client.call('certificateauthority.delete', root.id)).rejects.toMatchObject({
      data: { errname: 'EBUSY', reason: "[EBUSY] This object is being used by following service(s):\n1) 'certificate' Service\nSigned by it: 'busy-leaf' (certificate)\n", extra: { dependencies: [expect.objectContaining({ service: 'certificate', objects: [{ id: leaf.id, name: 'busy-leaf' }] })] } },
    });
    await client.callJob('certificate.delete', [leaf.id]);
    expect(await client.call('certificateauthority.delete', root.id)).toBe(true);
  });

  it('names at most ten dependants in the reason, and all of them in extra', async () => {
    const root = await createRootCa(client, 'crowded-root');
    const leaves = [];
    for (let i = 0; i < 12; i++) leaves.push(await createInternalCertificate(client, `crowd-${String(i).padStart(2, '0')}`, root.id, { key_type: 'EC', key_length: undefined }));
    const error = await rpcErrorOf(client.call('certificateauthority.delete', root.id));
    const named = leaves.slice(0, 10).map((leaf) => `'${leaf.name}' (certificate)`).join(', ');
    expect(error.data!.reason).toBe(`[EBUSY] This object is being used by following service(s):\n1) 'certificate' Service\nSigned by it: ${named}, and 2 more\n`);
    expect((error.data!.extra as { dependencies: Array<{ objects: unknown[] }> }).dependencies[0]!.objects).toHaveLength(12);
  });

  it('gives concurrently signed certificates distinct serials', async () => {
    const root = await createRootCa(client, 'serial-root');
    const csrs = await Promise.all(
      [0, 1, 2, 3, 4, 5].map((i) =>
        client.callJob<Entry>('certificate.create', [{ ...subjectParams({ key_type: 'EC', key_length: undefined, lifetime: undefined, san: [`s${i}.example.com`] }), name: `serial-csr-${i}`, create_type: 'CERTIFICATE_CREATE_CSR' }]),
      ),
    );
    const signed = await Promise.all(csrs.map((csr, i) => client.call<Entry>('certificateauthority.ca_sign_csr', { ca_id: root.id, csr_cert_id: csr.id, name: `serial-signed-${i}` })));
    const serials = signed.map((s) => String(s.serial));
    expect(new Set(serials).size).toBe(serials.length);
    expect(serials).not.toContain(String(root.serial));
  });

  it('reports ca_sign_csr problems on their attributes', async () => {
    expect(await validationErrorsOf(client.call('certificateauthority.ca_sign_csr', { ca_id: 9999, csr_cert_id: 9999, name: 'x' }))).toEqual([
      ['certificate_authority_update.ca_id', 'No Certificate Authority found for id 9999', 22],
      ['certificate_authority_update.csr_cert_id', 'No Certificate found for id 9999', 22],
    ]);
  });
});

describe('CRL refresh', () => {
  it('re-signs a CRL that nears its nextUpdate, with a higher CRL number', async () => {
    const root = await createRootCa(client, 'refresh-root');
    const crlNumber = async () => {
      const der = Buffer.from(await (await fetch(root.crl_url as string)).arrayBuffer());
      const text = await opensslOk(['crl', '-inform', 'DER', '-noout', '-text'], der);
      return Number(/X509v3 CRL Number:\s+(\d+)/.exec(text)![1]);
    };
    const first = await crlNumber();
    const { refreshDueCrls } = await import('../../src/certs/authority.js');
    const { CertificateAuthorityEntity } = await import('../../src/certs/entities.js');
    await refreshDueCrls(server.daemon.app);
    expect(await crlNumber()).toBe(first);
    // An hour before nextUpdate is inside the refresh margin.
    await server.daemon.app.db.getRepository(CertificateAuthorityEntity).update({ id: root.id }, { crl_next_update: new Date(Date.now() + 3_600_000) });
    await refreshDueCrls(server.daemon.app);
    expect(await crlNumber()).toBe(first + 1);
    const entry = await client.call<Entry>('certificateauthority.get_instance', root.id);
    expect(Date.parse(entry.crl_next_update as string)).toBeGreaterThan(Date.now() + 20 * 3_600_000);
  });
});

describe('certificateauthority.export', () => {
  it('exports DER that openssl reads and refuses a key export to a reader', async () => {
    const root = await createRootCa(client, 'export-root');
    const der = await client.call<{ encoding: string; data: string }>('certificateauthority.export', root.id, { format: 'DER' });
    expect(der.encoding).toBe('base64');
    expect(await opensslOk(['x509', '-inform', 'DER', '-noout', '-subject'], Buffer.from(der.data, 'base64'))).toContain('CN = export-root root');
  });
});
