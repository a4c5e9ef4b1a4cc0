/**
 * Extension text exactly as TrueNAS shows it: pyOpenSSL `str(extension)`, i.e. OpenSSL 3.0
 * `X509V3_EXT_print(…, indent 0)`, except subjectAltName, which pyOpenSSL formats itself.
 */
import { BitString, OctetString } from '@peculiar/asn1-schema';
import {
  BasicConstraints,
  CertificatePolicies,
  ExtendedKeyUsage,
  InhibitAnyPolicy,
  KeyUsage,
  PolicyConstraints,
  SubjectKeyIdentifier,
  UserNotice,
  type DisplayText,
  type Extensions,
} from '@peculiar/asn1-x509';
import {
  AuthorityKeyIdentifierOctets,
  CrlDistributionPointsOctets,
  EncodedName,
  GeneralNamesOctets,
  InfoAccessOctets,
  IntegerList,
  NameConstraintsOctets,
  NameRdn,
  decodeText,
  integerValue,
  parseExact,
  readValue,
  type GeneralNameOctets,
} from './asn1.js';
import { EKU_LONG_NAMES, EXTENSION_SHORT_NAMES, OBJECT_LONG_NAMES, OID, SIGNATURE_ALGORITHMS } from './oids.js';
import { generalNameI2v, generalNamePrint, ipText, readGeneralName } from './san.js';
import { Recent } from './recent.js';
import { opensslOnelineEx, readName } from './subject.js';

/** A decoded Extension. */
export interface ParsedExtension {
  oid: string;
  critical: boolean;
  /** extnValue content (the DER of the extension's own value). */
  value: Buffer;
  /** Its text, when known from what was encoded rather than to be read from `value`. */
  text?: string;
}

/** The extensions of a certificate or request, in order. */
export function readExtensions(extensions: Extensions | undefined): ParsedExtension[] {
  return (extensions ?? []).map((extension) => ({
    oid: extension.extnID,
    critical: extension.critical,
    value: Buffer.from(extension.extnValue.buffer),
  }));
}

/**
 * An extension's value decoded as `type`, once: a certificate's details read BasicConstraints and
 * the key identifiers both for their fields and for their texts. Decoded values are shared, never changed.
 */
export function decodeExtensionValue<T>(value: Buffer, type: new () => T): T {
  const known = decodedValues.get(value);
  if (known?.type === type) return known.decoded as T;
  const decoded = parseExact(value, type);
  decodedValues.set(value, { type, decoded });
  return decoded;
}

const decodedValues = new WeakMap<Buffer, { type: unknown; decoded: unknown }>();

/** Records what `value` decodes to as `type`, for a value just encoded from `decoded`: its reader then skips the decoding. */
export function rememberDecodedValue<T>(value: Buffer, type: new () => T, decoded: T): void {
  decodedValues.set(value, { type, decoded });
}

/** What TrueNAS shows for an extension it cannot print. */
export const UNPARSEABLE = 'Unable to parse extension';

/**
 * TrueNAS `extensions`: `{ShortNameWithFirstLetterUppercased: text}` for every extension OpenSSL
 * has a short name for (others are skipped, as pyOpenSSL skips `UNDEF`).
 */
export function describeExtensions(extensions: readonly ParsedExtension[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const extension of extensions) {
    const shortName = EXTENSION_SHORT_NAMES[extension.oid];
    if (!shortName) continue;
    out[shortName.charAt(0).toUpperCase() + shortName.slice(1)] = extensionText(extension);
  }
  return out;
}

/**
 * Texts of extension values seen lately, by OID and bytes (a text depends on nothing else). A CA's
 * certificates repeat most of theirs: key usages, CRL and AIA links, its key identifier.
 */
const recentTexts = new Recent<string, string>(1024);
/** Larger values (long SCT lists, policies) are formatted each time rather than held. */
const RECENT_TEXT_VALUE_BYTES = 1024;

/** Text of one extension, or {@link UNPARSEABLE}. */
export function extensionText(extension: ParsedExtension): string {
  if (extension.text !== undefined) return extension.text;
  if (extension.value.length > RECENT_TEXT_VALUE_BYTES) return formatExtension(extension);
  return recentTexts.getOrMake(`${extension.oid} ${extension.value.toString('base64')}`, () => formatExtension(extension));
}

function formatExtension(extension: ParsedExtension): string {
  const format = FORMATTERS[extension.oid];
  if (!format) return UNPARSEABLE;
  try {
    return format(extension.value);
  } catch {
    return UNPARSEABLE;
  }
}

const hex = (bytes: Buffer): string =>
  [...bytes].map((byte) => byte.toString(16).toUpperCase().padStart(2, '0')).join(':');

