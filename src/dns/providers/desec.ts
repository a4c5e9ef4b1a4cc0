import { z } from 'zod';
import { httpCall, relativeName, type HttpResponse } from '../http.js';
import { DnsProviderError, type DnsProvider, type ProviderContext, type ProviderDefinition } from '../provider.js';
import { KeyedSerializer, answer, hasTxt, isOk, quoteTxt, unquoteTxt, type ApiRequest } from './rrset.js';

const KEY = 'desec';
/** https://desec.readthedocs.io/en/latest/ */
const BASE_URL = 'https://desec.io/api/v1';

const schema = z.object({
  token: z.string().min(1).describe('deSEC API token allowed to write the RRsets of the domains (sent as "Authorization: Token")'),
});

/** The domain responsible for a name; writes below its `minimum_ttl` are refused. */
const Domains = z.array(z.object({ name: z.string(), minimum_ttl: z.number() }));
const RRSet = z.object({ ttl: z.number(), records: z.array(z.string()) });

interface Zone {
  name: string;
  minimumTtl: number;
}

/** TXT values as one RRset per name, read and written back whole through the bulk rrsets/ endpoint. */
class DesecDns implements DnsProvider {
  private readonly serializer = new KeyedSerializer();

  constructor(
    private readonly token: string,
    private readonly context: ProviderContext,
  ) {}

  createTxt(fqdn: string, value: string, signal?: AbortSignal): Promise<void> {
    return this.serializer.run(fqdn, async () => {
      const zone = await this.zone(fqdn, signal);
      const current = await this.read(zone, fqdn, signal);
      if (hasTxt(current?.records ?? [], value)) return;
      await this.write(zone, fqdn, zone.minimumTtl, [...(current?.records ?? []), quoteTxt(value)], signal);
    });
  }

  deleteTxt(fqdn: string, value: string, signal?: AbortSignal): Promise<void> {
    return this.serializer.run(fqdn, async () => {
      const zone = await this.zone(fqdn, signal);
      const current = await this.read(zone, fqdn, signal);
      if (!current || !hasTxt(current.records, value)) return;
      // An empty record list deletes the RRset.
      const rest = current.records.filter((stored) => unquoteTxt(stored) !== value);
      await this.write(zone, fqdn, Math.max(current.ttl, zone.minimumTtl), rest, signal);
    });
  }

  async verify(signal?: AbortSignal): Promise<void> {
    // An empty cursor is the first page, valid however many domains there are (docs: Pagination).
    checked(await this.send({ method: 'GET', path: '/domains/?cursor=', signal }));
  }

  /** deSEC names the responsible domain itself ("Identifying the Responsible Domain for a DNS Name"). */
  private async zone(fqdn: string, signal?: AbortSignal): Promise<Zone> {
    const path = `/domains/?owns_qname=${encodeURIComponent(fqdn)}`;
    const [domain] = answer(KEY, checked(await this.send({ method: 'GET', path, signal })), Domains);
    if (!domain) throw new DnsProviderError(KEY, `no zone in this account holds ${fqdn}`);
    return { name: domain.name, minimumTtl: domain.minimum_ttl };
  }

  private async read(zone: Zone, fqdn: string, signal?: AbortSignal): Promise<z.output<typeof RRSet> | undefined> {
    // "{subname}.../" reaches the apex as well ("Accessing the Zone Apex").
    const path = `/domains/${zone.name}/rrsets/${encodeURIComponent(subname(fqdn, zone))}.../TXT/`;
    const response = await this.send({ method: 'GET', path, signal });
    return response.status === 404 ? undefined : answer(KEY, checked(response), RRSet);
  }

  /** Bulk PUT creates or replaces the RRset, and deletes it when `records` is empty ("Bulk Operations"). */
  private async write(zone: Zone, fqdn: string, ttl: number, records: string[], signal?: AbortSignal): Promise<void> {
    const body = [{ subname: subname(fqdn, zone), type: 'TXT', ttl, records }];
    checked(await this.send({ method: 'PUT', path: `/domains/${zone.name}/rrsets/`, body, signal }));
  }

  private send({ path, ...request }: ApiRequest): Promise<HttpResponse> {
    const url = `${this.context.baseUrl ?? BASE_URL}${path}`;
    return httpCall(KEY, this.context, { ...request, url, headers: { authorization: `Token ${this.token}`, accept: 'application/json' } });
  }
}

/** The RRset's subname: empty at the apex. */
function subname(fqdn: string, zone: Zone): string {
  const name = relativeName(fqdn, zone.name);
  return name === '@' ? '' : name;
}

/** The response if it succeeded, else deSEC's words: `{"detail": …}` or field errors, per RRset for bulk requests. */
function checked(response: HttpResponse): HttpResponse {
  if (isOk(response)) return response;
  const messages = messagesIn(response.json);
  throw new DnsProviderError(KEY, messages.length > 0 ? messages.join('; ') : `HTTP ${response.status}`, response.status);
}

/** Every message in an error body, with the field it is about: {"ttl": ["…"]} → "ttl: …". */
function messagesIn(body: unknown, field?: string): string[] {
  if (typeof body === 'string') return [field && field !== 'detail' && field !== 'non_field_errors' ? `${field}: ${body}` : body];
  if (Array.isArray(body)) return body.flatMap((item) => messagesIn(item, field));
  if (body && typeof body === 'object') return Object.entries(body).flatMap(([key, item]) => messagesIn(item, key));
  return [];
}

/** deSEC (desec.io), free DNS hosting with DNSSEC. */
export const desecProvider: ProviderDefinition<typeof schema> = {
  key: KEY,
  label: 'deSEC',
  schema,
  secretFields: ['token'],
  create: (attributes, context) => new DesecDns(attributes.token, context),
};
