import { z } from 'zod';

/** Legacy `Int`: any non-integer (text, float, boolean) is "Not an integer", as TrueNAS words it. */
const integer = () =>
  z.number({ error: (issue) => (issue.input === undefined ? 'attribute required' : issue.input === null ? 'null not allowed' : 'Not an integer') }).int();

/** Legacy TrueNAS integers accept numeric strings ("5" → 5). */
const numericString = (v: unknown) => (typeof v === 'string' && /^[-+]?\d+$/.test(v.trim()) ? Number(v) : v);

const legacyInt = (description: string) => z.preprocess(numericString, integer()).describe(description);

/** Legacy `Int` with a `Range` validator, and its messages ("Should be between 1 and 30"). */
const legacyRange = (description: string, min: number, max?: number) => {
  const message = max === undefined ? `Should be greater than or equal to ${min}` : `Should be between ${min} and ${max}`;
  const bounded = integer().min(min, { error: message });
  return z.preprocess(numericString, max === undefined ? bounded : bounded.max(max, { error: message })).describe(description);
};

/** Legacy `Email()`: the two failures a client can hit with a subject e-mail. */
const email = (description: string) =>
  z
    .string()
    .refine((v) => v !== '', { error: 'Empty value not allowed', abort: true })
    .refine((v) => v.includes('@'), { error: "Missing '@' symbol." })
    .describe(description);

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

const flag = (description: string, on = false) => z.boolean().default(on).describe(description);
const critical = (on = false) => flag('Mark the extension critical.', on);

/** Per-field defaults of an extension: CAs default some fields on, field by field (a partial object keeps them). */
type On<K extends string> = Partial<Record<K, true>>;

const basicConstraints = (on: On<'ca' | 'enabled' | 'extension_critical'> = {}) =>
  z
    .strictObject({
      ca: flag('The subject is a certificate authority.', on.ca),
      enabled: flag('Include the extension.', on.enabled),
      path_length: legacyInt('How many intermediate CAs may follow below this one.').nullable().default(null).describe('How many intermediate CAs may follow below this one; null for no limit.'),
      extension_critical: critical(on.extension_critical),
    })
    .describe('BasicConstraints (RFC 5280 4.2.1.9).');

const authorityKeyIdentifier = () =>
  z
    .strictObject({
      authority_cert_issuer: flag("Also name the issuer's issuer and serial."),
      enabled: flag('Include the extension.'),
      extension_critical: critical(),
    })
    .describe('AuthorityKeyIdentifier (RFC 5280 4.2.1.1).');

const extendedKeyUsage = (on: On<'enabled'> = {}, usages: Array<(typeof EKU_NAMES)[number]> = []) =>
  z
    .strictObject({
      usages: z.array(z.enum(EKU_NAMES)).default(usages).describe('The purposes the key may be used for.'),
      enabled: flag('Include the extension.', on.enabled),
      extension_critical: critical(),
    })
    .describe('ExtendedKeyUsage (RFC 5280 4.2.1.12).');

const keyUsage = (on: On<'enabled' | 'key_cert_sign' | 'crl_sign' | 'extension_critical'> = {}) =>
  z
    .strictObject({
      enabled: flag('Include the extension.', on.enabled),
      digital_signature: flag('digitalSignature bit.'),
      content_commitment: flag('contentCommitment (nonRepudiation) bit.'),
      key_encipherment: flag('keyEncipherment bit.'),
      data_encipherment: flag('dataEncipherment bit.'),
      key_agreement: flag('keyAgreement bit.'),
      key_cert_sign: flag('keyCertSign bit.', on.key_cert_sign),
      crl_sign: flag('cRLSign bit.', on.crl_sign),
      encipher_only: flag('encipherOnly bit.'),
      decipher_only: flag('decipherOnly bit.'),
      extension_critical: critical(on.extension_critical),
    })
    .describe('KeyUsage (RFC 5280 4.2.1.3).');

/** An object schema that defaults to itself parsed from `{}` when omitted. */
const withDefault = <S extends z.ZodType>(schema: S) => schema.default(schema.parse({}) as never);

/** `cert_extensions` with every extension off, as certificates default. */
export const CertExtensions = z
  .strictObject({
    BasicConstraints: withDefault(basicConstraints()),
    AuthorityKeyIdentifier: withDefault(authorityKeyIdentifier()),
    ExtendedKeyUsage: withDefault(extendedKeyUsage()),
    KeyUsage: withDefault(keyUsage()),
  })
  .describe('X.509 extensions to include; SubjectKeyIdentifier and SubjectAltName are always added.');

export type CertExtensionsInput = z.output<typeof CertExtensions>;

/**
 * CA defaults (§1.2.1): CA basic constraints, certificate and CRL signing, server auth. TrueNAS sets
 * them as field defaults, so `{"BasicConstraints": {"ca": false}}` still has `enabled: true`.
 */
