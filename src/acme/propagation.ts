/**
 * Where a DNS-01 challenge record goes and when it is visible, asked of the zone's own
 * authoritative servers, never of a caching resolver: a resolver that cached "no such record" keeps
 * saying so for the zone's negative TTL, while the CA asks the authoritative servers (RFC 8555 §8.4).
 */
import { Resolver } from 'node:dns/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { DnsError, normalizeName } from '../dns/dns-message.js';
import type { DnsProvider } from '../dns/provider.js';
import { queryRecords, type DnsServer } from '../dns/rfc2136.js';
import type { PropagationMode } from './entities.js';

/** One query to one server; the propagation deadline bounds the whole wait. */
const QUERY_TIMEOUT_MS = 5_000;
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

/** A record did not become visible, or the servers to ask could not be found. */
export class PropagationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PropagationError';
  }
}

const listServers = (servers: readonly DnsServer[]): string => servers.map((s) => (s.host.includes(':') ? `[${s.host}]:${s.port}` : `${s.host}:${s.port}`)).join(', ');
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
 * The authoritative servers of the zone holding `name`, from its closest NS record set. The
 * system resolver only finds the servers' names and addresses; the records are asked of them.
 */
async function lookupNameservers(name: string, signal?: AbortSignal): Promise<DnsServer[]> {
  const resolver = new Resolver({ timeout: QUERY_TIMEOUT_MS, tries: 2 });
  const ask = <T>(work: Promise<T>) => abortable(work, signal, () => resolver.cancel());
  for (let zone = name; zone.includes('.'); zone = parentOf(zone)) {
    const hosts = await ask(resolver.resolveNs(zone)).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENODATA' || error.code === 'ENOTFOUND') return [];
      throw new PropagationError(`Cannot look up the name servers of ${zone}: ${error.message}`);
    });
    if (hosts.length === 0) continue;
    const addresses = await Promise.all(hosts.flatMap((host) => [resolver.resolve4(host), resolver.resolve6(host)].map((lookup) => ask(lookup).catch(() => [] as string[]))));
    const servers = addresses.flat().map((host) => ({ host, port: 53 }));
    if (servers.length === 0) throw new PropagationError(`Cannot find the addresses of the name servers of ${zone} (${hosts.join(', ')})`);
    return servers;
  }
  throw new PropagationError(`No zone with name servers contains ${name}`);
}

/** The servers to ask about `name`: those the provider knows (rfc2136: its server), else the zone's NS set. */
export async function authoritativeServers(provider: DnsProvider, name: string, signal?: AbortSignal): Promise<DnsServer[]> {
  const known = await provider.authoritativeServers?.(name);
  return known && known.length > 0 ? known : lookupNameservers(name, signal);
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

/**
 * The name the challenge TXT record of `domain` is published at: `_acme-challenge.<domain>`
 * (RFC 8555 §8.4), or where its CNAME chain leads, since CAs follow CNAMEs and a delegated
 * `_acme-challenge` name is how users keep DNS credentials for their main zone off this system.
 */
export async function challengeRecordName(provider: DnsProvider, domain: string, signal?: AbortSignal): Promise<string> {
  let name = normalizeName(`_acme-challenge.${domain}`);
  const seen = new Set<string>();
  while (seen.size <= MAX_CNAME_HOPS) {
    seen.add(name);
    const current = name;
    const servers = await authoritativeServers(provider, current, signal);
    const [target] = await askAny(servers, (server) => queryRecords(server, current, 'CNAME', { timeoutMs: QUERY_TIMEOUT_MS, signal }));
    if (target === undefined) return name;
    name = normalizeName(target);
    if (seen.has(name)) throw new PropagationError(`The CNAME records of _acme-challenge.${domain} form a loop`);
  }
  throw new PropagationError(`The CNAME chain of _acme-challenge.${domain} is longer than ${MAX_CNAME_HOPS} records`);
}

/**
 * Waits until `value` is visible at `fqdn` as configured: `check` polls every authoritative server
 * until each answers it (failing after `timeoutSeconds`), `delay` sleeps `delaySeconds`, `off` returns.
 */
export async function waitForPropagation(provider: DnsProvider, fqdn: string, value: string, settings: PropagationSettings, signal?: AbortSignal): Promise<void> {
  if (settings.mode === 'off') return;
  if (settings.mode === 'delay') {
    await sleep(settings.delaySeconds * 1000, undefined, { signal });
    return;
  }
  const servers = await authoritativeServers(provider, fqdn, signal);
  const deadline = Date.now() + settings.timeoutSeconds * 1000;
  const pending = new Set(servers);
  for (let pause = FIRST_POLL_MS; ; pause = Math.min(pause * 2, MAX_POLL_MS)) {
    let lastError = '';
    for (const server of [...pending]) {
      // The last look at the deadline still gets a fair chance to answer.
      const timeoutMs = Math.min(QUERY_TIMEOUT_MS, Math.max(LAST_QUERY_MS, deadline - Date.now()));
      try {
        if ((await queryRecords(server, fqdn, 'TXT', { timeoutMs, signal })).includes(value)) pending.delete(server);
      } catch (error) {
        // A server that fails now may answer at the next poll; a failure in the last round explains a timeout.
        if (!(error instanceof DnsError)) throw error;
        lastError = `; last error: ${error.message}`;
      }
    }
    if (pending.size === 0) return;
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      throw new PropagationError(`The TXT record ${fqdn} did not appear on ${listServers([...pending])} within ${settings.timeoutSeconds} s${lastError}`);
    }
    await sleep(Math.min(pause, remaining), undefined, { signal });
  }
}
