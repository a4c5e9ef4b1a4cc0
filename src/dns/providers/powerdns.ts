import { z } from 'zod';
import { httpCall, type HttpResponse } from '../http.js';
import { DnsProviderError, type DnsProvider, type ProviderContext, type ProviderDefinition } from '../provider.js';
import { KeyedSerializer, answer, hasTxt, isOk, probeZones, quoteTxt, unquoteTxt, type ApiRequest } from './rrset.js';

const KEY = 'powerdns';
const TTL = 60;

const schema = z.object({
  api_url: z.url().describe('URL of the PowerDNS Authoritative webserver, without /api/v1, e.g. "http://ns1.example.com:8081"'),
  api_key: z.string().min(1).describe('The api-key of the PowerDNS webserver (sent as "X-API-Key")'),
  server_id: z.string().min(1).default('localhost').describe('Server id in the API path; "localhost" on a standalone server'),
});

const Zones = z.array(z.object({ name: z.string(), kind: z.string().nullish() }));
const Record = z.object({ content: z.string(), disabled: z.boolean() });
const ZoneRRSets = z.object({ rrsets: z.array(z.object({ name: z.string(), type: z.string(), ttl: z.number(), records: z.array(Record) })) });
const ErrorBody = z.object({ error: z.string() });

interface Zone {
  id: string;
  kind: string;
}

/**
 * The zone id PowerDNS uses in URLs (ws-api.cc apiZoneNameToId): the name with a trailing dot, every
 * byte other than [A-Za-z0-9.-] as "=XX", and the root zone as "=2E".
 */
export function zoneId(name: string): string {
  const escaped = name.replace(/[^A-Za-z0-9.-]/g, (character) => `=${character.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
  const id = escaped.endsWith('.') ? escaped : `${escaped}.`;
  return id === '.' ? '=2E' : id;
}

/** TXT values as an RRset PATCHed whole (changetype REPLACE, or DELETE when emptied): https://doc.powerdns.com/authoritative/http-api/zone.html */
class PowerDnsDns implements DnsProvider {
  private readonly serializer = new KeyedSerializer();
  private readonly base: string;
  private readonly apiKey: string;

  constructor(
    attributes: z.output<typeof schema>,
    private readonly context: ProviderContext,
  ) {
    this.apiKey = attributes.api_key;
    this.base = `${(context.baseUrl ?? attributes.api_url).replace(/\/+$/, '')}/api/v1/servers/${encodeURIComponent(attributes.server_id)}`;
  }

  createTxt(fqdn: string, value: string, signal?: AbortSignal): Promise<void> {
    return this.serializer.run(fqdn, async () => {
      const zone = await this.zone(fqdn, signal);
      const current = await this.read(zone, fqdn, signal);
      if (hasTxt(current?.records.map((record) => record.content) ?? [], value)) return;
      await this.write(zone, fqdn, TTL, [...(current?.records ?? []), { content: quoteTxt(value), disabled: false }], signal);
    });
  }

  deleteTxt(fqdn: string, value: string, signal?: AbortSignal): Promise<void> {
    return this.serializer.run(fqdn, async () => {
      const zone = await this.zone(fqdn, signal);
      const current = await this.read(zone, fqdn, signal);
      if (!current || !hasTxt(current.records.map((record) => record.content), value)) return;
      const rest = current.records.filter((record) => unquoteTxt(record.content) !== value);
      await this.write(zone, fqdn, current.ttl, rest, signal);
    });
  }

  async verify(signal?: AbortSignal): Promise<void> {
    // Checks the key and the server id together.
    checked(await this.send({ method: 'GET', path: '', signal }));
  }

  /** GET /zones?zone=<name> lists just that zone, or nothing. */
  private zone(fqdn: string, signal?: AbortSignal): Promise<Zone> {
    return probeZones(KEY, fqdn, async (candidate) => {
      const response = await this.send({ method: 'GET', path: `/zones?zone=${encodeURIComponent(`${candidate}.`)}`, signal });
      const [zone] = answer(KEY, checked(response), Zones);
      return zone ? { id: zoneId(candidate), kind: zone.kind ?? 'Native' } : undefined;
    });
  }

  private async read(zone: Zone, fqdn: string, signal?: AbortSignal): Promise<z.output<typeof ZoneRRSets>['rrsets'][number] | undefined> {
    // rrset_name/rrset_type narrow the answer on recent servers; older ones send the whole zone, filtered here.
    const name = absolute(fqdn);
    const path = `/zones/${zone.id}?rrset_name=${encodeURIComponent(name)}&rrset_type=TXT`;
    const { rrsets } = answer(KEY, checked(await this.send({ method: 'GET', path, signal })), ZoneRRSets);
    return rrsets.find((rrset) => rrset.type === 'TXT' && rrset.name.toLowerCase() === name);
  }

  private async write(zone: Zone, fqdn: string, ttl: number, records: Array<z.output<typeof Record>>, signal?: AbortSignal): Promise<void> {
    const rrset =
      records.length > 0
        ? { name: absolute(fqdn), type: 'TXT', ttl, changetype: 'REPLACE', records }
        : { name: absolute(fqdn), type: 'TXT', changetype: 'DELETE' };
    checked(await this.send({ method: 'PATCH', path: `/zones/${zone.id}`, body: { rrsets: [rrset] }, signal }));
    // Secondaries learn of the change at once instead of at their next SOA check.
    if (/^(master|primary)$/i.test(zone.kind)) checked(await this.send({ method: 'PUT', path: `/zones/${zone.id}/notify`, signal }));
  }

  private send({ path, ...request }: ApiRequest): Promise<HttpResponse> {
    // PowerDNS answers errors as JSON only to clients that accept it.
    return httpCall(KEY, this.context, { ...request, url: `${this.base}${path}`, headers: { 'x-api-key': this.apiKey, accept: 'application/json' } });
  }
}

function absolute(fqdn: string): string {
  return `${fqdn.replace(/\.$/, '').toLowerCase()}.`;
}

/** The response if it succeeded, else PowerDNS's `{"error": "…"}`. */
function checked(response: HttpResponse): HttpResponse {
  if (isOk(response)) return response;
  const body = ErrorBody.safeParse(response.json);
  throw new DnsProviderError(KEY, body.success ? body.data.error : `HTTP ${response.status}`, response.status);
}

/** PowerDNS Authoritative Server through its built-in HTTP API. */
export const powerdnsProvider: ProviderDefinition<typeof schema> = {
  key: KEY,
  label: 'PowerDNS',
  schema,
  secretFields: ['api_key'],
  create: (attributes, context) => new PowerDnsDns(attributes, context),
};
