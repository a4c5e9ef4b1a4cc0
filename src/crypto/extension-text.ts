/**
 * Extension text exactly as TrueNAS shows it: pyOpenSSL `str(extension)`, i.e. OpenSSL 3.0
 * `X509V3_EXT_print(…, indent 0)`, except subjectAltName, which pyOpenSSL formats itself.
 */
import {
  DerError,
  TAG,
  childrenOf,
  decodeString,
  parseDer,
  readBoolean,
  readInteger,
  readNamedBits,
  readNode,
  readOctets,
  readOid,
  sequence,
  sequenceOf,
  tlv,
  type DerNode,
} from './der.js';
import { EKU_LONG_NAMES, EXTENSION_SHORT_NAMES, OBJECT_LONG_NAMES, OID, SIGNATURE_ALGORITHMS } from './oids.js';
import { generalNameI2v, generalNamePrint, ipText, readGeneralName } from './san.js';
import { opensslOnelineEx, readName } from './subject.js';

/** A decoded Extension. */
export interface ParsedExtension {
  oid: string;
  critical: boolean;
  /** extnValue content (the DER of the extension's own value). */
  value: Buffer;
}

/** Reads an Extensions SEQUENCE. */
export function readExtensions(node: DerNode): ParsedExtension[] {
  return sequenceOf(node, 'Extensions').map((extension) => {
    const [id, second, third] = sequenceOf(extension, 'Extension');
    const critical = second?.tag === TAG.BOOLEAN ? readBoolean(second) : false;
    return { oid: readOid(id), critical, value: readOctets(third ?? second) };
  });
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

/** Text of one extension, or {@link UNPARSEABLE}. */
function extensionText(extension: ParsedExtension): string {
  const format = FORMATTERS[extension.oid];
  if (!format) return UNPARSEABLE;
  try {
    return format(parseDer(extension.value));
  } catch {
    return UNPARSEABLE;
  }
}

const hex = (bytes: Buffer): string =>
  [...bytes].map((byte) => byte.toString(16).toUpperCase().padStart(2, '0')).join(':');

/** OpenSSL hex text of an INTEGER's magnitude (as `serial:` in AuthorityKeyIdentifier prints it). */
function integerHex(node: DerNode): string {
  const body = node.body.length > 1 && node.body[0] === 0 ? node.body.subarray(1) : node.body;
  return hex(body);
}

/**
 * A userNotice string as OpenSSL prints it: its raw bytes whatever the string type, read as UTF-8 as
 * pyOpenSSL does. OpenSSL's config writes explicitText as a VisibleString holding UTF-8 bytes.
 */
const noticeText = (node: DerNode): string => node.body.toString('utf8');

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

const bitNames = (node: DerNode, names: readonly string[]): string[] =>
  readNamedBits(node).flatMap((on, i) => (on && names[i] ? [names[i]] : []));

const generalNames = (node: DerNode): string[] => childrenOf(node).map((name) => generalNameI2v(readGeneralName(name)));
const printedNames = (node: DerNode): string[] => childrenOf(node).map((name) => generalNamePrint(readGeneralName(name)));

function basicConstraints(node: DerNode): string {
  let ca = false;
  const parts: string[] = [];
  for (const child of sequenceOf(node, 'BasicConstraints')) {
    if (child.tag === TAG.BOOLEAN) ca = readBoolean(child);
    else parts.push(`pathlen:${readInteger(child)}`);
  }
  return [`CA:${ca ? 'TRUE' : 'FALSE'}`, ...parts].join(', ');
}

function authorityKeyIdentifier(node: DerNode): string {
  const fields = sequenceOf(node, 'AuthorityKeyIdentifier');
  const keyId = fields.find((field) => field.tag === 0x80);
  const issuer = fields.find((field) => field.tag === 0xa1);
  const serial = fields.find((field) => field.tag === 0x82);
  const lines: string[] = [];
  if (keyId) lines.push(`${issuer || serial ? 'keyid:' : ''}${hex(keyId.body)}`);
  if (issuer) lines.push(...generalNames(issuer));
  if (serial) lines.push(`serial:${integerHex(serial)}`);
  return values(lines, true);
}

/** OpenSSL `i2r_crldp`, including its habit of not separating the parts of one point by newlines. */
function distributionPoints(node: DerNode): string {
  const indented = (names: DerNode): string => printedNames(names).map((text) => `  ${text}`).join('\n');
  return sequenceOf(node, 'CRLDistributionPoints')
    .map((point) =>
      childrenOf(point)
        .map((field) => {
          if (field.tag === 0x81) {
            const reasons = bitNames({ ...field, tag: TAG.BIT_STRING }, REASON_NAMES);
            return `Reasons:\n  ${reasons.length ? reasons.join(', ') : '<EMPTY>'}\n`;
          }
          if (field.tag === 0xa2) return `CRL Issuer:\n${indented(field)}`;
          const name = readNode(field.body);
          if (name.tag === 0xa0) return `Full Name:\n${indented(name)}`;
          const rdn = readName(parseDer(sequence(tlv(TAG.SET, name.body))));
          return `Relative Name:\n  ${opensslOnelineEx(rdn)}`;
        })
        .join(''),
    )
    .join('\n');
}

function infoAccess(node: DerNode): string {
  const lines = sequenceOf(node, 'InfoAccess').map((description) => {
    const [method, location] = childrenOf(description);
    if (!location) throw new DerError('AccessDescription without location');
    const text = generalNameI2v(readGeneralName(location));
    const colon = text.indexOf(':');
    return `${objectName(readOid(method))} - ${text.slice(0, colon)}:${text.slice(colon + 1)}`;
  });
  return values(lines, true);
}

function certificatePolicies(node: DerNode): string {
  return sequenceOf(node, 'CertificatePolicies')
    .map((info) => {
      const [policy, qualifiers] = childrenOf(info);
      const head = `Policy: ${objectName(readOid(policy))}`;
      if (!qualifiers) return head;
      return [head, ...childrenOf(qualifiers).map((qualifier) => policyQualifier(qualifier, 2))].join('\n');
    })
    .join('\n');
}

function policyQualifier(node: DerNode, indent: number): string {
  const pad = ' '.repeat(indent);
  const [id, value] = childrenOf(node);
  const qualifier = readOid(id);
  if (qualifier === OID.cpsQualifier && value) return `${pad}CPS: ${decodeString(value)}`;
  if (qualifier !== OID.userNoticeQualifier) return `${pad}  Unknown Qualifier: ${objectName(qualifier)}`;
  const lines = [`${pad}User Notice:`];
  const inner = ' '.repeat(indent + 2);
  let text: string | null = null;
  for (const part of value ? childrenOf(value) : []) {
    if (part.tag === TAG.SEQUENCE) {
      const [organization, numbers] = childrenOf(part);
      const list = numbers ? childrenOf(numbers).map((n) => readInteger(n).toString()) : [];
      lines.push(`${inner}Organization: ${organization ? noticeText(organization) : ''}`);
      lines.push(`${inner}Number${list.length > 1 ? 's' : ''}: ${list.join(', ')}`);
    } else {
      text = `${inner}Explicit Text: ${noticeText(part)}`;
    }
  }
  if (text) lines.push(text);
  return lines.join('\n');
}

function nameConstraints(node: DerNode): string {
  const sections = childrenOf(node).map((subtrees) => {
    const label = subtrees.tag === 0xa0 ? 'Permitted' : 'Excluded';
    const lines = childrenOf(subtrees).map((subtree) => {
      const base = childrenOf(subtree)[0];
      if (!base) throw new DerError('GeneralSubtree without base');
      if (base.tag !== 0x87) return `  ${generalNamePrint(readGeneralName(base))}`;
      const half = base.body.length / 2;
      return `  IP:${ipText(base.body.subarray(0, half))}/${ipText(base.body.subarray(half))}`;
    });
    return lines.length ? `${label}:\n${lines.join('\n')}` : '';
  });
  return sections.filter(Boolean).join('\n');
}

function policyConstraints(node: DerNode): string {
  return sequenceOf(node, 'PolicyConstraints')
    .map((field) => {
      const label = field.tag === 0x80 ? 'Require Explicit Policy' : 'Inhibit Policy Mapping';
      return `${label}:${readInteger({ ...field, tag: TAG.INTEGER })}`;
    })
    .join(', ');
}

const TLS_FEATURES: Readonly<Record<string, string>> = { '5': 'status_request', '17': 'status_request_v2' };

/** RFC 6962 SignedCertificateTimestampList, printed as OpenSSL's `SCT_print` does. */
function signedCertificateTimestamps(node: DerNode): string {
  const list = readOctets(node);
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

type Formatter = (value: DerNode) => string;

const FORMATTERS: Readonly<Record<string, Formatter>> = {
  [OID.basicConstraints]: basicConstraints,
  [OID.keyUsage]: (node) => values(bitNames(node, KEY_USAGE_NAMES), false),
  [OID.extendedKeyUsage]: (node) => values(sequenceOf(node, 'ExtendedKeyUsage').map((usage) => objectName(readOid(usage))), false),
  [OID.subjectKeyIdentifier]: (node) => hex(readOctets(node)),
  [OID.authorityKeyIdentifier]: authorityKeyIdentifier,
  // pyOpenSSL formats subjectAltName itself: email/DNS/URI raw, the rest through GENERAL_NAME_print.
  [OID.subjectAltName]: (node) => printedNames(node).join(', '),
  [OID.issuerAltName]: (node) => values(generalNames(node), false),
  [OID.crlDistributionPoints]: distributionPoints,
  [OID.freshestCrl]: distributionPoints,
  [OID.authorityInfoAccess]: infoAccess,
  [OID.subjectInfoAccess]: infoAccess,
  [OID.certificatePolicies]: certificatePolicies,
  [OID.nameConstraints]: nameConstraints,
  [OID.policyConstraints]: policyConstraints,
  [OID.inhibitAnyPolicy]: (node) => readInteger(node).toString(),
  [OID.nsComment]: decodeString,
  [OID.nsCertType]: (node) => values(bitNames(node, NS_CERT_TYPE_NAMES), false),
  [OID.tlsFeature]: (node) =>
    values(
      sequenceOf(node, 'TLSFeature').map((feature) => {
        const value = readInteger(feature).toString();
        return TLS_FEATURES[value] ?? value;
      }),
      false,
    ),
  [OID.ctPrecertScts]: signedCertificateTimestamps,
  [OID.ctPrecertPoison]: () => 'NULL',
  [OID.ocspNoCheck]: () => '',
};

/** OpenSSL long name of a signature algorithm OID (dotted when unknown). */
export function signatureAlgorithmName(dotted: string): string {
  return SIGNATURE_ALGORITHMS[dotted]?.longName ?? (dotted === OID.rsassaPss ? 'rsassaPss' : dotted);
}
