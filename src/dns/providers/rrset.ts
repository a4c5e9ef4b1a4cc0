/**
 * Helpers shared by the HTTP DNS providers: TXT presentation format, finding the zone that holds a
 * name, reading API answers, and serialising read-modify-write of one record set.
 */
import type { z } from 'zod';
import { candidateZones, type HttpRequest, type HttpResponse } from '../http.js';
import { DnsProviderError } from '../provider.js';

/** A request to a provider's API: a path under its base URL instead of a full URL. */
export type ApiRequest = Omit<HttpRequest, 'url'> & { path: string };

/** A TXT value in zone-file presentation format: one quoted character-string (RFC 1035 §5.1). */
export function quoteTxt(value: string): string {
  return `"${value.replace(/[\\"]/g, '\\$&')}"`;
}

/** The value a TXT content stands for: a quoted string unescaped, bare text (as some APIs hold it) as is. */
export function unquoteTxt(content: string): string {
  const quoted = /^"((?:[^"\\]|\\.)*)"$/.exec(content.trim());
  return quoted ? (quoted[1] ?? '').replace(/\\(.)/g, '$1') : content.trim();
}

/** Whether TXT contents, quoted or bare as the API holds them, include `value`. */
export function hasTxt(contents: readonly string[], value: string): boolean {
  return contents.some((content) => unquoteTxt(content) === value);
}

/** True for a 2xx status. */
export function isOk(response: HttpResponse): boolean {
  return response.status >= 200 && response.status < 300;
}

/** The JSON body in the shape `schema` expects; any other shape is reported as the provider's fault. */
export function answer<S extends z.ZodType>(provider: string, response: HttpResponse, schema: S): z.output<S> {
  const parsed = schema.safeParse(response.json);
  if (!parsed.success) throw new DnsProviderError(provider, `unexpected answer from the API (HTTP ${response.status})`, response.status);
  return parsed.data;
}

/** The zones that may hold `fqdn`, most specific first, itself included: a delegated challenge may sit at a zone apex. */
function zonesFor(fqdn: string): string[] {
  return [fqdn.replace(/\.$/, '').toLowerCase(), ...candidateZones(fqdn)];
}

/** The most specific zone among `zones` (lower-case names from the provider's listing) that holds `fqdn`. */
export function pickZone(provider: string, fqdn: string, zones: ReadonlySet<string>): string {
  const zone = zonesFor(fqdn).find((candidate) => zones.has(candidate));
  if (!zone) throw new DnsProviderError(provider, `no zone in this account holds ${fqdn}`);
  return zone;
}

/** Asks `probe` about each zone that may hold `fqdn`, most specific first; the first answer wins. */
export async function probeZones<T>(provider: string, fqdn: string, probe: (zone: string) => Promise<T | undefined>): Promise<T> {
  for (const candidate of zonesFor(fqdn)) {
    const zone = await probe(candidate);
    if (zone !== undefined) return zone;
  }
  throw new DnsProviderError(provider, `no zone in this account holds ${fqdn}`);
}

/**
 * Runs tasks with the same key one after another. APIs that only replace whole record sets lose a
 * value when two challenges for one name (apex and wildcard) read and write the set at once.
 */
export class KeyedSerializer {
  private readonly tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const result = (this.tails.get(key) ?? Promise.resolve()).then(task, task);
    const tail = result.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return result;
  }
}
