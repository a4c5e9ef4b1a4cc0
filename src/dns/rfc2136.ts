/**
 * The `rfc2136` DNS provider: TXT records published with RFC 2136 dynamic updates signed with TSIG
 * (RFC 8945), the way BIND, Knot, PowerDNS and Windows DNS take them. Also the small DNS client the
 * propagation checks use: queries over UDP, falling back to TCP when the answer is truncated.
 */
import { randomInt } from 'node:crypto';
import dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import net from 'node:net';
import { z } from 'zod';
import {
  DnsError,
  OPCODE,
  RCODE,
  TSIG_ALGORITHMS,
  decodeMessage,
  encodeMessage,
  normalizeName,
  rcodeName,
  signMessage,
  txtStrings,
  txtValue,
  verifyResponse,
  type DnsMessage,
  type MessageInput,
  type RecordInput,
  type ResourceRecord,
  type TsigKey,
} from './dns-message.js';
import { DnsProviderError, type DnsProvider, type ProviderContext, type ProviderDefinition } from './provider.js';

/** Where a DNS server listens. */
export interface DnsServer {
  host: string;
  port: number;
}

/** Limits and credentials of one DNS exchange. */
export interface QueryOptions {
  /** For the whole exchange, TCP fallback included; default 5000 ms. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Signs the request and requires a correctly signed answer. */
  tsig?: TsigKey;
}

/** The record types `queryRecords` reads. */
export type QueryType = 'A' | 'NS' | 'CNAME' | 'SOA' | 'TXT';

const DEFAULT_TIMEOUT_MS = 5000;
/** Short, so challenge records do not linger in caches after cleanup. */
const CHALLENGE_TTL = 60;

const describeServer = (server: DnsServer): string => (server.host.includes(':') ? `[${server.host}]:${server.port}` : `${server.host}:${server.port}`);

const randomId = (): number => randomInt(0, 0x10000);

// ---------------------------------------------------------------------------------------------
// Transport

/** Rejects with `signal.reason` once it aborts; for steps (a DNS name lookup) that take no signal. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

async function resolveAddress(host: string, signal: AbortSignal): Promise<{ address: string; family: 4 | 6 }> {
  const family = net.isIP(host);
  if (family === 4 || family === 6) return { address: host, family };
  const found = await untilAborted(lookup(host), signal);
  return { address: found.address, family: found.family === 6 ? 6 : 4 };
}

/**
 * Runs `start` with a `finish` callback that settles once, removing the abort listener and releasing
 * the socket whatever happened first: the answer, a socket error or the deadline.
 */
function settleOnce(signal: AbortSignal, start: (finish: (error: unknown, reply?: Buffer) => void) => () => void): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let release = (): void => undefined;
    let done = false;
    const finish = (error: unknown, reply?: Buffer): void => {
      if (done) return;
      done = true;
      signal.removeEventListener('abort', onAbort);
      release();
      if (reply) resolve(reply);
      else reject(error);
    };
    const onAbort = (): void => finish(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    release = start(finish);
  });
}

function udpExchange(address: string, family: 4 | 6, port: number, request: Buffer, signal: AbortSignal): Promise<Buffer> {
  const id = request.readUInt16BE(0);
  return settleOnce(signal, (finish) => {
    const socket = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
    socket.on('error', (error) => finish(error));
    // Other datagrams (late answers to an earlier try, spoofing attempts) are not ours: keep waiting.
    socket.on('message', (reply) => reply.length >= 12 && reply.readUInt16BE(0) === id && finish(null, reply));
    // A connected socket hears the ICMP "port unreachable" as ECONNREFUSED instead of timing out.
    socket.connect(port, address, () => socket.send(request, (error) => error && finish(error)));
    return () => socket.close();
  });
}

function tcpExchange(address: string, port: number, request: Buffer, signal: AbortSignal): Promise<Buffer> {
  return settleOnce(signal, (finish) => {
    const socket = net.connect({ host: address, port });
    let received = Buffer.alloc(0);
    socket.on('connect', () => socket.write(Buffer.concat([Buffer.from([request.length >> 8, request.length & 0xff]), request])));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length >= 2 && received.length >= 2 + received.readUInt16BE(0)) finish(null, received.subarray(2, 2 + received.readUInt16BE(0)));
    });
    socket.on('error', (error) => finish(error));
    socket.on('close', () => finish(new DnsError('The server closed the TCP connection before answering')));
    return () => socket.destroy();
  });
}

/** Turns a transport failure into a DnsError naming the server; a caller's abort passes through as is. */
function transportError(error: unknown, server: DnsServer, options: QueryOptions, timeoutMs: number): unknown {
  if (options.signal?.aborted) return options.signal.reason;
  if (error instanceof DnsError) return error;
  const where = describeServer(server);
  if (error instanceof DOMException && error.name === 'TimeoutError') return new DnsError(`No answer from the DNS server ${where} within ${timeoutMs} ms`);
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ECONNREFUSED') return new DnsError(`The DNS server ${where} refused the connection: nothing listens there`);
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new DnsError(`Cannot resolve the DNS server name "${server.host}"`);
  return new DnsError(`Cannot reach the DNS server ${where}: ${(error as Error).message}`);
}

