import { z } from 'zod';
import { candidateZones, httpCall } from '../http.js';
import { DnsProviderError, type DnsProvider, type ProviderContext, type ProviderDefinition } from '../provider.js';

const KEY = 'cloudflare';
const BASE_URL = 'https://api.cloudflare.com/client/v4';
/** Short enough for a retried challenge to see a new value soon; Cloudflare's minimum is 60 (1 = automatic). */
const TTL = 120;
/** Zones list caps `per_page` at 50 (API reference, "List Zones"). */
const PER_PAGE = 50;
/** "An identical record already exists." (DNS records API error codes). */
const IDENTICAL_RECORD = 81058;

const schema = z.object({
  cloudflare_email: z.string().min(1).nullable().default(null).describe('Cloudflare Email'),
  api_key: z.string().min(1).nullable().default(null).describe('API Key'),
  api_token: z.string().min(1).nullable().default(null).describe('API Token'),
});

/** Parsed cloudflare attributes: TrueNAS's names, each null when not given. */
export type CloudflareAttributes = z.output<typeof schema>;

/**
 * TrueNAS's `validate_credentials` for cloudflare: an API token alone, or an
 * e-mail with a Global API Key. Attribute names are bare, as TrueNAS raises them.
 */
export function validateCloudflare(attributes: CloudflareAttributes): Array<[string, string]> {
  const errors: Array<[string, string]> = [];
  if (attributes.api_token) {
    if (attributes.cloudflare_email) errors.push(['cloudflare_email', 'Should not be specified when using "api_token".']);
    if (attributes.api_key) errors.push(['api_key', 'Should not be specified when using "api_token".']);
  } else if (attributes.cloudflare_email || attributes.api_key) {
    if (!attributes.cloudflare_email) {
      errors.push(['cloudflare_email', 'Attribute is required when using a Global API Key (should be associated with Cloudflare account).']);
    }
    if (!attributes.api_key) errors.push(['api_key', 'Attribute is required when using a Global API Key.']);
  } else {
    errors.push(['api_token', 'Attribute must be specified when Global API Key is not specified.']);
  }
  return errors;
}

interface CloudflareMessage {
  code: number;
  message: string;
  error_chain?: Array<{ code: number; message: string }>;
}

/** Every v4 answer is this envelope (API reference, "Response format"). */
interface Envelope<T> {
  success: boolean;
  errors?: CloudflareMessage[];
  result: T;
  result_info?: { page: number; total_pages: number };
}

interface Zone {
  id: string;
  name: string;
  status: string;
}

interface DnsRecord {
  id: string;
  type: string;
  name: string;
  content: string;
}

type Query = Record<string, string>;

class CloudflareError extends DnsProviderError {
  constructor(
    message: string,
    status: number,
    readonly codes: number[],
  ) {
    super(KEY, message, status);
  }
}

function describeErrors(errors: CloudflareMessage[]): string {
  return errors
    .flatMap((error) => [`${error.message} (${error.code})`, ...(error.error_chain ?? []).map((link) => `${link.message} (${link.code})`)])
    .join('; ');
}

/** Cloudflare API v4 client for DNS-01: zones by name, TXT records created and deleted one by one. */
class CloudflareDns implements DnsProvider {
  private readonly baseUrl: string;
  private readonly auth: Record<string, string>;

  constructor(
    private readonly attributes: CloudflareAttributes,
    private readonly context: ProviderContext,
  ) {
    this.baseUrl = (context.baseUrl ?? BASE_URL).replace(/\/$/, '');
    this.auth = authHeaders(attributes);
  }

  async createTxt(fqdn: string, value: string, signal?: AbortSignal): Promise<void> {
    const name = normalize(fqdn);
    const zone = await this.findZone(name, signal);
    try {
      await this.call('POST', `/zones/${zone.id}/dns_records`, {}, { type: 'TXT', name, content: value, ttl: TTL }, signal);
    } catch (error) {
      // A retried challenge may find its own value already published.
      if (!(error instanceof CloudflareError && error.codes.includes(IDENTICAL_RECORD))) throw error;
    }
  }

  async deleteTxt(fqdn: string, value: string, signal?: AbortSignal): Promise<void> {
    const name = normalize(fqdn);
    const zone = await this.findZone(name, signal);
    const records = await this.listAll<DnsRecord>(`/zones/${zone.id}/dns_records`, { type: 'TXT', name, content: value }, signal);
    // Cloudflare may hand TXT content back quoted; compare the bare value.
    for (const record of records.filter((r) => unquote(r.content) === value)) {
      try {
        await this.call('DELETE', `/zones/${zone.id}/dns_records/${record.id}`, {}, undefined, signal);
      } catch (error) {
        if (!(error instanceof DnsProviderError && error.status === 404)) throw error;
      }
    }
  }

