import { createHash } from 'node:crypto';
import { z } from 'zod';
import { candidateZones, httpCall, relativeName } from '../http.js';
import { DnsProviderError, type DnsProvider, type ProviderContext, type ProviderDefinition } from '../provider.js';

const KEY = 'OVH';
/** python-ovh `ENDPOINTS`, which lexicon (and so TrueNAS) takes its `endpoint` choices from. */
export const OVH_ENDPOINTS = {
  'ovh-eu': 'https://eu.api.ovh.com/1.0',
  'ovh-ca': 'https://ca.api.ovh.com/1.0',
  'ovh-us': 'https://api.us.ovhcloud.com/1.0',
  'kimsufi-eu': 'https://eu.api.kimsufi.com/1.0',
  'kimsufi-ca': 'https://ca.api.kimsufi.com/1.0',
  'soyoustart-eu': 'https://eu.api.soyoustart.com/1.0',
  'soyoustart-ca': 'https://ca.api.soyoustart.com/1.0',
} as const;
/** OVH's minimum TTL for zone records. */
const TTL = 60;

const endpointNames = Object.keys(OVH_ENDPOINTS) as [keyof typeof OVH_ENDPOINTS, ...Array<keyof typeof OVH_ENDPOINTS>];

const schema = z.object({
  application_key: z.string().min(1).describe('OVH Application Key'),
  application_secret: z.string().min(1).describe('OVH Application Secret'),
  consumer_key: z.string().min(1).describe('OVH Consumer Key'),
  endpoint: z.enum(endpointNames).describe('OVH Endpoint'),
});

type OvhAttributes = z.output<typeof schema>;

/**
 * OVH API v1 request signature ("First steps with the OVHcloud APIs", "Signing requests"):
 * "$1$" + SHA1_HEX(AS + "+" + CK + "+" + METHOD + "+" + QUERY + "+" + BODY + "+" + TSTAMP), where
 * QUERY is the full URL as sent and BODY the exact body text.
 */
export function ovhSignature(secret: string, consumerKey: string, method: string, url: string, body: string, timestamp: number): string {
  return `$1$${createHash('sha1').update(`${secret}+${consumerKey}+${method}+${url}+${body}+${timestamp}`).digest('hex')}`;
}

interface OvhRecord {
  id: number;
  fieldType: string;
  subDomain: string;
  target: string;
}

type Method = 'GET' | 'POST' | 'DELETE';

/** OVH API v1 client: zones listed by name, TXT records created, matched by target and deleted by id. */
class OvhDns implements DnsProvider {
  private readonly baseUrl: string;
  /** Server clock minus ours, in seconds; OVH refuses timestamps too far from its own. */
  private clockSkew: Promise<number> | undefined;

  constructor(
    private readonly attributes: OvhAttributes,
    private readonly context: ProviderContext,
  ) {
    this.baseUrl = (context.baseUrl ?? OVH_ENDPOINTS[attributes.endpoint]).replace(/\/$/, '');
  }

  async createTxt(fqdn: string, value: string, signal?: AbortSignal): Promise<void> {
    const name = normalize(fqdn);
    const zone = await this.findZone(name, signal);
    await this.call('POST', `/domain/zone/${zone}/record`, { fieldType: 'TXT', subDomain: subDomain(name, zone), target: value, ttl: TTL }, signal);
    // Records reach the name servers only once the zone is refreshed (API console, POST /domain/zone/{zoneName}/refresh).
    await this.call('POST', `/domain/zone/${zone}/refresh`, undefined, signal);
  }

  async deleteTxt(fqdn: string, value: string, signal?: AbortSignal): Promise<void> {
    const name = normalize(fqdn);
    const zone = await this.findZone(name, signal);
    const query = `fieldType=TXT&subDomain=${encodeURIComponent(subDomain(name, zone))}`;
    const ids = (await this.call('GET', `/domain/zone/${zone}/record?${query}`, undefined, signal)) as number[];
    let deleted = false;
    for (const id of ids) {
      const record = (await this.call('GET', `/domain/zone/${zone}/record/${id}`, undefined, signal)) as OvhRecord;
      if (unquote(record.target) !== value) continue;
      try {
        await this.call('DELETE', `/domain/zone/${zone}/record/${id}`, undefined, signal);
        deleted = true;
      } catch (error) {
        // Another cleanup got there first.
        if (!(error instanceof DnsProviderError && error.status === 404)) throw error;
      }
    }
    if (deleted) await this.call('POST', `/domain/zone/${zone}/refresh`, undefined, signal);
  }