/** OpenSSL hex text of an INTEGER's magnitude (as `serial:` in AuthorityKeyIdentifier prints it). */
function integerHex(octets: ArrayBuffer): string {
  const body = Buffer.from(octets);
  return hex(body.length > 1 && body[0] === 0 ? body.subarray(1) : body);
}

/**
 * A userNotice string as OpenSSL prints it: its raw bytes whatever the string type, read as UTF-8 as
 * pyOpenSSL does. OpenSSL's config writes explicitText as a VisibleString holding UTF-8 bytes, which
 * the schema reads one character per byte.
 */
function noticeText(text: DisplayText): string {
  if (text.utf8String !== undefined) return text.utf8String;
  if (text.bmpString !== undefined) return Buffer.from(text.bmpString, 'utf16le').swap16().toString('utf8');
  return Buffer.from(text.visibleString ?? text.ia5String ?? '', 'latin1').toString('utf8');
}

const objectName = (dotted: string): string => OBJECT_LONG_NAMES[dotted] ?? EKU_LONG_NAMES[dotted] ?? dotted;

/** OpenSSL `X509V3_EXT_val_prn`: multi-line values one per line, others `, `-joined, none `<EMPTY>`. */
const values = (items: readonly string[], multiline: boolean): string =>
  items.length === 0 ? '<EMPTY>\n' : items.join(multiline ? '\n' : ', ');

const KEY_USAGE_NAMES = [
  'Digital Signature',
  'Non Repudiation',
  'Key Encipherment',
  'Data Encipherment',
  'Key Agreement',
  'Certificate Sign',
  'CRL Sign',
  'Encipher Only',
  'Decipher Only',
];
const NS_CERT_TYPE_NAMES = ['SSL Client', 'SSL Server', 'S/MIME', 'Object Signing', 'Unused', 'SSL CA', 'S/MIME CA', 'Object Signing CA'];
const REASON_NAMES = [
  'Unused',
  'Key Compromise',
  'CA Compromise',
  'Affiliation Changed',
  'Superseded',
  'Cessation Of Operation',
  'Certificate Hold',
  'Privilege Withdrawn',
  'AA Compromise',
];

/** Named bits of a BIT STRING, bit 0 first. */
function bitNames(bits: BitString, names: readonly string[]): string[] {
  const bytes = Buffer.from(bits.value);
  const count = bytes.length * 8 - bits.unusedBits;
  return names.filter((_, i) => i < count && ((bytes[i >> 3] ?? 0) & (0x80 >> (i & 7))) !== 0);
}

const generalNames = (names: readonly GeneralNameOctets[]): string[] => names.map((name) => generalNameI2v(readGeneralName(name)));
const printedNames = (names: readonly GeneralNameOctets[]): string[] => names.map((name) => generalNamePrint(readGeneralName(name)));

function basicConstraints(value: Buffer): string {
  const { cA, pathLenConstraint } = decodeExtensionValue(value, BasicConstraints);
  return [`CA:${cA ? 'TRUE' : 'FALSE'}`, ...(pathLenConstraint === undefined ? [] : [`pathlen:${pathLenConstraint}`])].join(', ');
}

function authorityKeyIdentifier(value: Buffer): string {
  const { keyIdentifier, authorityCertIssuer: issuer, authorityCertSerialNumber: serial } = decodeExtensionValue(value, AuthorityKeyIdentifierOctets);
  const lines: string[] = [];
  if (keyIdentifier) lines.push(`${issuer || serial ? 'keyid:' : ''}${hex(Buffer.from(keyIdentifier.buffer))}`);
  if (issuer) lines.push(...generalNames(issuer));
  if (serial) lines.push(`serial:${integerHex(serial)}`);
  return values(lines, true);
}

/** OpenSSL `i2r_crldp`, including its habit of not separating the parts of one point by newlines. */
function distributionPoints(value: Buffer): string {
  const indented = (names: readonly GeneralNameOctets[]): string => printedNames(names).map((text) => `  ${text}`).join('\n');
  return parseExact(value, CrlDistributionPointsOctets)
    .map(({ distributionPoint: name, reasons, cRLIssuer }) => {
      let text = '';
      if (name?.fullName) text += `Full Name:\n${indented(name.fullName)}`;
      if (name?.nameRelativeToCRLIssuer) text += `Relative Name:\n  ${opensslOnelineEx(readName(new EncodedName([name.nameRelativeToCRLIssuer as unknown as NameRdn])))}`;
      if (reasons) {
        const names = bitNames(reasons, REASON_NAMES);
        text += `Reasons:\n  ${names.length ? names.join(', ') : '<EMPTY>'}\n`;
      }
      if (cRLIssuer) text += `CRL Issuer:\n${indented(cRLIssuer)}`;
      return text;
    })
    .join('\n');
}

