import { X509Certificate, createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { Attributes, CertificationRequest, CertificationRequestInfo } from '@peculiar/asn1-csr';
import {
  Attribute,
  BasicConstraints,
  Certificate,
  Extension,
  Extensions,
  SubjectKeyIdentifier,
  SubjectPublicKeyInfo,
  TBSCertificate,
  Time,
  Validity,
  Version,
  type AlgorithmIdentifier,
  type Name,
} from '@peculiar/asn1-x509';
import {
  AuthorityKeyIdentifierOctets,
  CertificateParts,
  EncodedValue,
  RequestParts,
  encode,
  integerOctets,
  integerValue,
  parseBlock,
  parseExact,
  x509Time,
  type RequestAttribute,
} from './asn1.js';
import { UNPARSEABLE, decodeExtensionValue, describeExtensions, extensionText, readExtensions, rememberDecodedValue, signatureAlgorithmName, type ParsedExtension } from './extension-text.js';
import {
  caIssuersValue,
  crlDistributionPointsValue,
  encodeTrueNasExtensions,
  extension,
  type AuthorityInfo,
  type CertExtensions,
} from './extensions.js';
import { publicKeysEqual, spkiDer } from './keys.js';
import { OID } from './oids.js';
import { splitPem, toPem } from './pem.js';
import { Recent } from './recent.js';
import { encodeGeneralNames, sanText, type SanEntry } from './san.js';
import { signData, signatureAlgorithm, verifySignature, verifySignatureSync, type Digest } from './signing.js';
import { encodeSubject, encodedSubject, rdnsOf, readName, subjectFields, subjectNameHash, truenasDn, type NameEntry, type NameRdns, type SubjectFields } from './subject.js';

export type { Digest } from './signing.js';

/** Input that is not a readable certificate or CSR. */
export class CertificateParseError extends Error {
  override readonly name = 'CertificateParseError';
}

/** Everything needed to issue one certificate. */
export interface IssueRequest {
  /** Built in TrueNAS order CN, C, ST, L, O, OU, emailAddress; empty fields skipped. */
  subject: SubjectFields;
  /** SubjectAltName (non-critical) when non-empty. */
  san: SanEntry[];
  /** The new certificate's public key (a private key is accepted and its public half used). */
  publicKey: KeyObject;
  /** `certificatePem` null = self-signed: issuer = subject, signed by `privateKey`. */
  signer: { privateKey: KeyObject; certificatePem: string | null };
  serial: bigint;
  notBefore: Date;
  notAfter: Date;
  /** Ignored for Ed25519 signers. */
  digest: Digest;
  /**
   * Only enabled ones are written; SubjectKeyIdentifier is always added. AuthorityKeyIdentifier's
   * keyid is the issuer's SKI (or the SHA-1 of its key), with DirName + serial when `authority_cert_issuer`.
   */
  extensions: CertExtensions;
  /** URL → CRLDistributionPoints extension. */
  crlDistributionPoint?: string;
  /** URL → AuthorityInformationAccess caIssuers. */
  caIssuersUrl?: string;
}

/**
 * Issues an X.509 v3 certificate and returns its PEM. Extensions come in TrueNAS order: SAN, SKI,
 * BasicConstraints, AKI, EKU, KeyUsage, then CRL distribution point and AIA. The issuer name is the
 * CA certificate's subject copied byte for byte, so chains always match in OpenSSL.
 *
 * @throws RangeError for a serial that is not a positive integer of at most 20 octets.
 * @throws TypeError when the signer's key does not belong to the signer's certificate (or, self-signed, to `publicKey`).
 */
export async function issueCertificate(request: IssueRequest): Promise<string> {
  return (await issueDescribedCertificate(request)).pem;
}

/** The fields TrueNAS shows of a certificate, but its public key. */
export type CertificateFields = Omit<CertificateDetails, 'public_key'>;

/** A certificate just issued, with what TrueNAS shows of it. */
export interface IssuedCertificate {
  pem: string;
  /** What {@link parseCertificateFields} gives for `pem`, worked out on first call from what was built, never read back. */
  fields(): CertificateFields;
  /** What {@link certificateIssuerDn} gives for `pem`: its CA's subject, printed once per CA. */
  issuerDn(): string | null;
}

/** {@link issueCertificate}, with the new certificate's fields known from its parts. */
export async function issueDescribedCertificate(request: IssueRequest): Promise<IssuedCertificate> {
  const { signer, serial } = request;
  if (serial < 1n || serial >= 1n << 159n) throw new RangeError('The serial number must be positive and at most 20 octets');
  const { der: subject, entries: subjectNames } = encodedSubject(request.subject);
  const spki = spkiDer(request.publicKey);
  const ownKeyId = keyIdentifier(spki);
  const ca = signer.certificatePem ? certificateAuthority(signer.certificatePem, signer.privateKey) : null;
  if (!ca && !publicKeysEqual(request.publicKey, signer.privateKey)) {
    throw new TypeError('A self-signed certificate must be signed by its own key');
  }
  const issuerName = ca ? ca.subject : subject;
  const { identifier, hash } = signatureAlgorithm(signer.privateKey, request.digest);
  const extensions = [
    ...(request.san.length ? [subjectAltNameExtension(request.san)] : []),
    subjectKeyIdentifierExtension(ownKeyId),
    ...(ca ? authorityExtensions(request, ca) : issuerExtensions(request, { keyIdentifier: ownKeyId, issuerName: subject, serial })),
  ];
  const tbs = encode(
    new TBSCertificate({
      version: Version.v3,
      serialNumber: integerOctets(serial),
      signature: encoded<AlgorithmIdentifier>(algorithmDer(identifier)),
      issuer: encoded(issuerName),
      validity: validity(request.notBefore, request.notAfter),
      subject: encoded(subject),
      subjectPublicKeyInfo: encoded(spki),
      extensions: new Extensions(extensions.map(({ schema }) => schema)),
    }),
  );
  const { pem, der, signature } = await signCertificate(tbs, identifier, signer.privateKey, hash);
  // What reading it back would give, known without reading it: the caller's next step is its details.
  const certificate = remember({
    der,
    tbs,
    serial,
    tbsSignatureAlgorithm: identifier,
    signatureAlgorithm: identifier,
    signature,
    issuerDer: issuerName,
    subjectName: () => ({ entries: subjectNames, rdns: rdnsOf(subjectNames) }),
    subjectDer: subject,
    notBefore: x509Time(request.notBefore).getTime(),
    notAfter: x509Time(request.notAfter).getTime(),
    spki,
    extensions,
    // From the KeyObject issued with: deriving it is cheap where decoding the SPKI is not.
    publicKey: once(() => (request.publicKey.type === 'private' ? createPublicKey(request.publicKey) : request.publicKey)),
  });
  return { pem, fields: once(() => describeCertificate(certificate)), issuerDn: () => issuerDn(certificate) };
}

/** AlgorithmIdentifier encodings by algorithm: a handful of signature algorithms sign everything. */
const algorithmEncodings = new Recent<string, Buffer>(32);

/** DER of a signature AlgorithmIdentifier (shared: do not modify). */
function algorithmDer(identifier: AlgorithmIdentifier): Buffer {
  const { algorithm, parameters } = identifier;
  // Parameters are absent or NULL for every algorithm certmid signs with; others are encoded each time.
  if (parameters !== null && parameters !== undefined) return encode(identifier);
  return algorithmEncodings.getOrMake(`${algorithm} ${parameters === null ? 'NULL' : 'absent'}`, () => encode(identifier));
}

/** An extension of a certificate being issued: its parts, read as a certificate's extensions are, and what the schema encodes of it. */
interface BuiltExtension extends ParsedExtension {
  schema: Extension;
}

function builtExtension(schema: Extension): BuiltExtension {
  return { oid: schema.extnID, critical: schema.critical, value: Buffer.from(schema.extnValue.buffer), schema };
}

function subjectAltNameExtension(san: readonly SanEntry[]): BuiltExtension {
  const built = builtExtension(extension(OID.subjectAltName, false, encodeGeneralNames(san)));
  const text = sanText(san);
  return text === null ? built : { ...built, text };
}

function subjectKeyIdentifierExtension(keyId: Buffer): BuiltExtension {
  const identifier = new SubjectKeyIdentifier(keyId);
  const built = builtExtension(extension(OID.subjectKeyIdentifier, false, encode(identifier)));
  rememberDecodedValue(built.value, SubjectKeyIdentifier, identifier);
  return built;
}

/** The extensions that follow the issuer and the request's settings: TrueNAS's enabled ones, then the CRL and AIA links. */
function issuerExtensions(request: IssueRequest, authority: AuthorityInfo): BuiltExtension[] {
  return [
    ...encodeTrueNasExtensions(request.extensions, authority),
    ...(request.crlDistributionPoint ? [extension(OID.crlDistributionPoints, false, crlDistributionPointsValue(request.crlDistributionPoint))] : []),
    ...(request.caIssuersUrl ? [extension(OID.authorityInfoAccess, false, caIssuersValue(request.caIssuersUrl))] : []),
  ].map(builtExtension);
}

/**
 * {@link issuerExtensions} of a CA, made once for each setting: every certificate a CA signs with
 * the same settings carries the same ones. The key holds everything they are made of, the CA's
 * key identifier, name and serial among them, so a changed CA never gets another's bytes.
 */
function authorityExtensions(request: IssueRequest, ca: CertificateAuthority): BuiltExtension[] {
  const key = [
    JSON.stringify(request.extensions),
    ca.keyIdentifier.toString('base64'),
    ca.issuerName.toString('base64'),
    ca.serial.toString(),
    request.crlDistributionPoint ?? '',
    request.caIssuersUrl ?? '',
  ].join(' ');
  // Kept as the schema library encoded them, with their texts: every certificate's details show them.
  const made = () => issuerExtensions(request, ca).map((built) => ({ ...built, schema: encoded<Extension>(encode(built.schema)), text: extensionText(built) }));
  return recentAuthorityExtensions.getOrMake(key, made);
}

/** Shared between certificates and never changed, so their values' decodings are reused too. */
const recentAuthorityExtensions = new Recent<string, BuiltExtension[]>(64);

/** A Name (or other field) already encoded, written byte for byte. */
export const encoded = <T = Name>(der: Buffer): T => new EncodedValue(der) as unknown as T;

const validity = (notBefore: Date, notAfter: Date): Validity => Object.assign(new Validity(), { notBefore: x509Time(notBefore), notAfter: x509Time(notAfter) });

/** Signs an encoded TBSCertificate and returns the certificate's PEM. */
async function signCertificate(tbs: Buffer, identifier: AlgorithmIdentifier, key: KeyObject, hash: string | null): Promise<{ pem: string; der: Buffer; signature: Buffer }> {
  const signature = await signData(tbs, key, hash);
  const signatureAlgorithm = encoded<AlgorithmIdentifier>(algorithmDer(identifier));
  const der = encode(new Certificate({ tbsCertificate: encoded(tbs), signatureAlgorithm, signatureValue: new Uint8Array(signature).buffer }));
  return { pem: toPem('CERTIFICATE', der), der, signature };
}

/** What changes when a certificate is issued again (renewal); everything else is copied from the previous one. */
export interface ReissueRequest {
  /** The certificate being renewed: its subject and extensions are kept byte for byte. */
  previousPem: string;
  /** The new certificate's public key (a private key is accepted and its public half used). */
  publicKey: KeyObject;
  /** The issuing CA, which must be the one that signed the previous certificate (its AuthorityKeyIdentifier is kept). */
  signer: { privateKey: KeyObject; certificatePem: string };
  serial: bigint;
  notBefore: Date;
  notAfter: Date;
  /** Ignored for Ed25519 signers. */
  digest: Digest;
}

/**
 * Issues a certificate with the previous one's subject and extensions, in their order and
 * criticality, with a new serial, validity and key: only SubjectKeyIdentifier follows the new key.
 * So SANs, key usages, CRL and AIA links read exactly as they did.
 *
 * @throws CertificateParseError for an unreadable previous certificate; TypeError when the signer's key does not match its certificate.
 */
export async function reissueCertificate(request: ReissueRequest): Promise<string> {
  const { serial } = request;
  if (serial < 1n || serial >= 1n << 159n) throw new RangeError('The serial number must be positive and at most 20 octets');
  const previous = parsing('certificate', () => readCertificate(certificateDer(request.previousPem)));
  const ca = certificateAuthority(request.signer.certificatePem, request.signer.privateKey);
  const spki = spkiDer(request.publicKey);
  const extensions = previous.extensions.map((ext) =>
    ext.oid === OID.subjectKeyIdentifier
      ? extension(ext.oid, ext.critical, encode(new SubjectKeyIdentifier(keyIdentifier(spki))))
      : extension(ext.oid, ext.critical, ext.value),
  );
  const { identifier, hash } = signatureAlgorithm(request.signer.privateKey, request.digest);
  const tbs = encode(
    new TBSCertificate({
      version: Version.v3,
      serialNumber: integerOctets(serial),
      signature: identifier,
      issuer: encoded(ca.subject),
      validity: validity(request.notBefore, request.notAfter),
      subject: encoded(previous.subjectDer),
      subjectPublicKeyInfo: encoded(spki),
      extensions: extensions.length ? new Extensions(extensions) : undefined,
    }),
  );
  return (await signCertificate(tbs, identifier, request.signer.privateKey, hash)).pem;
}

/** A CA certificate as an issuer: its subject (verbatim DER) plus what AuthorityKeyIdentifier needs. */
export interface CertificateAuthority extends AuthorityInfo {
  subject: Buffer;
}

/**
 * Reads a CA certificate as an issuer (key identifier = its SKI, else the SHA-1 of its key), after
 * checking that `privateKey` belongs to it.
 *
 * @throws CertificateParseError for an unreadable certificate; TypeError when the key does not match it.
 */
export function certificateAuthority(certificatePem: string, privateKey: KeyObject): CertificateAuthority {
  const known = authorityByKey.get(privateKey);
  if (known?.certificatePem === certificatePem) return known.authority;
  const ca = parsing('CA certificate', () => readCertificate(certificateDer(certificatePem)));
  if (!publicKeysEqual(ca.publicKey(), privateKey)) throw new TypeError("The signing key does not match the issuer's certificate");
  const ski = ca.extensions.find((ext) => ext.oid === OID.subjectKeyIdentifier);
  const authority = {
    keyIdentifier: ski ? Buffer.from(parseExact(ski.value, SubjectKeyIdentifier).buffer) : keyIdentifier(ca.spki),
    subject: ca.subjectDer,
    issuerName: ca.issuerDer,
    serial: ca.serial,
  };
  authorityByKey.set(privateKey, { certificatePem, authority });
  return authority;
}

/** The CA last read for each signing key: a CA signs many certificates with the same KeyObject. */
const authorityByKey = new WeakMap<KeyObject, { certificatePem: string; authority: CertificateAuthority }>();

/** RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING. */
export function keyIdentifier(spki: Buffer): Buffer {
  return createHash('sha1').update(Buffer.from(parseExact(spki, SubjectPublicKeyInfo).subjectPublicKey)).digest();
}

/** What a certificate signing request needs. */
export interface CsrRequest {
  subject: SubjectFields;
  san: SanEntry[];
  privateKey: KeyObject;
  digest: Digest;
  extensions: CertExtensions;
}

/**
 * Creates a PKCS#10 CSR (PEM `CERTIFICATE REQUEST`). Requested extensions are SAN plus the enabled
 * TrueNAS ones, without SKI or AKI, as TrueNAS does.
 */
export async function createCsr(request: CsrRequest): Promise<string> {
  const extensions = [
    ...(request.san.length ? [extension(OID.subjectAltName, false, encodeGeneralNames(request.san))] : []),
    ...encodeTrueNasExtensions(request.extensions, null),
  ];
  const attributes = extensions.length
    ? [new Attribute({ type: OID.extensionRequest, values: [new Uint8Array(encode(new Extensions(extensions))).buffer] })]
    : [];
  const info = encode(
    new CertificationRequestInfo({
      version: 0,
      subject: encoded(encodeSubject(request.subject)),
      subjectPKInfo: encoded(spkiDer(request.privateKey)),
      // Always written, empty or not, as OpenSSL and `cryptography` do.
      attributes: new Attributes(attributes),
    }),
  );
  const { identifier, hash } = signatureAlgorithm(request.privateKey, request.digest);
  const signature = await signData(info, request.privateKey, hash);
  const csr = new CertificationRequest({ certificationRequestInfo: encoded(info), signatureAlgorithm: identifier, signature: new Uint8Array(signature).buffer });
  return toPem('CERTIFICATE REQUEST', encode(csr));
}

/** Everything TrueNAS shows of a certificate (§2.3), computed once at write time. */
export interface CertificateDetails {
  country: string | null;
  state: string | null;
  city: string | null;
  organization: string | null;
  organizational_unit: string | null;
  common: string | null;
  email: string | null;
  /** OpenSSL text, e.g. `["DNS:domain1", "IP Address:8.8.8.8"]`. */
  san: string[];
  /** `/CN=dev/C=US/…/emailAddress=x/subjectAltName=DNS:domain1, IP Address:8.8.8.8`. */
  DN: string;
  /** OpenSSL `X509_subject_name_hash` (`openssl x509 -hash` as an integer); null for CSRs. */
  subject_name_hash: number | null;
  /** `{ShortName: OpenSSL text}`, as pyOpenSSL `str(ext)` prints each extension. */
  extensions: Record<string, string>;
  /** `SHA256`, `SHA384`, `ED25519`, … (TrueNAS rule over OpenSSL's signature algorithm name). */
  digest_algorithm: string | null;
  /** Whole days from notBefore to notAfter. */
  lifetime: number | null;
  /** ctime() in the server's local time zone: `Tue Dec  8 16:13:59 2027`. */
  from: string | null;
  until: string | null;
  not_before: Date | null;
  not_after: Date | null;
  /** Decimal (serials can exceed 2^53). */
  serial: string | null;
  /** SHA-1, upper-case hex with colons. */
  fingerprint: string | null;
  fingerprint_sha256: string | null;
  /** BasicConstraints CA:TRUE. */
  is_ca: boolean;
  path_length: number | null;
  /** Upper-case hex with colons, as OpenSSL prints them; for chain building. */
  subject_key_identifier: string | null;
  authority_key_identifier: string | null;
  public_key: KeyObject;
  signature_valid_for?: never;
}

/** Fields TrueNAS leaves out for CSRs. */
type CertificateOnly =
  | 'subject_name_hash'
  | 'digest_algorithm'
  | 'lifetime'
  | 'from'
  | 'until'
  | 'not_before'
  | 'not_after'
  | 'serial'
  | 'fingerprint'
  | 'fingerprint_sha256'
  | 'is_ca'
  | 'path_length'
  | 'subject_key_identifier'
  | 'authority_key_identifier'
  | 'signature_valid_for';

/** What TrueNAS shows of a CSR, plus its key and whether its self-signature verifies. */
export type CsrDetails = Omit<CertificateDetails, CertificateOnly> & {
  subject_name_hash: null;
  public_key: KeyObject;
  signature_valid: boolean;
};

/** The parts of a certificate this module reads. */
interface RawCertificate {
  der: Buffer;
  /** The TBSCertificate as encoded (what the signature covers). */
  tbs: Buffer;
  serial: bigint;
  tbsSignatureAlgorithm: AlgorithmIdentifier;
  signatureAlgorithm: AlgorithmIdentifier;
  signature: Buffer;
  issuerDer: Buffer;
  /** The subject's attributes as {@link readName} gives them, and its RDNs. */
  subjectName(): { entries: readonly NameEntry[]; rdns: NameRdns };
  subjectDer: Buffer;
  notBefore: Date;
  notAfter: Date;
  spki: Buffer;
  extensions: ParsedExtension[];
  publicKey(): KeyObject;
}

/**
 * Recently read certificates by their DER. The schema parser costs several times what the signature
 * does, and the same CA and chain certificates are read for every issuance and import; entries are
 * never changed once made.
 */
const recentCertificates = new Recent<string, RawCertificate>(256);

function readCertificate(der: Buffer): RawCertificate {
  return recentCertificates.get(der.toString('base64')) ?? remember(readCertificateParts(der));
}

function remember(certificate: RawCertificate): RawCertificate {
  return recentCertificates.set(certificate.der.toString('base64'), certificate);
}

function readCertificateParts(der: Buffer): RawCertificate {
  const certificate = parseExact(der, CertificateParts);
  const tbs = certificate.tbsCertificate;
  const spki = tbs.subjectPublicKeyInfo.der;
  return {
    der,
    tbs: rawOf(certificate.tbsCertificateRaw),
    serial: integerValue(tbs.serialNumber),
    tbsSignatureAlgorithm: tbs.signature,
    signatureAlgorithm: certificate.signatureAlgorithm,
    signature: Buffer.from(certificate.signatureValue),
    issuerDer: tbs.issuer.der,
    subjectName: once(() => ({ entries: readName(tbs.subject), rdns: tbs.subject })),
    subjectDer: rawOf(tbs.subjectRaw),
    notBefore: dateOf(tbs.validity.notBefore),
    notAfter: dateOf(tbs.validity.notAfter),
    spki,
    extensions: readExtensions(tbs.extensions),
    publicKey: once(() => createPublicKey({ key: spki, format: 'der', type: 'spki' })),
  };
}

/**
 * `make`'s result, made on first use and then shared: what it makes (a parsed name, a KeyObject)
 * is never changed by its users.
 */
function once<T>(make: () => T): () => T {
  let made: { value: T } | undefined;
  return () => (made ??= { value: make() }).value;
}

/** A field's encoding as the parser kept it. */
function rawOf(raw: ArrayBuffer | undefined): Buffer {
  if (!raw) throw new CertificateParseError('Truncated certificate');
  return Buffer.from(raw);
}

function dateOf(time: Time): Date {
  const date = time.getTime();
  if (Number.isNaN(date.getTime())) throw new CertificateParseError('Invalid time in certificate');
  return date;
}

/** DER of the first `CERTIFICATE` block (or of DER input as given). */
export function certificateDer(pem: string | Buffer): Buffer {
  if (Buffer.isBuffer(pem) && !pem.includes('-----BEGIN')) return pem;
  const block = splitPem(pem.toString()).find((candidate) => candidate.label === 'CERTIFICATE');
  if (!block) throw new CertificateParseError('No CERTIFICATE PEM block found');
  return block.der;
}

/** Runs a parse, turning any failure into {@link CertificateParseError}. */
function parsing<T>(what: string, work: () => T): T {
  try {
    return work();
  } catch (error) {
    if (error instanceof CertificateParseError) throw error;
    throw new CertificateParseError(`Invalid ${what}: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * Parses the first certificate of PEM text (or DER) into the fields TrueNAS shows.
 *
 * @throws CertificateParseError for anything that is not a readable X.509 certificate.
 */
export function parseCertificate(pemOrDer: string | Buffer): CertificateDetails {
  return parsing('certificate', () => {
    const cert = readCertificate(certificateDer(pemOrDer));
    return { ...describeCertificate(cert), public_key: cert.publicKey() };
  });
}

/** `parseCertificate` but the public key, whose import costs as much as the rest when a caller only stores the fields. */
export function parseCertificateFields(pemOrDer: string | Buffer): CertificateFields {
  return parsing('certificate', () => describeCertificate(readCertificate(certificateDer(pemOrDer))));
}

function describeCertificate(cert: RawCertificate): CertificateFields {
  const fields = certificateFields(cert);
  return {
    ...fields,
    // Copies, so that a caller changing its result cannot change the next caller's.
    san: [...fields.san],
    extensions: { ...fields.extensions },
    from: ctime(cert.notBefore),
    until: ctime(cert.notAfter),
    not_before: new Date(cert.notBefore),
    not_after: new Date(cert.notAfter),
  };
}

type StableFields = Omit<CertificateDetails, 'from' | 'until' | 'not_before' | 'not_after' | 'public_key'>;

/** The fields that depend on the certificate alone (not on the time zone), worked out once per read certificate. */
const stableFields = new WeakMap<RawCertificate, StableFields>();

function certificateFields(cert: RawCertificate): StableFields {
  const known = stableFields.get(cert);
  if (known) return known;
  const basic = cert.extensions.find((ext) => ext.oid === OID.basicConstraints);
  const ski = cert.extensions.find((ext) => ext.oid === OID.subjectKeyIdentifier);
  const aki = cert.extensions.find((ext) => ext.oid === OID.authorityKeyIdentifier);
  const constraints = basic ? readBasicConstraints(basic.value) : { ca: false, pathLength: null };
  const { entries, rdns } = cert.subjectName();
  const fields: StableFields = {
    ...describeSubject(entries, cert.extensions),
    subject_name_hash: subjectNameHash(rdns),
    digest_algorithm: digestAlgorithm(cert.tbsSignatureAlgorithm.algorithm),
    lifetime: Math.floor((cert.notAfter.getTime() - cert.notBefore.getTime()) / 86_400_000),
    serial: cert.serial.toString(),
    fingerprint: fingerprint(cert.der, 'sha1'),
    fingerprint_sha256: fingerprint(cert.der, 'sha256'),
    is_ca: constraints.ca,
    path_length: constraints.pathLength,
    subject_key_identifier: ski ? hexColons(Buffer.from(decodeExtensionValue(ski.value, SubjectKeyIdentifier).buffer)) : null,
    authority_key_identifier: aki ? authorityKeyId(aki.value) : null,
  };
  stableFields.set(cert, fields);
  return fields;
}

/**
 * Issuer DNs by the issuer name's DER: the text depends on the name alone, so the certificates one CA
 * signs (all of them, when it signs here) are printed by OpenSSL once.
 */
const issuerDns = new Recent<string, string>(256);

function issuerDn(cert: RawCertificate): string | null {
  const name = cert.issuerDer.toString('base64');
  const known = issuerDns.get(name);
  if (known !== undefined) return known;
  const dn = opensslIssuerDn(cert.der);
  return dn === null ? null : issuerDns.set(name, dn);
}

/**
 * The issuer of the first certificate of `pemOrDer` as OpenSSL prints it on one line through Node
 * (`/C=US/O=Example/CN=Example CA`: RFC 2253 escapes, a multi-valued RDN's parts joined by " + "),
 * printed once per issuer name; null when OpenSSL cannot read the certificate.
 */
export function certificateIssuerDn(pemOrDer: string | Buffer): string | null {
  let cert: RawCertificate;
  try {
    cert = readCertificate(certificateDer(pemOrDer));
  } catch {
    return opensslIssuerDn(pemOrDer);
  }
  return issuerDn(cert);
}

/** {@link certificateIssuerDn} read by OpenSSL alone, for each certificate anew. */
export function opensslIssuerDn(pemOrDer: string | Buffer): string | null {
  try {
    return `/${new X509Certificate(pemOrDer).issuer.split('\n').filter(Boolean).join('/')}`;
  } catch {
    return null;
  }
}

/** Subject fields, SAN, DN and extension texts shared by certificates and CSRs. */
function describeSubject(
  entries: readonly NameEntry[],
  extensions: readonly ParsedExtension[],
): Pick<CertificateDetails, keyof SubjectFields | 'san' | 'DN' | 'extensions'> {
  const texts = describeExtensions(extensions);
  const sanText = texts.SubjectAltName;
  // TrueNAS: [s.strip() for s in str(ext).split(',') if s]
  const san = sanText && sanText !== UNPARSEABLE ? sanText.split(',').filter((part) => part).map((part) => part.trim()) : [];
  const dn = truenasDn(entries) + (san.length ? `/subjectAltName=${san.join(', ')}` : '');
  return { ...subjectFields(entries), san, DN: dn, extensions: texts };
}

function readBasicConstraints(value: Buffer): { ca: boolean; pathLength: number | null } {
  const { cA, pathLenConstraint } = decodeExtensionValue(value, BasicConstraints);
  return { ca: cA, pathLength: pathLenConstraint ?? null };
}

function authorityKeyId(value: Buffer): string | null {
  const { keyIdentifier: keyId } = decodeExtensionValue(value, AuthorityKeyIdentifierOctets);
  return keyId ? hexColons(Buffer.from(keyId.buffer)) : null;
}

const VALID_DIGESTS = new Set(['SHA1', 'SHA224', 'SHA256', 'SHA384', 'SHA512', 'ED25519']);

/**
 * TrueNAS rule: `^(.+)[Ww]ith` of OpenSSL's long name, upper-cased (`sha256WithRSAEncryption` →
 * `SHA256`); if that is not a known digest, the last `-`-separated token (`ecdsa-with-SHA384` → `SHA384`).
 */
function digestAlgorithm(signatureOid: string): string {
  const name = signatureAlgorithmName(signatureOid);
  const match = /^(.+)[Ww]ith/.exec(name);
  const candidate = match?.[1]?.toUpperCase();
  if (candidate && VALID_DIGESTS.has(candidate)) return candidate;
  return (name.split('-').pop() ?? name).trim();
}

const hexColons = (bytes: Buffer): string => bytes.toString('hex').toUpperCase().replace(/(..)(?!$)/g, '$1:');

function fingerprint(der: Buffer, algorithm: 'sha1' | 'sha256'): string {
  return hexColons(createHash(algorithm).update(der).digest());
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Python `datetime.ctime()` in the local time zone: `Tue Dec  8 16:13:59 2027`. */
export function ctime(date: Date): string {
  const two = (n: number): string => String(n).padStart(2, '0');
  return (
    `${DAYS[date.getDay()]} ${MONTHS[date.getMonth()]} ${String(date.getDate()).padStart(2, ' ')} ` +
    `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())} ${date.getFullYear()}`
  );
}

/**
 * Parses the first `CERTIFICATE REQUEST` (or `NEW CERTIFICATE REQUEST`) block, or DER.
 *
 * @throws CertificateParseError for anything that is not a readable PKCS#10 request.
 */
export function parseCsr(pemOrDer: string | Buffer): CsrDetails {
  return parsing('certificate signing request', () => {
    const request = parseExact(csrDer(pemOrDer), RequestParts);
    const info = request.certificationRequestInfo;
    const publicKey = createPublicKey({ key: rawOf(info.subjectPKInfoRaw), format: 'der', type: 'spki' });
    return {
      ...describeSubject(readName(info.subject), requestedExtensions(info.attributes ?? [])),
      subject_name_hash: null,
      public_key: publicKey,
      signature_valid: verifySignatureSync(rawOf(request.certificationRequestInfoRaw), request.signatureAlgorithm, Buffer.from(request.signature), publicKey),
    };
  });
}

function csrDer(pemOrDer: string | Buffer): Buffer {
  if (Buffer.isBuffer(pemOrDer) && !pemOrDer.includes('-----BEGIN')) return pemOrDer;
  const block = splitPem(pemOrDer.toString()).find((candidate) => /^(NEW )?CERTIFICATE REQUEST$/.test(candidate.label));
  if (!block) throw new CertificateParseError('No CERTIFICATE REQUEST PEM block found');
  return block.der;
}

/** Extensions from the extensionRequest (or Microsoft msExtReq) attribute, as X509_REQ_get_extensions reads them. */
function requestedExtensions(attributes: readonly RequestAttribute[]): ParsedExtension[] {
  const request = attributes.find(({ type }) => type === OID.extensionRequest || type === OID.msExtensionRequest);
  const first = request?.values[0];
  return first ? readExtensions(parseBlock(first, Extensions)) : [];
}

/**
 * Whether `issuerPem`'s key signed `childPem` (signature only: names, validity and constraints are
 * not checked). Unparseable input gives false.
 */
export async function verifySignedBy(childPem: string, issuerPem: string): Promise<boolean> {
  try {
    const child = readCertificate(certificateDer(childPem));
    const issuer = readCertificate(certificateDer(issuerPem));
    return await verifySignature(child.tbs, child.signatureAlgorithm, child.signature, issuer.publicKey());
  } catch {
    return false;
  }
}
