/**
 * DNS messages for queries and RFC 2136 UPDATEs, encoded and decoded by dns-packet. Written here
 * only what it lacks: class NONE (RFC 2136 §2.5.4), stricter checks on hostile replies, and TSIG
 * (RFC 8945), which dns-packet neither signs nor verifies.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import packet from 'dns-packet';

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
export type Question = packet.Question;

/** A decoded record, as dns-packet gives it: TXT data as character-strings, names without the final dot. */
export type ResourceRecord = packet.Answer;

/** Deletes the one record given (RFC 2136 §2.5.4), with class NONE, which dns-packet has no name for. */
export type DeleteRecord = Omit<packet.TxtAnswer, 'class'> & { class: 'NONE' };

/** The prerequisite "the name is in use" (RFC 2136 §2.4.4): type ANY, class ANY and no RDATA. */
export interface NameInUse {
  name: string;
  type: 'ANY';
  class: 'ANY';
  ttl: 0;
  data: Buffer;
}

/** A record to encode. */
export type RecordInput = packet.Answer | DeleteRecord | NameInUse;

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
const ARCOUNT_OFFSET = 10;
const CLASS_ANY = 255;
const CLASS_NONE = 254;

/** Lower-cases a name and drops the trailing dot: the form names are compared in. */
export function normalizeName(name: string): string {
  return name.replace(/\.$/, '').toLowerCase();
}

/**
 * A name in wire form, uncompressed (`canonical` lower-cases it, as TSIG's MAC input requires).
 * dns-packet writes any label as given, so every name is checked here before it is encoded.
 */
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

/**
 * TXT data for one value: character-strings of at most 255 bytes each, concatenated by readers
 * (dns-packet writes each string's length in one byte, so longer ones must be split here).
 */
export function txtStrings(value: string): Buffer[] {
  const bytes = Buffer.from(value, 'utf8');
  const strings: Buffer[] = [];
  for (let start = 0; start < bytes.length || start === 0; start += 255) strings.push(bytes.subarray(start, start + 255));
  return strings;
}

/** A TXT record's value: its character-strings joined, as ACME validators read it; '' for other records. */
export function txtValue(record: ResourceRecord): string {
  if (record.type !== 'TXT') return '';
  const strings = Array.isArray(record.data) ? record.data : [record.data];
  return Buffer.concat(strings.map((string) => Buffer.from(string))).toString('utf8');
}

const u16 = (value: number): Buffer => {
  const buffer = Buffer.alloc(2);
  buffer.writeUInt16BE(value);
  return buffer;
};

const u48 = (value: number): Buffer => {
  const buffer = Buffer.alloc(6);
  buffer.writeUIntBE(value, 0, 6);
  return buffer;
};

/** The header's second word without QR (dns-packet sets it from `type`, and takes the opcode and RCODE only as these bits). */
function encodeFlags(flags: Partial<HeaderFlags>): number {
  return (
    ((flags.opcode ?? 0) << 11) |
    (flags.aa ? packet.AUTHORITATIVE_ANSWER : 0) |
    (flags.tc ? packet.TRUNCATED_RESPONSE : 0) |
    (flags.rd ? packet.RECURSION_DESIRED : 0) |
    (flags.ra ? packet.RECURSION_AVAILABLE : 0) |
    ((flags.rcode ?? 0) & 0x0f)
  );
}

const isDelete = (record: RecordInput): record is DeleteRecord => 'class' in record && record.class === 'NONE';

/** dns-packet's form of a record: class NONE goes out as ANY and is set right after encoding. */
const toPacketRecord = (record: RecordInput): packet.Answer => (isDelete(record) ? { ...record, class: 'ANY' } : (record as packet.Answer));

/** Encodes a whole message. @throws DnsError for a name DNS cannot carry. */
export function encodeMessage(message: MessageInput): Buffer {
  const questions = message.questions ?? [];
  const sections = [message.answers ?? [], message.authorities ?? [], message.additionals ?? []] as const;
  for (const { name } of [...questions, ...sections.flat()]) encodeName(name);
  const [answers, authorities, additionals] = sections.map((records) => records.map(toPacketRecord));
  const bytes = packet.encode({ id: message.id, type: message.flags?.qr ? 'response' : 'query', flags: encodeFlags(message.flags ?? {}), questions, answers, authorities, additionals });
  // dns-packet writes names uncompressed, so each record starts where the ones before it end.
  let offset = packet.encodingLength({ questions });
  for (const record of sections.flat()) {
    if (isDelete(record)) bytes.writeUInt16BE(CLASS_NONE, offset + encodeName(record.name).length + 2);
    offset += packet.encodingLength({ answers: [toPacketRecord(record)] }) - HEADER_LENGTH;
  }
  return bytes;
}

/**
 * Decodes a whole message. dns-packet throws plain errors (or Node's range errors) on bytes it
 * cannot read, and reads some short or overlong RDATA without complaint; both end here as a
 * DnsError, the second because the records then do not end where the message does.
 *
 * @throws DnsError when it is malformed.
 */
export function decodeMessage(bytes: Buffer): DnsMessage {
  if (bytes.length < HEADER_LENGTH) throw new DnsError('Malformed DNS message: shorter than a header');
  let decoded: packet.DecodedPacket;
  try {
    decoded = packet.decode(bytes);
  } catch (error) {
    throw new DnsError(`Malformed DNS message: ${error instanceof RangeError ? 'truncated' : (error as Error).message}`);
  }
  if (packet.decode.bytes !== bytes.length) throw new DnsError('Malformed DNS message: its records do not end where it does (RDATA of the wrong length)');
  const flags = decoded.flags ?? 0;
  return {
    id: decoded.id ?? 0,
    flags: { qr: decoded.flag_qr, opcode: (flags >> 11) & 0x0f, aa: decoded.flag_aa, tc: decoded.flag_tc, rd: decoded.flag_rd, ra: decoded.flag_ra, rcode: flags & 0x0f },
    questions: decoded.questions ?? [],
    answers: decoded.answers ?? [],
    authorities: decoded.authorities ?? [],
    additionals: decoded.additionals ?? [],
  };
}

