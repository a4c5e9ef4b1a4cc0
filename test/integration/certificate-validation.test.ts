/**
 * Every validation message of TrueNAS 25.04's certificate and CA API (reference §1.1.1–§1.1.3,
 * §1.1.6, §1.2.1–§1.2.4, §3.2) as certmid reports it: the exact `[attribute, message, errno]`
 * triples, in TrueNAS's order, and nothing written when a create fails.
 *
 * Not covered, because certmid has no such feature (yet):
 * - ACME (comes later): `certificate.create` CERTIFICATE_CREATE_ACME and its `acme_create` schema
 *   (tos / csr_id / acme_directory_uri / dns_mapping required, renew_days >= 1, DNS authenticator
 *   errors), `renew_days` accepted on an ACME certificate in `certificate.update`, and
 *   `certificate.delete` re-raising "Failed to revoke certificate: …" from the ACME server.
 * - TrueNAS Connect: `certificate_update.name` "This certificate is being used by TrueNAS Connect
 *   service and cannot be modified".
 * - Attachment services other than the UI (FTP, LDAP, KMIP, syslog, apps, …): certmid's only
 *   attachment is the UI certificate (covered below); `certificateauthority.delete` back-references
 *   from syslog / KMIP do not exist either (only certificate and CA back-references are tested).
 * - "Private key does not match certificate: <ssl error>": the `<ssl error>` is pyOpenSSL's error
 *   list; certmid says "key values mismatch" (asserted as such).
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobError, RpcError, type CertmidClient } from '../../src/client/client.js';
import { CertificateEntity } from '../../src/certs/entities.js';
import { childrenOf, integer, parseDer, sequence, type DerNode } from '../helpers/tlv.js';
import { toPem } from '../../src/crypto/pem.js';
import { openssl } from '../helpers/openssl.js';
import { adminClient, createInternalCertificate, createRootCa, scratchDir, subjectParams, type Entry } from '../helpers/pki-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

type Triple = [string | null, string, number];

let server: TestServer;
let client: CertmidClient;
const scratch = scratchDir();

/** A self-signed certificate with its key, made by openssl. */
interface Made {
  cert: string;
  key: string;
  keyFile: string;
}

let root: Entry;
/** The root's certificate imported without its key: a CA that cannot sign. */
let keylessCa: Entry;
/** An internal certificate signed by the root (revocable, has no CSR). */
let signed: Entry;
/** A CSR made on certmid (with its key). */
let csr: Entry;
let ecA: Made;
let ecB: Made;
let rsa512: Made;
let rsa1024: Made;
let encryptedKey: string;
let opensslCsr: { csr: string; key: string };

let seq = 0;
/** A fresh name per call, so tests never collide on "already exists". */
const uniq = (prefix: string): string => `${prefix}-${++seq}`;
const EINVAL = 22;

async function opensslOk(args: string[], input?: string | Buffer): Promise<string> {
  const result = await openssl(args, input);
  expect(result.code, `openssl ${args.join(' ')}: ${result.stderr}`).toBe(0);
  return result.stdout;
}

async function selfSigned(name: string, keyArgs: string[]): Promise<Made> {
  const keyFile = path.join(scratch.dir, `${name}.key`);
  await opensslOk(['genpkey', ...keyArgs, '-out', keyFile]);
  const cert = await opensslOk(['req', '-x509', '-key', keyFile, '-subj', `/CN=${name}`, '-days', '30']);
  return { cert, key: fs.readFileSync(keyFile, 'utf8'), keyFile };
}

const EC = ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'];
const rsa = (bits: number) => ['-algorithm', 'RSA', '-pkeyopt', `rsa_keygen_bits:${bits}`];

beforeAll(async () => {
  server = await startTestServer();
  client = await adminClient(server);
  [ecA, ecB, rsa512, rsa1024] = await Promise.all([selfSigned('ec-a', EC), selfSigned('ec-b', EC), selfSigned('rsa-512', rsa(512)), selfSigned('rsa-1024', rsa(1024))]);
  encryptedKey = await opensslOk(['pkcs8', '-topk8', '-v2', 'aes-256-cbc', '-in', ecA.keyFile, '-passout', 'pass:s3cret']);
  const csrKeyFile = path.join(scratch.dir, 'csr.key');
  await opensslOk(['genpkey', ...EC, '-out', csrKeyFile]);
  opensslCsr = { csr: await opensslOk(['req', '-new', '-key', csrKeyFile, '-subj', '/CN=imported-csr']), key: fs.readFileSync(csrKeyFile, 'utf8') };

  root = await createRootCa(client, 'v-root', { key_type: 'EC', key_length: undefined });
  keylessCa = await client.call<Entry>('certificateauthority.create', { name: 'v-keyless', create_type: 'CA_CREATE_IMPORTED', certificate: root.certificate });
  signed = await createInternalCertificate(client, 'v-signed', root.id, { key_type: 'EC', key_length: undefined });
  csr = await client.callJob<Entry>('certificate.create', [csrParams({ name: 'v-csr' })]);
});
afterAll(async () => {
  await client?.close();
  await server?.close();
  scratch.remove();
});

// ---- request builders: valid requests of each type, to which a test adds one mistake ----

/** Drops keys whose value is undefined (an override of `undefined` removes a field). */
function compact(data: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(data).filter(([, v]) => v !== undefined));
}

function internalParams(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return compact({ ...subjectParams(), name: uniq('int'), create_type: 'CERTIFICATE_CREATE_INTERNAL', signedby: root.id, ...overrides });
}

function csrParams(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return compact({ ...subjectParams({ lifetime: undefined }), key_type: 'EC', key_length: undefined, name: uniq('csr'), create_type: 'CERTIFICATE_CREATE_CSR', ...overrides });
}

function importedParams(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return compact({ name: uniq('imp'), create_type: 'CERTIFICATE_CREATE_IMPORTED', certificate: ecA.cert, privatekey: ecA.key, ...overrides });
}

function importedCsrParams(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return compact({ name: uniq('impcsr'), create_type: 'CERTIFICATE_CREATE_IMPORTED_CSR', CSR: opensslCsr.csr, privatekey: opensslCsr.key, ...overrides });
}

function caInternalParams(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return compact({ ...subjectParams(), key_type: 'EC', key_length: undefined, name: uniq('ca'), create_type: 'CA_CREATE_INTERNAL', ...overrides });
}

function caImportedParams(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return compact({ name: uniq('caimp'), create_type: 'CA_CREATE_IMPORTED', certificate: root.certificate, privatekey: root.privatekey, ...overrides });
}

// ---- how failures arrive ----

async function failureOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (result) => {
      throw new Error(`expected a failure, got ${JSON.stringify(result).slice(0, 200)}`);
    },
    (error: unknown) => error,
  );
}

/** A job method's validation failure: the job FAILED with exc_info.type VALIDATION. */
async function jobErrors(promise: Promise<unknown>): Promise<Triple[]> {
  const error = await failureOf(promise);
  expect(error).toBeInstanceOf(JobError);
  const job = (error as JobError).job;
  expect(job.state).toBe('FAILED');
  expect(job.exc_info?.type).toBe('VALIDATION');
  return job.exc_info!.extra as Triple[];
}

/** A plain call's validation failure: JSON-RPC -32602 with the triples in data.extra. */
async function callErrors(promise: Promise<unknown>): Promise<Triple[]> {
  const error = await failureOf(promise);
  expect(error).toBeInstanceOf(RpcError);
  expect((error as RpcError).code).toBe(-32602);
  return (error as RpcError).data!.extra as Triple[];
}

async function counts(): Promise<{ certificates: number; cas: number }> {
  return {
    certificates: await client.call<number>('certificate.query', [], { count: true }),
    cas: await client.call<number>('certificateauthority.query', [], { count: true }),
  };
}

/** `certificate.create` errors, asserting that no certificate (or CA) was written. */
async function certificateCreateErrors(data: Record<string, unknown>): Promise<Triple[]> {
  const before = await counts();
  const errors = await jobErrors(client.callJob('certificate.create', [data]));
  expect(await counts()).toEqual(before);
  return errors;
}

/** `certificateauthority.create` errors, asserting that nothing was written. */
async function caCreateErrors(data: Record<string, unknown>): Promise<Triple[]> {
  const before = await counts();
  const errors = await callErrors(client.call('certificateauthority.create', data));
  expect(await counts()).toEqual(before);
  return errors;
}

const createCertificate = (data: Record<string, unknown>) => client.callJob<Entry>('certificate.create', [data]);
const updateCertificate = (id: number, data: Record<string, unknown>) => client.callJob<Entry>('certificate.update', [id, data]);
const updateCa = (id: number, data: Record<string, unknown>) => client.call<Entry>('certificateauthority.update', id, data);
const signCsr = (data: Record<string, unknown>) => client.call<Entry>('certificateauthority.ca_sign_csr', data);

/** A CSR row (made through the API) that a test may then damage in the database. */
async function freshCsr(): Promise<Entry> {
  return createCertificate(csrParams());
}

async function damageRow(id: number, patch: Record<string, unknown>): Promise<void> {
  await server.daemon.app.db.getRepository(CertificateEntity).update({ id }, patch as never);
}

