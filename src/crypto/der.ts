/**
 * A small DER writer and BER/DER reader. Hand-rolled rather than schema-driven because certificate
 * output must be byte-exact (string types, positive serials, UTCTime vs GeneralizedTime, issuer
 * names copied verbatim) and parsing needs the raw tags that OpenSSL's text formats depend on.
 */

/** Universal tag numbers used in this package. */
export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  ENUMERATED: 0x0a,
  UTF8_STRING: 0x0c,
  SEQUENCE: 0x30,
  SET: 0x31,
  NUMERIC_STRING: 0x12,
  PRINTABLE_STRING: 0x13,
  T61_STRING: 0x14,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  VISIBLE_STRING: 0x1a,
  GENERAL_STRING: 0x1b,
  UNIVERSAL_STRING: 0x1c,
  BMP_STRING: 0x1e,
} as const;

/** Malformed or unexpected ASN.1. */
export class DerError extends Error {
  override readonly name = 'DerError';
}

// ---------------------------------------------------------------- writing

function encodeLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** One TLV; `tag` is the full identifier octet (class, constructed bit and number). */
export function tlv(tag: number, content: Buffer | readonly Buffer[]): Buffer {
  const body = Buffer.isBuffer(content) ? content : Buffer.concat(content as Buffer[]);
  return Buffer.concat([Buffer.from([tag]), encodeLength(body.length), body]);
}

export const sequence = (...items: Buffer[]): Buffer => tlv(TAG.SEQUENCE, items);

/** SET OF, with elements in DER order (sorted by encoding). */
export const setOf = (...items: Buffer[]): Buffer => tlv(TAG.SET, [...items].sort(Buffer.compare));

/** Context-specific EXPLICIT tag `[n]` around an encoded value. */
export const explicit = (n: number, value: Buffer): Buffer => tlv(0xa0 | n, value);

/** Context-specific IMPLICIT tag `[n]` replacing the tag of an encoded value. */
export function implicit(n: number, value: Buffer): Buffer {
  const node = readNode(value);
  return tlv((node.constructed ? 0xa0 : 0x80) | n, node.body);
}

/** Non-negative INTEGER, with a leading 0x00 when the top bit is set so it stays positive. */
export function integer(value: bigint | number): Buffer {
  let n = BigInt(value);
  if (n < 0n) throw new RangeError('Negative INTEGER values are not written');
  const bytes: number[] = [];
  do {
    bytes.unshift(Number(n & 0xffn));
    n >>= 8n;
  } while (n > 0n);
  if ((bytes[0] ?? 0) & 0x80) bytes.unshift(0);
  return tlv(TAG.INTEGER, Buffer.from(bytes));
}

export const enumerated = (value: number): Buffer => tlv(TAG.ENUMERATED, integer(value).subarray(2));
export const boolean = (value: boolean): Buffer => tlv(TAG.BOOLEAN, Buffer.from([value ? 0xff : 0]));
export const nullValue = (): Buffer => Buffer.from([TAG.NULL, 0]);
export const octetString = (value: Buffer): Buffer => tlv(TAG.OCTET_STRING, value);
export const utf8String = (value: string): Buffer => tlv(TAG.UTF8_STRING, Buffer.from(value, 'utf8'));
export const ia5String = (value: string): Buffer => tlv(TAG.IA5_STRING, Buffer.from(value, 'latin1'));
export const printableString = (value: string): Buffer => tlv(TAG.PRINTABLE_STRING, Buffer.from(value, 'latin1'));

/** BIT STRING holding whole bytes. */
export const bitString = (value: Buffer, unusedBits = 0): Buffer =>
  tlv(TAG.BIT_STRING, Buffer.concat([Buffer.from([unusedBits]), value]));

/** Named-bit BIT STRING (KeyUsage, ReasonFlags): bit 0 is the MSB; trailing zero bits dropped (DER). */
export function namedBits(bits: readonly boolean[]): Buffer {
  const last = bits.lastIndexOf(true);
  if (last < 0) return bitString(Buffer.alloc(0));
  const bytes = Buffer.alloc(Math.floor(last / 8) + 1);
  bits.forEach((on, i) => {
    if (on) bytes[i >> 3]! |= 0x80 >> (i & 7);
  });
  return bitString(bytes, 7 - (last % 8));
}

export function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map((arc) => BigInt(arc));
  const [first = 0n, second = 0n, ...rest] = arcs;
  const out: number[] = [];
  for (const arc of [first * 40n + second, ...rest]) {
    const chunk: number[] = [Number(arc & 0x7fn)];
    for (let n = arc >> 7n; n > 0n; n >>= 7n) chunk.unshift(Number(n & 0x7fn) | 0x80);
    out.push(...chunk);
  }
  return tlv(TAG.OID, Buffer.from(out));
}

