/**
 * Where a DNS-01 challenge record goes and when it is visible, asked of the zone's own
 * authoritative servers, never of a caching resolver: a resolver that cached "no such record" keeps
 * saying so for the zone's negative TTL, while the CA asks the authoritative servers (RFC 8555 §8.4).
 * The resolver only finds those servers' names and addresses (and, as a last resort, CNAMEs).
 */
import dns from 'node:dns';
import { Resolver } from 'node:dns/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { DnsError, normalizeName, RCODE } from '../dns/dns-message.js';
import type { DnsProvider } from '../dns/provider.js';
import { queryMessage, queryRecords, type DnsServer } from '../dns/rfc2136.js';
import type { PropagationMode } from './entities.js';

/** One query to one server; the propagation deadline bounds the whole wait. */
const QUERY_TIMEOUT_MS = 5_000;
/** The resolver's first try; c-ares doubles it for the second. */
const RESOLVER_TIMEOUT_MS = 2_000;
const RESOLVER_TRIES = 2;
/** One whole lookup (a zone's name servers, one CNAME), however many labels and servers it asks. */
const LOOKUP_TIMEOUT_MS = 15_000;
/** Longer chains are broken configurations (RFC 1034 §3.6.2 discourages chains at all). */
const MAX_CNAME_HOPS = 8;
const FIRST_POLL_MS = 250;
const MAX_POLL_MS = 5_000;
const LAST_QUERY_MS = 500;

/** How issuance waits for a record, from the authenticator's settings. */
export interface PropagationSettings {
  mode: PropagationMode;
  timeoutSeconds: number;
  delaySeconds: number;
}

/** One authoritative server of a zone: its name and every address it has (A and AAAA). */
export interface NameServer {
  name: string;
  addresses: DnsServer[];
}

/** A record did not become visible, or the servers to ask could not be found. */
export class PropagationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PropagationError';
  }
}

const describeServer = (server: DnsServer): string => (server.host.includes(':') ? `[${server.host}]:${server.port}` : `${server.host}:${server.port}`);
const parentOf = (name: string): string => name.slice(name.indexOf('.') + 1);

