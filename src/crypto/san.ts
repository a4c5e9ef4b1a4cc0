import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';
import { EncodedName, GeneralNameOctets, GeneralNamesOctets, STRING_TAG, decodeText, encode, readValue, type Asn1Value } from './asn1.js';
import { isAscii, opensslOneline, opensslOnelineEx, readName } from './subject.js';

/** A subjectAltName entry in normalized form (DNS names in ASCII/punycode, IPs as text). */
export type SanEntry = { type: 'DNS' | 'IP' | 'email' | 'URI'; value: string };

/** An invalid SAN entry; `index` is its position in the input list. */
export class SanError extends Error {
  override readonly name = 'SanError';

  constructor(
    readonly index: number,
    message: string,
  ) {
    super(message);
  }
}

const PREFIXES: ReadonlyArray<[RegExp, SanEntry['type']]> = [
  [/^IP Address:/i, 'IP'],
  [/^IP:/i, 'IP'],
  [/^DNS:/i, 'DNS'],
  [/^email:/i, 'email'],
  [/^URI:/i, 'URI'],
];

const URI_SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

/**
 * Parses TrueNAS SAN strings: typed (`DNS:x`, `IP:1.2.3.4`, `IP Address:…` as OpenSSL prints it,
 * `email:…`, `URI:…`) or bare (IP if it parses as one, e-mail if it has `@` and no `/`, URI if it has
 * `scheme://`, else DNS). Internationalized DNS names and e-mail domains become punycode; a wildcard
 * leftmost label is allowed.
 *
 * @throws SanError for the first invalid entry.
 */
export function parseSan(entries: readonly string[]): SanEntry[] {
  return entries.map((raw, index) => {
    const entry = classify(raw.trim());
    // Nothing to quote for an empty entry ("", "  ", "DNS:"): the legacy schema's own words.
    if (!entry.value) throw new SanError(index, 'Empty value not allowed');
    const problem = validate(entry);
    if (problem) throw new SanError(index, `${raw}: ${problem}`);
    return entry;
  });
}

function classify(text: string): SanEntry {
  for (const [prefix, type] of PREFIXES) {
    if (prefix.test(text)) return normalize({ type, value: text.replace(prefix, '').trim() });
  }
  if (isIP(text)) return { type: 'IP', value: text };
  if (text.includes('@') && !text.includes('/')) return normalize({ type: 'email', value: text });
  if (URI_SCHEME.test(text)) return { type: 'URI', value: text };
  return normalize({ type: 'DNS', value: text });
}

/** Punycode for non-ASCII DNS names and e-mail domains; ASCII input is kept as given. */
function normalize(entry: SanEntry): SanEntry {
  if (!/[^\x20-\x7e]/.test(entry.value)) return entry;
  if (entry.type === 'DNS') return { ...entry, value: domainToASCII(entry.value) || entry.value };
  if (entry.type === 'email') {
    const at = entry.value.lastIndexOf('@');
    const domain = domainToASCII(entry.value.slice(at + 1));
    return domain ? { ...entry, value: `${entry.value.slice(0, at)}@${domain}` } : entry;
  }
  return entry;
}

const DNS_LABEL = /^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$/;

function validate({ type, value }: SanEntry): string | null {
  if (/[^\x21-\x7e]/.test(value)) return 'only printable ASCII without spaces is allowed';
  switch (type) {
    case 'IP':
      return isIP(value) ? null : 'not a valid IPv4 or IPv6 address';
    case 'email': {
      const at = value.lastIndexOf('@');
      return at > 0 && at < value.length - 1 ? null : 'not a valid e-mail address';
    }
    case 'URI':
      return URI_SCHEME.test(value) && URL.canParse(value) ? null : 'not a valid URI';
    case 'DNS':
      return dnsProblem(value);
  }
}

function dnsProblem(name: string): string | null {
  if (name.length > 253) return 'DNS name longer than 253 characters';
  const labels = name.split('.');
  for (const [i, label] of labels.entries()) {
    if (label === '*' && i === 0 && labels.length > 1) continue;
    if (!DNS_LABEL.test(label)) return `invalid DNS label "${label}"`;
  }
  return null;
}

/** OpenSSL text of SAN entries: `DNS:x`, `IP Address:1.2.3.4` (IPv6 uncompressed, upper-case), `email:x`, `URI:x`. */
export function formatSan(entries: readonly SanEntry[]): string[] {
  return entries.map(({ type, value }) => (type === 'IP' ? `IP Address:${ipText(ipBytes(value))}` : `${type}:${value}`));
}

/** GeneralNames DER for SAN entries (IMPLICIT tags: [1] email, [2] DNS, [6] URI, [7] IP). */
export function encodeGeneralNames(entries: readonly SanEntry[]): Buffer {
  return encode(
    new GeneralNamesOctets(
      entries.map(({ type, value }) => {
        switch (type) {
          case 'email':
            return new GeneralNameOctets({ rfc822Name: value });
          case 'DNS':
            return new GeneralNameOctets({ dNSName: value });
          case 'URI':
            return new GeneralNameOctets({ uniformResourceIdentifier: value });
          case 'IP':
            return Object.assign(new GeneralNameOctets(), { iPAddress: ipOctets(ipBytes(value)) });
        }
      }),
    ),
  );
}

/**
 * The subjectAltName text (as pyOpenSSL prints it) of the extension {@link encodeGeneralNames}
 * writes for `entries`, without decoding it; null for values beyond ASCII, whose IA5String octets
 * would not read back as the same text.
 */
export function sanText(entries: readonly SanEntry[]): string | null {
  if (!entries.every(({ value }) => isAscii(value))) return null;
  return entries.map(({ type, value }) => generalNamePrint(type === 'IP' ? { kind: 'IP', bytes: ipBytes(value) } : { kind: type, text: value })).join(', ');
}

