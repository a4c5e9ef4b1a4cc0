import { z } from 'zod';
import { httpCall, relativeName, type HttpResponse } from '../http.js';
import { DnsProviderError, type DnsProvider, type ProviderContext, type ProviderDefinition } from '../provider.js';
import { KeyedSerializer, answer, hasTxt, isOk, probeZones, quoteTxt, unquoteTxt, type ApiRequest } from './rrset.js';

const KEY = 'gandi';
/** LiveDNS in Gandi's v5 API: https://api.gandi.net/docs/livedns/ */
const BASE_URL = 'https://api.gandi.net/v5/livedns';
/** The shortest rrset_ttl LiveDNS accepts. */
const TTL = 300;

const schema = z
  .object({
    personal_access_token: z
      .string()
      .optional()
      .describe('Personal access token with "Manage domain name technical configurations" on the domains (sent as "Authorization: Bearer")'),
    api_key: z.string().optional().describe('Legacy API key, deprecated by Gandi (sent as "Authorization: Apikey"); used only without a personal access token'),
  })
  .refine((attributes) => Boolean(attributes.personal_access_token || attributes.api_key), {
    message: 'personal_access_token or api_key is required',
    path: ['personal_access_token'],
  });

const RRSet = z.object({ rrset_ttl: z.number().nullish(), rrset_values: z.array(z.string()) });
const ErrorBody = z.object({
  message: z.string(),
  errors: z.array(z.object({ name: z.string().nullish(), description: z.string() })).nullish(),
});

/** TXT values as one rrset per name, read and written back whole (PUT replaces the rrset). */
class GandiDns implements DnsProvider {
  private readonly serializer = new KeyedSerializer();

  constructor(
    private readonly authorization: string,
    private readonly context: ProviderContext,
  ) {}

  createTxt(fqdn: string, value: string, signal?: AbortSignal): Promise<void> {
    return this.serializer.run(fqdn, async () => {
      const rrset = await this.rrsetPath(fqdn, signal);
      const current = await this.read(rrset, signal);
      if (hasTxt(current?.rrset_values ?? [], value)) return;
      await this.write(rrset, { rrset_ttl: TTL, rrset_values: [...(current?.rrset_values ?? []), quoteTxt(value)] }, signal);
    });
  }

  deleteTxt(fqdn: string, value: string, signal?: AbortSignal): Promise<void> {
    return this.serializer.run(fqdn, async () => {
      const rrset = await this.rrsetPath(fqdn, signal);
      const current = await this.read(rrset, signal);
      if (!current || !hasTxt(current.rrset_values, value)) return;
      const rest = current.rrset_values.filter((stored) => unquoteTxt(stored) !== value);
      if (rest.length > 0) return this.write(rrset, { rrset_ttl: current.rrset_ttl ?? TTL, rrset_values: rest }, signal);
      const response = await this.send({ method: 'DELETE', path: rrset, signal });
      if (response.status !== 404) checked(response);
    });
  }

  async verify(signal?: AbortSignal): Promise<void> {
    checked(await this.send({ method: 'GET', path: '/domains?per_page=1', signal }));
  }

  /** GET /domains/{fqdn} answers 404 for a domain not in LiveDNS, so ask for each zone the name may be in. */
  private async rrsetPath(fqdn: string, signal?: AbortSignal): Promise<string> {
    const zone = await probeZones(KEY, fqdn, async (candidate) => {
      const response = await this.send({ method: 'GET', path: `/domains/${encodeURIComponent(candidate)}`, signal });
      if (response.status === 404) return undefined;
      checked(response);
      return candidate;
    });
    return `/domains/${encodeURIComponent(zone)}/records/${encodeURIComponent(relativeName(fqdn, zone))}/TXT`;
  }

  private async read(rrset: string, signal?: AbortSignal): Promise<z.output<typeof RRSet> | undefined> {
    const response = await this.send({ method: 'GET', path: rrset, signal });
    return response.status === 404 ? undefined : answer(KEY, checked(response), RRSet);
  }

  private async write(rrset: string, body: z.output<typeof RRSet>, signal?: AbortSignal): Promise<void> {
    checked(await this.send({ method: 'PUT', path: rrset, body, signal }));
  }

  private send({ path, ...request }: ApiRequest): Promise<HttpResponse> {
    const url = `${this.context.baseUrl ?? BASE_URL}${path}`;
    return httpCall(KEY, this.context, { ...request, url, headers: { authorization: this.authorization, accept: 'application/json' } });
  }
}

/** The response if it succeeded, else Gandi's error (`{"code", "message", "object", "cause", "errors"?}`). */
function checked(response: HttpResponse): HttpResponse {
  if (isOk(response)) return response;
  const body = ErrorBody.safeParse(response.json);
  if (!body.success) throw new DnsProviderError(KEY, `HTTP ${response.status}`, response.status);
  const details = (body.data.errors ?? []).map((error) => (error.name ? `${error.name}: ${error.description}` : error.description));
  throw new DnsProviderError(KEY, [body.data.message, ...details].join('; '), response.status);
}

/** Gandi LiveDNS; a personal access token (Bearer) or the legacy API key (Apikey). */
export const gandiProvider: ProviderDefinition<typeof schema> = {
  key: KEY,
  label: 'Gandi LiveDNS',
  schema,
  secretFields: ['personal_access_token', 'api_key'],
  create: (attributes, context) =>
    new GandiDns(attributes.personal_access_token ? `Bearer ${attributes.personal_access_token}` : `Apikey ${attributes.api_key}`, context),
};