const KEY_MESSAGE = 'A valid private key is required, with a passphrase if one has been set.';
const NAME_CHARS = 'Use alphanumeric characters, "_" and "-".';
const reserved = (name: string) => `${name} is a reserved internal keyword for Certificate Management`;

describe('§1.1.6 common validation (certificate.create)', () => {
  it('country must be one the system knows', async () => {
    expect(await certificateCreateErrors(internalParams({ country: 'XX' }))).toEqual([['certificate_create.country', 'XX not in countries recognized by the system', EINVAL]]);
  });

  it.each([
    ['a PEM block that is not base64', '-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n'],
    ['plain text', 'hello world'],
  ])('"Not a valid certificate" (%s), followed by the IMPORTED type\'s "Unable to parse certificate"', async (_label, certificate) => {
    expect(await certificateCreateErrors(importedParams({ certificate }))).toEqual([
      ['certificate_create.certificate', 'Not a valid certificate', EINVAL],
      ['certificate_create.certificate', 'Unable to parse certificate', EINVAL],
    ]);
  });

  it('an empty certificate skips the common check and is only "Unable to parse certificate"', async () => {
    expect(await certificateCreateErrors(importedParams({ certificate: '' }))).toEqual([['certificate_create.certificate', 'Unable to parse certificate', EINVAL]]);
  });

  it.each([
    ['garbage', { privatekey: 'hello' }],
    ['an encrypted key with the wrong passphrase', { privatekey: 'ENCRYPTED', passphrase: 'wrong' }],
    ['an encrypted key without its passphrase', { privatekey: 'ENCRYPTED' }],
  ])('refuses a private key that does not load: %s', async (_label, fields) => {
    const data = { ...fields, privatekey: fields.privatekey === 'ENCRYPTED' ? encryptedKey : fields.privatekey };
    expect(await certificateCreateErrors(importedParams(data))).toEqual([['certificate_create.privatekey', KEY_MESSAGE, EINVAL]]);
  });

  it('(certmid) ignores a passphrase given with an unencrypted key, which TrueNAS refuses with the message above', async () => {
    expect((await createCertificate(importedParams({ passphrase: 'unused' }))).privatekey).toMatch(/^-----BEGIN PRIVATE KEY-----/);
  });

  it('accepts an encrypted key with its passphrase (and stores it decrypted)', async () => {
    const entry = await createCertificate(importedParams({ privatekey: encryptedKey, passphrase: 's3cret' }));
    expect(entry.privatekey).toMatch(/^-----BEGIN PRIVATE KEY-----/);
  });

  it('refuses an RSA key below 1024 bits (a 512-bit key made by openssl) and takes 1024 bits', async () => {
    expect(await opensslOk(['pkey', '-noout', '-text'], rsa512.key)).toContain('512 bit');
    expect(await certificateCreateErrors(importedParams({ certificate: rsa512.cert, privatekey: rsa512.key }))).toEqual([
      ['certificate_create.privatekey', 'Key size must be greater than or equal to 1024 bits.', EINVAL],
    ]);
    const entry = await createCertificate(importedParams({ certificate: rsa1024.cert, privatekey: rsa1024.key }));
    expect(entry).toMatchObject({ key_type: 'RSA', key_length: 1024 });
  });

  it.each([
    ['does not exist', () => 999_999],
    ['has no private key', () => keylessCa.id],
  ])('signedby must be a CA with a certificate and a key: one that %s', async (_label, id) => {
    expect(await certificateCreateErrors(internalParams({ signedby: id() }))).toEqual([['certificate_create.signedby', 'Please provide a valid signing authority', EINVAL]]);
  });

  it('a CSR must parse', async () => {
    expect(await certificateCreateErrors(importedCsrParams({ CSR: '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n' }))).toEqual([
      ['certificate_create.CSR', 'Please provide a valid CSR', EINVAL],
    ]);
  });

  it.each([
    ['does not exist', () => 999_999],
    ['is a certificate, not a CSR', () => signed.id],
  ])('csr_id must name a CSR: one that %s', async (_label, id) => {
    expect(await certificateCreateErrors(importedParams({ csr_id: id(), privatekey: undefined }))).toEqual([
      ['certificate_create.csr_id', 'Please provide a valid csr_id which has a valid CSR filed', EINVAL],
    ]);
  });

  it('the private key must match the certificate', async () => {
    expect(await certificateCreateErrors(importedParams({ privatekey: ecB.key }))).toEqual([['certificate_create.privatekey', 'Private key does not match certificate: key values mismatch', EINVAL]]);
  });

  it('RSA (the default key type) needs key_length and digest_algorithm where a key is generated', async () => {
    const both: Triple[] = [
      ['certificate_create.key_length', 'RSA-based keys require an entry in this field.', EINVAL],
      ['certificate_create.digest_algorithm', 'This field is required.', EINVAL],
    ];
    expect(await certificateCreateErrors(internalParams({ key_type: undefined, key_length: undefined, digest_algorithm: undefined }))).toEqual(both);
    expect(await certificateCreateErrors(internalParams({ key_type: 'RSA', key_length: undefined }))).toEqual([both[0]]);
    expect(await certificateCreateErrors(csrParams({ key_type: 'RSA', digest_algorithm: undefined }))).toEqual([
      ['certificate_create.key_length', 'RSA-based keys require an entry in this field.', EINVAL],
      ['certificate_create.digest_algorithm', 'This field is required.', EINVAL],
    ]);
    // Imports drop key_type before this check (TrueNAS pops it), so an RSA key_type is harmless there.
    expect((await createCertificate(importedParams({ key_type: 'RSA' }))).key_type).toBe('EC');
  });

  it('refuses a lifetime that ends after year 9999', async () => {
    expect(await certificateCreateErrors(internalParams({ lifetime: 9_999_999 }))).toEqual([['certificate_create.lifetime', 'Lifetime for the certificate is too long.', EINVAL]]);
  });

  it('(certmid) refuses a lifetime under one day, where TrueNAS fails later or crashes', async () => {
    expect(await certificateCreateErrors(internalParams({ lifetime: 0 }))).toEqual([['certificate_create.lifetime', 'Lifetime must be at least one day.', EINVAL]]);
  });

  it('reports every common error at once, in TrueNAS order, then the create checks and the name', async () => {
    const errors = await certificateCreateErrors(
      importedParams({
        name: 'bad name!',
        country: 'XX',
        certificate: 'garbage',
        privatekey: 'garbage',
        signedby: 999_999,
        CSR: 'garbage',
        csr_id: 999_999,
        lifetime: 9_999_999,
      }),
    );
    expect(errors).toEqual([
      ['certificate_create.country', 'XX not in countries recognized by the system', EINVAL],
      ['certificate_create.certificate', 'Not a valid certificate', EINVAL],
      ['certificate_create.privatekey', KEY_MESSAGE, EINVAL],
      ['certificate_create.signedby', 'Please provide a valid signing authority', EINVAL],
      ['certificate_create.CSR', 'Please provide a valid CSR', EINVAL],
      ['certificate_create.csr_id', 'Please provide a valid csr_id which has a valid CSR filed', EINVAL],
      ['certificate_create.lifetime', 'Lifetime for the certificate is too long.', EINVAL],
      ['certificate_create.certificate', 'Unable to parse certificate', EINVAL],
      ['certificate_create.name', NAME_CHARS, EINVAL],
    ]);
  });
});

