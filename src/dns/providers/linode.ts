import { z } from 'zod';
import { httpCall, relativeName, type HttpResponse } from '../http.js';
import { DnsProviderError, type DnsProvider, type ProviderContext, type ProviderDefinition } from '../provider.js';
import { answer, isOk, pickZone, unquoteTxt, type ApiRequest } from './rrset.js';

const KEY = 'linode';
/** Linode (Akamai) API v4: https://techdocs.akamai.com/linode-api/reference/get-domains */
const BASE_URL = 'https://api.linode.com/v4';
/** The shortest ttl_sec Linode offers; it rounds other values up to the next one it offers. */
const TTL = 30;
/** The API's largest page_size. */
const PAGE_SIZE = 500;

const schema = z.object({
  api_token: z.string().min(1).describe('Linode personal access token with the Domains read/write scope'),
});

const Page = <T extends z.ZodType>(item: T) => z.object({ data: z.array(item), page: z.number(), pages: z.number() });
const Domain = z.object({ id: z.number(), domain: z.string() });
const DomainRecord = z.object({ id: z.number(), type: z.string(), name: z.string(), target: z.string() });
const ErrorBody = z.object({ errors: z.array(z.object({ field: z.string().nullish(), reason: z.string() })) });

/** Single TXT records, created and deleted by id. */
class LinodeDns implements DnsProvider {
  constructor(
    private readonly token: string,
    private readonly context: ProviderContext,
  ) {}

  async createTxt(fqdn: string, value: string, signal?: AbortSignal): Promise<void> {
    const { records, name } = await this.locate(fqdn, signal);
    if ((await this.matching(records, name, value, signal)).length > 0) return;
    checked(await this.send({ method: 'POST', path: records, body: { type: 'TXT', name, target: value, ttl_sec: TTL }, signal }));
  }

  async deleteTxt(fqdn: string, value: string, signal?: AbortSignal): Promise<void> {
    const { records, name } = await this.locate(fqdn, signal);
    for (const id of await this.matching(records, name, value, signal)) {
      const response = await this.send({ method: 'DELETE', path: `${records}/${id}`, signal });
      if (response.status !== 404) checked(response);
    }
  }

  async verify(signal?: AbortSignal): Promise<void> {
    checked(await this.send({ method: 'GET', path: '/domains?page_size=25', signal }));
  }

  /** The records path of the domain holding `fqdn`, and the record name in it ("" at the apex). */
  private async locate(fqdn: string, signal?: AbortSignal): Promise<{ records: string; name: string }> {
    const domains = new Map((await this.all('/domains', Domain, {}, signal)).map((domain) => [domain.domain.toLowerCase(), domain.id]));
    const zone = pickZone(KEY, fqdn, new Set(domains.keys()));
    const name = relativeName(fqdn, zone);
    return { records: `/domains/${domains.get(zone)}/records`, name: name === '@' ? '' : name };
  }

  /** Ids of the TXT records at `name` holding `value`; X-Filter narrows the listing server-side. */
  private async matching(records: string, name: string, value: string, signal?: AbortSignal): Promise<number[]> {
    const filter = { 'x-filter': JSON.stringify({ name, type: 'TXT' }) };
    const found = await this.all(records, DomainRecord, filter, signal);
    return found.filter((record) => record.type === 'TXT' && record.name === name && unquoteTxt(record.target) === value).map((record) => record.id);
  }

  /** Every item of a paged listing (page / page_size, answered with `pages`). */
  private async all<T extends z.ZodType>(path: string, item: T, headers: Record<string, string>, signal?: AbortSignal): Promise<Array<z.output<T>>> {
    const items: Array<z.output<T>> = [];
    for (let page = 1, pages = 1; page <= pages; page++) {
      const response = await this.send({ method: 'GET', path: `${path}?page=${page}&page_size=${PAGE_SIZE}`, headers, signal });
      const body = answer(KEY, checked(response), Page(item));
      items.push(...body.data);
      pages = body.pages;
    }
    return items;
  }

  private send({ path, headers, ...request }: ApiRequest): Promise<HttpResponse> {
    const url = `${this.context.baseUrl ?? BASE_URL}${path}`;
    return httpCall(KEY, this.context, { ...request, url, headers: { ...headers, authorization: `Bearer ${this.token}`, accept: 'application/json' } });
  }
}

/** The response if it succeeded, else Linode's `{"errors": [{"field"?, "reason"}]}`. */
function checked(response: HttpResponse): HttpResponse {
  if (isOk(response)) return response;
  const body = ErrorBody.safeParse(response.json);
  const reasons = body.success ? body.data.errors.map((error) => (error.field ? `${error.field}: ${error.reason}` : error.reason)) : [];
  throw new DnsProviderError(KEY, reasons.length > 0 ? reasons.join('; ') : `HTTP ${response.status}`, response.status);
}

/** Linode (Akamai Cloud) DNS Manager. */
export const linodeProvider: ProviderDefinition<typeof schema> = {
  key: KEY,
  label: 'Linode (Akamai)',
  schema,
  secretFields: ['api_token'],
  create: (attributes, context) => new LinodeDns(attributes.api_token, context),
};