/** The octets as the iPAddress field of {@link GeneralNameOctets} holds them. */
const ipOctets = (bytes: Buffer): string => new Uint8Array(bytes).buffer as unknown as string;

/** Address bytes of an IPv4 or IPv6 literal (IPv6 may end in dotted IPv4). */
export function ipBytes(text: string): Buffer {
  if (isIP(text) === 4) return Buffer.from(text.split('.').map(Number));
  if (isIP(text) !== 6) throw new TypeError(`Not an IP address: ${text}`);
  let groups = text.split('%')[0]!;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(groups);
  if (v4) {
    const [a = 0, b = 0, c = 0, d = 0] = v4[1]!.split('.').map(Number);
    groups = groups.slice(0, v4.index) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = groups.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const all = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const bytes = Buffer.alloc(16);
  all.forEach((group, i) => bytes.writeUInt16BE(parseInt(group, 16), i * 2));
  return bytes;
}

/** OpenSSL `ossl_ipaddr_to_asc`: dotted IPv4; IPv6 as eight `%X` groups. */
export function ipText(bytes: Buffer): string {
  if (bytes.length === 4) return [...bytes].join('.');
  if (bytes.length === 16) {
    return Array.from({ length: 8 }, (_, i) => bytes.readUInt16BE(i * 2).toString(16).toUpperCase()).join(':');
  }
  return `<invalid length=${bytes.length}>`;
}

/** One GeneralName, decoded. */
export type GeneralName =
  | { kind: 'email' | 'DNS' | 'URI'; text: string }
  | { kind: 'IP'; bytes: Buffer }
  | { kind: 'DirName'; name: EncodedName }
  | { kind: 'RID'; oid: string }
  | { kind: 'othername'; oid: string; value: Asn1Value | undefined }
  | { kind: 'X400Name' | 'EdiPartyName' };

/** Decodes a GeneralName CHOICE. */
export function readGeneralName(name: GeneralNameOctets): GeneralName {
  if (name.rfc822Name !== undefined) return { kind: 'email', text: name.rfc822Name };
  if (name.dNSName !== undefined) return { kind: 'DNS', text: name.dNSName };
  if (name.uniformResourceIdentifier !== undefined) return { kind: 'URI', text: name.uniformResourceIdentifier };
  // GeneralNameOctets keeps the address as octets (see there).
  if (name.iPAddress !== undefined) return { kind: 'IP', bytes: Buffer.from(name.iPAddress as unknown as ArrayBuffer) };
  if (name.directoryName !== undefined) return { kind: 'DirName', name: name.directoryName as unknown as EncodedName };
  if (name.registeredID !== undefined) return { kind: 'RID', oid: name.registeredID };
  if (name.otherName !== undefined) {
    const { typeId, value } = name.otherName;
    return { kind: 'othername', oid: typeId, value: value.byteLength ? readValue(value) : undefined };
  }
  return { kind: name.x400Address !== undefined ? 'X400Name' : 'EdiPartyName' };
}

/** A universal string value of type `tag`. */
const isString = (value: Asn1Value | undefined, tag: number): value is Asn1Value => value?.tagClass === 1 && value.tagNumber === tag && !value.constructed;

const OTHERNAME_LABELS: Readonly<Record<string, string>> = {
  '1.3.6.1.4.1.311.20.2.3': 'UPN',
  '1.3.6.1.5.5.7.8.5': 'XmppAddr',
  '1.3.6.1.5.5.7.8.7': 'SRVName',
  '1.3.6.1.5.5.7.8.8': 'NAIRealm',
  '1.3.6.1.5.5.7.8.9': 'SmtpUTF8Mailbox',
};

/** OpenSSL 3.0 `i2v_GENERAL_NAME` text (what `openssl x509 -text` shows), e.g. `IP Address:10.0.0.1`. */
export function generalNameI2v(name: GeneralName): string {
  switch (name.kind) {
    case 'email':
    case 'DNS':
    case 'URI':
      return `${name.kind}:${name.text}`;
    case 'IP':
      return `IP Address:${ipText(name.bytes)}`;
    case 'DirName':
      return `DirName:${opensslOneline(readName(name.name))}`;
    case 'RID':
      return `Registered ID:${name.oid}`;
    case 'othername': {
      const label = `othername: ${OTHERNAME_LABELS[name.oid] ?? name.oid}:`;
      const printable = isString(name.value, STRING_TAG.UTF8) || isString(name.value, STRING_TAG.IA5);
      return `${label}:${printable && name.value ? decodeText(name.value) : '<unsupported>'}`;
    }
    default:
      return `${name.kind}:<unsupported>`;
  }
}

/**
 * OpenSSL 3.0 `GENERAL_NAME_print`, used by pyOpenSSL for subjectAltName entries other than
 * email/DNS/URI and by OpenSSL in CRL distribution points and name constraints. It differs from
 * {@link generalNameI2v} for DirName (`CN = x, O = y`) and othername.
 */
export function generalNamePrint(name: GeneralName): string {
  switch (name.kind) {
    case 'DirName':
      return `DirName:${opensslOnelineEx(readName(name.name))}`;
    case 'othername': {
      const label = OTHERNAME_LABELS[name.oid];
      const expected = name.oid === '1.3.6.1.5.5.7.8.7' ? STRING_TAG.IA5 : STRING_TAG.UTF8;
      if (!label || !isString(name.value, expected)) return 'othername:<unsupported>';
      return `othername:${label}:${decodeText(name.value)}`;
    }
    default:
      return generalNameI2v(name);
  }
}