describe('§3.2 extension validation', () => {
  const cases: Array<[string, Record<string, unknown>, Triple[]]> = [
    [
      'BasicConstraints path_length with ca false',
      { BasicConstraints: { enabled: true, ca: false, path_length: 1 } },
      [['certificate_create.BasicConstraints', 'Please provide valid values for BasicConstraints: path_length must be None when ca is False', EINVAL]],
    ],
    [
      'BasicConstraints negative path_length',
      { BasicConstraints: { enabled: true, ca: true, path_length: -1 }, KeyUsage: { enabled: true, key_cert_sign: true } },
      [['certificate_create.BasicConstraints', 'Please provide valid values for BasicConstraints: path_length must be a non-negative integer or None', EINVAL]],
    ],
    [
      'KeyUsage encipher_only without key_agreement',
      { KeyUsage: { enabled: true, digital_signature: true, encipher_only: true } },
      [['certificate_create.KeyUsage', 'Please provide valid values for KeyUsage: encipher_only and decipher_only can only be true when key_agreement is true', EINVAL]],
    ],
    [
      'KeyUsage decipher_only without key_agreement',
      { KeyUsage: { enabled: true, decipher_only: true } },
      [['certificate_create.KeyUsage', 'Please provide valid values for KeyUsage: encipher_only and decipher_only can only be true when key_agreement is true', EINVAL]],
    ],
    [
      'KeyUsage key_cert_sign without a CA BasicConstraints',
      { KeyUsage: { enabled: true, key_cert_sign: true } },
      [['certificate_create.BasicConstraints', 'Please enable ca when key_cert_sign is set in KeyUsage as per RFC 5280.', EINVAL]],
    ],
    [
      'KeyUsage key_cert_sign with BasicConstraints ca but disabled',
      { BasicConstraints: { enabled: false, ca: true }, KeyUsage: { enabled: true, key_cert_sign: true } },
      [['certificate_create.BasicConstraints', 'Please enable ca when key_cert_sign is set in KeyUsage as per RFC 5280.', EINVAL]],
    ],
    [
      'ExtendedKeyUsage without usages',
      { ExtendedKeyUsage: { enabled: true, usages: [] } },
      [['certificate_create.ExtendedKeyUsage.usages', 'Please specify at least one USAGE for this extension.', EINVAL]],
    ],
    [
      'all of them: constructor errors in extension order, then the RFC 5280 rule, then EKU usages',
      {
        BasicConstraints: { enabled: true, ca: false, path_length: 0 },
        ExtendedKeyUsage: { enabled: true, usages: [] },
        KeyUsage: { enabled: true, key_cert_sign: true, encipher_only: true },
      },
      [
        ['certificate_create.BasicConstraints', 'Please provide valid values for BasicConstraints: path_length must be None when ca is False', EINVAL],
        ['certificate_create.KeyUsage', 'Please provide valid values for KeyUsage: encipher_only and decipher_only can only be true when key_agreement is true', EINVAL],
        ['certificate_create.BasicConstraints', 'Please enable ca when key_cert_sign is set in KeyUsage as per RFC 5280.', EINVAL],
        ['certificate_create.ExtendedKeyUsage.usages', 'Please specify at least one USAGE for this extension.', EINVAL],
      ],
    ],
  ];

  it.each(cases)('certificate.create: %s', async (_label, cert_extensions, expected) => {
    expect(await certificateCreateErrors(internalParams({ cert_extensions }))).toEqual(expected);
  });

  it('a CSR gets the same checks', async () => {
    expect(await certificateCreateErrors(csrParams({ cert_extensions: { ExtendedKeyUsage: { enabled: true } } }))).toEqual([
      ['certificate_create.ExtendedKeyUsage.usages', 'Please specify at least one USAGE for this extension.', EINVAL],
    ]);
  });

  it('a disabled extension is not checked', async () => {
    const entry = await createCertificate(csrParams({ cert_extensions: { BasicConstraints: { enabled: false, ca: false, path_length: 3 }, KeyUsage: { enabled: false, encipher_only: true } } }));
    expect(entry.cert_type_CSR).toBe(true);
  });

  it('runs only when nothing else failed', async () => {
    expect(await certificateCreateErrors(internalParams({ country: 'XX', cert_extensions: { ExtendedKeyUsage: { enabled: true, usages: [] } } }))).toEqual([
      ['certificate_create.country', 'XX not in countries recognized by the system', EINVAL],
    ]);
  });

  it('certificateauthority.create reports them under certificate_authority_create', async () => {
    expect(await caCreateErrors(caInternalParams({ cert_extensions: { KeyUsage: { encipher_only: true } } }))).toEqual([
      ['certificate_authority_create.KeyUsage', 'Please provide valid values for KeyUsage: encipher_only and decipher_only can only be true when key_agreement is true', EINVAL],
    ]);
    expect(await caCreateErrors(caInternalParams({ cert_extensions: { BasicConstraints: { path_length: -1 } } }))).toEqual([
      ['certificate_authority_create.BasicConstraints', 'Please provide valid values for BasicConstraints: path_length must be a non-negative integer or None', EINVAL],
    ]);
  });
});

describe('§1.1.1 certificate.create', () => {
  it.each([
    ['CERTIFICATE_CREATE_CSR', () => csrParams({ add_to_trusted_store: true })],
    ['CERTIFICATE_CREATE_IMPORTED_CSR', () => importedCsrParams({ add_to_trusted_store: true })],
  ])('a %s cannot go to the trusted store', async (_type, params) => {
    expect(await certificateCreateErrors(params())).toEqual([['certificate_create.add_to_trusted_store', 'Cannot add CSR to trusted store', EINVAL]]);
  });

  it('name: taken', async () => {
    expect(await certificateCreateErrors(importedParams({ name: signed.name }))).toEqual([['certificate_create.name', 'A certificate with this name already exists', EINVAL]]);
  });

  it.each(['external', 'self-signed'])('name: reserved keyword %s', async (name) => {
    expect(await certificateCreateErrors(importedParams({ name }))).toEqual([['certificate_create.name', reserved(name), EINVAL]]);
  });

  it('name: every rule reports on its own ("external - signature pending" is reserved and has spaces)', async () => {
    expect(await certificateCreateErrors(importedParams({ name: 'external - signature pending' }))).toEqual([
      ['certificate_create.name', reserved('external - signature pending'), EINVAL],
      ['certificate_create.name', NAME_CHARS, EINVAL],
    ]);
  });

  it.each(['bad name', 'dots.not.allowed', 'zertifikat-ü', 'slash/name', ''])('name: bad characters in %j', async (name) => {
    expect(await certificateCreateErrors(importedParams({ name }))).toEqual([['certificate_create.name', NAME_CHARS, EINVAL]]);
  });

  it('name: reserved keywords are matched case-sensitively, as in TrueNAS', async () => {
    expect((await createCertificate(importedParams({ name: 'External' }))).name).toBe('External');
  });

  it('name: a taken name with bad characters gets both errors (ca_sign_csr stores such names)', async () => {
    const odd = await signCsr({ ca_id: root.id, csr_cert_id: (await freshCsr()).id, name: 'odd name' });
    expect(odd.name).toBe('odd name');
    expect(await certificateCreateErrors(importedParams({ name: 'odd name' }))).toEqual([
      ['certificate_create.name', 'A certificate with this name already exists', EINVAL],
      ['certificate_create.name', NAME_CHARS, EINVAL],
    ]);
  });

  describe('CERTIFICATE_CREATE_INTERNAL', () => {
    it('requires its fields, in certificate_create field order', async () => {
      expect(await certificateCreateErrors({ name: uniq('int'), create_type: 'CERTIFICATE_CREATE_INTERNAL', key_length: 2048, digest_algorithm: 'SHA256' })).toEqual([
        ['certificate_create_internal.signedby', 'attribute required', EINVAL],
        ['certificate_create_internal.lifetime', 'attribute required', EINVAL],
        ['certificate_create_internal.city', 'attribute required', EINVAL],
        ['certificate_create_internal.country', 'attribute required', EINVAL],
        ['certificate_create_internal.email', 'attribute required', EINVAL],
        ['certificate_create_internal.organization', 'attribute required', EINVAL],
        ['certificate_create_internal.state', 'attribute required', EINVAL],
      ]);
    });

    it('needs a SAN (the generator schema, checked once the per-type schema passed)', async () => {
      expect(await certificateCreateErrors(internalParams({ san: [] }))).toEqual([['certificate_cert_info.san', 'Empty value not allowed', EINVAL]]);
      // (certmid) an empty entry, without the ": empty value" its text used to be quoted into.
      expect(await certificateCreateErrors(internalParams({ san: ['ok.example', ''] }))).toEqual([['certificate_create.san.1', 'Empty value not allowed', EINVAL]]);
      expect(await certificateCreateErrors(internalParams({ san: ['DNS:'] }))).toEqual([['certificate_create.san.0', 'Empty value not allowed', EINVAL]]);
    });
  });

  describe('CERTIFICATE_CREATE_CSR', () => {
    it('does not take lifetime or signedby', async () => {
      expect(await certificateCreateErrors(csrParams({ lifetime: 30, signedby: root.id }))).toEqual([
        ['certificate_create_csr.lifetime', 'Field was not expected', EINVAL],
        ['certificate_create_csr.signedby', 'Field was not expected', EINVAL],
      ]);
    });

    it('requires the subject fields, in certificate_create field order', async () => {
      expect(await certificateCreateErrors({ name: uniq('csr'), create_type: 'CERTIFICATE_CREATE_CSR', key_type: 'EC' })).toEqual([
        ['certificate_create_csr.city', 'attribute required', EINVAL],
        ['certificate_create_csr.country', 'attribute required', EINVAL],
        ['certificate_create_csr.email', 'attribute required', EINVAL],
        ['certificate_create_csr.organization', 'attribute required', EINVAL],
        ['certificate_create_csr.state', 'attribute required', EINVAL],
      ]);
    });

    it('refuses AuthorityKeyIdentifier, on the attribute without schema prefix, once the schema passed', async () => {
      expect(await certificateCreateErrors(csrParams({ cert_extensions: { AuthorityKeyIdentifier: { enabled: true } } }))).toEqual([
        ['cert_extensions.AuthorityKeyIdentifier.enabled', 'This extension is not valid for CSR', EINVAL],
      ]);
      expect(await certificateCreateErrors(csrParams({ lifetime: 30, cert_extensions: { AuthorityKeyIdentifier: { enabled: true } } }))).toEqual([
        ['certificate_create_csr.lifetime', 'Field was not expected', EINVAL],
      ]);
    });
  });

  describe('CERTIFICATE_CREATE_IMPORTED', () => {
    it.each([['missing', undefined], ['empty', '']])('requires a private key (%s) unless csr_id gives one', async (_label, privatekey) => {
      expect(await certificateCreateErrors(importedParams({ privatekey }))).toEqual([['certificate_create.privatekey', 'Private key is required when importing a certificate', EINVAL]]);
    });

    it('takes the key of the CSR named by csr_id', async () => {
      const keyFile = scratch.file('from-csr.key', opensslCsr.key);
      const cert = await opensslOk(['req', '-x509', '-key', keyFile, '-subj', '/CN=from-csr', '-days', '30']);
      const imported = await createCertificate(importedCsrParams());
      const entry = await createCertificate(importedParams({ certificate: cert, privatekey: undefined, csr_id: imported.id }));
      expect(entry).toMatchObject({ cert_type_existing: true, common: 'from-csr' });
    });

    it('(certmid) refuses a certificate that was not issued for the CSR key named by csr_id', async () => {
      expect(await certificateCreateErrors(importedParams({ privatekey: undefined, csr_id: csr.id }))).toEqual([
        ['certificate_create.certificate', 'The certificate was not issued for the private key of the selected CSR', EINVAL],
      ]);
    });

    it('(certmid) without any certificate: the per-type schema requires it (TrueNAS fails with a KeyError)', async () => {
      expect(await certificateCreateErrors(importedParams({ certificate: undefined }))).toEqual([['certificate_create_imported.certificate', 'attribute required', EINVAL]]);
    });

    it('refuses fields outside certificate_create_imported, after the common checks', async () => {
      expect(await certificateCreateErrors(importedParams({ signedby: root.id, lifetime: 30, common: 'x', country: 'US', digest_algorithm: 'SHA256' }))).toEqual([
        ['certificate_create_imported.signedby', 'Field was not expected', EINVAL],
        ['certificate_create_imported.lifetime', 'Field was not expected', EINVAL],
        ['certificate_create_imported.common', 'Field was not expected', EINVAL],
        ['certificate_create_imported.country', 'Field was not expected', EINVAL],
        ['certificate_create_imported.digest_algorithm', 'Field was not expected', EINVAL],
      ]);
      // What TrueNAS drops before the per-type schema is not "unexpected".
      const entry = await createCertificate(importedParams({ key_length: 2048, ec_curve: 'SECP256R1', san: ['x.example'], cert_extensions: { KeyUsage: { enabled: true } } }));
      expect(entry.san).toEqual([]);
    });
  });

  describe('CERTIFICATE_CREATE_IMPORTED_CSR', () => {
    it.each([
      ['missing', undefined, 'attribute required'],
      ['empty', '', 'Empty value not allowed'],
    ])('requires CSR and privatekey (%s)', async (_label, value, message) => {
      expect(await certificateCreateErrors(importedCsrParams({ CSR: value, privatekey: value }))).toEqual([
        ['create_imported_csr.CSR', message, EINVAL],
        ['create_imported_csr.privatekey', message, EINVAL],
      ]);
    });

    it('refuses fields outside create_imported_csr', async () => {
      expect(await certificateCreateErrors(importedCsrParams({ lifetime: 30, city: 'Knoxville', csr_id: csr.id }))).toEqual([
        ['create_imported_csr.csr_id', 'Field was not expected', EINVAL],
        ['create_imported_csr.lifetime', 'Field was not expected', EINVAL],
        ['create_imported_csr.city', 'Field was not expected', EINVAL],
      ]);
      // dns_mapping is dropped only when empty (its default).
      expect(await certificateCreateErrors(importedCsrParams({ dns_mapping: { 'a.example': 1 } }))).toEqual([['create_imported_csr.dns_mapping', 'Field was not expected', EINVAL]]);
      expect((await createCertificate(importedCsrParams({ dns_mapping: {} }))).cert_type_CSR).toBe(true);
    });
  });
});

