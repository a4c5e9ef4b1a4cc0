import type { KeyObject } from 'node:crypto';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { issueDescribedCertificate, type IssueRequest } from '../crypto/certificates.js';
import { EKU_OIDS, caDefaultExtensions, defaultExtensions, type CertExtensions, type EkuName } from '../crypto/extensions.js';
import { describeKey, describeKeySpec, generatePrivateKey, type KeySpec } from '../crypto/keys.js';
import { parseSan } from '../crypto/san.js';
import type { SubjectFields } from '../crypto/subject.js';
import { issuedCertificateDetails } from './details.js';

const DAY = 86_400_000;
const NOW = new Date('2026-03-01T10:20:30.456Z');

interface Signer {
  key: KeyObject;
  pem: string;
}

/**
 * `certificateDetails` from a fresh copy of the modules: its certificate cache has never seen the
 * certificate, so it decodes the PEM as it would any stored one (issuance would otherwise have left
 * what it built in the cache of the copy it used).
 */
async function readBackDetails(): Promise<(typeof import('./details.js'))['certificateDetails']> {
  vi.resetModules();
  return (await import('./details.js')).certificateDetails;
}

function request(overrides: Partial<IssueRequest> & Pick<IssueRequest, 'publicKey' | 'signer'>): IssueRequest {
  return {
    subject: { common: 'leaf.example', country: 'US', state: 'TN', city: 'Knoxville', organization: 'iX', organizational_unit: 'QA', email: 'qa@example.com' },
    san: parseSan(['leaf.example']),
    serial: 4242n,
    notBefore: NOW,
    notAfter: new Date(NOW.getTime() + 397 * DAY),
    digest: 'SHA256',
    extensions: defaultExtensions(),
    ...overrides,
  };
}

function extensionsWith(change: (ext: CertExtensions) => void): CertExtensions {
  const ext = defaultExtensions();
  change(ext);
  return ext;
}

const SUBJECTS: SubjectFields[] = [
  { common: 'leaf.example', country: 'US', state: 'TN', city: 'Knoxville', organization: 'iX', organizational_unit: 'QA', email: 'qa@example.com' },
  { common: 'only-cn.example' },
  { organization: 'No Common Name', country: 'DE' },
  { common: 'Ünïcödé 中文 🚀', city: 'Zürich', organization: 'Société, Ltd / "x"', email: 'josé@exämple.com', country: 'ÄB' },
  { common: '  Spaced   OUT  ', state: '\tTabs\tand  spaces ', organizational_unit: 'MiXeD CaSe', country: 'u_' },
  { common: 'a+b=c/d\\e<f>g;h#i', organization: '', city: null, email: '' },
  { common: 'x'.repeat(64), organization: 'o'.repeat(200) },
];

const SANS: string[][] = [
  ['leaf.example'],
  ['*.wild.example', 'DNS:second.example', 'bücher.example'],
  ['192.0.2.7', 'IP:2001:db8::1', 'IP Address:::ffff:10.0.0.1'],
  ['admin@example.com', 'email:ops@bücher.example'],
  ['URI:https://example.com/a,b?c=d', 'ldap://directory.example/cn=x,o=y', 'leaf.example'],
];

const EXTENSIONS: CertExtensions[] = [
  defaultExtensions(),
  caDefaultExtensions(),
  extensionsWith((ext) => {
    ext.BasicConstraints = { enabled: true, ca: false, path_length: null, extension_critical: false };
    ext.AuthorityKeyIdentifier = { enabled: true, authority_cert_issuer: true, extension_critical: false };
    ext.ExtendedKeyUsage = { enabled: true, usages: Object.keys(EKU_OIDS) as EkuName[], extension_critical: true };
    ext.KeyUsage = { ...ext.KeyUsage, enabled: true, digital_signature: true, content_commitment: true, key_encipherment: true, key_agreement: true, decipher_only: true, extension_critical: true };
  }),
  extensionsWith((ext) => {
    ext.BasicConstraints = { enabled: true, ca: true, path_length: 0, extension_critical: true };
    ext.AuthorityKeyIdentifier = { enabled: true, authority_cert_issuer: false, extension_critical: true };
    ext.KeyUsage = { ...ext.KeyUsage, enabled: true, key_cert_sign: true, crl_sign: true, data_encipherment: true, extension_critical: false };
  }),
  extensionsWith((ext) => {
    ext.ExtendedKeyUsage = { enabled: true, usages: ['SERVER_AUTH', 'CLIENT_AUTH'], extension_critical: false };
    ext.KeyUsage = { ...ext.KeyUsage, enabled: true, key_agreement: true, encipher_only: true, extension_critical: false };
  }),
  extensionsWith((ext) => {
    ext.BasicConstraints = { enabled: true, ca: true, path_length: 3, extension_critical: false };
    ext.ExtendedKeyUsage = { enabled: true, usages: ['ANY_EXTENDED_KEY_USAGE'], extension_critical: true };
  }),
];

const KEY_SPECS: KeySpec[] = [
  { keyType: 'EC', curve: 'SECP256R1' },
  { keyType: 'EC', curve: 'SECP384R1' },
  { keyType: 'EC', curve: 'SECP521R1' },
  { keyType: 'EC', curve: 'ed25519' },
  { keyType: 'RSA', keyLength: 2048 },
];