/** AlgorithmIdentifier with absent or explicit parameters. */
export const algorithm = (dotted: string, parameters?: Buffer): Buffer =>
  parameters ? sequence(oid(dotted), parameters) : sequence(oid(dotted));

/** RFC 5280 Time: UTCTime through 2049, GeneralizedTime from 2050. */
export function time(date: Date): Buffer {
  const iso = date.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '') + 'Z';
  const year = date.getUTCFullYear();
  if (year >= 1950 && year < 2050) return tlv(TAG.UTC_TIME, Buffer.from(digits.slice(2), 'ascii'));
  return tlv(TAG.GENERALIZED_TIME, Buffer.from(digits, 'ascii'));
}

// ---------------------------------------------------------------- reading

/** A decoded TLV. `raw` is the whole encoding; `body` the content octets. */
export interface DerNode {
  /** Identifier octet as written (class | constructed | number). */
  tag: number;
  constructed: boolean;
  /** Tag number within its class. */
  number: number;
  /** 0 universal, 1 application, 2 context-specific, 3 private. */
  tagClass: number;
  raw: Buffer;
  body: Buffer;
}

/**
 * Deepest nesting of indefinite-length values, and of constructed string segments, that is read.
 * BER writers nest a few levels (a PKCS#12 file about six); the bound keeps the recursive readers
 * off the stack's limit and their rescans linear, whatever the input.
 */
export const MAX_BER_NESTING = 32;

/** Reads the TLV starting at `offset`; indefinite lengths (BER, e.g. some PKCS#12 files) are followed. */
export function readNode(buffer: Buffer, offset = 0): DerNode {
  return readNodeAt(buffer, offset, 0);
}

function readNodeAt(buffer: Buffer, offset: number, nesting: number): DerNode {
  const tag = buffer[offset];
  if (tag === undefined) throw new DerError('Unexpected end of data');
  if ((tag & 0x1f) === 0x1f) throw new DerError('High tag numbers are not supported');
  const constructed = (tag & 0x20) !== 0;
  let cursor = offset + 1;
  const first = buffer[cursor++];
  if (first === undefined) throw new DerError('Unexpected end of data');
  let bodyStart = cursor;
  let bodyEnd: number;
  let end: number;
  if (first === 0x80) {
    if (!constructed) throw new DerError('Indefinite length on a primitive value');
    if (nesting >= MAX_BER_NESTING) throw new DerError(`Indefinite lengths nested more than ${MAX_BER_NESTING} deep`);
    let position = cursor;
    while (buffer[position] !== 0 || buffer[position + 1] !== 0) {
      if (position >= buffer.length) throw new DerError('Missing end-of-contents');
      position += readNodeAt(buffer, position, nesting + 1).raw.length;
    }
    bodyEnd = position;
    end = position + 2;
  } else {
    let length = first;
    if (first & 0x80) {
      const count = first & 0x7f;
      if (count > 4) throw new DerError('Length too large');
      length = 0;
      for (let i = 0; i < count; i++) {
        const byte = buffer[cursor++];
        if (byte === undefined) throw new DerError('Unexpected end of data');
        length = length * 256 + byte;
      }
      bodyStart = cursor;
    }
    bodyEnd = bodyStart + length;
    end = bodyEnd;
    if (end > buffer.length) throw new DerError('Length exceeds data');
  }
  return {
    tag,
    constructed,
    number: tag & 0x1f,
    tagClass: tag >> 6,
    raw: buffer.subarray(offset, end),
    body: buffer.subarray(bodyStart, bodyEnd),
  };
}

/** Parses a buffer that must hold exactly one TLV. */
export function parseDer(buffer: Buffer): DerNode {
  const node = readNode(buffer);
  if (node.raw.length !== buffer.length) throw new DerError('Trailing data after ASN.1 value');
  return node;
}

/** Children of a constructed node, in order. A missing node (a field absent from its parent) is malformed input too. */
export function childrenOf(node: DerNode | undefined): DerNode[] {
  if (!node) throw new DerError('Missing a constructed value');
  if (!node.constructed) throw new DerError(`Tag 0x${node.tag.toString(16)} is not constructed`);
  const out: DerNode[] = [];
  for (let offset = 0; offset < node.body.length; ) {
    const child = readNode(node.body, offset);
    out.push(child);
    offset += child.raw.length;
  }
  return out;
}

/** Asserts the identifier octet. */
function expectTag(node: DerNode | undefined, tag: number, what: string): DerNode {
  if (!node || node.tag !== tag) throw new DerError(`Expected ${what}`);
  return node;
}