describe('certificate_create schema (legacy schema semantics, as a failed job)', () => {
  it.each<[string, Record<string, unknown>, Triple[]]>([
    ['an unknown field', { colour: 'red' }, [['certificate_create.colour', 'Field was not expected', EINVAL]]],
    ['an unknown field inside cert_extensions', { cert_extensions: { NameConstraints: {} } }, [['certificate_create.cert_extensions.NameConstraints', 'Field was not expected', EINVAL]]],
    ['a missing name', { name: undefined }, [['certificate_create.name', 'attribute required', EINVAL]]],
    ['a missing create_type', { create_type: undefined }, [['certificate_create.create_type', 'attribute required', EINVAL]]],
    ['null for an enum', { key_type: null }, [['certificate_create.key_type', 'null not allowed', EINVAL]]],
    ['a number for a string', { name: 5 }, [['certificate_create.name', 'Not a string', EINVAL]]],
    ['null for a string', { city: null }, [['certificate_create.city', 'null not allowed', EINVAL]]],
    ['text for an integer', { lifetime: 'abc' }, [['certificate_create.lifetime', 'Not an integer', EINVAL]]],
    ['a float for an integer', { lifetime: 1.5 }, [['certificate_create.lifetime', 'Not an integer', EINVAL]]],
    ['a boolean for an integer', { signedby: true }, [['certificate_create.signedby', 'Not an integer', EINVAL]]],
    ['text for a boolean', { add_to_trusted_store: 'yes' }, [['certificate_create.add_to_trusted_store', 'Not a boolean', EINVAL]]],
    ['text for a list', { san: 'domain1' }, [['certificate_create.san', 'Not a list', EINVAL]]],
    ['text for a dict', { cert_extensions: 'none' }, [['certificate_create.cert_extensions', 'A dict was expected', EINVAL]]],
    ['an unknown create_type', { create_type: 'CERTIFICATE_CREATE_MAGIC' }, [['certificate_create.create_type', 'Invalid choice: CERTIFICATE_CREATE_MAGIC', EINVAL]]],
    ['an unknown key_type', { key_type: 'DSA' }, [['certificate_create.key_type', 'Invalid choice: DSA', EINVAL]]],
    ['an unknown key_length', { key_length: 1000 }, [['certificate_create.key_length', 'Invalid choice: 1000', EINVAL]]],
    ['an unknown digest', { digest_algorithm: 'MD5' }, [['certificate_create.digest_algorithm', 'Invalid choice: MD5', EINVAL]]],
    ['an unknown curve', { ec_curve: 'P-256' }, [['certificate_create.ec_curve', 'Invalid choice: P-256', EINVAL]]],
    ['renew_days out of range', { renew_days: 31 }, [['certificate_create.renew_days', 'Should be between 1 and 30', EINVAL]]],
    ['serial below 1', { serial: 0 }, [['certificate_create.serial', 'Should be greater than or equal to 1', EINVAL]]],
    ['an e-mail without @', { email: 'dev.ix.com' }, [['certificate_create.email', "Missing '@' symbol.", EINVAL]]],
    ['an empty e-mail', { email: '' }, [['certificate_create.email', 'Empty value not allowed', EINVAL]]],
    [
      'several at once, in field order',
      { name: 5, lifetime: 'abc', colour: 'red' },
      [
        ['certificate_create.name', 'Not a string', EINVAL],
        ['certificate_create.lifetime', 'Not an integer', EINVAL],
        ['certificate_create.colour', 'Field was not expected', EINVAL],
      ],
    ],
  ])('%s', async (_label, overrides, expected) => {
    // The overridden keys go first: TrueNAS reports schema errors in the order the keys arrive,
    // certmid in schema order, and these rows list them in schema order.
    const data = compact({ ...overrides, ...internalParams(), ...overrides });
    // A job method validates its arguments inside the job: the call itself returns a job id.
    expect(await certificateCreateErrors(data)).toEqual(expected);
  });

  it('accepts numeric strings for integers (Int), including the key_length enum', async () => {
    const entry = await createCertificate(internalParams({ key_length: '2048', lifetime: '30', signedby: String(root.id), serial: '7' }));
    expect(entry).toMatchObject({ key_type: 'RSA', key_length: 2048, lifetime: 30 });
    expect((entry.signedby as Entry).id).toBe(root.id);
  });

  it('accepts null for common', async () => {
    const entry = await createCertificate(csrParams({ common: null }));
    expect(entry.common).toBeNull();
  });
});

