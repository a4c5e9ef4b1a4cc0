import { createHash } from 'node:crypto';
import { AttributeTypeAndValue, AttributeValue, Name, RelativeDistinguishedName } from '@peculiar/asn1-x509';
import { EncodedName, EncodedValue, STRING_TAG, decodeText, encode, type Asn1Value } from './asn1.js';
import { NAME_ATTRIBUTES, OID } from './oids.js';
import { Recent } from './recent.js';

/** The subject fields TrueNAS exposes (API names). */
export interface SubjectFields {
  common?: string | null;
  country?: string | null;
  state?: string | null;
  city?: string | null;
  organization?: string | null;
  organizational_unit?: string | null;
  email?: string | null;
}

/** TrueNAS CERT_BACKEND_MAPPINGS: the order subjects are built in. */
const SUBJECT_ORDER: ReadonlyArray<[keyof SubjectFields, string]> = [
  ['common', OID.commonName],
  ['country', OID.country],
  ['state', OID.state],
  ['city', OID.locality],
  ['organization', OID.organization],
  ['organizational_unit', OID.organizationalUnit],
  ['email', OID.emailAddress],
];

const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;

/**
 * DER Name in TrueNAS order (CN, C, ST, L, O, OU, emailAddress), one attribute per RDN, empty fields
 * skipped. Country is a PrintableString and emailAddress an IA5String, as OpenSSL and `cryptography`
 * write them; values those types cannot hold fall back to UTF8String.
 */
export function encodeSubject(fields: SubjectFields): Buffer {
  return encodedSubject(fields).der;
}

/**
 * {@link encodeSubject}, with the attributes it writes as {@link readName} would read them back:
 * what a new certificate's details need, known without decoding the name. Each RDN is encoded by
 * the schema library; a value's contents octets are those of the text in the string type chosen.
 */
export function encodedSubject(fields: SubjectFields): { der: Buffer; entries: NameEntry[] } {
  const entries: NameEntry[] = [];
  const rdns: RelativeDistinguishedName[] = [];
  for (const [key, type] of SUBJECT_ORDER) {
    const text = fields[key];
    if (!text) continue;
    const { rdn, value } = encodedAttribute(type, text);
    entries.push({ type, rdn: entries.length, value, text: decodeText(value) });
    rdns.push(new EncodedValue(rdn) as unknown as RelativeDistinguishedName);
  }
  return { der: encode(new Name(rdns)), entries };
}

/** A subject attribute encoded by the schema library: its RDN, and its value as {@link readName} reads it. */
interface EncodedAttribute {
  rdn: Buffer;
  value: Asn1Value;
}

/**
 * Attributes encoded lately, by type and text: a CA's certificates mostly share all but their
 * common name. Entries are shared, never changed.
 */
const recentAttributes = new Recent<string, EncodedAttribute>(256);

function encodedAttribute(type: string, text: string): EncodedAttribute {
  return recentAttributes.getOrMake(`${type} ${text}`, () => {
    const attributeValue = valueOf(type, text);
    const rdn = encode(new RelativeDistinguishedName([new AttributeTypeAndValue({ type, value: attributeValue })]));
    const tagNumber = attributeValue.printableString !== undefined ? STRING_TAG.PRINTABLE : attributeValue.ia5String !== undefined ? STRING_TAG.IA5 : STRING_TAG.UTF8;
    // PrintableString and IA5String are only chosen for ASCII, where Latin-1 and UTF-8 agree.
    const body = Buffer.from(text, tagNumber === STRING_TAG.UTF8 ? 'utf8' : 'latin1');
    return { rdn, value: { tagClass: UNIVERSAL, tagNumber, constructed: false, body, raw: encode(attributeValue) } };
  });
}

/** The schema library's class number for universal tags. */
const UNIVERSAL = 1;

/** Whether every character of `value` is ASCII. */
export const isAscii = (value: string): boolean => [...value].every((char) => char.charCodeAt(0) < 0x80);

function valueOf(type: string, value: string): AttributeValue {
  if (type === OID.country && PRINTABLE.test(value)) return new AttributeValue({ printableString: value });
  if (type === OID.emailAddress && isAscii(value)) return new AttributeValue({ ia5String: value });
  return new AttributeValue({ utf8String: value });
}

/** One attribute of a distinguished name. */
export interface NameEntry {
  type: string;
  /** Index of the RDN (SET) holding it; equal for the members of a multi-valued RDN. */
  rdn: number;
  /** The value as encoded. */
  value: Asn1Value;
  text: string;
}