describe('issuedCertificateDetails', () => {
  const keys = new Map<KeySpec, KeyObject>();
  let root: Signer;
  let intermediate: Signer;
  let rsaRoot: Signer;
  let edRoot: Signer;

  /** A CA certificate signed by `signer` (self-signed when null). */
  async function authority(key: KeyObject, common: string, signer: Signer | null, digest: IssueRequest['digest'] = 'SHA256'): Promise<Signer> {
    const extensions = caDefaultExtensions();
    extensions.AuthorityKeyIdentifier = { enabled: true, authority_cert_issuer: signer !== null, extension_critical: false };
    const issued = await issueDescribedCertificate(
      request({
        subject: { common, organization: 'Test CA', country: 'US' },
        san: [],
        serial: 1n,
        notAfter: new Date(NOW.getTime() + 3650 * DAY),
        digest,
        extensions,
        publicKey: key,
        signer: signer ? { privateKey: signer.key, certificatePem: signer.pem } : { privateKey: key, certificatePem: null },
      }),
    );
    return { key, pem: issued.pem };
  }

  beforeAll(async () => {
    for (const spec of KEY_SPECS) keys.set(spec, await generatePrivateKey(spec));
    root = await authority(await generatePrivateKey({ keyType: 'EC', curve: 'SECP384R1' }), 'Root CA', null, 'SHA384');
    intermediate = await authority(await generatePrivateKey({ keyType: 'EC', curve: 'SECP256R1' }), 'Intermediate CA', root);
    rsaRoot = await authority(await generatePrivateKey({ keyType: 'RSA', keyLength: 2048 }), 'RSA Root CA', null, 'SHA512');
    edRoot = await authority(await generatePrivateKey({ keyType: 'EC', curve: 'ed25519' }), 'Ed25519 Root CA', null);
  });

  it('equals what reading the PEM back gives, field by field and in order, for every kind of request', async () => {
    const signers = [root, intermediate, rsaRoot, edRoot];
    const cases: Array<{ spec: KeySpec; build: IssueRequest }> = [];
    let serial = 10n;
    // Every subject, SAN list, extension setting, key kind and signer at least once, in rotating combinations.
    const rounds = Math.max(SUBJECTS.length, SANS.length, EXTENSIONS.length, KEY_SPECS.length, signers.length) * 3;
    for (let i = 0; i < rounds; i++) {
      const spec = KEY_SPECS[i % KEY_SPECS.length]!;
      const signer = signers[i % signers.length]!;
      cases.push({
        spec,
        build: request({
          subject: SUBJECTS[i % SUBJECTS.length]!,
          san: parseSan(SANS[i % SANS.length]!),
          extensions: EXTENSIONS[i % EXTENSIONS.length]!,
          digest: (['SHA256', 'SHA384', 'SHA512', 'SHA224', 'SHA1'] as const)[i % 5],
          serial: (serial += 1n + BigInt(i) * 7919n ** BigInt(i % 5)),
          notAfter: new Date(NOW.getTime() + ((i * 37) % 900) * DAY + i * 1_234),
          crlDistributionPoint: i % 3 === 0 ? undefined : `https://ca.example/crl/${i % 2}.crl`,
          caIssuersUrl: i % 4 === 1 ? undefined : `https://ca.example/ca/${i % 2}.crt`,
          publicKey: keys.get(spec)!,
          signer: { privateKey: signer.key, certificatePem: signer.pem },
        }),
      });
    }
    // Self-signed, where the AuthorityKeyIdentifier follows the certificate's own key.
    const selfKey = keys.get(KEY_SPECS[0]!)!;
    cases.push({ spec: KEY_SPECS[0]!, build: request({ extensions: EXTENSIONS[2]!, publicKey: selfKey, signer: { privateKey: selfKey, certificatePem: null } }) });
    // An empty SAN and a subject with no fields at all.
    cases.push({ spec: KEY_SPECS[1]!, build: request({ subject: {}, san: [], publicKey: keys.get(KEY_SPECS[1]!)!, signer: { privateKey: root.key, certificatePem: root.pem } }) });

    const issued = [];
    for (const { spec, build } of cases) {
      const certificate = await issueDescribedCertificate(build);
      issued.push({ pem: certificate.pem, key: build.publicKey, computed: issuedCertificateDetails(certificate, describeKeySpec(spec)) });
    }
    const certificateDetails = await readBackDetails();
    for (const { pem, key, computed } of issued) {
      const read = certificateDetails(pem, key);
      expect(read.parsed).toBe(true);
      expect(computed).toStrictEqual(read);
      // Key order too, nested objects included: clients see these in this order.
      expect(JSON.stringify(computed)).toBe(JSON.stringify(read));
    }
  });

  it('refuses a subject value with a lone surrogate, which has no UTF-8 form, as issuance always has', async () => {
    const key = keys.get(KEY_SPECS[0]!)!;
    const build = request({ subject: { common: 'broken \ud800 name' }, publicKey: key, signer: { privateKey: root.key, certificatePem: root.pem } });
    await expect(issueDescribedCertificate(build)).rejects.toThrow(URIError);
  });
});

describe('describeKeySpec', () => {
  it('gives what describeKey says of a key generated for the spec', async () => {
    const specs: KeySpec[] = [...KEY_SPECS, { keyType: 'RSA', keyLength: 3072 }];
    for (const spec of specs) expect(describeKeySpec(spec)).toStrictEqual(describeKey(await generatePrivateKey(spec)));
  });
});
