import { z } from 'zod';
import { candidateZones, httpCall, relativeName } from '../http.js';
import { DnsProviderError, type DnsProvider, type ProviderContext, type ProviderDefinition } from '../provider.js';

const KEY = 'digitalocean';
const BASE_URL = 'https://api.digitalocean.com/v2';
/** DigitalOcean's minimum TTL (Domain Records API, "ttl"). */
const TTL = 30;
/** The largest page the API serves (API reference, "Links & Pagination"). */
const PER_PAGE = '200';

const schema = z.object({
  digitalocean_token: z.string().min(1).describe('DigitalOcean Token'),
});

type DigitaloceanAttributes = z.output<typeof schema>;

interface DomainRecord {
  id: number;
  type: string;
  name: string;
  data: string;
}

/** List answers carry `links.pages.next` while more pages remain. */
interface Page {
  links?: { pages?: { next?: string } };
}

/** DigitalOcean API v2 client: domains as zones, TXT records created and deleted by id. */
class DigitaloceanDns implements DnsProvider {
  private readonly baseUrl: URL;

  constructor(
    private readonly attributes: DigitaloceanAttributes,
    private readonly context: ProviderContext,
  ) {
    this.baseUrl = new URL(context.baseUrl ?? BASE_URL);
  }

  async createTxt(fqdn: string, value: string, signal?: AbortSignal): Promise<void> {
    const name = normalize(fqdn);
    const zone = await this.findZone(name, signal);
    // `name` is relative to the domain, "@" for the apex (Domain Records API, "Create a New Domain Record").
    await this.call('POST', this.url(`/domains/${zone}/records`), { type: 'TXT', name: relativeName(name, zone), data: value, ttl: TTL }, signal);
  }

  async deleteTxt(fqdn: string, value: string, signal?: AbortSignal): Promise<void> {
    const name = normalize(fqdn);
    const zone = await this.findZone(name, signal);
    // The `name` filter takes the fully qualified name (Domain Records API, "List All Domain Records").
    const records = await this.listAll<DomainRecord>(this.url(`/domains/${zone}/records`, { type: 'TXT', name }), 'domain_records', signal);
    for (const record of records.filter((r) => r.type === 'TXT' && r.data === value)) {
      try {
        await this.call('DELETE', this.url(`/domains/${zone}/records/${record.id}`), undefined, signal);
      } catch (error) {
        if (!(error instanceof DnsProviderError && error.status === 404)) throw error;
      }
    }
  }

  async verify(signal?: AbortSignal): Promise<void> {
    try {
      const answer = (await this.call('GET', this.url('/account'), undefined, signal)) as { account?: { status?: string } };
      if (answer.account?.status && answer.account.status !== 'active') throw new DnsProviderError(KEY, `the account is ${answer.account.status}`);
    } catch (error) {
      // A custom-scoped token may lack account:read yet hold the domain scopes that matter here.
      if (!(error instanceof DnsProviderError && error.status === 403)) throw error;
    }
    const domains = (await this.call('GET', this.url('/domains', { per_page: '1' }), undefined, signal)) as { domains?: unknown[] };
    if ((domains.domains ?? []).length === 0) throw new DnsProviderError(KEY, 'this token sees no domains');
  }

  /** The most specific domain of the account that holds `name`. */
  private async findZone(name: string, signal?: AbortSignal): Promise<string> {
    const domains = new Set((await this.listAll<{ name: string }>(this.url('/domains'), 'domains', signal)).map((d) => d.name.toLowerCase()));
    const zone = candidateZones(name).find((candidate) => domains.has(candidate));
    if (!zone) throw new DnsProviderError(KEY, `no domain holding ${name} is visible to this token`);
    return zone;
  }

  /** Follows `links.pages.next` until the last page. */
  private async listAll<T>(first: URL, field: string, signal?: AbortSignal): Promise<T[]> {
    const items: T[] = [];
    let url: URL | undefined = withQuery(first, { per_page: PER_PAGE });
    while (url) {
      const page = (await this.call('GET', url, undefined, signal)) as Page & Record<string, unknown>;
      items.push(...((page[field] as T[] | undefined) ?? []));
      url = page.links?.pages?.next ? this.rebase(page.links.pages.next) : undefined;
    }
    return items;
  }

  /** Next links are absolute; keep the token on the configured origin whatever host they name. */
  private rebase(link: string): URL {
    const next = new URL(link, this.baseUrl);
    return new URL(`${next.pathname}${next.search}`, this.baseUrl.origin);
  }

  private url(path: string, query: Record<string, string> = {}): URL {
    return withQuery(new URL(`${this.baseUrl.href.replace(/\/$/, '')}${path}`), query);
  }

  private async call(method: 'GET' | 'POST' | 'DELETE', url: URL, body: unknown, signal?: AbortSignal): Promise<unknown> {
    const headers = { authorization: `Bearer ${this.attributes.digitalocean_token}` };
    const response = await httpCall(KEY, this.context, { method, url: url.toString(), headers, body, signal });
    if (response.status >= 200 && response.status < 300) return response.json ?? {};
    // Errors are {"id": "...", "message": "..."} (API reference, "Responses").
    const error = response.json as { id?: string; message?: string } | undefined;
    const message = error?.message ? `${error.message}${error.id ? ` (${error.id})` : ''}` : `HTTP ${response.status} from ${method} ${url.pathname}`;
    throw new DnsProviderError(KEY, message, response.status);
  }
}

function withQuery(url: URL, query: Record<string, string>): URL {
  const copy = new URL(url);
  for (const [name, value] of Object.entries(query)) copy.searchParams.set(name, value);
  return copy;
}

function normalize(fqdn: string): string {
  return fqdn.replace(/\.$/, '').toLowerCase();
}

/** DigitalOcean DNS with a personal access token. */
export const digitaloceanProvider: ProviderDefinition<typeof schema> = {
  key: KEY,
  label: 'DigitalOcean',
  schema: schema,
  secretFields: ['digitalocean_token'],
  create: (attributes, context) => new DigitaloceanDns(attributes, context),
};