/** Attributes of a Name, in encoding order. */
export function readName(name: EncodedName): NameEntry[] {
  return name.flatMap((rdn, index) =>
    rdn.map((attribute) => {
      const { value } = attribute.value;
      return { type: attribute.type, rdn: index, value, text: decodeText(value) };
    }),
  );
}

/** TrueNAS subject fields: the first value of each attribute type, null when absent. */
export function subjectFields(entries: readonly NameEntry[]): Required<SubjectFields> {
  const first = (type: string): string | null => entries.find((entry) => entry.type === type)?.text ?? null;
  return {
    common: first(OID.commonName),
    country: first(OID.country),
    state: first(OID.state),
    city: first(OID.locality),
    organization: first(OID.organization),
    organizational_unit: first(OID.organizationalUnit),
    email: first(OID.emailAddress),
  };
}

/**
 * TrueNAS `DN` without the SAN suffix: `/k=v` for every attribute OpenSSL has a short name for, in
 * encoding order; as pyOpenSSL's `getattr(subject, k)` does, a repeated type shows its first value.
 */
export function truenasDn(entries: readonly NameEntry[]): string {
  const parts = entries.flatMap((entry) => {
    const shortName = NAME_ATTRIBUTES[entry.type];
    if (!shortName) return [];
    const first = entries.find((candidate) => candidate.type === entry.type) ?? entry;
    return [`${shortName}=${first.text}`];
  });
  return `/${parts.join('/')}`;
}

/**
 * OpenSSL `X509_NAME_oneline` (`/CN=x/O=y`, `+` inside multi-valued RDNs), as used for `DirName:` in
 * extension text: raw value bytes, `\xHH` for bytes outside printable ASCII, `/` and `+` escaped, and
 * whole attributes dropped once the text would exceed `limit` characters.
 */
export function opensslOneline(entries: readonly NameEntry[], limit = 255): string {
  let out = '';
  let previousRdn = -1;
  for (const entry of entries) {
    let value = '';
    for (const byte of entry.value.body) {
      if (byte < 0x20 || byte > 0x7e) value += `\\x${byte.toString(16).toUpperCase().padStart(2, '0')}`;
      else value += (byte === 0x2f || byte === 0x2b ? '\\' : '') + String.fromCharCode(byte);
    }
    const part = `${entry.rdn === previousRdn ? '+' : '/'}${NAME_ATTRIBUTES[entry.type] ?? entry.type}=${value}`;
    if (out.length + part.length > limit) break;
    out += part;
    previousRdn = entry.rdn;
  }
  return out;
}

const STRING_TAGS = new Set<number>([
  STRING_TAG.UTF8,
  STRING_TAG.BMP,
  STRING_TAG.UNIVERSAL,
  STRING_TAG.PRINTABLE,
  STRING_TAG.T61,
  STRING_TAG.IA5,
  STRING_TAG.VISIBLE,
  STRING_TAG.NUMERIC,
]);

/** A universal-class string value of one of `tags`. */
const isStringOf = (value: Asn1Value, tags: ReadonlySet<number>): boolean => value.tagClass === 1 && !value.constructed && tags.has(value.tagNumber);
const QUOTE_TRIGGERS = new Set([...',+<>;']);

/**
 * OpenSSL `X509_NAME_print_ex(…, XN_FLAG_ONELINE)` (`CN = x, O = y`), which pyOpenSSL uses for
 * `DirName:` entries of subjectAltName: values holding `,+<>;`, or with a leading `#`/space or a
 * trailing space, are quoted; `"` and `\` are backslash-escaped; control and non-ASCII bytes (of the
 * UTF-8) become `\HH`; non-string values are dumped as `#` + hex DER.
 */
export function opensslOnelineEx(entries: readonly NameEntry[]): string {
  return entries
    .map((entry, i) => {
      const separator = i === 0 ? '' : entry.rdn === entries[i - 1]?.rdn ? ' + ' : ', ';
      return `${separator}${NAME_ATTRIBUTES[entry.type] ?? entry.type} = ${escapeOnelineValue(entry.value)}`;
    })
    .join('');
}