// ---------------------------------------------------------------------------------------------
// TSIG (RFC 8945): written here, since dns-packet reads the TSIG record's RDATA as opaque bytes.

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
    u16(CLASS_ANY),
    Buffer.alloc(4),
    encodeName(rdata.algorithm, true),
    u48(rdata.timeSigned),
    u16(rdata.fudge),
    u16(rdata.error),
    u16(rdata.otherData.length),
    rdata.otherData,
  ]);
}

/** The TSIG RDATA's wire form: its algorithm name is never compressed (RFC 8945 §4.2). */
function encodeTsigRdata(rdata: TsigRdata): Buffer {
  return Buffer.concat([
    encodeName(rdata.algorithm),
    u48(rdata.timeSigned),
    u16(rdata.fudge),
    u16(rdata.mac.length),
    rdata.mac,
    u16(rdata.originalId),
    u16(rdata.error),
    u16(rdata.otherData.length),
    rdata.otherData,
  ]);
}

/** Reads TSIG RDATA. @throws DnsError when it is truncated, overlong or its algorithm name is compressed. */
export function decodeTsigRdata(rdata: Buffer): TsigRdata {
  const labels: string[] = [];
  let offset = 0;
  const need = (length: number): void => {
    if (offset + length > rdata.length) throw new DnsError('Malformed DNS message: truncated TSIG record');
  };
  for (let length = rdata[0] ?? 0; length !== 0; length = rdata[offset] ?? 0) {
    if (length > 63) throw new DnsError('Malformed DNS message: bad TSIG algorithm name');
    need(2 + length);
    labels.push(rdata.toString('utf8', offset + 1, offset + 1 + length));
    offset += 1 + length;
  }
  need(1 + 6 + 2 + 2);
  const timeSigned = rdata.readUIntBE(offset + 1, 6);
  const fudge = rdata.readUInt16BE(offset + 7);
  const macLength = rdata.readUInt16BE(offset + 9);
  offset += 11;
  need(macLength + 6);
  const mac = rdata.subarray(offset, offset + macLength);
  offset += macLength;
  const [originalId, error, otherLength] = [rdata.readUInt16BE(offset), rdata.readUInt16BE(offset + 2), rdata.readUInt16BE(offset + 4)];
  offset += 6;
  if (offset + otherLength !== rdata.length) throw new DnsError('Malformed DNS message: TSIG record of the wrong length');
  return { algorithm: labels.join('.'), timeSigned, fudge, mac, originalId, error, otherData: rdata.subarray(offset) };
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
  const data = encodeTsigRdata({ ...fields, mac, originalId: message.readUInt16BE(0) });
  // dns-packet frames the record (a message holding only it, less the header); its RDATA is ours.
  const record = packet.encode({ additionals: [{ name: key.name, type: 'TSIG', class: 'ANY', ttl: 0, data }] }).subarray(HEADER_LENGTH);
  const signed = Buffer.concat([message, record]);
  signed.writeUInt16BE(message.readUInt16BE(ARCOUNT_OFFSET) + 1, ARCOUNT_OFFSET);
  return { message: signed, mac };
}

/** The TSIG record of a message, which must be the last additional record; null when unsigned. */
export function findTsig(message: DnsMessage): { name: string; tsig: TsigRdata } | null {
  if (message.additionals.slice(0, -1).some((record) => record.type === 'TSIG')) throw new DnsError('Malformed DNS message: TSIG record is not last');
  const last = message.additionals.at(-1);
  return last?.type === 'TSIG' ? { name: last.name, tsig: decodeTsigRdata(last.data) } : null;
}

/**
 * The message as it was before the TSIG record was added (RFC 8945 §4.3.2): the bytes before that
 * record, with one additional record less and the original id. dns-packet, decoding all records
 * but the last, tells where that one starts.
 */
function withoutTsig(bytes: Buffer, additionals: number, originalId: number): Buffer {
  const unsigned = Buffer.from(bytes);
  unsigned.writeUInt16BE(originalId, 0);
  unsigned.writeUInt16BE(additionals - 1, ARCOUNT_OFFSET);
  packet.decode(unsigned);
  return unsigned.subarray(0, packet.decode.bytes);
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
  const { tsig } = record;
  if (tsig.error !== 0) throw new DnsError(TSIG_ERRORS[tsig.error] ?? `TSIG error ${rcodeName(tsig.error)} from the server`);
  if (normalizeName(record.name) !== normalizeName(key.name) || normalizeName(tsig.algorithm) !== key.algorithm) {
    throw new DnsError(`The response is signed with another TSIG key (${record.name}, ${tsig.algorithm})`);
  }
  const unsigned = withoutTsig(bytes, message.additionals.length, tsig.originalId);
  const expected = hmac(key, macPrefix(requestMac), unsigned, tsigVariables(record.name, tsig));
  if (tsig.mac.length !== expected.length || !timingSafeEqual(tsig.mac, expected)) {
    throw new DnsError('The response failed TSIG verification: the MAC does not match');
  }
  if (Math.abs(now - tsig.timeSigned) > tsig.fudge) {
    throw new DnsError('The response failed TSIG verification: its time is outside the fudge window (check both clocks)');
  }
}