describe('§1.1.2 certificate.update', () => {
  let imported: Entry;
  beforeAll(async () => {
    imported = await createCertificate(importedParams({ name: uniq('upd') }));
  });

  it('of an id that does not exist: InstanceNotFound inside the job', async () => {
    expect(await jobErrors(updateCertificate(999_999, { name: 'x' }))).toEqual([[null, 'Certificate 999999 does not exist', 2]]);
  });

  it.each<[string, () => string, Triple[]]>([
    ['taken', () => signed.name, [['certificate_update.name', 'A certificate with this name already exists', EINVAL]]],
    ['reserved', () => 'self-signed', [['certificate_update.name', reserved('self-signed'), EINVAL]]],
    ['bad characters', () => 'no spaces allowed', [['certificate_update.name', NAME_CHARS, EINVAL]]],
  ])('name: %s, leaving the entry as it was', async (_label, name, expected) => {
    expect(await jobErrors(updateCertificate(imported.id, { name: name() }))).toEqual(expected);
    expect((await client.call<Entry>('certificate.get_instance', imported.id)).name).toBe(imported.name);
  });

  it('keeping its own name is no conflict', async () => {
    expect((await updateCertificate(imported.id, { name: imported.name })).name).toBe(imported.name);
  });

  it('renew_days is for ACME certificates only, and the schema bounds it first', async () => {
    expect(await jobErrors(updateCertificate(imported.id, { renew_days: 5 }))).toEqual([
      ['certificate_update.renew_days', 'Certificate renewal days is only supported for ACME certificates', EINVAL],
    ]);
    expect(await jobErrors(updateCertificate(imported.id, { renew_days: 0 }))).toEqual([['certificate_update.renew_days', 'Should be between 1 and 30', EINVAL]]);
  });

  it('a CSR cannot be revoked (and, having no CA, is not revocable either)', async () => {
    expect(await jobErrors(updateCertificate(csr.id, { revoked: true }))).toEqual([
      ['certificate_update.revoked', 'A CSR cannot be marked as revoked.', EINVAL],
      ['certificate_update.revoked', 'Only certificate(s) can be revoked which have a CA present on the system', EINVAL],
    ]);
  });

  it('a CSR cannot be added to the trusted store', async () => {
    expect(await jobErrors(updateCertificate(csr.id, { add_to_trusted_store: true }))).toEqual([
      ['certificate_update.add_to_trusted_store', "A CSR cannot be added to the system's trusted store", EINVAL],
    ]);
  });

  it('only a certificate signed by a CA on the system can be revoked', async () => {
    expect(await jobErrors(updateCertificate(imported.id, { revoked: true }))).toEqual([
      ['certificate_update.revoked', 'Only certificate(s) can be revoked which have a CA present on the system', EINVAL],
    ]);
  });

  it('revocation cannot be undone, and a revoked certificate stays out of the trusted store', async () => {
    const leaf = await createInternalCertificate(client, uniq('rev'), root.id, { key_type: 'EC', key_length: undefined });
    expect((await updateCertificate(leaf.id, { revoked: true })).revoked).toBe(true);
    expect(await jobErrors(updateCertificate(leaf.id, { revoked: false }))).toEqual([
      ['certificate_update.revoked', 'Certificate has already been revoked and this cannot be reversed', EINVAL],
    ]);
    expect(await jobErrors(updateCertificate(leaf.id, { add_to_trusted_store: true }))).toEqual([
      ['certificate_update.add_to_trusted_store', "Revoked certificates cannot be added to system's trusted store", EINVAL],
    ]);
    // The trusted-store rule is only checked when nothing else failed.
    expect(await jobErrors(updateCertificate(leaf.id, { revoked: false, add_to_trusted_store: true }))).toEqual([
      ['certificate_update.revoked', 'Certificate has already been revoked and this cannot be reversed', EINVAL],
    ]);
    // Revoking again is no change.
    expect((await updateCertificate(leaf.id, { revoked: true })).revoked).toBe(true);
  });

  it('revoking a certificate that is (or is being put) in the trusted store is refused, and nothing changes', async () => {
    const leaf = await createInternalCertificate(client, uniq('trusted'), root.id, { key_type: 'EC', key_length: undefined });
    const expected: Triple[] = [['certificate_update.add_to_trusted_store', "Revoked certificates cannot be added to system's trusted store", EINVAL]];
    expect(await jobErrors(updateCertificate(leaf.id, { revoked: true, add_to_trusted_store: true }))).toEqual(expected);
    expect((await client.call<Entry>('certificate.get_instance', leaf.id)).revoked).toBe(false);
    await updateCertificate(leaf.id, { add_to_trusted_store: true });
    expect(await jobErrors(updateCertificate(leaf.id, { revoked: true }))).toEqual(expected);
    expect(await client.call<Entry>('certificate.get_instance', leaf.id)).toMatchObject({ revoked: false, add_to_trusted_store: true });
  });

  it('(certmid) takes revoked_reason only with the revocation it describes', async () => {
    const leaf = await createInternalCertificate(client, uniq('reason'), root.id, { key_type: 'EC', key_length: undefined });
    const alone: Triple[] = [['certificate_update.revoked_reason', 'A revocation reason can only be given when revoking the certificate ("revoked": true)', EINVAL]];
    expect(await jobErrors(updateCertificate(leaf.id, { revoked_reason: 'SUPERSEDED' }))).toEqual(alone);
    expect(await jobErrors(updateCertificate(leaf.id, { revoked: false, revoked_reason: 'SUPERSEDED' }))).toEqual(alone);
    expect(await client.call<Entry>('certificate.get_instance', leaf.id)).toMatchObject({ revoked: false, revoked_reason: null });
    expect(await updateCertificate(leaf.id, { revoked: true, revoked_reason: 'SUPERSEDED' })).toMatchObject({ revoked: true, revoked_reason: 'SUPERSEDED' });
    // Repeating the revocation as it was is no change; another reason would contradict the CRL.
    expect(await updateCertificate(leaf.id, { revoked_reason: 'SUPERSEDED' })).toMatchObject({ revoked: true, revoked_reason: 'SUPERSEDED' });
    expect(await jobErrors(updateCertificate(leaf.id, { revoked: true, revoked_reason: 'KEY_COMPROMISE' }))).toEqual([
      ['certificate_update.revoked_reason', 'The certificate is already revoked (reason SUPERSEDED); its revocation reason cannot be changed', EINVAL],
    ]);
    expect((await client.call<Entry>('certificate.get_instance', leaf.id)).revoked_reason).toBe('SUPERSEDED');
  });

  it.each<[string, Record<string, unknown>, Triple[]]>([
    ['an unknown field', { colour: 'red' }, [['certificate_update.colour', 'Field was not expected', EINVAL]]],
    ['text for a boolean', { revoked: 'yes' }, [['certificate_update.revoked', 'Not a boolean', EINVAL]]],
    ['a number for a string', { name: 7 }, [['certificate_update.name', 'Not a string', EINVAL]]],
  ])('schema: %s', async (_label, data, expected) => {
    expect(await jobErrors(updateCertificate(imported.id, data))).toEqual(expected);
  });
});

describe('§1.1.3 certificate.delete', () => {
  it('of an id that does not exist: InstanceNotFound inside the job', async () => {
    expect(await jobErrors(client.callJob('certificate.delete', [999_999]))).toEqual([[null, 'Certificate 999999 does not exist', 2]]);
  });

  it('refuses (EFAULT) while a service uses the certificate: the UI certificate, even with force', async () => {
    const [ui] = await client.call<Entry[]>('certificate.query', [['name', '=', 'truenas_default']]);
    const error = await failureOf(client.callJob('certificate.delete', [ui!.id, true]));
    expect(error).toBeInstanceOf(JobError);
    expect((error as JobError).job).toMatchObject({
      state: 'FAILED',
      error: '[EFAULT] Certificate is being used by following service(s):\n1) UI Service\n',
      exc_info: { errno: 14 },
    });
    expect(await client.call('certificate.query', [['id', '=', ui!.id]], { count: true })).toBe(1);
  });
});

describe('get_instance of a missing id (InstanceNotFound)', () => {
  it.each([
    ['certificate.get_instance', 'Certificate 7777 does not exist'],
    ['certificateauthority.get_instance', 'CertificateAuthority 7777 does not exist'],
  ])('%s', async (method, message) => {
    const error = await failureOf(client.call(method, 7777));
    expect(error).toBeInstanceOf(RpcError);
    expect(error).toMatchObject({ code: -32602, data: { error: EINVAL, errname: 'EINVAL', reason: `[ENOENT] None: ${message}\n`, extra: [[null, message, 2]] } });
  });

  it('certificateauthority.update and delete of a missing id', async () => {
    const expected: Triple[] = [[null, 'CertificateAuthority 7777 does not exist', 2]];
    expect(await callErrors(updateCa(7777, { name: 'x' }))).toEqual(expected);
    expect(await callErrors(client.call('certificateauthority.delete', 7777))).toEqual(expected);
  });
});