function escapeOnelineValue(value: Asn1Value): string {
  if (!isStringOf(value, STRING_TAGS)) return quoteIfNeeded(`#${value.raw.toString('hex').toUpperCase()}`, true);
  const bytes = Buffer.from(decodeText(value), 'utf8');
  let quote = false;
  let out = '';
  bytes.forEach((byte, i) => {
    const char = String.fromCharCode(byte);
    if (QUOTE_TRIGGERS.has(char) || (i === 0 && (char === '#' || char === ' ')) || (i === bytes.length - 1 && char === ' ')) {
      quote = true;
      out += char;
    } else if (char === '"' || char === '\\') {
      out += `\\${char}`;
    } else if (byte < 0x20 || byte > 0x7e) {
      out += `\\${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    } else {
      out += char;
    }
  });
  return quoteIfNeeded(out, quote);
}

const quoteIfNeeded = (text: string, quote: boolean): string => (quote ? `"${text}"` : text);

/** The RDNs of a name, as {@link EncodedName} holds them and as a new subject's entries give them. */
export type NameRdns = ReadonlyArray<ReadonlyArray<{ type: string; value: { value: Asn1Value } }>>;

/** The RDNs of entries read by {@link readName} or made by {@link encodedSubject}. */
export function rdnsOf(entries: readonly NameEntry[]): NameRdns {
  const rdns: Array<Array<{ type: string; value: { value: Asn1Value } }>> = [];
  for (const { type, rdn, value } of entries) (rdns[rdn] ??= []).push({ type, value: { value } });
  return rdns;
}

/**
 * OpenSSL `X509_NAME_hash` (what `openssl x509 -hash` prints): SHA-1 over the canonical name
 * (string values as UTF-8, trimmed, internal whitespace collapsed, ASCII lower-cased; RDN SETs
 * concatenated without the outer SEQUENCE), first four bytes read little-endian.
 */
export function subjectNameHash(name: NameRdns): number {
  const hash = createHash('sha1');
  // The hash covers the RDN SETs one after the other, without the Name's outer SEQUENCE.
  for (const rdn of name) hash.update(canonicalRdn(rdn));
  return hash.digest().readUInt32LE(0);
}

/**
 * Canonical single-attribute RDNs encoded lately, by type and value as encoded: a CA's certificates
 * share all but a few of theirs. Entries are shared, never changed.
 */
const recentCanonicalRdns = new Recent<string, Buffer>(256);

/** DER of an RDN's canonical form, as the schema library encodes it. */
function canonicalRdn(rdn: NameRdns[number]): Buffer {
  const encodeRdn = (): Buffer => encode(new RelativeDistinguishedName(canonicalAttributes(rdn)));
  const [only] = rdn;
  if (rdn.length !== 1 || !only) return encodeRdn();
  return recentCanonicalRdns.getOrMake(`${only.type} ${only.value.value.raw.toString('base64')}`, encodeRdn);
}

function canonicalAttributes(rdn: NameRdns[number]): AttributeTypeAndValue[] {
  const attributes = rdn.map(({ type, value }) => new AttributeTypeAndValue({ type, value: canonicalValue(value.value) }));
  if (attributes.length < 2) return attributes;
  // SET OF in DER order: sorted by encoding (only multi-valued RDNs need the sort).
  return attributes
    .map((attribute) => ({ attribute, der: encode(attribute) }))
    .sort((a, b) => Buffer.compare(a.der, b.der))
    .map(({ attribute }) => attribute);
}

/** The string types OpenSSL canonicalises for the name hash: all but NumericString. */
const CANONICAL_TAGS = new Set<number>([...STRING_TAGS].filter((tag) => tag !== STRING_TAG.NUMERIC));

function canonicalValue(value: Asn1Value): AttributeValue {
  if (!isStringOf(value, CANONICAL_TAGS)) return new AttributeValue({ anyValue: new Uint8Array(value.raw).buffer });
  const bytes = Buffer.from(decodeText(value), 'utf8');
  const isSpace = (byte: number | undefined): boolean => byte === 0x20 || (byte !== undefined && byte >= 0x09 && byte <= 0x0d);
  let start = 0;
  let end = bytes.length;
  while (start < end && isSpace(bytes[start])) start++;
  while (end > start && isSpace(bytes[end - 1])) end--;
  const out: number[] = [];
  for (let i = start; i < end; i++) {
    const byte = bytes[i]!;
    if (isSpace(byte)) {
      out.push(0x20);
      while (isSpace(bytes[i + 1])) i++;
    } else {
      out.push(byte >= 0x41 && byte <= 0x5a ? byte + 0x20 : byte);
    }
  }
  return new AttributeValue({ utf8String: Buffer.from(out).toString('utf8') });
}
