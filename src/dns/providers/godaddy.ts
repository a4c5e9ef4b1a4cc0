import { z } from 'zod';
import { httpCall, relativeName, type HttpResponse } from '../http.js';
import { DnsProviderError, type DnsProvider, type ProviderContext, type ProviderDefinition } from '../provider.js';
import { KeyedSerializer, answer, hasTxt, isOk, pickZone, unquoteTxt, type ApiRequest } from './rrset.js';

const KEY = 'godaddy';
/** GoDaddy Domains API v1: https://developer.godaddy.com/doc/endpoint/domains */
const BASE_URL = 'https://api.godaddy.com/v1';
/** The shortest TTL GoDaddy accepts. */
const TTL = 600;
/** Domains per listing request; the next request starts after the last domain (`marker`). */
const PAGE_SIZE = 1000;

const schema = z.object({
  api_key: z.string().min(1).describe('GoDaddy production API key (developer.godaddy.com/keys)'),
  api_secret: z.string().min(1).describe('Secret of the API key; both are sent as "Authorization: sso-key key:secret"'),
});

const Domains = z.array(z.object({ domain: z.string() }));
const Records = z.array(z.object({ data: z.string(), ttl: z.number() }));
const ErrorBody = z.object({ code: z.string(), message: z.string().nullish(), fields: z.array(z.object({ path: z.string().nullish(), message: z.string() })).nullish() });

/** TXT values at one name replaced together (PUT …/records/TXT/{name}), read and written back whole. */
class GoDaddyDns implements DnsProvider {
  private readonly serializer = new KeyedSerializer();

  constructor(
    private readonly authorization: string,
    private readonly context: ProviderContext,
  ) {}

  createTxt(fqdn: string, value: string, signal?: AbortSignal): Promise<void> {
    return this.serializer.run(fqdn, async () => {
      const path = await this.recordsPath(fqdn, signal);
      const current = await this.read(path, signal);
      if (hasTxt(current.map((record) => record.data), value)) return;
      await this.write(path, [...current, { data: value, ttl: TTL }], signal);
    });
  }

  deleteTxt(fqdn: string, value: string, signal?: AbortSignal): Promise<void> {
    return this.serializer.run(fqdn, async () => {
      const path = await this.recordsPath(fqdn, signal);
      const current = await this.read(path, signal);
      if (!hasTxt(current.map((record) => record.data), value)) return;
      const rest = current.filter((record) => unquoteTxt(record.data) !== value);
      if (rest.length > 0) return this.write(path, rest, signal);
      // PUT refuses an empty list; DELETE removes every TXT record at the name.
      const response = await this.send({ method: 'DELETE', path, signal });
      if (response.status !== 404) checked(response);
    });
  }

  async verify(signal?: AbortSignal): Promise<void> {
    checked(await this.send({ method: 'GET', path: '/domains?limit=1', signal }));
  }

  /** The zone is one of the account's domains, listed page by page with `marker`. */
  private async recordsPath(fqdn: string, signal?: AbortSignal): Promise<string> {
    const domains = new Set<string>();
    for (let marker = '', more = true; more; ) {
      const path = `/domains?limit=${PAGE_SIZE}${marker ? `&marker=${encodeURIComponent(marker)}` : ''}`;
      const page = answer(KEY, checked(await this.send({ method: 'GET', path, signal })), Domains);
      for (const { domain } of page) domains.add(domain.toLowerCase());
      marker = page.at(-1)?.domain ?? '';
      more = page.length === PAGE_SIZE;
    }
    const zone = pickZone(KEY, fqdn, domains);
    return `/domains/${zone}/records/TXT/${encodeURIComponent(relativeName(fqdn, zone))}`;
  }

  private async read(path: string, signal?: AbortSignal): Promise<Array<z.output<typeof Records>[number]>> {
    return answer(KEY, checked(await this.send({ method: 'GET', path, signal })), Records);
  }

  private async write(path: string, records: z.output<typeof Records>, signal?: AbortSignal): Promise<void> {
    checked(await this.send({ method: 'PUT', path, body: records, signal }));
  }

  private send({ path, ...request }: ApiRequest): Promise<HttpResponse> {
    const url = `${this.context.baseUrl ?? BASE_URL}${path}`;
    return httpCall(KEY, this.context, { ...request, url, headers: { authorization: this.authorization, accept: 'application/json' } });
  }
}

/** The response if it succeeded, else GoDaddy's `{"code", "message", "fields"?}`. */
function checked(response: HttpResponse): HttpResponse {
  if (isOk(response)) return response;
  const body = ErrorBody.safeParse(response.json);
  if (!body.success) throw new DnsProviderError(KEY, `HTTP ${response.status}`, response.status);
  const fields = (body.data.fields ?? []).map((field) => (field.path ? `${field.path}: ${field.message}` : field.message));
  throw new DnsProviderError(KEY, [`${body.data.message ?? body.data.code} (${body.data.code})`, ...fields].join('; '), response.status);
}

/** GoDaddy DNS. Since 2024 GoDaddy opens its API only to some accounts and answers the others 403 ACCESS_DENIED. */
export const godaddyProvider: ProviderDefinition<typeof schema> = {
  key: KEY,
  label: 'GoDaddy',
  schema,
  secretFields: ['api_key', 'api_secret'],
  create: (attributes, context) => new GoDaddyDns(`sso-key ${attributes.api_key}:${attributes.api_secret}`, context),
};
