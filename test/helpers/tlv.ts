/**
 * A bare TLV writer and reader for tests that build hostile input (bad lengths, wrong tags, deep
 * nesting) which a schema library would not encode. The product reads and writes ASN.1 only through
 * the schema library (src/crypto/asn1.ts).
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

export const octetString = (value: Buffer): Buffer => tlv(TAG.OCTET_STRING, value);

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
