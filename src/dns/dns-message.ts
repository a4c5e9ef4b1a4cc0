/**
 * DNS wire format (RFC 1035) for the few things certmid needs: queries, RFC 2136 UPDATE messages and
 * TSIG signatures (RFC 8945). Names are encoded uncompressed; decoding follows compression pointers.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** Record types used here. */
export const TYPE = { A: 1, NS: 2, CNAME: 5, SOA: 6, TXT: 16, TSIG: 250, ANY: 255 } as const;

/** Record classes: IN, and the NONE/ANY meta classes RFC 2136 uses in prerequisites and deletions. */
export const CLASS = { IN: 1, NONE: 254, ANY: 255 } as const;

/** Header opcodes. */
export const OPCODE = { QUERY: 0, UPDATE: 5 } as const;

/** Header RCODEs (RFC 1035, RFC 2136) and the TSIG error codes of RFC 8945. */
export const RCODE = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  YXDOMAIN: 6,
  YXRRSET: 7,
  NXRRSET: 8,
  NOTAUTH: 9,
  NOTZONE: 10,
  BADSIG: 16,
  BADKEY: 17,
  BADTIME: 18,
  BADTRUNC: 22,
} as const;

/** The mnemonic of an RCODE or TSIG error, e.g. "REFUSED"; unknown codes as "RCODE42". */
export function rcodeName(code: number): string {
  const entry = Object.entries(RCODE).find(([, value]) => value === code);
  return entry ? entry[0] : `RCODE${code}`;
}

/** A DNS failure that is not a provider's answer: malformed data, a bad signature, no answer. */
export class DnsError extends Error {
  override readonly name = 'DnsError';
}

/** The TSIG HMAC algorithms, by the names BIND and nsupdate use. */
export type TsigAlgorithm = 'hmac-sha1' | 'hmac-sha224' | 'hmac-sha256' | 'hmac-sha384' | 'hmac-sha512';

/** Every supported TSIG algorithm, default first. */
export const TSIG_ALGORITHMS = ['hmac-sha256', 'hmac-sha1', 'hmac-sha224', 'hmac-sha384', 'hmac-sha512'] as const satisfies readonly TsigAlgorithm[];

/** A TSIG key as configured on the server: name, algorithm and the shared secret's bytes. */
export interface TsigKey {
  name: string;
  algorithm: TsigAlgorithm;
  secret: Buffer;
}

/** An entry of the question (for UPDATE: zone) section. */
export interface Question {
  name: string;
  type: number;
  class: number;
}

/** A record to encode; `rdata` is already in wire form (see `txtRdata`). */
export interface RecordInput {
  name: string;
  type: number;
  class: number;
  ttl: number;
  rdata: Buffer;
}

/** SOA RDATA (RFC 1035 §3.3.13). */
export interface Soa {
  mname: string;
  rname: string;
  serial: number;
  refresh: number;
  retry: number;
  expire: number;
  minimum: number;
}

/** The TSIG RR's RDATA (RFC 8945 §4.2). */
export interface TsigRdata {
  algorithm: string;
  timeSigned: number;
  fudge: number;
  mac: Buffer;
  originalId: number;
  error: number;
  otherData: Buffer;
}

/** RDATA decoded for the types certmid reads; anything else stays opaque (`rdata`). */
export type RecordData =
  | { kind: 'address'; address: string }
  | { kind: 'name'; name: string }
  | { kind: 'soa'; soa: Soa }
  | { kind: 'txt'; strings: Buffer[] }
  | { kind: 'tsig'; tsig: TsigRdata }
  | { kind: 'opaque' };

/** A decoded record. */
export interface ResourceRecord extends RecordInput {
  data: RecordData;
  /** Where the record starts in the message: TSIG verification signs the bytes before it. */
  offset: number;
}

/** The header's flag bits and codes. */
export interface HeaderFlags {
  qr: boolean;
  opcode: number;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  ra: boolean;
  rcode: number;
}

