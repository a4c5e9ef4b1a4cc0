import { z } from 'zod';
import { httpCall, relativeName, type HttpResponse } from '../http.js';
import { DnsProviderError, type DnsProvider, type ProviderContext, type ProviderDefinition } from '../provider.js';
import { answer, isOk, pickZone, quoteTxt, unquoteTxt, type ApiRequest } from './rrset.js';

const KEY = 'vultr';
/** Vultr API v2: https://www.vultr.com/api/#tag/dns */
const BASE_URL = 'https://api.vultr.com/v2';
const TTL = 120;
/** The API's largest per_page. */
const PAGE_SIZE = 500;

const schema = z.object({
  api_key: z.string().min(1).describe('Vultr API key (Account → API); its access control list must allow this host'),
});

/** Cursor pagination: `meta.links.next` is empty on the last page. */
const Meta = z.object({ links: z.object({ next: z.string() }) });
const DomainsPage = z.object({ domains: z.array(z.object({ domain: z.string() })), meta: Meta });
const RecordsPage = z.object({ records: z.array(z.object({ id: z.string(), type: z.string(), name: z.string(), data: z.string() })), meta: Meta });
const ErrorBody = z.object({ error: z.string() });

/** Single TXT records, created and deleted by id. */
class VultrDns implements DnsProvider {
  constructor(
    private readonly apiKey: string,
    private readonly context: ProviderContext,
  ) {}

  async createTxt(fqdn: string, value: string, signal?: AbortSignal): Promise<void> {
    const { records, name } = await this.locate(fqdn, signal);
    if ((await this.matching(records, name, value, signal)).length > 0) return;
    checked(await this.send({ method: 'POST', path: records, body: { name, type: 'TXT', data: quoteTxt(value), ttl: TTL }, signal }));
  }

  async deleteTxt(fqdn: string, value: string, signal?: AbortSignal): Promise<void> {
    const { records, name } = await this.locate(fqdn, signal);
    for (const id of await this.matching(records, name, value, signal)) {
      const response = await this.send({ method: 'DELETE', path: `${records}/${id}`, signal });
      if (response.status !== 404) checked(response);
    }
  }

  async verify(signal?: AbortSignal): Promise<void> {
    checked(await this.send({ method: 'GET', path: '/domains?per_page=1', signal }));
  }

  /** The records path of the domain holding `fqdn`, and the record name in it ("" at the apex). */
  private async locate(fqdn: string, signal?: AbortSignal): Promise<{ records: string; name: string }> {
    const domains = (await this.pages('/domains', DomainsPage, signal)).flatMap((page) => page.domains);
    const zone = pickZone(KEY, fqdn, new Set(domains.map((domain) => domain.domain.toLowerCase())));
    const name = relativeName(fqdn, zone);
    return { records: `/domains/${encodeURIComponent(zone)}/records`, name: name === '@' ? '' : name };
  }

  /** Ids of the TXT records at `name` holding `value` (Vultr stores TXT data quoted). */
  private async matching(records: string, name: string, value: string, signal?: AbortSignal): Promise<string[]> {
    const found = (await this.pages(records, RecordsPage, signal)).flatMap((page) => page.records);
    return found.filter((record) => record.type === 'TXT' && record.name === name && unquoteTxt(record.data) === value).map((record) => record.id);
  }

  /** Every page of a cursor-paged listing. */
  private async pages<S extends z.ZodType<z.output<typeof DomainsPage | typeof RecordsPage>>>(path: string, schema: S, signal?: AbortSignal): Promise<Array<z.output<S>>> {
    const pages: Array<z.output<S>> = [];
    let cursor = '';
    do {
      const query = `per_page=${PAGE_SIZE}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const page: z.output<S> = answer(KEY, checked(await this.send({ method: 'GET', path: `${path}?${query}`, signal })), schema);
      pages.push(page);
      cursor = page.meta.links.next;
    } while (cursor);
    return pages;
  }

  private send({ path, ...request }: ApiRequest): Promise<HttpResponse> {
    const url = `${this.context.baseUrl ?? BASE_URL}${path}`;
    return httpCall(KEY, this.context, { ...request, url, headers: { authorization: `Bearer ${this.apiKey}`, accept: 'application/json' } });
  }
}

/** The response if it succeeded, else Vultr's `{"error": "…", "status": n}`. */
function checked(response: HttpResponse): HttpResponse {
  if (isOk(response)) return response;
  const body = ErrorBody.safeParse(response.json);
  throw new DnsProviderError(KEY, body.success && body.data.error ? body.data.error : `HTTP ${response.status}`, response.status);
}

/** Vultr DNS. */
export const vultrProvider: ProviderDefinition<typeof schema> = {
  key: KEY,
  label: 'Vultr',
  schema,
  secretFields: ['api_key'],
  create: (attributes, context) => new VultrDns(attributes.api_key, context),
};
