import { z } from 'zod';

/** Legacy TrueNAS integers accept numeric strings ("5" → 5). */
const legacyInt = (description: string) =>
  z.preprocess((v) => (typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v) : v), z.number().int()).describe(description);

export const EKU_NAMES = [
  'ANY_EXTENDED_KEY_USAGE',
  'CERTIFICATE_TRANSPARENCY',
  'CLIENT_AUTH',
  'CODE_SIGNING',
  'EMAIL_PROTECTION',
  'IPSEC_IKE',
  'KERBEROS_PKINIT_KDC',
  'OCSP_SIGNING',
  'SERVER_AUTH',
  'SMARTCARD_LOGON',
  'TIME_STAMPING',
] as const;

export const EC_CURVES = ['SECP256R1', 'SECP384R1', 'SECP521R1', 'ed25519'] as const;
export const KEY_TYPES = ['RSA', 'EC'] as const;
export const KEY_LENGTHS = [2048, 3072, 4096, 8192] as const;
/** Digests offered for new signatures; SHA-1 and MD5 are refused. */
export const DIGESTS = ['SHA224', 'SHA256', 'SHA384', 'SHA512'] as const;
export const REVOCATION_REASONS = [
  'UNSPECIFIED',
  'KEY_COMPROMISE',
  'CA_COMPROMISE',
  'AFFILIATION_CHANGED',
  'SUPERSEDED',
  'CESSATION_OF_OPERATION',
  'CERTIFICATE_HOLD',
  'PRIVILEGE_WITHDRAWN',
  'AA_COMPROMISE',
] as const;

const critical = z.boolean().default(false).describe('Mark the extension critical.');
const flag = (description: string) => z.boolean().default(false).describe(description);

const BasicConstraints = z
  .strictObject({
    ca: flag('The subject is a certificate authority.'),
    enabled: flag('Include the extension.'),
    path_length: legacyInt('How many intermediate CAs may follow below this one.').nullable().default(null).describe('How many intermediate CAs may follow below this one; null for no limit.'),
    extension_critical: critical,
  })
  .describe('BasicConstraints (RFC 5280 4.2.1.9).');

const AuthorityKeyIdentifier = z
  .strictObject({
    authority_cert_issuer: flag("Also name the issuer's issuer and serial."),
    enabled: flag('Include the extension.'),
    extension_critical: critical,
  })
  .describe('AuthorityKeyIdentifier (RFC 5280 4.2.1.1).');

const ExtendedKeyUsage = z
  .strictObject({
    usages: z.array(z.enum(EKU_NAMES)).default([]).describe('The purposes the key may be used for.'),
    enabled: flag('Include the extension.'),
    extension_critical: critical,
  })
  .describe('ExtendedKeyUsage (RFC 5280 4.2.1.12).');

const KeyUsage = z
  .strictObject({
    enabled: flag('Include the extension.'),
    digital_signature: flag('digitalSignature bit.'),
    content_commitment: flag('contentCommitment (nonRepudiation) bit.'),
    key_encipherment: flag('keyEncipherment bit.'),
    data_encipherment: flag('dataEncipherment bit.'),
    key_agreement: flag('keyAgreement bit.'),
    key_cert_sign: flag('keyCertSign bit.'),
    crl_sign: flag('cRLSign bit.'),
    encipher_only: flag('encipherOnly bit.'),
    decipher_only: flag('decipherOnly bit.'),
    extension_critical: critical,
  })
  .describe('KeyUsage (RFC 5280 4.2.1.3).');

/** `cert_extensions` with every extension off, as certificates default. */
export const CertExtensions = z
  .strictObject({
    BasicConstraints: BasicConstraints.default(BasicConstraints.parse({})),
    AuthorityKeyIdentifier: AuthorityKeyIdentifier.default(AuthorityKeyIdentifier.parse({})),
    ExtendedKeyUsage: ExtendedKeyUsage.default(ExtendedKeyUsage.parse({})),
    KeyUsage: KeyUsage.default(KeyUsage.parse({})),
  })
  .describe('X.509 extensions to include; SubjectKeyIdentifier and SubjectAltName are always added.');

export type CertExtensionsInput = z.output<typeof CertExtensions>;

/** CA defaults (§1.2.1): CA basic constraints, certificate and CRL signing, server auth. */
export const CaCertExtensions = z
  .strictObject({
    BasicConstraints: BasicConstraints.default(BasicConstraints.parse({ enabled: true, ca: true, extension_critical: true })),
    AuthorityKeyIdentifier: AuthorityKeyIdentifier.default(AuthorityKeyIdentifier.parse({})),
    ExtendedKeyUsage: ExtendedKeyUsage.default(ExtendedKeyUsage.parse({ enabled: true, usages: ['SERVER_AUTH'] })),
    KeyUsage: KeyUsage.default(KeyUsage.parse({ enabled: true, key_cert_sign: true, crl_sign: true, extension_critical: true })),
  })
  .describe('X.509 extensions of the CA certificate; by default a critical CA BasicConstraints and KeyUsage keyCertSign + cRLSign.');

const text = (description: string) => z.string().describe(description);