function infoAccess(value: Buffer): string {
  const lines = parseExact(value, InfoAccessOctets).map(({ accessMethod, accessLocation }) => {
    const text = generalNameI2v(readGeneralName(accessLocation));
    const colon = text.indexOf(':');
    return `${objectName(accessMethod)} - ${text.slice(0, colon)}:${text.slice(colon + 1)}`;
  });
  return values(lines, true);
}

function certificatePolicies(value: Buffer): string {
  return parseExact(value, CertificatePolicies)
    .map(({ policyIdentifier, policyQualifiers }) => {
      const head = `Policy: ${objectName(policyIdentifier)}`;
      if (!policyQualifiers) return head;
      return [head, ...policyQualifiers.map(({ policyQualifierId, qualifier }) => policyQualifier(policyQualifierId, qualifier, 2))].join('\n');
    })
    .join('\n');
}

function policyQualifier(qualifier: string, value: ArrayBuffer, indent: number): string {
  const pad = ' '.repeat(indent);
  if (qualifier === OID.cpsQualifier && value.byteLength) return `${pad}CPS: ${decodeText(readValue(value))}`;
  if (qualifier !== OID.userNoticeQualifier) return `${pad}  Unknown Qualifier: ${objectName(qualifier)}`;
  const lines = [`${pad}User Notice:`];
  const inner = ' '.repeat(indent + 2);
  const notice = value.byteLength ? parseExact(new Uint8Array(value), UserNotice) : new UserNotice();
  if (notice.noticeRef) {
    const list = notice.noticeRef.noticeNumbers.map(String);
    lines.push(`${inner}Organization: ${noticeText(notice.noticeRef.organization)}`);
    lines.push(`${inner}Number${list.length > 1 ? 's' : ''}: ${list.join(', ')}`);
  }
  if (notice.explicitText) lines.push(`${inner}Explicit Text: ${noticeText(notice.explicitText)}`);
  return lines.join('\n');
}

function nameConstraints(value: Buffer): string {
  const { permittedSubtrees, excludedSubtrees } = parseExact(value, NameConstraintsOctets);
  const sections = [
    ['Permitted', permittedSubtrees],
    ['Excluded', excludedSubtrees],
  ] as const;
  return sections
    .map(([label, subtrees]) => {
      const lines = (subtrees ?? []).map(({ base }) => {
        const name = readGeneralName(base);
        if (name.kind !== 'IP') return `  ${generalNamePrint(name)}`;
        const half = name.bytes.length / 2;
        return `  IP:${ipText(name.bytes.subarray(0, half))}/${ipText(name.bytes.subarray(half))}`;
      });
      return lines.length ? `${label}:\n${lines.join('\n')}` : '';
    })
    .filter(Boolean)
    .join('\n');
}

function policyConstraints(value: Buffer): string {
  const { requireExplicitPolicy, inhibitPolicyMapping } = parseExact(value, PolicyConstraints);
  return [
    ...(requireExplicitPolicy ? [`Require Explicit Policy:${integerValue(requireExplicitPolicy)}`] : []),
    ...(inhibitPolicyMapping ? [`Inhibit Policy Mapping:${integerValue(inhibitPolicyMapping)}`] : []),
  ].join(', ');
}

const TLS_FEATURES: Readonly<Record<string, string>> = { '5': 'status_request', '17': 'status_request_v2' };

/** RFC 6962 SignedCertificateTimestampList, printed as OpenSSL's `SCT_print` does. */
function signedCertificateTimestamps(value: Buffer): string {
  // The list inside the OCTET STRING is TLS-encoded (RFC 6962 §3.3), not ASN.1: read by hand.
  const list = Buffer.from(parseExact(value, OctetString).buffer);
  const scts: string[] = [];
  for (let offset = 2; offset < 2 + list.readUInt16BE(0); ) {
    const length = list.readUInt16BE(offset);
    scts.push(sctText(list.subarray(offset + 2, offset + 2 + length)));
    offset += 2 + length;
  }
  return scts.join('\n');
}