  async verify(signal?: AbortSignal): Promise<void> {
    let tokenError: DnsProviderError | undefined;
    if (this.attributes.api_token) {
      try {
        const token = await this.call<{ status: string }>('GET', '/user/tokens/verify', {}, undefined, signal);
        if (token.result.status !== 'active') throw new DnsProviderError(KEY, `the API token is ${token.result.status}`);
      } catch (error) {
        // Account-owned tokens only verify at /accounts/{id}/tokens/verify; listing zones below decides.
        if (!(error instanceof CloudflareError)) throw error;
        tokenError = error;
      }
    } else {
      await this.call('GET', '/user', {}, undefined, signal);
    }
    let zones: Envelope<Zone[]>;
    try {
      zones = await this.call<Zone[]>('GET', '/zones', { per_page: '5' }, undefined, signal);
    } catch (error) {
      throw tokenError ?? error;
    }
    if (zones.result.length === 0) throw new DnsProviderError(KEY, 'these credentials see no zones (the token needs Zone:Read and DNS:Edit)');
  }

  /** The most specific zone holding `name`; an active zone wins over a pending copy in another account. */
  private async findZone(name: string, signal?: AbortSignal): Promise<Zone> {
    for (const candidate of candidateZones(name)) {
      const zones = (await this.listAll<Zone>('/zones', { name: candidate }, signal)).filter((z) => z.name.toLowerCase() === candidate);
      const zone = zones.find((z) => z.status === 'active') ?? zones[0];
      if (zone) return zone;
    }
    throw new DnsProviderError(KEY, `no zone holding ${name} is visible to these credentials`);
  }

  /** Follows `result_info.total_pages` (API reference, "Pagination"). */
  private async listAll<T>(path: string, query: Query, signal?: AbortSignal): Promise<T[]> {
    const items: T[] = [];
    for (let page = 1; ; page += 1) {
      const answer = await this.call<T[]>('GET', path, { ...query, page: String(page), per_page: String(PER_PAGE) }, undefined, signal);
      items.push(...answer.result);
      if (answer.result.length === 0 || page >= (answer.result_info?.total_pages ?? 1)) return items;
    }
  }

  private async call<T = unknown>(method: 'GET' | 'POST' | 'DELETE', path: string, query: Query, body: unknown, signal?: AbortSignal): Promise<Envelope<T>> {
    const search = new URLSearchParams(query).toString();
    const url = `${this.baseUrl}${path}${search ? `?${search}` : ''}`;
    const response = await httpCall(KEY, this.context, { method, url, headers: this.auth, body, signal });
    const envelope = response.json as Envelope<T> | undefined;
    if (response.status >= 200 && response.status < 300 && envelope?.success) return envelope;
    const errors = envelope?.errors ?? [];
    const message = errors.length > 0 ? describeErrors(errors) : `HTTP ${response.status} from ${method} ${path}`;
    throw new CloudflareError(message, response.status, errors.map((e) => e.code));
  }
}

/** API token as a bearer, or the legacy e-mail + Global API Key pair (API docs, "Authentication"). */
function authHeaders(attributes: CloudflareAttributes): Record<string, string> {
  if (attributes.api_token) return { authorization: `Bearer ${attributes.api_token}` };
  if (attributes.cloudflare_email && attributes.api_key) return { 'x-auth-email': attributes.cloudflare_email, 'x-auth-key': attributes.api_key };
  throw new DnsProviderError(KEY, 'an API token, or an e-mail with a Global API Key, is required');
}

function normalize(fqdn: string): string {
  return fqdn.replace(/\.$/, '').toLowerCase();
}

function unquote(content: string): string {
  return content.length >= 2 && content.startsWith('"') && content.endsWith('"') ? content.slice(1, -1) : content;
}

/** Cloudflare DNS (API v4) with an API token or e-mail + Global API Key. */
export const cloudflareProvider: ProviderDefinition<typeof schema> = {
  key: KEY,
  label: 'Cloudflare',
  schema: schema,
  secretFields: ['api_key', 'api_token'],
  create: (attributes, context) => new CloudflareDns(attributes, context),
};