/** A message to encode. For UPDATE the sections are zone, prerequisite, update and additional. */
export interface MessageInput {
  id: number;
  flags?: Partial<HeaderFlags>;
  questions?: Question[];
  answers?: RecordInput[];
  authorities?: RecordInput[];
  additionals?: RecordInput[];
}

/** A decoded message. */
export interface DnsMessage {
  id: number;
  flags: HeaderFlags;
  questions: Question[];
  answers: ResourceRecord[];
  authorities: ResourceRecord[];
  additionals: ResourceRecord[];
}

const HEADER_LENGTH = 12;
const MAX_POINTER_HOPS = 64;

/** Lower-cases a name and drops the trailing dot: the form names are compared in. */
export function normalizeName(name: string): string {
  return name.replace(/\.$/, '').toLowerCase();
}

/** A name in wire form, uncompressed (`canonical` lower-cases it, as TSIG's MAC input requires). */
export function encodeName(name: string, canonical = false): Buffer {
  const text = name.replace(/\.$/, '');
  const labels = text === '' ? [] : text.split('.');
  const parts: Buffer[] = [];
  for (const label of labels) {
    const bytes = Buffer.from(canonical ? label.toLowerCase() : label, 'utf8');
    if (bytes.length === 0 || bytes.length > 63) throw new DnsError(`Invalid DNS name "${name}": labels must be 1 to 63 bytes`);
    parts.push(Buffer.from([bytes.length]), bytes);
  }
  parts.push(Buffer.from([0]));
  const wire = Buffer.concat(parts);
  if (wire.length > 255) throw new DnsError(`Invalid DNS name "${name}": longer than 255 bytes`);
  return wire;
}

/** TXT RDATA for one value: character-strings of at most 255 bytes each, concatenated by readers. */
export function txtRdata(value: string): Buffer {
  const bytes = Buffer.from(value, 'utf8');
  const parts: Buffer[] = [];
  for (let start = 0; start < bytes.length || start === 0; start += 255) {
    const chunk = bytes.subarray(start, start + 255);
    parts.push(Buffer.from([chunk.length]), chunk);
  }
  return Buffer.concat(parts);
}

/** A TXT record's value: its character-strings joined, as ACME validators read it. */
export function txtValue(record: ResourceRecord): string {
  return record.data.kind === 'txt' ? Buffer.concat(record.data.strings).toString('utf8') : '';
}

const u16 = (value: number): Buffer => {
  const buffer = Buffer.alloc(2);
  buffer.writeUInt16BE(value);
  return buffer;
};

const u32 = (value: number): Buffer => {
  const buffer = Buffer.alloc(4);
  buffer.writeUInt32BE(value);
  return buffer;
};

const u48 = (value: number): Buffer => {
  const buffer = Buffer.alloc(6);
  buffer.writeUIntBE(value, 0, 6);
  return buffer;
};

function encodeFlags(flags: Partial<HeaderFlags> = {}): number {
  return (
    (flags.qr ? 0x8000 : 0) |
    ((flags.opcode ?? 0) << 11) |
    (flags.aa ? 0x0400 : 0) |
    (flags.tc ? 0x0200 : 0) |
    (flags.rd ? 0x0100 : 0) |
    (flags.ra ? 0x0080 : 0) |
    ((flags.rcode ?? 0) & 0x0f)
  );
}

function encodeRecord(record: RecordInput): Buffer {
  return Buffer.concat([encodeName(record.name), u16(record.type), u16(record.class), u32(record.ttl), u16(record.rdata.length), record.rdata]);
}

/** Encodes a whole message. */
export function encodeMessage(message: MessageInput): Buffer {
  const questions = message.questions ?? [];
  const sections = [message.answers ?? [], message.authorities ?? [], message.additionals ?? []];
  const header = Buffer.concat([
    u16(message.id),
    u16(encodeFlags(message.flags)),
    u16(questions.length),
    ...sections.map((records) => u16(records.length)),
  ]);
  return Buffer.concat([
    header,
    ...questions.map((q) => Buffer.concat([encodeName(q.name), u16(q.type), u16(q.class)])),
    ...sections.flat().map(encodeRecord),
  ]);
}

