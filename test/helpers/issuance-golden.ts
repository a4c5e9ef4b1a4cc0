/**
 * The issuance golden set: certificates, CSRs and CRLs made from fixed keys, serials and dates,
 * covering the options TrueNAS can set. `scripts/issuance-golden.ts` wrote their encodings and
 * openssl's reading of them once; the test issues them again and compares.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createCsr, issueCertificate, parseCertificate, parseCsr, reissueCertificate } from '../../src/crypto/certificates.js';
import { createCrl } from '../../src/crypto/crl.js';
import { EKU_OIDS, caDefaultExtensions, defaultExtensions, type CertExtensions, type EkuName } from '../../src/crypto/extensions.js';
import { loadPrivateKey } from '../../src/crypto/keys.js';
import { parseSan } from '../../src/crypto/san.js';

export const GOLDEN_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'issuance-golden');

export type GoldenKind = 'certificate' | 'csr' | 'crl';

export interface GoldenCase {
  name: string;
  kind: GoldenKind;
  /** ECDSA signatures are random: only the signed part is compared for these. */
  randomSignature: boolean;
  /** Makes the PEM; `pemOf` gives the stored PEM of an earlier case (an issuer, a previous certificate). */
  make(pemOf: (name: string) => string): Promise<string>;
}

const key = (name: string) => loadPrivateKey(readFileSync(path.join(GOLDEN_DIR, 'keys', `${name}.pem`), 'utf8'));

const NOT_BEFORE = new Date('2026-01-02T03:04:05Z');
const NOT_AFTER = new Date('2027-02-03T04:05:06Z');
/** Past 2049: GeneralizedTime. */
const FAR_NOT_AFTER = new Date('2061-07-08T09:10:11Z');

function leafExtensions(): CertExtensions {
  const ext = defaultExtensions();
  ext.BasicConstraints = { enabled: true, ca: false, path_length: null, extension_critical: true };
  ext.AuthorityKeyIdentifier = { enabled: true, authority_cert_issuer: true, extension_critical: false };
  ext.ExtendedKeyUsage = { enabled: true, usages: Object.keys(EKU_OIDS) as EkuName[], extension_critical: true };
  ext.KeyUsage = { ...ext.KeyUsage, enabled: true, digital_signature: true, key_encipherment: true, content_commitment: true, extension_critical: true };
  return ext;
}

function agreementExtensions(): CertExtensions {
  const ext = defaultExtensions();
  ext.AuthorityKeyIdentifier = { enabled: true, authority_cert_issuer: false, extension_critical: true };
  ext.ExtendedKeyUsage = { enabled: true, usages: ['CLIENT_AUTH', 'SERVER_AUTH'], extension_critical: false };
  ext.KeyUsage = { ...ext.KeyUsage, enabled: true, key_agreement: true, encipher_only: true, decipher_only: true, data_encipherment: true };
  return ext;
}

function intermediateExtensions(): CertExtensions {
  const ext = caDefaultExtensions();
  ext.BasicConstraints = { enabled: true, ca: true, path_length: 0, extension_critical: true };
  ext.AuthorityKeyIdentifier = { enabled: true, authority_cert_issuer: true, extension_critical: false };
  return ext;
}

const FULL_SUBJECT = {
  common: 'Golden Root CA',
  country: 'US',
  state: 'Tennessee',
  city: 'Knoxville',
  organization: 'Golden Org',
  organizational_unit: 'PKI',
  email: 'pki@example.com',
};

const UTF8_SUBJECT = {
  common: 'Zürich Ünïcode 認証局',
  country: 'CH',
  state: 'Zürich',
  city: 'Zürich',
  organization: 'Grüße & Co, "Quoted"',
  email: 'jörg@example.com',
};

const signedBy = (issuer: string, keyName: string, pemOf: (name: string) => string) => ({ privateKey: key(keyName), certificatePem: pemOf(issuer) });