/**
 * Sends one encoded message and returns the raw reply: over UDP, then over TCP when the reply is
 * truncated, or over TCP only when `tcp` is set (updates, whose answers are not worth a retry).
 */
async function exchange(server: DnsServer, request: Buffer, options: QueryOptions & { tcp?: boolean }): Promise<Buffer> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const deadline = AbortSignal.timeout(timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, deadline]) : deadline;
  try {
    const { address, family } = await resolveAddress(server.host, signal);
    if (!options.tcp) {
      const reply = await udpExchange(address, family, server.port, request, signal);
      const truncated = ((reply[2] ?? 0) & 0x02) !== 0;
      if (!truncated) return reply;
    }
    const reply = await tcpExchange(address, server.port, request, signal);
    if (reply.length < 12 || reply.readUInt16BE(0) !== request.readUInt16BE(0)) throw new DnsError('The DNS server answered another request over TCP');
    return reply;
  } catch (error) {
    throw transportError(error, server, options, timeoutMs);
  }
}

/** Sends a message, signed with `options.tsig` when given, and decodes (and verifies) the reply. */
async function send(server: DnsServer, message: Buffer, options: QueryOptions & { tcp?: boolean }): Promise<DnsMessage> {
  if (!options.tsig) return decodeMessage(await exchange(server, message, options));
  const signed = signMessage(message, options.tsig);
  const reply = await exchange(server, signed.message, options);
  const decoded = decodeMessage(reply);
  verifyResponse(reply, decoded, options.tsig, signed.mac);
  return decoded;
}

// ---------------------------------------------------------------------------------------------
// Queries

/** Asks `server` one question (without recursion: it is meant for authoritative servers) and returns the whole reply. */
export function queryMessage(server: DnsServer, name: string, type: QueryType, options: QueryOptions = {}): Promise<DnsMessage> {
  const message = encodeMessage({ id: randomId(), questions: [{ name, type, class: 'IN' }] });
  return send(server, message, options);
}

function presentation(record: ResourceRecord): string {
  switch (record.type) {
    case 'A':
    case 'NS':
    case 'CNAME':
      return record.data;
    case 'SOA': {
      const { mname, rname, serial, refresh, retry, expire, minimum } = record.data;
      return `${mname} ${rname} ${serial} ${refresh} ${retry} ${expire} ${minimum}`;
    }
    case 'TXT':
      return txtValue(record);
    default:
      return '';
  }
}

/**
 * The `type` records `server` answers for `name`, in presentation form: TXT values with their
 * character-strings joined, addresses, target names without the trailing dot, SOA fields separated
 * by spaces. Records the server added by following a CNAME are included (authoritative servers
 * follow them only within their own zones). No such name or no such records: an empty list.
 *
 * @throws DnsError when the server fails (SERVFAIL, REFUSED…), does not answer in time or cannot be reached.
 */
export async function queryRecords(server: DnsServer, name: string, type: QueryType, options: QueryOptions = {}): Promise<string[]> {
  const reply = await queryMessage(server, name, type, options);
  const { rcode } = reply.flags;
  if (rcode !== RCODE.NOERROR && rcode !== RCODE.NXDOMAIN) {
    throw new DnsError(`The DNS server ${describeServer(server)} answered ${rcodeName(rcode)} for ${name} ${type}`);
  }
  return reply.answers.filter((record) => record.type === type).map(presentation);
}

const isWithin = (name: string, zone: string): boolean => name === zone || name.endsWith(`.${zone}`);

/** "a.b.c" → "b.c"; a single label → "" (the root, which is never asked). */
const parentName = (name: string): string => (name.includes('.') ? name.slice(name.indexOf('.') + 1) : '');

/**
 * The zone holding `fqdn` on `server`: asks for the SOA of the name, then of each parent, until the
 * server answers authoritatively with the SOA of a zone that contains the name (in the answer for an
 * apex, in the authority section for a name below one).
 *
 * @throws DnsError when no zone on the server contains the name, or the server cannot be asked.
 */
export async function findZone(server: DnsServer, fqdn: string, options: QueryOptions = {}): Promise<string> {
  const target = normalizeName(fqdn);
  for (let name = target; name !== ''; name = parentName(name)) {
    const reply = await queryMessage(server, name, 'SOA', options);
    const soa = [...reply.answers, ...reply.authorities].find((record) => record.type === 'SOA' && isWithin(target, normalizeName(record.name)));
    if (soa && reply.flags.aa) return normalizeName(soa.name);
  }
  throw new DnsError(`The DNS server ${describeServer(server)} has no zone containing ${target}`);
}

// ---------------------------------------------------------------------------------------------
// The provider

const schema = z.object({
  nameserver: z.string().trim().min(1).describe('DNS server that takes the dynamic updates: host name or IP address'),
  port: z.number().int().min(1).max(65535).default(53).describe('Port of the DNS server'),
  tsig_key_name: z.string().trim().min(1).describe('Name of the TSIG key, as configured on the server'),
  tsig_algorithm: z.enum(TSIG_ALGORITHMS).default('hmac-sha256').describe('HMAC algorithm of the TSIG key'),
  tsig_secret: z.base64().min(1).describe('Secret of the TSIG key, base64-encoded'),
  zone: z
    .string()
    .trim()
    .min(1)
    .nullable()
    .default(null)
    .describe('Zone to update; when empty, found by asking the server for the SOA of the record name and its parents'),
});