describe('(certmid) key-derivation limits on imported keys and PKCS#12 bundles', () => {
  const TOO_MANY = "asks for 4294967295 key-derivation iterations; at most 1000000 are accepted";
  const HUGE = 2n ** 32n - 1n;

  /** An openssl-encrypted PKCS#8 key (PBES2, PBKDF2) re-encoded with another iteration count. */
  function withKdfIterations(pem: string, iterations: bigint): string {
    const der = Buffer.from(pem.replace(/-----[^-]+-----|\s+/g, ''), 'base64');
    const [algorithmNode, data] = childrenOf(parseDer(der)) as [DerNode, DerNode];
    const [pbes2Oid, pbes2Params] = childrenOf(algorithmNode) as [DerNode, DerNode];
    const [kdf, encryption] = childrenOf(pbes2Params) as [DerNode, DerNode];
    const [kdfOid, kdfParams] = childrenOf(kdf) as [DerNode, DerNode];
    const [salt, , ...rest] = childrenOf(kdfParams);
    const patchedKdf = sequence(kdfOid.raw, sequence(salt!.raw, integer(iterations), ...rest.map((node) => node.raw)));
    return toPem('ENCRYPTED PRIVATE KEY', sequence(sequence(pbes2Oid.raw, sequence(patchedKdf, encryption.raw)), data.raw));
  }

  /** A PKCS#12 file re-encoded with another MAC iteration count. */
  function withMacIterations(pfx: Buffer, iterations: bigint): Buffer {
    const [version, authSafe, macData] = childrenOf(parseDer(pfx)) as [DerNode, DerNode, DerNode];
    const [digestInfo, salt] = childrenOf(macData) as [DerNode, DerNode];
    return sequence(version.raw, authSafe.raw, sequence(digestInfo.raw, salt.raw, integer(iterations)));
  }

  async function pkcs12Of(cert: string, key: string, iterations: number): Promise<Buffer> {
    const out = path.join(scratch.dir, `${uniq('bundle')}.p12`);
    const certFile = scratch.file(`${uniq('cert')}.pem`, cert);
    const keyFile = scratch.file(`${uniq('key')}.pem`, key);
    await opensslOk(['pkcs12', '-export', '-in', certFile, '-inkey', keyFile, '-iter', String(iterations), '-out', out, '-passout', 'pass:p12pass']);
    return fs.readFileSync(out);
  }

  it('accepts what openssl writes with OWASP\'s 600,000 PBKDF2 iterations', async () => {
    const key = await opensslOk(['pkcs8', '-topk8', '-v2', 'aes-256-cbc', '-iter', '600000', '-in', ecA.keyFile, '-passout', 'pass:s3cret']);
    expect((await createCertificate(importedParams({ privatekey: key, passphrase: 's3cret' }))).privatekey).toMatch(/^-----BEGIN PRIVATE KEY-----/);
  });

  it('refuses, on the key attribute and at once, a key asking for 2^32-1 iterations', async () => {
    const crafted = withKdfIterations(encryptedKey, HUGE);
    const started = Date.now();
    expect(await certificateCreateErrors(importedParams({ privatekey: crafted, passphrase: 's3cret' }))).toEqual([
      ['certificate_create.privatekey', `The private key's encryption ${TOO_MANY}`, EINVAL],
    ]);
    expect(await caCreateErrors(caImportedParams({ certificate: ecA.cert, privatekey: crafted, passphrase: 's3cret' }))).toEqual([
      ['certificate_authority_create.privatekey', `The private key's encryption ${TOO_MANY}`, EINVAL],
    ]);
    // Both derivations would take hours; a generous bound that only a refusal meets.
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('refuses, on the pkcs12 attribute and at once, a bundle whose MAC asks for 2^32-1 iterations', async () => {
    const crafted = withMacIterations(await pkcs12Of(ecA.cert, ecA.key, 2048), HUGE);
    const started = Date.now();
    expect(await certificateCreateErrors(importedParams({ certificate: undefined, privatekey: undefined, pkcs12: crafted.toString('base64'), passphrase: 'p12pass' }))).toEqual([
      ['certificate_create.pkcs12', `The PKCS#12 bundle ${TOO_MANY}`, EINVAL],
    ]);
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  /**
   * Runs a certificate.create import job and pings the daemon as soon as the job is RUNNING; returns
   * the order in which the pong and the job's "Initial validation complete" (reached only once
   * every key derivation is done) arrived, and the job's end state.
   */
  async function pingDuringImport(params: Record<string, unknown>): Promise<{ order: string[]; state: string }> {
    const order: string[] = [];
    let pinged = false;
    let finish!: (state: string) => void;
    const finished = new Promise<string>((resolve) => (finish = resolve));
    const unsubscribe = await client.subscribe<{ state?: string; progress?: { percent?: number }; arguments?: Array<{ name?: string }> }>('core.get_jobs', (event) => {
      const job = event.fields;
      if (!job || job.arguments?.[0]?.name !== params.name) return;
      if (job.state === 'RUNNING' && !pinged) {
        pinged = true;
        void client.call('core.ping').then(() => order.push('pong'));
      }
      if ((job.progress?.percent ?? 0) >= 10 && !order.includes('validated')) order.push('validated');
      if (job.state === 'SUCCESS' || job.state === 'FAILED' || job.state === 'ABORTED') finish(job.state);
    });
    try {
      await client.call('certificate.create', params);
      const state = await finished;
      await client.call('core.ping');
      return { order, state };
    } finally {
      await unsubscribe();
    }
  }

  it('answers core.ping while an import at the iteration cap derives its keys', async () => {
    const [bundle, key] = await Promise.all([
      pkcs12Of(ecB.cert, ecB.key, 1_000_000),
      opensslOk(['pkcs8', '-topk8', '-v2', 'aes-256-cbc', '-iter', '1000000', '-in', ecB.keyFile, '-passout', 'pass:s3cret']),
    ]);
    // A blocked event loop reads the ping only after validation is over; a free one answers at once.
    const fromBundle = await pingDuringImport(importedParams({ certificate: undefined, privatekey: undefined, pkcs12: bundle.toString('base64'), passphrase: 'p12pass' }));
    expect(fromBundle).toEqual({ order: ['pong', 'validated'], state: 'SUCCESS' });
    const fromKey = await pingDuringImport(importedParams({ certificate: ecB.cert, privatekey: key, passphrase: 's3cret' }));
    expect(fromKey).toEqual({ order: ['pong', 'validated'], state: 'SUCCESS' });
  }, 60_000);
});

describe('§1.2.1 certificateauthority.create', () => {
  it('common validation under certificate_authority_create', async () => {
    expect(await caCreateErrors(caInternalParams({ country: 'XX' }))).toEqual([['certificate_authority_create.country', 'XX not in countries recognized by the system', EINVAL]]);
    expect(await caCreateErrors(caInternalParams({ key_type: 'RSA', key_length: undefined, digest_algorithm: undefined }))).toEqual([
      ['certificate_authority_create.key_length', 'RSA-based keys require an entry in this field.', EINVAL],
      ['certificate_authority_create.digest_algorithm', 'This field is required.', EINVAL],
    ]);
    expect(await caCreateErrors(caInternalParams({ lifetime: 9_999_999 }))).toEqual([['certificate_authority_create.lifetime', 'Lifetime for the certificate is too long.', EINVAL]]);
  });

  it('imports: a bad certificate, a bad key, a wrong passphrase, a small key, a mismatched key', async () => {
    expect(await caCreateErrors(caImportedParams({ certificate: 'garbage' }))).toEqual([
      ['certificate_authority_create.certificate', 'Not a valid certificate', EINVAL],
      ['certificate_authority_create.certificate', 'Unable to parse certificate', EINVAL],
    ]);
    expect(await caCreateErrors(caImportedParams({ certificate: '' }))).toEqual([['certificate_authority_create.certificate', 'Unable to parse certificate', EINVAL]]);
    expect(await caCreateErrors(caImportedParams({ privatekey: 'garbage' }))).toEqual([['certificate_authority_create.privatekey', KEY_MESSAGE, EINVAL]]);
    expect(await caCreateErrors(caImportedParams({ certificate: ecA.cert, privatekey: encryptedKey, passphrase: 'wrong' }))).toEqual([
      ['certificate_authority_create.privatekey', KEY_MESSAGE, EINVAL],
    ]);
    expect(await caCreateErrors(caImportedParams({ certificate: rsa512.cert, privatekey: rsa512.key }))).toEqual([
      ['certificate_authority_create.privatekey', 'Key size must be greater than or equal to 1024 bits.', EINVAL],
    ]);
    expect(await caCreateErrors(caImportedParams({ privatekey: ecB.key }))).toEqual([
      ['certificate_authority_create.privatekey', 'Private key does not match certificate: key values mismatch', EINVAL],
    ]);
    // An import drops key_type (TrueNAS pops it), so RSA without key_length is no error here.
    expect((await client.call<Entry>('certificateauthority.create', caImportedParams({ key_type: 'RSA' }))).CA_type_existing).toBe(true);
  });

  it.each([
    ['does not exist', () => 999_999],
    ['has no private key', () => keylessCa.id],
  ])('an intermediate needs a signing CA with a key: refuses one that %s', async (_label, id) => {
    expect(await caCreateErrors(caInternalParams({ create_type: 'CA_CREATE_INTERMEDIATE', signedby: id() }))).toEqual([
      ['certificate_authority_create.signedby', 'Please provide a valid signing authority', EINVAL],
    ]);
  });

  it.each<[string, Record<string, unknown>, Triple[]]>([
    [
      'BasicConstraints disabled (KeyUsage key_cert_sign then breaks RFC 5280 too)',
      { BasicConstraints: { enabled: false } },
      [
        ['certificate_authority_create.BasicConstraints', 'Please enable ca when key_cert_sign is set in KeyUsage as per RFC 5280.', EINVAL],
        ['certificate_authority_create.cert_extensions.BasicConstraints.enabled', 'This must be enabled for a Certificate Authority.', EINVAL],
      ],
    ],
    [
      'BasicConstraints ca false (enabled keeps its CA default)',
      { BasicConstraints: { ca: false } },
      [
        ['certificate_authority_create.BasicConstraints', 'Please enable ca when key_cert_sign is set in KeyUsage as per RFC 5280.', EINVAL],
        ['certificate_authority_create.cert_extensions.BasicConstraints.ca', '"ca" must be enabled for a Certificate Authority.', EINVAL],
      ],
    ],
    ['KeyUsage disabled', { KeyUsage: { enabled: false } }, [['certificate_authority_create.cert_extensions.KeyUsage.enabled', 'This must be enabled for a Certificate Authority.', EINVAL]]],
    [
      'KeyUsage key_cert_sign false (enabled keeps its CA default)',
      { KeyUsage: { key_cert_sign: false } },
      [['certificate_authority_create.cert_extensions.KeyUsage.key_cert_sign', '"key_cert_sign" must be enabled for a Certificate Authority.', EINVAL]],
    ],
    [
      'both ca and key_cert_sign false',
      { BasicConstraints: { ca: false }, KeyUsage: { key_cert_sign: false } },
      [
        ['certificate_authority_create.cert_extensions.BasicConstraints.ca', '"ca" must be enabled for a Certificate Authority.', EINVAL],
        ['certificate_authority_create.cert_extensions.KeyUsage.key_cert_sign', '"key_cert_sign" must be enabled for a Certificate Authority.', EINVAL],
      ],
    ],
  ])('CA extensions: %s', async (_label, cert_extensions, expected) => {
    expect(await caCreateErrors(caInternalParams({ cert_extensions }))).toEqual(expected);
  });

  it('CA extension rules apply to imported CAs as well', async () => {
    expect(await caCreateErrors(caImportedParams({ cert_extensions: { KeyUsage: { enabled: false } } }))).toEqual([
      ['certificate_authority_create.cert_extensions.KeyUsage.enabled', 'This must be enabled for a Certificate Authority.', EINVAL],
    ]);
  });

  it('name rules, against the CA table', async () => {
    expect(await caCreateErrors(caImportedParams({ name: root.name }))).toEqual([['certificate_authority_create.name', 'A certificate with this name already exists', EINVAL]]);
    expect(await caCreateErrors(caImportedParams({ name: 'external' }))).toEqual([['certificate_authority_create.name', reserved('external'), EINVAL]]);
    expect(await caCreateErrors(caImportedParams({ name: 'external - signature pending' }))).toEqual([
      ['certificate_authority_create.name', reserved('external - signature pending'), EINVAL],
      ['certificate_authority_create.name', NAME_CHARS, EINVAL],
    ]);
    expect(await caCreateErrors(caImportedParams({ name: 'my ca' }))).toEqual([['certificate_authority_create.name', NAME_CHARS, EINVAL]]);
    // Certificates and CAs are separate namespaces.
    expect((await client.call<Entry>('certificateauthority.create', caImportedParams({ name: signed.name }))).name).toBe(signed.name);
  });

  it('ca_create_internal: required fields in field order, then the generator\'s SAN', async () => {
    expect(await caCreateErrors({ name: uniq('ca'), create_type: 'CA_CREATE_INTERNAL', key_type: 'EC' })).toEqual([
      ['ca_create_internal.lifetime', 'attribute required', EINVAL],
      ['ca_create_internal.city', 'attribute required', EINVAL],
      ['ca_create_internal.country', 'attribute required', EINVAL],
      ['ca_create_internal.email', 'attribute required', EINVAL],
      ['ca_create_internal.organization', 'attribute required', EINVAL],
      ['ca_create_internal.state', 'attribute required', EINVAL],
    ]);
    expect(await caCreateErrors(caInternalParams({ san: [] }))).toEqual([['certificate_cert_info.san', 'Empty value not allowed', EINVAL]]);
  });

  it('ca_create_intermediate requires signedby', async () => {
    expect(await caCreateErrors(caInternalParams({ create_type: 'CA_CREATE_INTERMEDIATE' }))).toEqual([['ca_create_intermediate.signedby', 'attribute required', EINVAL]]);
  });

  it('ca_create_imported requires a certificate', async () => {
    expect(await caCreateErrors(caImportedParams({ certificate: undefined, privatekey: undefined }))).toEqual([['ca_create_imported.certificate', 'attribute required', EINVAL]]);
  });

  it('(certmid) refuses to import a certificate that is not a CA', async () => {
    expect(await caCreateErrors(caImportedParams({ certificate: signed.certificate, privatekey: signed.privatekey }))).toEqual([
      ['ca_create_imported.certificate', 'The certificate is not a certificate authority (BasicConstraints CA:TRUE missing)', EINVAL],
    ]);
  });

  it.each<[string, Record<string, unknown>, Triple[]]>([
    ['an unknown create_type', { create_type: 'CA_SIGN_CSR' }, [['ca_create.create_type', 'Invalid choice: CA_SIGN_CSR', EINVAL]]],
    ['dns_mapping (removed from ca_create)', { dns_mapping: { 'a.example': 1 } }, [['ca_create.dns_mapping', 'Field was not expected', EINVAL]]],
    ['a missing name', { name: undefined }, [['ca_create.name', 'attribute required', EINVAL]]],
    ['text for an integer', { lifetime: 'ten' }, [['ca_create.lifetime', 'Not an integer', EINVAL]]],
    ['an e-mail without @', { email: 'nobody' }, [['ca_create.email', "Missing '@' symbol.", EINVAL]]],
  ])('schema: %s', async (_label, overrides, expected) => {
    expect(await caCreateErrors(compact({ ...caInternalParams(), ...overrides }))).toEqual(expected);
  });
});

describe('§1.2.2 certificateauthority.update', () => {
  it.each<[string, () => string, Triple[]]>([
    ['taken', () => keylessCa.name, [['certificate_authority_update.name', 'A certificate with this name already exists', EINVAL]]],
    ['reserved', () => 'self-signed', [['certificate_authority_update.name', reserved('self-signed'), EINVAL]]],
    ['bad characters', () => 'root ca', [['certificate_authority_update.name', NAME_CHARS, EINVAL]]],
  ])('name: %s', async (_label, name, expected) => {
    expect(await callErrors(updateCa(root.id, { name: name() }))).toEqual(expected);
    expect((await client.call<Entry>('certificateauthority.get_instance', root.id)).name).toBe(root.name);
  });

  it('only a CA with a private key can be revoked', async () => {
    expect(await callErrors(updateCa(keylessCa.id, { revoked: true }))).toEqual([
      ['certificate_authority_update.revoked', 'Only Certificate Authorities with a privatekey can be marked as revoked.', EINVAL],
    ]);
  });

  it('revocation cannot be undone, and a revoked CA stays out of the trusted store', async () => {
    const ca = await client.call<Entry>('certificateauthority.create', caInternalParams());
    const expectedTrust: Triple[] = [['certificate_authority_update.add_to_trusted_store', "Revoked certificates cannot be added to system's trusted store", EINVAL]];
    expect(await callErrors(updateCa(ca.id, { revoked: true, add_to_trusted_store: true }))).toEqual(expectedTrust);
    expect((await client.call<Entry>('certificateauthority.get_instance', ca.id)).revoked).toBe(false);
    expect((await updateCa(ca.id, { revoked: true })).revoked).toBe(true);
    expect(await callErrors(updateCa(ca.id, { revoked: false }))).toEqual([
      ['certificate_authority_update.revoked', 'Certificate Authority has already been revoked and this cannot be reversed', EINVAL],
    ]);
    expect(await callErrors(updateCa(ca.id, { add_to_trusted_store: true }))).toEqual(expectedTrust);
  });

  it('(certmid) takes revoked_reason only with the revocation it describes', async () => {
    const ca = await client.call<Entry>('certificateauthority.create', caInternalParams());
    expect(await callErrors(updateCa(ca.id, { revoked_reason: 'CA_COMPROMISE' }))).toEqual([
      ['certificate_authority_update.revoked_reason', 'A revocation reason can only be given when revoking the certificate authority ("revoked": true)', EINVAL],
    ]);
    expect(await updateCa(ca.id, { revoked: true, revoked_reason: 'CA_COMPROMISE' })).toMatchObject({ revoked: true, revoked_reason: 'CA_COMPROMISE' });
    expect(await callErrors(updateCa(ca.id, { revoked_reason: 'SUPERSEDED' }))).toEqual([
      ['certificate_authority_update.revoked_reason', 'The certificate authority is already revoked (reason CA_COMPROMISE); its revocation reason cannot be changed', EINVAL],
    ]);
  });

  it('CA_SIGN_CSR (legacy) signs with the CA being updated and returns a certificate entry', async () => {
    const request = await freshCsr();
    const name = uniq('legacy-signed');
    const entry = await updateCa(root.id, { create_type: 'CA_SIGN_CSR', csr_cert_id: request.id, name });
    expect(entry).toMatchObject({ name, type: 16, cert_type: 'CERTIFICATE', cert_type_internal: true });
    expect((entry.signedby as Entry).id).toBe(root.id);
    expect((await client.call<Entry[]>('certificate.query', [['name', '=', name]])).map((e) => e.id)).toEqual([entry.id]);
  });

  it('CA_SIGN_CSR reports ca_sign_csr problems on certificate_authority_update, and needs csr_cert_id and name', async () => {
    expect(await callErrors(updateCa(root.id, { create_type: 'CA_SIGN_CSR', csr_cert_id: 999_999, name: signed.name }))).toEqual([
      ['certificate_authority_update.csr_cert_id', 'No Certificate found for id 999999', EINVAL],
      ['certificate_authority_update.name', 'A certificate with this name already exists', EINVAL],
    ]);
    expect(await callErrors(updateCa(999_999, { create_type: 'CA_SIGN_CSR', csr_cert_id: csr.id, name: uniq('x') }))).toEqual([
      ['certificate_authority_update.ca_id', 'No Certificate Authority found for id 999999', EINVAL],
    ]);
    const before = await counts();
    expect(await callErrors(updateCa(root.id, { create_type: 'CA_SIGN_CSR' }))).toEqual([
      ['ca_sign_csr.csr_cert_id', 'attribute required', EINVAL],
      ['ca_sign_csr.name', 'attribute required', EINVAL],
    ]);
    expect(await callErrors(updateCa(root.id, { create_type: 'CA_SIGN_CSR', revoked: true, csr_cert_id: csr.id, name: uniq('x') }))).toEqual([
      ['ca_sign_csr.revoked', 'Field was not expected', EINVAL],
    ]);
    expect(await counts()).toEqual(before);
  });

  it.each<[string, Record<string, unknown>, Triple[]]>([
    ['an unknown create_type', { create_type: 'CA_CREATE_INTERNAL' }, [['ca_update.create_type', 'Invalid choice: CA_CREATE_INTERNAL', EINVAL]]],
    ['an unknown field', { lifetime: 30 }, [['ca_update.lifetime', 'Field was not expected', EINVAL]]],
    ['text for a boolean', { add_to_trusted_store: 1 }, [['ca_update.add_to_trusted_store', 'Not a boolean', EINVAL]]],
  ])('schema: %s', async (_label, data, expected) => {
    expect(await callErrors(updateCa(root.id, data))).toEqual(expected);
  });
});

describe('§1.2.3 certificateauthority.delete', () => {
  it('refuses (EBUSY) while a CA it signed exists, then deletes', async () => {
    const parent = await client.call<Entry>('certificateauthority.create', caInternalParams());
    const child = await client.call<Entry>('certificateauthority.create', caInternalParams({ create_type: 'CA_CREATE_INTERMEDIATE', signedby: parent.id }));
    const error = await failureOf(client.call('certificateauthority.delete', parent.id));
    expect(error).toBeInstanceOf(RpcError);
    expect(error).toMatchObject({
      code: -32001,
      data: {
        error: 16,
        errname: 'EBUSY',
        reason: `[EBUSY] This object is being used by following service(s):\n1) 'certificateauthority' Service\nSigned by it: '${child.name}' (certificate authority)\n`,
        extra: { dependencies: [{ datastore: 'system.certificateauthority', service: 'certificateauthority', objects: [{ id: child.id, name: child.name }] }] },
      },
    });
    expect(await client.call('certificateauthority.delete', child.id)).toBe(true);
    expect(await client.call('certificateauthority.delete', parent.id)).toBe(true);
  });

  it('refuses (EBUSY) while a certificate it signed exists', async () => {
    const error = await failureOf(client.call('certificateauthority.delete', root.id));
    expect(error).toMatchObject({ code: -32001, data: { error: 16, errname: 'EBUSY' } });
    expect((error as RpcError).data!.reason).toMatch(/^\[EBUSY\] This object is being used by following service\(s\):\n1\) 'certificate' Service\n/);
  });
});

describe('§1.2.4 certificateauthority.ca_sign_csr', () => {
  it('no CA and no certificate', async () => {
    expect(await callErrors(signCsr({ ca_id: 999_999, csr_cert_id: 888_888, name: uniq('s') }))).toEqual([
      ['certificate_authority_update.ca_id', 'No Certificate Authority found for id 999999', EINVAL],
      ['certificate_authority_update.csr_cert_id', 'No Certificate found for id 888888', EINVAL],
    ]);
  });

  it('a CA without a private key', async () => {
    expect(await callErrors(signCsr({ ca_id: keylessCa.id, csr_cert_id: csr.id, name: uniq('s') }))).toEqual([
      ['certificate_authority_update.ca_id', 'Please use a CA which has a private key assigned', EINVAL],
    ]);
  });

  it('a certificate that filed no CSR', async () => {
    expect(await callErrors(signCsr({ ca_id: root.id, csr_cert_id: signed.id, name: uniq('s') }))).toEqual([
      ['certificate_authority_update.csr_cert_id', 'No CSR has been filed by this certificate', EINVAL],
    ]);
  });

  it('a CSR that does not parse, and one without its private key (rows damaged in the database)', async () => {
    const unparsable = await freshCsr();
    await damageRow(unparsable.id, { CSR: '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n' });
    expect(await callErrors(signCsr({ ca_id: root.id, csr_cert_id: unparsable.id, name: uniq('s') }))).toEqual([
      ['certificate_authority_update.csr_cert_id', 'CSR not valid', EINVAL],
    ]);
    const keyless = await freshCsr();
    await damageRow(keyless.id, { privatekey: null });
    expect(await callErrors(signCsr({ ca_id: root.id, csr_cert_id: keyless.id, name: uniq('s') }))).toEqual([
      ['certificate_authority_update.csr_cert_id', 'Private key not found for specified CSR.', EINVAL],
    ]);
    await damageRow(unparsable.id, { privatekey: null });
    expect(await callErrors(signCsr({ ca_id: root.id, csr_cert_id: unparsable.id, name: uniq('s') }))).toEqual([
      ['certificate_authority_update.csr_cert_id', 'CSR not valid', EINVAL],
      ['certificate_authority_update.csr_cert_id', 'Private key not found for specified CSR.', EINVAL],
    ]);
  });

  it('(certmid) a CSR whose signature does not verify is "CSR not valid"', async () => {
    const der = (await openssl(['req', '-outform', 'DER'], opensslCsr.csr)).stdoutBuffer;
    // Flip the last byte of the signature: the CSR still parses, its signature no longer verifies.
    der.writeUInt8(der.readUInt8(der.length - 1) ^ 0xff, der.length - 1);
    const forged = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE REQUEST-----\n`;
    const row = await createCertificate(importedCsrParams({ CSR: forged }));
    expect(await callErrors(signCsr({ ca_id: root.id, csr_cert_id: row.id, name: uniq('s') }))).toEqual([['certificate_authority_update.csr_cert_id', 'CSR not valid', EINVAL]]);
  });

  it('a name a certificate already has', async () => {
    expect(await callErrors(signCsr({ ca_id: root.id, csr_cert_id: csr.id, name: signed.name }))).toEqual([
      ['certificate_authority_update.name', 'A certificate with this name already exists', EINVAL],
    ]);
  });

  it('reports all three attributes at once, in order, and writes nothing', async () => {
    const before = await counts();
    expect(await callErrors(signCsr({ ca_id: keylessCa.id, csr_cert_id: signed.id, name: signed.name }))).toEqual([
      ['certificate_authority_update.ca_id', 'Please use a CA which has a private key assigned', EINVAL],
      ['certificate_authority_update.csr_cert_id', 'No CSR has been filed by this certificate', EINVAL],
      ['certificate_authority_update.name', 'A certificate with this name already exists', EINVAL],
    ]);
    expect(await counts()).toEqual(before);
  });

  it('does not apply the name pattern or reserved words (TrueNAS quirk), and takes numeric strings for ids', async () => {
    const entry = await signCsr({ ca_id: String(root.id), csr_cert_id: String((await freshCsr()).id), name: 'self-signed' });
    expect(entry).toMatchObject({ name: 'self-signed', cert_type_internal: true });
  });

  it('(certmid) refuses to sign with a revoked CA', async () => {
    const ca = await client.call<Entry>('certificateauthority.create', caInternalParams());
    await updateCa(ca.id, { revoked: true });
    expect(await callErrors(signCsr({ ca_id: ca.id, csr_cert_id: csr.id, name: uniq('s') }))).toEqual([
      ['certificate_authority_update.ca_id', 'The certificate authority has been revoked', EINVAL],
    ]);
  });

  it.each<[string, Record<string, unknown>, Triple[]]>([
    [
      'nothing',
      {},
      [
        ['ca_sign_csr.ca_id', 'attribute required', EINVAL],
        ['ca_sign_csr.csr_cert_id', 'attribute required', EINVAL],
        ['ca_sign_csr.name', 'attribute required', EINVAL],
      ],
    ],
    ['text for an id', { ca_id: 'root', csr_cert_id: 1, name: 'n' }, [['ca_sign_csr.ca_id', 'Not an integer', EINVAL]]],
    ['an unknown field', { ca_id: 1, csr_cert_id: 1, name: 'n', revoked: true }, [['ca_sign_csr.revoked', 'Field was not expected', EINVAL]]],
  ])('schema: %s', async (_label, data, expected) => {
    expect(await callErrors(signCsr(data))).toEqual(expected);
  });
});