export const GOLDEN_CASES: readonly GoldenCase[] = [
  {
    name: 'root-rsa',
    kind: 'certificate',
    randomSignature: false,
    make: () =>
      issueCertificate({
        subject: FULL_SUBJECT,
        san: [],
        publicKey: key('rsa-3072'),
        signer: { privateKey: key('rsa-3072'), certificatePem: null },
        serial: 1n,
        notBefore: NOT_BEFORE,
        notAfter: FAR_NOT_AFTER,
        digest: 'SHA256',
        extensions: caDefaultExtensions(),
      }),
  },
  {
    name: 'intermediate-ec',
    kind: 'certificate',
    randomSignature: false,
    make: (pemOf) =>
      issueCertificate({
        subject: { common: 'Golden Intermediate', organization: 'Golden Org', country: 'US' },
        san: [],
        publicKey: key('ec-p384'),
        signer: signedBy('root-rsa', 'rsa-3072', pemOf),
        serial: 0x80n,
        notBefore: NOT_BEFORE,
        notAfter: new Date('2049-12-31T23:59:59Z'),
        digest: 'SHA512',
        extensions: intermediateExtensions(),
        crlDistributionPoint: 'http://pki.example.com/root.crl',
        caIssuersUrl: 'http://pki.example.com/root.crt',
      }),
  },
  {
    name: 'leaf-ec-all-san',
    kind: 'certificate',
    randomSignature: true,
    make: (pemOf) =>
      issueCertificate({
        subject: { common: 'www.example.com', organizational_unit: 'Web', email: 'web@example.com' },
        san: parseSan(['DNS:www.example.com', '*.example.net', 'IP:192.0.2.7', 'IP:2001:db8::1', 'email:admin@example.com', 'URI:https://example.com/id', 'bücher.example']),
        publicKey: key('ec-p256'),
        signer: signedBy('intermediate-ec', 'ec-p384', pemOf),
        serial: 0xffee_ddcc_bbaa_9988_7766_5544_3322_1100n,
        notBefore: NOT_BEFORE,
        notAfter: NOT_AFTER,
        digest: 'SHA384',
        extensions: leafExtensions(),
        crlDistributionPoint: 'http://pki.example.com/intermediate.crl',
        caIssuersUrl: 'http://pki.example.com/intermediate.crt',
      }),
  },
  {
    name: 'leaf-rsa-utf8',
    kind: 'certificate',
    randomSignature: false,
    make: (pemOf) =>
      issueCertificate({
        subject: UTF8_SUBJECT,
        san: parseSan(['DNS:zurich.example.ch']),
        publicKey: key('rsa-2048'),
        signer: signedBy('root-rsa', 'rsa-3072', pemOf),
        serial: 4242n,
        notBefore: NOT_BEFORE,
        notAfter: FAR_NOT_AFTER,
        digest: 'SHA1',
        extensions: agreementExtensions(),
      }),
  },
  {
    name: 'root-ed25519',
    kind: 'certificate',
    randomSignature: false,
    make: () =>
      issueCertificate({
        subject: { common: 'Golden Ed25519 CA', country: 'D_' },
        san: parseSan(['IP:10.1.2.3']),
        publicKey: key('ed25519-a'),
        signer: { privateKey: key('ed25519-a'), certificatePem: null },
        serial: 7n,
        notBefore: new Date('1999-12-31T23:59:59Z'),
        notAfter: FAR_NOT_AFTER,
        digest: 'SHA256',
        extensions: { ...caDefaultExtensions(), AuthorityKeyIdentifier: { enabled: true, authority_cert_issuer: true, extension_critical: false } },
      }),
  },
  {
    name: 'leaf-ed25519-by-ed25519',
    kind: 'certificate',
    randomSignature: false,
    make: (pemOf) =>
      issueCertificate({
        subject: { common: 'ed.example.org' },
        san: parseSan(['DNS:ed.example.org', 'IP:::ffff:192.0.2.1']),
        publicKey: key('ed25519-b'),
        signer: signedBy('root-ed25519', 'ed25519-a', pemOf),
        serial: (1n << 158n) + 12345n,
        notBefore: NOT_BEFORE,
        notAfter: NOT_AFTER,
        digest: 'SHA256',
        extensions: defaultExtensions(),
      }),
  },
  {
    name: 'leaf-p521-by-rsa',
    kind: 'certificate',
    randomSignature: false,
    make: (pemOf) =>
      issueCertificate({
        subject: { common: 'p521.example.com', state: 'Bavaria', city: 'Munich' },
        san: [],
        publicKey: key('ec-p521'),
        signer: signedBy('root-rsa', 'rsa-3072', pemOf),
        serial: 255n,
        notBefore: NOT_BEFORE,
        notAfter: NOT_AFTER,
        digest: 'SHA224',
        extensions: { ...defaultExtensions(), BasicConstraints: { enabled: true, ca: false, path_length: null, extension_critical: false } },
      }),
  },
  {
    name: 'reissued-leaf-ec',
    kind: 'certificate',
    randomSignature: true,
    make: (pemOf) =>
      reissueCertificate({
        previousPem: pemOf('leaf-ec-all-san'),
        publicKey: key('ec-p384'),
        signer: signedBy('intermediate-ec', 'ec-p384', pemOf),
        serial: 99n,
        notBefore: new Date('2027-01-01T00:00:00Z'),
        notAfter: new Date('2028-01-01T00:00:00Z'),
        digest: 'SHA256',
      }),
  },
  {
    name: 'reissued-leaf-rsa',
    kind: 'certificate',
    randomSignature: false,
    make: (pemOf) =>
      reissueCertificate({
        previousPem: pemOf('leaf-rsa-utf8'),
        publicKey: key('rsa-2048'),
        signer: signedBy('root-rsa', 'rsa-3072', pemOf),
        serial: 4243n,
        notBefore: new Date('2050-01-01T00:00:00Z'),
        notAfter: FAR_NOT_AFTER,
        digest: 'SHA512',
      }),
  },
  {
    name: 'csr-rsa-extensions',
    kind: 'csr',
    randomSignature: false,
    make: () =>
      createCsr({
        subject: UTF8_SUBJECT,
        san: parseSan(['DNS:csr.example.com', 'IP:198.51.100.4', 'email:csr@example.com']),
        privateKey: key('rsa-2048'),
        digest: 'SHA256',
        extensions: leafExtensions(),
      }),
  },
  {
    name: 'csr-ec-plain',
    kind: 'csr',
    randomSignature: true,
    make: () =>
      createCsr({ subject: { common: 'plain.example.com', country: 'US' }, san: [], privateKey: key('ec-p256'), digest: 'SHA384', extensions: defaultExtensions() }),
  },
  {
    name: 'csr-ed25519-san',
    kind: 'csr',
    randomSignature: false,
    make: () =>
      createCsr({ subject: { common: 'ed.example.org' }, san: parseSan(['ed.example.org']), privateKey: key('ed25519-b'), digest: 'SHA256', extensions: caDefaultExtensions() }),
  },
  {
    name: 'crl-rsa',
    kind: 'crl',
    randomSignature: false,
    make: async (pemOf) =>
      (
        await createCrl({
          issuerCertificatePem: pemOf('root-rsa'),
          issuerPrivateKey: key('rsa-3072'),
          crlNumber: 300n,
          thisUpdate: NOT_BEFORE,
          nextUpdate: new Date('2050-06-01T00:00:00Z'),
          digest: 'SHA256',
          revoked: [
            { serial: 4242n, revokedAt: new Date('2026-03-04T05:06:07Z'), reason: 'keyCompromise' },
            { serial: 0x80n, revokedAt: new Date('2026-04-05T06:07:08Z') },
            { serial: 255n, revokedAt: new Date('2026-05-06T07:08:09Z'), reason: 'unspecified' },
            { serial: 256n, revokedAt: new Date('2026-05-06T07:08:09Z'), reason: 'aACompromise' },
            { serial: 257n, revokedAt: new Date('2026-05-06T07:08:09Z'), reason: 'removeFromCRL' },
          ],
        })
      ).pem,
  },
  {
    name: 'crl-ec-empty',
    kind: 'crl',
    randomSignature: true,
    make: async (pemOf) =>
      (
        await createCrl({
          issuerCertificatePem: pemOf('intermediate-ec'),
          issuerPrivateKey: key('ec-p384'),
          crlNumber: 1n,
          thisUpdate: NOT_BEFORE,
          nextUpdate: NOT_AFTER,
          digest: 'SHA384',
          revoked: [],
        })
      ).pem,
  },
  {
    name: 'crl-ed25519',
    kind: 'crl',
    randomSignature: false,
    make: async (pemOf) =>
      (
        await createCrl({
          issuerCertificatePem: pemOf('root-ed25519'),
          issuerPrivateKey: key('ed25519-a'),
          crlNumber: 0xff_ffff_ffffn,
          thisUpdate: NOT_BEFORE,
          nextUpdate: FAR_NOT_AFTER,
          digest: 'SHA256',
          revoked: [{ serial: 12345n, revokedAt: new Date('2026-02-02T02:02:02Z'), reason: 'superseded' }],
        })
      ).pem,
  },
];

/** parseCertificate/parseCsr results as JSON: dates as ISO text, the key as SPKI PEM. */
export function parsedJson(kind: GoldenKind, pem: string): unknown {
  if (kind === 'crl') return null;
  const parsed = kind === 'certificate' ? parseCertificate(pem) : parseCsr(pem);
  return JSON.parse(
    JSON.stringify({ ...parsed, public_key: parsed.public_key.export({ type: 'spki', format: 'pem' }).toString() }),
  );
}

export const goldenFile = (name: string, suffix: string): string => path.join(GOLDEN_DIR, `${name}.${suffix}`);

/** Made by openssl from `openssl-rich.cnf` (every extension text TrueNAS shows, multi-valued RDNs): parsed fields only. */
export const OPENSSL_MADE: ReadonlyArray<{ name: string; kind: Exclude<GoldenKind, 'crl'> }> = [
  { name: 'openssl-rich', kind: 'certificate' },
  { name: 'openssl-rich-csr', kind: 'csr' },
  { name: 'openssl-utf8', kind: 'certificate' },
];