/** Fields shared by `certificate_create` and `ca_create` (TrueNAS's legacy schema: everything optional here). */
const commonCreateFields = {
  name: text('A unique name: letters, digits, "_" and "-".'),
  tos: z.boolean().optional().describe('Terms of service of the ACME server accepted.'),
  csr_id: legacyInt('A CSR on this system.').optional(),
  signedby: legacyInt('The id of the signing certificate authority.').optional(),
  key_length: z.union(KEY_LENGTHS.map((n) => z.literal(n)) as [z.ZodLiteral<2048>, z.ZodLiteral<3072>, z.ZodLiteral<4096>, z.ZodLiteral<8192>]).optional().describe('RSA key size in bits.'),
  renew_days: legacyInt('Renew an ACME certificate this many days before it expires.').optional(),
  type: legacyInt('Ignored; the type follows from create_type.').optional(),
  lifetime: legacyInt('Validity in days.').optional(),
  serial: legacyInt('Ignored; serials are allocated by the signing CA.').optional(),
  acme_directory_uri: text('ACME directory URL.').optional(),
  certificate: text('PEM (or base64 DER, or base64 PKCS#12 with the passphrase) certificate, optionally followed by its chain.').optional(),
  city: text('Locality (L).').optional(),
  common: text('Common name (CN).').nullable().optional().describe('Common name (CN).'),
  country: text('Two-letter country code (C).').optional(),
  CSR: text('PEM certificate signing request.').optional(),
  ec_curve: z.enum(EC_CURVES).default('SECP384R1').describe('Curve for EC keys; ed25519 makes an Ed25519 key.'),
  email: text('E-mail address in the subject (emailAddress).').optional(),
  key_type: z.enum(KEY_TYPES).default('RSA').describe('RSA or EC.'),
  organization: text('Organization (O).').optional(),
  organizational_unit: text('Organizational unit (OU).').optional(),
  passphrase: text('Passphrase of an encrypted private key or PKCS#12 input.').optional(),
  pkcs12: text('Base64 PKCS#12 bundle to import instead of certificate and privatekey (with passphrase).').optional(),
  privatekey: text('PEM or DER private key: PKCS#1, SEC1, PKCS#8, encrypted PKCS#8 or legacy encrypted PEM.').optional(),
  state: text('State or province (ST).').optional(),
  digest_algorithm: z.enum(DIGESTS).optional().describe('Signature digest.'),
  san: z.array(z.string()).default([]).describe('Subject alternative names: DNS names, IP addresses, e-mail addresses, URIs ("DNS:", "IP:", "email:", "URI:" prefixes optional).'),
  add_to_trusted_store: z.boolean().default(false).describe("Add to the system's trusted store."),
} as const;

export const CERTIFICATE_CREATE_TYPES = [
  'CERTIFICATE_CREATE_INTERNAL',
  'CERTIFICATE_CREATE_IMPORTED',
  'CERTIFICATE_CREATE_CSR',
  'CERTIFICATE_CREATE_IMPORTED_CSR',
  'CERTIFICATE_CREATE_ACME',
] as const;

export const CertificateCreate = z
  .strictObject({
    ...commonCreateFields,
    create_type: z.enum(CERTIFICATE_CREATE_TYPES).describe('What to create.'),
    dns_mapping: z.record(z.string(), z.unknown()).default({}).describe('ACME: each domain to the id of its DNS authenticator.'),
    cert_extensions: CertExtensions.default(CertExtensions.parse({})),
  })
  .describe('The certificate to create.');

export type CertificateCreate = z.output<typeof CertificateCreate>;

export const CA_CREATE_TYPES = ['CA_CREATE_INTERNAL', 'CA_CREATE_IMPORTED', 'CA_CREATE_INTERMEDIATE'] as const;

export const CaCreate = z
  .strictObject({
    ...commonCreateFields,
    create_type: z.enum(CA_CREATE_TYPES).describe('What to create.'),
    cert_extensions: CaCertExtensions.default(CaCertExtensions.parse({})),
  })
  .describe('The certificate authority to create.');

export type CaCreate = z.output<typeof CaCreate>;

export const CertificateUpdate = z
  .strictObject({
    revoked: z.boolean().optional().describe('Revoke the certificate (cannot be undone).'),
    revoked_reason: z.enum(REVOCATION_REASONS).optional().describe('Why it is revoked, as shown in the CRL.'),
    renew_days: legacyInt('ACME only: renew this many days before expiry (1 to 30).').optional(),
    add_to_trusted_store: z.boolean().optional().describe("Add to the system's trusted store."),
    name: text('A new unique name.').optional(),
  })
  .describe('The fields to change.');

export type CertificateUpdate = z.output<typeof CertificateUpdate>;

export const CaSignCsr = z
  .strictObject({
    ca_id: legacyInt('The signing certificate authority.'),
    csr_cert_id: legacyInt('The CSR to sign.'),
    name: text('Name of the new certificate.'),
    cert_extensions: CertExtensions.default(CertExtensions.parse({})),
    lifetime: legacyInt('Validity in days (397 when omitted).').optional(),
    digest_algorithm: z.enum(DIGESTS).optional().describe("Signature digest (the CA's own when omitted)."),
  })
  .describe('What to sign with which CA.');

export type CaSignCsr = z.output<typeof CaSignCsr>;

export const CaUpdate = z
  .strictObject({
    revoked: z.boolean().optional().describe('Revoke the CA and everything it signed (cannot be undone).'),
    revoked_reason: z.enum(REVOCATION_REASONS).optional().describe('Why it is revoked, as shown in the CRL.'),
    add_to_trusted_store: z.boolean().optional().describe("Add to the system's trusted store."),
    ca_id: legacyInt('CA_SIGN_CSR: ignored, the CA being updated signs.').optional(),
    csr_cert_id: legacyInt('CA_SIGN_CSR: the CSR to sign.').optional(),
    create_type: z.enum(['CA_SIGN_CSR']).optional().describe('CA_SIGN_CSR signs a CSR (the legacy path of ca_sign_csr).'),
    name: text('A new unique name, or with CA_SIGN_CSR the name of the new certificate.').optional(),
    cert_extensions: CertExtensions.optional(),
  })
  .describe('The fields to change.');

export type CaUpdate = z.output<typeof CaUpdate>;
