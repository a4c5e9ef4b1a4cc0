import { z } from 'zod';
import { httpCall, relativeName, type HttpResponse } from '../http.js';
import { DnsProviderError, type DnsProvider, type ProviderContext, type ProviderDefinition } from '../provider.js';
import { answer, isOk, pickZone, unquoteTxt } from './rrset.js';

const KEY = 'porkbun';
/** https://porkbun.com/api/json/v3/documentation (api.porkbun.com since December 2024). */
const BASE_URL = 'https://api.porkbun.com/api/json/v3';
/** The minimum (and default) TTL Porkbun accepts. */
const TTL = 600;
/** domain/listAll answers chunks of 1000 from `start`. */
const CHUNK = 1000;

const schema = z.object({
  api_key: z.string().min(1).describe('Porkbun API key ("pk1_…"); API access must be enabled on each domain'),
  secret_api_key: z.string().min(1).describe('Porkbun secret API key ("sk1_…")'),
});

const Domains = z.object({ domains: z.array(z.object({ domain: z.string() })).nullish() });
const Records = z.object({ records: z.array(z.object({ id: z.union([z.string(), z.number()]), content: z.string() })) });
const Status = z.object({ status: z.string(), message: z.string().nullish() });

/** Single TXT records, created and deleted by id; credentials travel in each JSON body (POST only). */
class PorkbunDns implements DnsProvider {
  constructor(
    private readonly credentials: { apikey: string; secretapikey: string },
    private readonly context: ProviderContext,
  ) {}

  async createTxt(fqdn: string, value: string, signal?: AbortSignal): Promise<void> {
    const { zone, subdomain } = await this.locate(fqdn, signal);
    if ((await this.matching(zone, subdomain, value, signal)).length > 0) return;
    await this.post(`/dns/create/${zone}`, { name: subdomain, type: 'TXT', content: value, ttl: String(TTL) }, signal);
  }

  async deleteTxt(fqdn: string, value: string, signal?: AbortSignal): Promise<void> {
    const { zone, subdomain } = await this.locate(fqdn, signal);
    for (const id of await this.matching(zone, subdomain, value, signal)) await this.post(`/dns/delete/${zone}/${id}`, {}, signal);
  }

  async verify(signal?: AbortSignal): Promise<void> {
    await this.post('/ping', {}, signal);
  }

  /** The zone is one of the account's domains, listed chunk by chunk until an empty one. */
  private async locate(fqdn: string, signal?: AbortSignal): Promise<{ zone: string; subdomain: string }> {
    const domains = new Set<string>();
    for (let start = 0; ; start += CHUNK) {
      const chunk = answer(KEY, await this.post('/domain/listAll', { start: String(start) }, signal), Domains).domains ?? [];
      for (const { domain } of chunk) domains.add(domain.toLowerCase());
      if (chunk.length === 0) break;
    }
    const zone = pickZone(KEY, fqdn, domains);
    const name = relativeName(fqdn, zone);
    return { zone, subdomain: name === '@' ? '' : name };
  }

  /** Ids of the TXT records at the name holding `value`. */
  private async matching(zone: string, subdomain: string, value: string, signal?: AbortSignal): Promise<string[]> {
    const path = `/dns/retrieveByNameType/${zone}/TXT${subdomain ? `/${encodeURIComponent(subdomain)}` : ''}`;
    const { records } = answer(KEY, await this.post(path, {}, signal), Records);
    return records.filter((record) => unquoteTxt(record.content) === value).map((record) => String(record.id));
  }

  private async post(path: string, body: object, signal?: AbortSignal): Promise<HttpResponse> {
    const url = `${this.context.baseUrl ?? BASE_URL}${path}`;
    return checked(await httpCall(KEY, this.context, { method: 'POST', url, body: { ...this.credentials, ...body }, signal }));
  }
}

/** The response if Porkbun says SUCCESS, else its `{"status": "ERROR", "message": …}` (sent with HTTP 400 or 200). */
function checked(response: HttpResponse): HttpResponse {
  const body = Status.safeParse(response.json);
  if (isOk(response) && body.success && body.data.status === 'SUCCESS') return response;
  throw new DnsProviderError(KEY, body.success && body.data.message ? body.data.message : `HTTP ${response.status}`, response.status);
}

/** Porkbun (registrar DNS). */
export const porkbunProvider: ProviderDefinition<typeof schema> = {
  key: KEY,
  label: 'Porkbun',
  schema,
  secretFields: ['api_key', 'secret_api_key'],
  create: (attributes, context) => new PorkbunDns({ apikey: attributes.api_key, secretapikey: attributes.secret_api_key }, context),
};