function sctText(sct: Buffer): string {
  const lines = ['Signed Certificate Timestamp:'];
  if (sct[0] !== 0) return `${lines[0]}\n    Version   : unknown\n${' '.repeat(16)}${hexBlock(sct, 16)}`;
  const logId = sct.subarray(1, 33);
  const timestamp = sct.readBigUInt64BE(33);
  const extensionsLength = sct.readUInt16BE(41);
  const extensions = sct.subarray(43, 43 + extensionsLength);
  let offset = 43 + extensionsLength;
  const hashAlgorithm = sct[offset] ?? 0;
  const signatureAlgorithm = sct[offset + 1] ?? 0;
  const signatureLength = sct.readUInt16BE(offset + 2);
  offset += 4;
  const signature = sct.subarray(offset, offset + signatureLength);
  lines.push(
    '    Version   : v1 (0x0)',
    `    Log ID    : ${hexBlock(logId, 16)}`,
    `    Timestamp : ${sctTime(timestamp)}`,
    `    Extensions: ${extensions.length ? hexBlock(extensions, 16) : 'none'}`,
    `    Signature : ${sctSignatureName(hashAlgorithm, signatureAlgorithm)}`,
    `                ${hexBlock(signature, 16)}`,
  );
  return lines.join('\n');
}

/** OpenSSL `BIO_hex_string`: `XX:` bytes, 16 per line, continuation lines indented. */
function hexBlock(bytes: Buffer, indent: number): string {
  const rows: string[] = [];
  for (let i = 0; i < bytes.length; i += 16) rows.push(hex(bytes.subarray(i, i + 16)));
  return rows.join(`:\n${' '.repeat(indent)}`);
}

function sctSignatureName(hash: number, signature: number): string {
  if (hash === 4 && signature === 1) return 'sha256WithRSAEncryption';
  if (hash === 4 && signature === 3) return 'ecdsa-with-SHA256';
  return `${hash.toString(16).toUpperCase().padStart(2, '0')}${signature.toString(16).toUpperCase().padStart(2, '0')}`;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** OpenSSL `ASN1_GENERALIZEDTIME_print` with milliseconds: `Mar  5 12:34:56.789 2024 GMT`. */
function sctTime(milliseconds: bigint): string {
  const date = new Date(Number(milliseconds));
  const two = (n: number): string => String(n).padStart(2, '0');
  const ms = String(date.getUTCMilliseconds()).padStart(3, '0');
  return (
    `${MONTHS[date.getUTCMonth()]} ${String(date.getUTCDate()).padStart(2, ' ')} ` +
    `${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())}.${ms} ${date.getUTCFullYear()} GMT`
  );
}

type Formatter = (value: Buffer) => string;

const FORMATTERS: Readonly<Record<string, Formatter>> = {
  [OID.basicConstraints]: basicConstraints,
  [OID.keyUsage]: (value) => values(bitNames(parseExact(value, KeyUsage), KEY_USAGE_NAMES), false),
  [OID.extendedKeyUsage]: (value) => values(parseExact(value, ExtendedKeyUsage).map(objectName), false),
  [OID.subjectKeyIdentifier]: (value) => hex(Buffer.from(decodeExtensionValue(value, SubjectKeyIdentifier).buffer)),
  [OID.authorityKeyIdentifier]: authorityKeyIdentifier,
  // pyOpenSSL formats subjectAltName itself: email/DNS/URI raw, the rest through GENERAL_NAME_print.
  [OID.subjectAltName]: (value) => printedNames(parseExact(value, GeneralNamesOctets)).join(', '),
  [OID.issuerAltName]: (value) => values(generalNames(parseExact(value, GeneralNamesOctets)), false),
  [OID.crlDistributionPoints]: distributionPoints,
  [OID.freshestCrl]: distributionPoints,
  [OID.authorityInfoAccess]: infoAccess,
  [OID.subjectInfoAccess]: infoAccess,
  [OID.certificatePolicies]: certificatePolicies,
  [OID.nameConstraints]: nameConstraints,
  [OID.policyConstraints]: policyConstraints,
  [OID.inhibitAnyPolicy]: (value) => integerValue(parseExact(value, InhibitAnyPolicy).value).toString(),
  [OID.nsComment]: (value) => decodeText(readValue(value)),
  [OID.nsCertType]: (value) => values(bitNames(parseExact(value, BitString), NS_CERT_TYPE_NAMES), false),
  [OID.tlsFeature]: (value) =>
    values(
      parseExact(value, IntegerList).map((feature) => TLS_FEATURES[String(feature)] ?? String(feature)),
      false,
    ),
  [OID.ctPrecertScts]: signedCertificateTimestamps,
  [OID.ctPrecertPoison]: (value) => (readValue(value), 'NULL'),
  [OID.ocspNoCheck]: (value) => (readValue(value), ''),
};

/** OpenSSL long name of a signature algorithm OID (dotted when unknown). */
export function signatureAlgorithmName(dotted: string): string {
  return SIGNATURE_ALGORITHMS[dotted]?.longName ?? (dotted === OID.rsassaPss ? 'rsassaPss' : dotted);
}