  async verify(signal?: AbortSignal): Promise<void> {
    // The zone list needs a valid key triple and the GET /domain/zone grant DNS-01 depends on.
    const zones = (await this.call('GET', '/domain/zone', undefined, signal)) as string[];
    if (zones.length === 0) throw new DnsProviderError(KEY, 'these credentials see no DNS zones');
  }

  /** GET /domain/zone returns every zone name at once (the API does not page this list). */
  private async findZone(name: string, signal?: AbortSignal): Promise<string> {
    const zones = new Set(((await this.call('GET', '/domain/zone', undefined, signal)) as string[]).map((z) => z.toLowerCase()));
    const zone = candidateZones(name).find((candidate) => zones.has(candidate));
    if (!zone) throw new DnsProviderError(KEY, `no DNS zone holding ${name} is visible to these credentials`);
    return zone;
  }

  private async call(method: Method, path: string, body: unknown, signal?: AbortSignal): Promise<unknown> {
    const url = `${this.baseUrl}${path}`;
    const text = body === undefined ? '' : JSON.stringify(body);
    const timestamp = Math.floor(Date.now() / 1000) + (await this.skew(signal));
    const headers = {
      'x-ovh-application': this.attributes.application_key,
      'x-ovh-consumer': this.attributes.consumer_key,
      'x-ovh-timestamp': String(timestamp),
      'x-ovh-signature': ovhSignature(this.attributes.application_secret, this.attributes.consumer_key, method, url, text, timestamp),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    };
    const response = await httpCall(KEY, this.context, { method, url, headers, body: body === undefined ? undefined : text, signal });
    if (response.status >= 200 && response.status < 300) return response.json ?? null;
    throw new DnsProviderError(KEY, describeError(response.json, `HTTP ${response.status} from ${method} ${path}`), response.status);
  }

  /** GET /auth/time is unauthenticated and answers the server's Unix time. */
  private skew(signal?: AbortSignal): Promise<number> {
    this.clockSkew ??= httpCall(KEY, this.context, { method: 'GET', url: `${this.baseUrl}/auth/time`, signal }).then((response) => {
      if (typeof response.json !== 'number') throw new DnsProviderError(KEY, `GET /auth/time answered HTTP ${response.status} without a time`, response.status);
      return response.json - Math.floor(Date.now() / 1000);
    });
    // A failed attempt is not remembered, so the next call asks again.
    this.clockSkew.catch(() => {
      this.clockSkew = undefined;
    });
    return this.clockSkew;
  }
}

/** Errors are {"message", "errorCode"?, "httpCode"?, "class"?}. */
function describeError(json: unknown, fallback: string): string {
  const error = json as { message?: string; errorCode?: string; class?: string } | undefined;
  if (!error?.message) return fallback;
  const code = error.errorCode ?? error.class;
  return code ? `${error.message} (${code})` : error.message;
}

/** OVH names the apex with an empty subDomain. */
function subDomain(name: string, zone: string): string {
  const relative = relativeName(name, zone);
  return relative === '@' ? '' : relative;
}

function normalize(fqdn: string): string {
  return fqdn.replace(/\.$/, '').toLowerCase();
}

/** Some zones hand TXT targets back quoted; compare the bare value. */
function unquote(target: string): string {
  return target.length >= 2 && target.startsWith('"') && target.endsWith('"') ? target.slice(1, -1) : target;
}

/** OVHcloud DNS (and Kimsufi, So you Start) with an application key, secret and consumer key. */
export const ovhProvider: ProviderDefinition<typeof schema> = {
  key: KEY,
  label: 'OVHcloud',
  schema: schema,
  secretFields: ['application_secret', 'consumer_key'],
  create: (attributes, context) => new OvhDns(attributes, context),
};