/** Reads messages with bounds checks, so a truncated or hostile packet fails with a DnsError. */
class Reader {
  constructor(
    readonly buffer: Buffer,
    public offset = 0,
  ) {}

  need(length: number): void {
    if (this.offset + length > this.buffer.length) throw new DnsError('Malformed DNS message: truncated');
  }

  u8(): number {
    this.need(1);
    return this.buffer.readUInt8(this.offset++);
  }

  u16(): number {
    this.need(2);
    const value = this.buffer.readUInt16BE(this.offset);
    this.offset += 2;
    return value;
  }

  u32(): number {
    this.need(4);
    const value = this.buffer.readUInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  u48(): number {
    this.need(6);
    const value = this.buffer.readUIntBE(this.offset, 6);
    this.offset += 6;
    return value;
  }

  bytes(length: number): Buffer {
    this.need(length);
    const value = this.buffer.subarray(this.offset, this.offset + length);
    this.offset += length;
    return value;
  }

  /** A possibly compressed name; pointers may only go backwards, which also rules out loops. */
  name(): string {
    const labels: string[] = [];
    let position = this.offset;
    let resumeAt: number | null = null;
    for (let hops = 0; ; ) {
      if (position >= this.buffer.length) throw new DnsError('Malformed DNS message: name runs past the end');
      const length = this.buffer[position] ?? 0;
      if ((length & 0xc0) === 0xc0) {
        if (position + 1 >= this.buffer.length) throw new DnsError('Malformed DNS message: truncated name pointer');
        const target = ((length & 0x3f) << 8) | (this.buffer[position + 1] ?? 0);
        if (target >= position || ++hops > MAX_POINTER_HOPS) throw new DnsError('Malformed DNS message: bad name pointer');
        resumeAt ??= position + 2;
        position = target;
      } else if (length & 0xc0) {
        throw new DnsError('Malformed DNS message: unknown label type');
      } else if (length === 0) {
        this.offset = resumeAt ?? position + 1;
        return labels.join('.');
      } else {
        if (position + 1 + length > this.buffer.length) throw new DnsError('Malformed DNS message: label runs past the end');
        labels.push(this.buffer.toString('utf8', position + 1, position + 1 + length));
        position += 1 + length;
      }
    }
  }
}

function decodeRdata(reader: Reader, type: number, end: number): RecordData {
  switch (type) {
    case TYPE.A:
      return { kind: 'address', address: [...reader.bytes(4)].join('.') };
    case TYPE.NS:
    case TYPE.CNAME:
      return { kind: 'name', name: reader.name() };
    case TYPE.SOA:
      return {
        kind: 'soa',
        soa: { mname: reader.name(), rname: reader.name(), serial: reader.u32(), refresh: reader.u32(), retry: reader.u32(), expire: reader.u32(), minimum: reader.u32() },
      };
    case TYPE.TXT: {
      const strings: Buffer[] = [];
      while (reader.offset < end) strings.push(reader.bytes(reader.u8()));
      return { kind: 'txt', strings };
    }
    case TYPE.TSIG:
      return {
        kind: 'tsig',
        tsig: {
          algorithm: reader.name(),
          timeSigned: reader.u48(),
          fudge: reader.u16(),
          mac: reader.bytes(reader.u16()),
          originalId: reader.u16(),
          error: reader.u16(),
          otherData: reader.bytes(reader.u16()),
        },
      };
    default:
      return { kind: 'opaque' };
  }
}

function decodeRecord(reader: Reader): ResourceRecord {
  const offset = reader.offset;
  const name = reader.name();
  const type = reader.u16();
  const klass = reader.u16();
  const ttl = reader.u32();
  const length = reader.u16();
  reader.need(length);
  const end = reader.offset + length;
  const rdata = reader.buffer.subarray(reader.offset, end);
  const data = length === 0 ? { kind: 'opaque' as const } : decodeRdata(reader, type, end);
  if (data.kind !== 'opaque' && reader.offset !== end) throw new DnsError(`Malformed DNS message: RDATA of type ${type} has the wrong length`);
  reader.offset = end;
  return { name, type, class: klass, ttl, rdata, data, offset };
}

/** Decodes a whole message. @throws DnsError when it is malformed. */
export function decodeMessage(buffer: Buffer): DnsMessage {
  const reader = new Reader(buffer);
  if (buffer.length < HEADER_LENGTH) throw new DnsError('Malformed DNS message: shorter than a header');
  const id = reader.u16();
  const bits = reader.u16();
  const counts = [reader.u16(), reader.u16(), reader.u16(), reader.u16()] as const;
  const questions: Question[] = [];
  for (let i = 0; i < counts[0]; i++) questions.push({ name: reader.name(), type: reader.u16(), class: reader.u16() });
  const section = (count: number): ResourceRecord[] => Array.from({ length: count }, () => decodeRecord(reader));
  return {
    id,
    flags: {
      qr: Boolean(bits & 0x8000),
      opcode: (bits >> 11) & 0x0f,
      aa: Boolean(bits & 0x0400),
      tc: Boolean(bits & 0x0200),
      rd: Boolean(bits & 0x0100),
      ra: Boolean(bits & 0x0080),
      rcode: bits & 0x0f,
    },
    questions,
    answers: section(counts[1]),
    authorities: section(counts[2]),
    additionals: section(counts[3]),
  };
}

// ---------------------------------------------------------------------------------------------
// TSIG (RFC 8945)

const DIGESTS: Record<TsigAlgorithm, string> = {
  'hmac-sha1': 'sha1',
  'hmac-sha224': 'sha224',
  'hmac-sha256': 'sha256',
  'hmac-sha384': 'sha384',
  'hmac-sha512': 'sha512',
};

/** Allowed clock difference in seconds, the value RFC 8945 §10 recommends. */
export const TSIG_FUDGE = 300;

/** The "TSIG variables" of RFC 8945 §4.3.3, which the MAC covers after the message. */
function tsigVariables(keyName: string, rdata: Omit<TsigRdata, 'mac' | 'originalId'>): Buffer {
  return Buffer.concat([
    encodeName(keyName, true),
    u16(CLASS.ANY),
    u32(0),
    encodeName(rdata.algorithm, true),
    u48(rdata.timeSigned),
    u16(rdata.fudge),
    u16(rdata.error),
    u16(rdata.otherData.length),
    rdata.otherData,
  ]);
}

/** A request MAC as it enters a response's MAC: length-prefixed (RFC 8945 §4.3.1). */
const macPrefix = (requestMac: Buffer | undefined): Buffer => (requestMac ? Buffer.concat([u16(requestMac.length), requestMac]) : Buffer.alloc(0));

function hmac(key: TsigKey, ...parts: Buffer[]): Buffer {
  const mac = createHmac(DIGESTS[key.algorithm], key.secret);
  for (const part of parts) mac.update(part);
  return mac.digest();
}

/** How `signMessage` signs. */
export interface SignOptions {
  /** Signing a response: the MAC of the request it answers. */
  requestMac?: Buffer;
  /** Seconds since the epoch; defaults to now. */
  timeSigned?: number;
}

/**
 * Appends a TSIG record to an encoded message (which must not have one yet) and returns the signed
 * message and its MAC, which the reply's signature covers.
 */
export function signMessage(message: Buffer, key: TsigKey, options: SignOptions = {}): { message: Buffer; mac: Buffer } {
  const fields = { algorithm: key.algorithm, timeSigned: options.timeSigned ?? Math.floor(Date.now() / 1000), fudge: TSIG_FUDGE, error: 0, otherData: Buffer.alloc(0) };
  const mac = hmac(key, macPrefix(options.requestMac), message, tsigVariables(key.name, fields));
  const rdata = Buffer.concat([
    encodeName(key.algorithm),
    u48(fields.timeSigned),
    u16(fields.fudge),
    u16(mac.length),
    mac,
    message.subarray(0, 2),
    u16(fields.error),
    u16(0),
  ]);
  const signed = Buffer.concat([message, encodeRecord({ name: key.name, type: TYPE.TSIG, class: CLASS.ANY, ttl: 0, rdata })]);
  signed.writeUInt16BE(message.readUInt16BE(10) + 1, 10);
  return { message: signed, mac };
}

/** A record carrying TSIG RDATA. */
export type TsigRecord = ResourceRecord & { data: { kind: 'tsig'; tsig: TsigRdata } };

const isTsig = (record: ResourceRecord | undefined): record is TsigRecord => record?.data.kind === 'tsig';

/** The TSIG record of a message, which must be the last additional record; null when unsigned. */
export function findTsig(message: DnsMessage): TsigRecord | null {
  if (message.additionals.slice(0, -1).some(isTsig)) throw new DnsError('Malformed DNS message: TSIG record is not last');
  const last = message.additionals.at(-1);
  return isTsig(last) ? last : null;
}

const TSIG_ERRORS: Record<number, string> = {
  [RCODE.BADSIG]: 'TSIG signature rejected by the server (BADSIG): check the secret and the algorithm',
  [RCODE.BADKEY]: 'TSIG key rejected by the server (BADKEY): it does not know this key name with this algorithm',
  [RCODE.BADTIME]: `TSIG time rejected by the server (BADTIME): the clocks differ by more than ${TSIG_FUDGE} s`,
  [RCODE.BADTRUNC]: 'TSIG MAC truncation rejected by the server (BADTRUNC)',
};

/**
 * Checks the TSIG on a response to a request signed with `key` whose MAC was `requestMac`: same key
 * and algorithm, a MAC over the request MAC, the message as it was before signing and the TSIG
 * variables, and a time within the fudge.
 *
 * @throws DnsError when the server reports a TSIG error (BADSIG, BADKEY, BADTIME: such replies carry
 *   no usable MAC), or when the response is unsigned, signed by another key, or its MAC or time is wrong.
 */
export function verifyResponse(bytes: Buffer, message: DnsMessage, key: TsigKey, requestMac: Buffer, now = Date.now() / 1000): void {
  const record = findTsig(message);
  if (!record) throw new DnsError(`The response is not signed with TSIG (${rcodeName(message.flags.rcode)})`);
  const { tsig } = record.data;
  if (tsig.error !== 0) throw new DnsError(TSIG_ERRORS[tsig.error] ?? `TSIG error ${rcodeName(tsig.error)} from the server`);
  if (normalizeName(record.name) !== normalizeName(key.name) || normalizeName(tsig.algorithm) !== key.algorithm) {
    throw new DnsError(`The response is signed with another TSIG key (${record.name}, ${tsig.algorithm})`);
  }
  const unsigned = Buffer.from(bytes.subarray(0, record.offset));
  unsigned.writeUInt16BE(tsig.originalId, 0);
  unsigned.writeUInt16BE(message.additionals.length - 1, 10);
  const expected = hmac(key, macPrefix(requestMac), unsigned, tsigVariables(record.name, tsig));
  if (tsig.mac.length !== expected.length || !timingSafeEqual(tsig.mac, expected)) {
    throw new DnsError('The response failed TSIG verification: the MAC does not match');
  }
  if (Math.abs(now - tsig.timeSigned) > tsig.fudge) {
    throw new DnsError('The response failed TSIG verification: its time is outside the fudge window (check both clocks)');
  }
}