/** Attributes of an `rfc2136` authenticator. */
export type Rfc2136Attributes = z.output<typeof schema>;

const UPDATE_FAILURES: Partial<Record<number, (zone: string) => string>> = {
  [RCODE.FORMERR]: () => 'The server could not parse the update (FORMERR)',
  [RCODE.SERVFAIL]: (zone) => `The server failed to update zone ${zone} (SERVFAIL)`,
  [RCODE.NXDOMAIN]: (zone) => `The server reports that a name in zone ${zone} does not exist (NXDOMAIN)`,
  [RCODE.NOTIMP]: () => 'The server does not support dynamic updates (NOTIMP)',
  [RCODE.REFUSED]: (zone) => `The server refused the update (REFUSED): the key may not update zone ${zone}`,
  [RCODE.NOTAUTH]: (zone) => `The server is not authoritative for zone ${zone} (NOTAUTH)`,
  [RCODE.NOTZONE]: (zone) => `The record is outside zone ${zone} (NOTZONE)`,
};

class Rfc2136Provider implements DnsProvider {
  private readonly server: DnsServer;
  private readonly key: TsigKey;

  constructor(
    private readonly attributes: Rfc2136Attributes,
    private readonly context: ProviderContext,
  ) {
    this.server = { host: attributes.nameserver, port: attributes.port };
    this.key = { name: attributes.tsig_key_name, algorithm: attributes.tsig_algorithm, secret: Buffer.from(attributes.tsig_secret, 'base64') };
  }

  createTxt(fqdn: string, value: string, signal?: AbortSignal): Promise<void> {
    return this.update(fqdn, { name: fqdn, type: 'TXT', class: 'IN', ttl: CHALLENGE_TTL, data: txtStrings(value) }, signal);
  }

  deleteTxt(fqdn: string, value: string, signal?: AbortSignal): Promise<void> {
    // Class NONE deletes this one value only (RFC 2136 §2.5.4); a missing value is not an error.
    return this.update(fqdn, { name: fqdn, type: 'TXT', class: 'NONE', ttl: 0, data: txtStrings(value) }, signal);
  }

  /**
   * With a configured zone, a signed UPDATE whose only content is the prerequisite "the apex exists":
   * it changes nothing but proves the key may update the zone. Without one, a signed query whose
   * signed answer (whatever it says) proves the server knows the key and its secret.
   */
  verify(signal?: AbortSignal): Promise<void> {
    return providerErrors(async () => {
      const { zone } = this.attributes;
      if (zone === null) {
        await queryMessage(this.server, '.', 'SOA', this.options(signal));
        return;
      }
      const apexInUse: RecordInput = { name: zone, type: 'ANY', class: 'ANY', ttl: 0, data: Buffer.alloc(0) };
      await this.sendUpdate(normalizeName(zone), encodeMessage({ ...this.updateHeader(zone), answers: [apexInUse] }), signal);
    });
  }

  async authoritativeServers(): Promise<DnsServer[]> {
    return [this.server];
  }

  private options(signal: AbortSignal | undefined): QueryOptions {
    return { timeoutMs: this.context.timeoutMs, signal, tsig: this.key };
  }

  private updateHeader(zone: string): MessageInput {
    return { id: randomId(), flags: { opcode: OPCODE.UPDATE }, questions: [{ name: zone, type: 'SOA', class: 'IN' }] };
  }

  private update(fqdn: string, record: RecordInput, signal: AbortSignal | undefined): Promise<void> {
    return providerErrors(async () => {
      const zone = this.attributes.zone ? normalizeName(this.attributes.zone) : await findZone(this.server, fqdn, this.options(signal));
      await this.sendUpdate(zone, encodeMessage({ ...this.updateHeader(zone), authorities: [record] }), signal);
    });
  }

  private async sendUpdate(zone: string, message: Buffer, signal: AbortSignal | undefined): Promise<void> {
    const reply = await send(this.server, message, { ...this.options(signal), tcp: true });
    const { rcode } = reply.flags;
    if (rcode === RCODE.NOERROR) return;
    throw new DnsError(UPDATE_FAILURES[rcode]?.(zone) ?? `The server rejected the update (${rcodeName(rcode)})`);
  }
}

/** Reports DNS failures as the provider's errors; aborts and programming errors pass through. */
async function providerErrors<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw error instanceof DnsError ? new DnsProviderError(rfc2136.key, error.message) : error;
  }
}

/** The `rfc2136` provider definition. */
export const rfc2136: ProviderDefinition<typeof schema> = {
  key: 'rfc2136',
  label: 'RFC 2136 dynamic update (BIND, Knot, PowerDNS…) with TSIG',
  schema,
  secretFields: ['tsig_secret'],
  create: (attributes, context) => new Rfc2136Provider(attributes, context),
};
