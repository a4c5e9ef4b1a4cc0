import type { z } from 'zod';

/**
 * One DNS provider's way of publishing and removing the TXT records of ACME DNS-01 challenges
 * (RFC 8555 §8.4). Every network call honours `signal` and has its own timeout, so no call hangs.
 */
export interface DnsProvider {
  /** Publishes TXT `value` at `fqdn` (e.g. "_acme-challenge.example.com", no trailing dot). Other values at that name stay. */
  createTxt(fqdn: string, value: string, signal?: AbortSignal): Promise<void>;
  /** Removes TXT `value` at `fqdn`; removing a record that is not there is not an error. */
  deleteTxt(fqdn: string, value: string, signal?: AbortSignal): Promise<void>;
  /** Checks the credentials (and, where the API allows, access to zones) without changing anything. */
  verify(signal?: AbortSignal): Promise<void>;
  /**
   * The servers to ask when checking that a record is visible, when the provider knows them better
   * than an NS lookup would (rfc2136: the configured server). Null: look up the zone's NS records.
   */
  authoritativeServers?(fqdn: string): Promise<Array<{ host: string; port: number }> | null>;
}

/** Options every provider gets from the daemon. */
export interface ProviderContext {
  /** Per-request timeout in milliseconds. */
  timeoutMs: number;
  /** Overrides the provider's API base URL (tests point it at a local server speaking that API). */
  baseUrl?: string;
  /** `fetch` to use; defaults to the global one. */
  fetch?: typeof fetch;
}

/** A provider type: its key (as `attributes.authenticator`), attribute schema and factory. */
export interface ProviderDefinition<S extends z.ZodObject = z.ZodObject> {
  /** The `authenticator` value, e.g. "cloudflare", "route53", "rfc2136". */
  key: string;
  /** Human name for the web page. */
  label: string;
  /** The `attributes` object without `authenticator`; every field described. */
  schema: S;
  /** Attributes that are secrets: encrypted at rest, shown as "********" to readers. */
  secretFields: readonly string[];
  create(attributes: z.output<S>, context: ProviderContext): DnsProvider;
}

/** A failure talking to a provider, with the provider's own words (never credentials). */
export class DnsProviderError extends Error {
  constructor(
    readonly provider: string,
    message: string,
    readonly status?: number,
  ) {
    super(`${provider}: ${message}`);
    this.name = 'DnsProviderError';
  }
}