/** Rejects with the signal's reason once it aborts; for the resolver, which takes no signal. */
function abortable<T>(work: Promise<T>, signal: AbortSignal | undefined, onAbort: () => void): Promise<T> {
  if (!signal) return work;
  return new Promise((resolve, reject) => {
    const abort = (): void => (onAbort(), reject(signal.reason));
    if (signal.aborted) return abort();
    signal.addEventListener('abort', abort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', abort));
  });
}

/**
 * Runs `work` with a signal that also aborts after `ms`; running out of time becomes a
 * PropagationError naming `what`, the caller's own abort passes through as is.
 */
async function withinTime<T>(ms: number, what: string, signal: AbortSignal | undefined, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const deadline = AbortSignal.timeout(ms);
  try {
    return await work(signal ? AbortSignal.any([signal, deadline]) : deadline);
  } catch (error) {
    if (deadline.aborted && !signal?.aborted) throw new PropagationError(`${what} took longer than ${ms / 1000} s`);
    throw error;
  }
}

/**
 * A resolver asking the process's DNS servers: the system's (resolv.conf), or those the process
 * set with `dns.setServers` (the tests point them at the harness BIND). `new Resolver()` alone
 * would read resolv.conf and ignore the latter.
 */
function processResolver(): Resolver {
  const resolver = new Resolver({ timeout: RESOLVER_TIMEOUT_MS, tries: RESOLVER_TRIES });
  resolver.setServers(dns.getServers());
  return resolver;
}

/** "No such name" and "no such record" are answers, not failures. */
const isNoData = (error: NodeJS.ErrnoException): boolean => error.code === 'ENODATA' || error.code === 'ENOTFOUND';

/**
 * The authoritative servers of the zone holding `name`, from its closest NS record set, each with
 * its addresses; a server without any is left out. The resolver only finds the servers' names and
 * addresses; the records are asked of them.
 */
async function lookupNameservers(name: string, signal: AbortSignal): Promise<NameServer[]> {
  const resolver = processResolver();
  const ask = <T>(work: Promise<T>) => abortable(work, signal, () => resolver.cancel());
  const addressesOf = async (host: string): Promise<DnsServer[]> => {
    const lookups = [resolver.resolve4(host), resolver.resolve6(host)].map((lookup) =>
      ask(lookup).catch((error: unknown) => {
        if (signal.aborted) throw error;
        return [] as string[];
      }),
    );
    const found = await Promise.all(lookups);
    return found.flat().map((address) => ({ host: address, port: 53 }));
  };
  for (let zone = name; zone.includes('.'); zone = parentOf(zone)) {
    const hosts = await ask(resolver.resolveNs(zone)).catch((error: NodeJS.ErrnoException) => {
      if (signal.aborted) throw signal.reason;
      if (isNoData(error)) return [];
      throw new PropagationError(`Cannot look up the name servers of ${zone}: ${error.message}`);
    });
    if (hosts.length === 0) continue;
    // Sorted, so that messages name them in the same order every time.
    const nameServers = await Promise.all(hosts.sort().map(async (host) => ({ name: normalizeName(host), addresses: await addressesOf(host) })));
    const reachable = nameServers.filter((nameServer) => nameServer.addresses.length > 0);
    if (reachable.length === 0) throw new PropagationError(`Cannot find the addresses of the name servers of ${zone} (${hosts.join(', ')})`);
    return reachable;
  }
  throw new PropagationError(`No zone with name servers contains ${name}`);
}

/** The servers to poll for `fqdn`: those the provider knows (rfc2136: its server), else the zone's NS set. */
async function serversToPoll(provider: DnsProvider, fqdn: string, signal: AbortSignal | undefined): Promise<NameServer[]> {
  const known = await provider.authoritativeServers?.(fqdn);
  if (known && known.length > 0) return known.map((server) => ({ name: describeServer(server), addresses: [server] }));
  return withinTime(LOOKUP_TIMEOUT_MS, `Looking up the name servers of ${fqdn}`, signal, (bounded) => lookupNameservers(fqdn, bounded));
}

/** The first answer any of `servers` gives; all failing, the last failure. */
async function askAny<T>(servers: readonly DnsServer[], ask: (server: DnsServer) => Promise<T>): Promise<T> {
  let failure: unknown = new PropagationError('No DNS server to ask');
  for (const server of servers) {
    try {
      return await ask(server);
    } catch (error) {
      if (!(error instanceof DnsError)) throw error;
      failure = error;
    }
  }
  throw failure;
}

/** The CNAME targets `server` answers for `name`, only if it answers for the zone (AA set): a referral or cached answer says nothing. */
async function authoritativeCnames(server: DnsServer, name: string, signal: AbortSignal): Promise<string[]> {
  const reply = await queryMessage(server, name, 'CNAME', { timeoutMs: QUERY_TIMEOUT_MS, signal });
  const { rcode, aa } = reply.flags;
  if ((rcode !== RCODE.NOERROR && rcode !== RCODE.NXDOMAIN) || !aa) throw new DnsError(`The DNS server ${describeServer(server)} gave no authoritative answer for ${name} CNAME`);
  return reply.answers.flatMap((record) => (record.type === 'CNAME' && normalizeName(record.name) === name ? [record.data] : []));
}

/** The CNAME target of `name` as the resolver has it; null when it has none. */
async function resolverCname(name: string, signal: AbortSignal): Promise<string | null> {
  const resolver = processResolver();
  const targets = await abortable(resolver.resolveCname(name), signal, () => resolver.cancel()).catch((error: NodeJS.ErrnoException) => {
    if (signal.aborted) throw signal.reason;
    if (isNoData(error)) return [];
    throw new PropagationError(`Cannot look up the CNAME of ${name}: ${error.message}`);
  });
  return targets[0] === undefined ? null : normalizeName(targets[0]);
}

/**
 * The CNAME target of `name`, or null when it has none: asked of its zone's own servers, found
 * through the resolver as the CA finds them. When those servers cannot be asked (a network that
 * lets DNS out only through its resolver, servers on addresses not reachable from here), the
 * resolver itself is asked. Never the DNS provider's server, which rarely serves the user's main zone.
 *
 * @throws PropagationError when the resolver finds no zone for `name` or fails.
 */
async function cnameOf(name: string, signal: AbortSignal): Promise<string | null> {
  const servers = (await lookupNameservers(name, signal)).flatMap((nameServer) => nameServer.addresses);
  try {
    const [target] = await askAny(servers, (server) => authoritativeCnames(server, name, signal));
    return target === undefined ? null : normalizeName(target);
  } catch (error) {
    if (signal.aborted || !(error instanceof DnsError)) throw error;
  }
  return resolverCname(name, signal);
}

/**
 * The name the challenge TXT record of `domain` is published at: `_acme-challenge.<domain>`
 * (RFC 8555 §8.4), or where its CNAME chain leads, since CAs follow CNAMEs and a delegated
 * `_acme-challenge` name is how users keep DNS credentials for their main zone off this system.
 *
 * Following the chain is best effort: a lookup that fails or takes too long (an internal name no
 * resolver here knows, a resolver that is down) ends it at the name reached so far. Publishing
 * then goes ahead there, and only `check` mode, which needs servers to poll, may fail on such a
 * name. A loop or an overlong chain is an answer, not a failed lookup, and is reported.
 *
 * @throws PropagationError for a CNAME loop or a chain longer than MAX_CNAME_HOPS; the signal's reason on abort.
 */
export async function challengeRecordName(domain: string, signal?: AbortSignal): Promise<string> {
  let name = normalizeName(`_acme-challenge.${domain}`);
  const seen = new Set<string>([name]);
  for (;;) {
    const current = name;
    const target = await withinTime(LOOKUP_TIMEOUT_MS, `Looking up the CNAME of ${current}`, signal, (bounded) => cnameOf(current, bounded)).catch((error: unknown) => {
      if (signal?.aborted) throw signal.reason;
      if (!(error instanceof PropagationError || error instanceof DnsError)) throw error;
      return null;
    });
    if (target === null) return name;
    if (seen.has(target)) throw new PropagationError(`The CNAME records of _acme-challenge.${domain} form a loop`);
    if (seen.size > MAX_CNAME_HOPS) throw new PropagationError(`The CNAME chain of _acme-challenge.${domain} is longer than ${MAX_CNAME_HOPS} records`);
    seen.add(target);
    name = target;
  }
}

/** A name server that did not show the value in one poll, and why (one reason per address). */
type Miss = { state: 'lacks' | 'silent'; reasons: string[] };
/** What one name server said in one poll. */
type Sighting = { state: 'shows' } | Miss;

/**
 * Asks every address of `nameServer` at once for the TXT records of `fqdn`. It shows `value` as
 * soon as one address answers with it (the other queries are dropped); it `lacks` it when an
 * address answered without it; it is `silent` when no address answered at all (connection
 * refused, unreachable, timed out, or a failure code such as SERVFAIL).
 */
async function look(nameServer: NameServer, fqdn: string, value: string, timeoutMs: number, signal: AbortSignal | undefined): Promise<Sighting> {
  const found = new AbortController();
  const querySignal = signal ? AbortSignal.any([signal, found.signal]) : found.signal;
  const answers = await Promise.all(
    nameServer.addresses.map(async (address) => {
      try {
        if ((await queryRecords(address, fqdn, 'TXT', { timeoutMs, signal: querySignal })).includes(value)) found.abort();
        return { answered: true, reason: `${describeServer(address)} answers without the value` };
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        if (found.signal.aborted) return { answered: true, reason: '' };
        if (!(error instanceof DnsError)) throw error;
        return { answered: false, reason: error.message };
      }
    }),
  );
  if (found.signal.aborted) return { state: 'shows' };
  return { state: answers.some((answer) => answer.answered) ? 'lacks' : 'silent', reasons: answers.map((answer) => answer.reason) };
}

/** "ns1.example.com (reason; reason)", or just the reason for a server named by its only address. */
function describeMiss(nameServer: NameServer, { reasons }: Miss): string {
  const [only] = nameServer.addresses;
  if (nameServer.addresses.length === 1 && only && describeServer(only) === nameServer.name) return reasons.join('; ');
  return `${nameServer.name} (${reasons.join('; ')})`;
}

/**
 * Polls `nameServers` until `value` shows at `fqdn`: a server counts once any of its addresses
 * answers with it. A server none of whose addresses answers at all does not hold the wait up once
 * another server shows the value (CAs move on to the next server when one does not answer, and an
 * IPv6 address cannot answer on a host without IPv6); every server that does answer must agree.
 *
 * @throws PropagationError after `timeoutSeconds`, naming each server that did not show it and why.
 */
export async function waitUntilVisible(nameServers: readonly NameServer[], fqdn: string, value: string, timeoutSeconds: number, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  const pending = new Map<NameServer, Miss>(nameServers.map((nameServer) => [nameServer, { state: 'silent', reasons: ['not asked'] }]));
  let shown = 0;
  for (let pause = FIRST_POLL_MS; ; pause = Math.min(pause * 2, MAX_POLL_MS)) {
    // The last look at the deadline still gets a fair chance to answer.
    const timeoutMs = Math.min(QUERY_TIMEOUT_MS, Math.max(LAST_QUERY_MS, deadline - Date.now()));
    const sightings = await Promise.all([...pending.keys()].map(async (nameServer) => [nameServer, await look(nameServer, fqdn, value, timeoutMs, signal)] as const));
    for (const [nameServer, sighting] of sightings) {
      if (sighting.state === 'shows') {
        pending.delete(nameServer);
        shown += 1;
      } else {
        pending.set(nameServer, sighting);
      }
    }
    if (pending.size === 0 || (shown > 0 && [...pending.values()].every((miss) => miss.state === 'silent'))) return;
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      const names = [...pending.keys()].map((nameServer) => nameServer.name).join(', ');
      const why = [...pending].map(([nameServer, miss]) => describeMiss(nameServer, miss)).join('; ');
      throw new PropagationError(`The TXT record ${fqdn} did not appear on ${names} within ${timeoutSeconds} s: ${why}`);
    }
    await sleep(Math.min(pause, remaining), undefined, { signal });
  }
}

/**
 * Waits until `value` is visible at `fqdn` as configured: `check` polls the authoritative servers
 * until they show it (failing after `timeoutSeconds`), `delay` sleeps `delaySeconds`, `off`
 * returns. Only `check` looks anything up.
 */
export async function waitForPropagation(provider: DnsProvider, fqdn: string, value: string, settings: PropagationSettings, signal?: AbortSignal): Promise<void> {
  if (settings.mode === 'off') return;
  if (settings.mode === 'delay') {
    await sleep(settings.delaySeconds * 1000, undefined, { signal });
    return;
  }
  // Without servers to poll there is nothing to check; waiting blind instead would hide a name the
  // CA cannot resolve either, and `delay` exists for names (and scripts) with no servers to poll.
  const nameServers = await serversToPoll(provider, fqdn, signal).catch((error: unknown) => {
    if (signal?.aborted) throw signal.reason;
    if (!(error instanceof PropagationError)) throw error;
    throw new PropagationError(`Cannot check that the TXT record ${fqdn} is visible (${error.message}); propagation mode "delay" or "off" does without that check`);
  });
  await waitUntilVisible(nameServers, fqdn, value, settings.timeoutSeconds, signal);
}