/** Children of a SEQUENCE (or other constructed tag), asserting the tag. */
export const sequenceOf = (node: DerNode | undefined, what: string, tag: number = TAG.SEQUENCE): DerNode[] =>
  childrenOf(expectTag(node, tag, what));

export function readInteger(node: DerNode | undefined): bigint {
  const { body } = expectTag(node, TAG.INTEGER, 'INTEGER');
  return twosComplement(body);
}

function twosComplement(bytes: Buffer): bigint {
  if (bytes.length === 0) return 0n;
  let value = BigInt('0x' + bytes.toString('hex'));
  if ((bytes[0] ?? 0) & 0x80) value -= 1n << BigInt(bytes.length * 8);
  return value;
}

export function readOid(node: DerNode | undefined): string {
  const { body } = expectTag(node, TAG.OID, 'OBJECT IDENTIFIER');
  const arcs: bigint[] = [];
  let value = 0n;
  for (const byte of body) {
    value = (value << 7n) | BigInt(byte & 0x7f);
    if (!(byte & 0x80)) {
      arcs.push(value);
      value = 0n;
    }
  }
  const [head = 0n, ...rest] = arcs;
  const first = head < 80n ? head / 40n : 2n;
  return [first, head - first * 40n, ...rest].join('.');
}

export function readBoolean(node: DerNode | undefined): boolean {
  return (expectTag(node, TAG.BOOLEAN, 'BOOLEAN').body[0] ?? 0) !== 0;
}

/** Octets of an OCTET STRING, joining BER constructed segments. */
export function readOctets(node: DerNode | undefined, nesting = 0): Buffer {
  if (!node || node.number !== TAG.OCTET_STRING || node.tagClass !== 0) throw new DerError('Expected OCTET STRING');
  if (!node.constructed) return node.body;
  if (nesting >= MAX_BER_NESTING) throw new DerError(`OCTET STRING segments nested more than ${MAX_BER_NESTING} deep`);
  return Buffer.concat(childrenOf(node).map((segment) => readOctets(segment, nesting + 1)));
}

/** Content of a BIT STRING: unused bit count and the bytes. */
export function readBitString(node: DerNode | undefined): { unusedBits: number; bytes: Buffer } {
  const { body } = expectTag(node, TAG.BIT_STRING, 'BIT STRING');
  return { unusedBits: body[0] ?? 0, bytes: body.subarray(1) };
}

/** Named-bit BIT STRING → array of set flags (bit 0 first). */
export function readNamedBits(node: DerNode | undefined): boolean[] {
  const { unusedBits, bytes } = readBitString(node);
  const count = bytes.length * 8 - unusedBits;
  return Array.from({ length: count }, (_, i) => ((bytes[i >> 3] ?? 0) & (0x80 >> (i & 7))) !== 0);
}

/** Decodes an ASN.1 character string as OpenSSL's ASN1_STRING_to_UTF8 does (one-byte types as Latin-1). */
export function decodeString(node: DerNode): string {
  switch (node.number) {
    case TAG.UTF8_STRING:
      return node.body.toString('utf8');
    case TAG.BMP_STRING:
      return Buffer.from(node.body.subarray(0, node.body.length & ~1)).swap16().toString('utf16le');
    case TAG.UNIVERSAL_STRING: {
      let text = '';
      for (let i = 0; i + 3 < node.body.length; i += 4) {
        const codePoint = node.body.readUInt32BE(i);
        if (codePoint > 0x10ffff) throw new DerError(`Invalid UniversalString code point ${codePoint}`);
        text += String.fromCodePoint(codePoint);
      }
      return text;
    }
    default:
      return node.body.toString('latin1');
  }
}

/** UTCTime or GeneralizedTime → Date (UTC; fractional seconds kept). */
export function readTime(node: DerNode | undefined): Date {
  if (!node || (node.tag !== TAG.UTC_TIME && node.tag !== TAG.GENERALIZED_TIME)) throw new DerError('Expected Time');
  const text = node.body.toString('ascii');
  const match = /^(\d{2}|\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?(\.\d+)?(Z|[+-]\d{4})?$/.exec(text);
  if (!match) throw new DerError(`Bad time ${text}`);
  const [, y = '', mo = '', d = '', h = '', mi = '', s = '00', frac = '', zone = 'Z'] = match;
  let year = Number(y);
  if (node.tag === TAG.UTC_TIME) year += year < 50 ? 2000 : 1900;
  let ms = Date.UTC(year, Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s));
  if (frac) ms += Math.round(Number(frac) * 1000);
  if (zone !== 'Z') ms -= (zone[0] === '-' ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(3))) * 60_000;
  return new Date(ms);
}