export const CaCertExtensions = z
  .strictObject({
    BasicConstraints: withDefault(basicConstraints({ enabled: true, ca: true, extension_critical: true })),
    AuthorityKeyIdentifier: withDefault(authorityKeyIdentifier()),
    ExtendedKeyUsage: withDefault(extendedKeyUsage({ enabled: true }, ['SERVER_AUTH'])),
    KeyUsage: withDefault(keyUsage({ enabled: true, key_cert_sign: true, crl_sign: true, extension_critical: true })),
  })
  .describe('X.509 extensions of the CA certificate; by default a critical CA BasicConstraints and KeyUsage keyCertSign + cRLSign.');

const text = (description: string) => z.string().describe(description);

/**
 * Names are stored in VARCHAR(120) columns (TrueNAS's `cert_name`, §7.1); PostgreSQL refuses
 * longer ones. TrueNAS's legacy Str allows 1024 characters and has no message of its own for
 * this, so the schema's usual one applies: "The value may not be longer than 120 characters".
 */
export const NAME_MAX_LENGTH = 120;
const name = (description: string) => z.string().max(NAME_MAX_LENGTH).describe(description);

/** Fields shared by `certificate_create` and `ca_create` (TrueNAS's legacy schema: everything optional here). */
const commonCreateFields = {
  name: name('A unique name: letters, digits, "_" and "-" (at most 120 characters).'),
  tos: z.boolean().optional().describe('Terms of service of the ACME server accepted.'),
  csr_id: legacyInt('A CSR on this system.').optional(),
  signedby: legacyInt('The id of the signing certificate authority.').optional(),
  // An Int with an enum: numeric strings pass ("2048"), other values are "Invalid choice: …".
  key_length: z.preprocess(numericString, z.literal(KEY_LENGTHS)).optional().describe('RSA key size in bits.'),
  renew_days: legacyRange('Renew an ACME certificate this many days before it expires.', 1, 30).optional(),
  type: legacyInt('Ignored; the type follows from create_type.').optional(),
  lifetime: legacyInt('Validity in days.').optional(),
  serial: legacyRange('Ignored; serials are allocated by the signing CA.', 1).optional(),
  // At most as long as the ACME registration's column, where a new registration stores it.
  acme_directory_uri: text('ACME directory URL.').max(500).optional(),
  certificate: text('PEM (or base64 DER, or base64 PKCS#12 with the passphrase) certificate, optionally followed by its chain.').optional(),
  city: text('Locality (L).').optional(),
  common: text('Common name (CN).').nullable().optional().describe('Common name (CN).'),
  country: text('Two-letter country code (C).').optional(),
  CSR: text('PEM certificate signing request.').optional(),
  ec_curve: z.enum(EC_CURVES).default('SECP384R1').describe('Curve for EC keys; ed25519 makes an Ed25519 key.'),
  email: email('E-mail address in the subject (emailAddress).').optional(),
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
    eab_kid: text('ACME: External Account Binding key id, when the CA requires one to register (certmid extension).').max(256).optional(),
    eab_hmac_key: text('ACME: External Account Binding HMAC key (base64url); used once to register, never stored.').optional(),
    cert_extensions: CertExtensions.default(CertExtensions.parse({})),
    auto_renew: z.boolean().optional().describe('CERTIFICATE_CREATE_INTERNAL: renew automatically renew_days (10 by default) before expiry, signed by the same CA (certmid extension).'),
    rotate_key: z.boolean().optional().describe('CERTIFICATE_CREATE_INTERNAL: renew with a new key of the same kind (the default) rather than the current one (certmid extension).'),
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
    renew_days: legacyRange('ACME, or signed by a CA on this system: renew this many days before expiry (1 to 30).', 1, 30).optional(),
    rotate_key: z
      .boolean()
      .optional()
      .describe('ACME, or signed by a CA on this system: renew with a new key (and for ACME a new CSR) of the same kind instead of the current one. Off by default for ACME, on for certificates signed here.'),
    auto_renew: z.boolean().optional().describe('Signed by a CA on this system: renew automatically renew_days before expiry (certmid extension).'),
    add_to_trusted_store: z.boolean().optional().describe("Add to the system's trusted store."),
    name: name('A new unique name (at most 120 characters).').optional(),
  })
  .describe('The fields to change.');

export type CertificateUpdate = z.output<typeof CertificateUpdate>;

export const CaSignCsr = z
  .strictObject({
    ca_id: legacyInt('The signing certificate authority.'),
    csr_cert_id: legacyInt('The CSR to sign.'),
    name: name('Name of the new certificate (at most 120 characters).'),
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
    name: name('A new unique name, or with CA_SIGN_CSR the name of the new certificate (at most 120 characters).').optional(),
    cert_extensions: CertExtensions.optional(),
  })
  .describe('The fields to change.');

export type CaUpdate = z.output<typeof CaUpdate>;
