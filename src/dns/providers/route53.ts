import { createHash, createHmac } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { candidateZones, httpCall } from '../http.js';
import { DnsProviderError, type DnsProvider, type ProviderContext, type ProviderDefinition } from '../provider.js';

const KEY = 'route53';
const BASE_URL = 'https://route53.amazonaws.com';
const API = '/2013-04-01';
/** Route 53 is a global service signed in us-east-1 (Route 53 API reference, "Signing requests"). */
const REGION = 'us-east-1';
/** TrueNAS's TTL for challenge records. */
const TTL = 10;
/** Another writer may change the set between our read and write; a stale DELETE fails and is retried. */
const ATTEMPTS = 3;
/** Codes Route 53 answers when requests come too fast; its API reference says to retry with backoff. */
const RETRYABLE = new Set(['Throttling', 'PriorRequestNotComplete']);
const BACKOFF_MS = 250;

const schema = z.object({
  access_key_id: z.string().min(1).describe('AWS Access Key ID'),
  secret_access_key: z.string().min(1).describe('AWS Secret Access Key'),
});

type Route53Attributes = z.output<typeof schema>;

/** An IAM access key pair. */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

/** What SigV4 covers of a request. */
export interface SignableRequest {
  method: string;
  url: URL;
  /** Headers to sign besides host and x-amz-date. */
  headers: Record<string, string>;
  body: string;
}

const sha256 = (data: string) => createHash('sha256').update(data, 'utf8').digest('hex');
const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data, 'utf8').digest();

/** RFC 3986 unreserved characters stay, everything else is %XX (SigV4 "URI-encode"). */
function awsUriEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** "20150830T123600Z" */
function amzDate(now: Date): string {
  return now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

function canonicalQuery(url: URL): string {
  return [...url.searchParams]
    .map(([name, value]) => [awsUriEncode(name), awsUriEncode(value)] as const)
    .sort(([a, x], [b, y]) => (a === b ? (x < y ? -1 : x > y ? 1 : 0) : a < b ? -1 : 1))
    .map(([name, value]) => `${name}=${value}`)
    .join('&');
}

/** Non-S3 services encode each path segment twice; the URL holds it encoded once. */
function canonicalPath(url: URL): string {
  return url.pathname
    .split('/')
    .map((segment) => awsUriEncode(segment))
    .join('/');
}

/**
 * Signs a request with AWS Signature Version 4 (AWS General Reference, "Create a signed AWS API
 * request"): canonical request → string to sign → HMAC chain of date, region, service. Returns the
 * `x-amz-date` and `authorization` headers to send.
 */
export function signV4(
  request: SignableRequest,
  credentials: AwsCredentials,
  scope: { region: string; service: string },
  now: Date,
): { 'x-amz-date': string; authorization: string } {
  const date = amzDate(now);
  const day = date.slice(0, 8);
  const headers = new Map<string, string>(Object.entries(request.headers).map(([name, value]) => [name.toLowerCase(), value.trim().replace(/\s+/g, ' ')]));
  headers.set('host', request.url.host);
  headers.set('x-amz-date', date);
  const names = [...headers.keys()].sort();
  const canonicalRequest = [
    request.method,
    canonicalPath(request.url),
    canonicalQuery(request.url),
    ...names.map((name) => `${name}:${headers.get(name)}`),
    '',
    names.join(';'),
    sha256(request.body),
  ].join('\n');
  const credentialScope = `${day}/${scope.region}/${scope.service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', date, credentialScope, sha256(canonicalRequest)].join('\n');
  const signingKey = hmac(hmac(hmac(hmac(`AWS4${credentials.secretAccessKey}`, day), scope.region), scope.service), 'aws4_request');
  const signature = createHmac('sha256', signingKey).update(stringToSign, 'utf8').digest('hex');
  return {
    'x-amz-date': date,
    authorization: `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${credentialScope}, SignedHeaders=${names.join(';')}, Signature=${signature}`,
  };
}

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decodeXml(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|lt|gt|amp|quot|apos);/gi, (_, entity: string) =>
    entity.startsWith('#x') || entity.startsWith('#X')
      ? String.fromCodePoint(parseInt(entity.slice(2), 16))
      : entity.startsWith('#')
        ? String.fromCodePoint(parseInt(entity.slice(1), 10))
        : (ENTITIES[entity.toLowerCase()] ?? ''),
  );
}

/** The raw contents of every `<tag>` element; enough for Route 53's flat, unmixed XML. */
export function xmlElements(xml: string, tag: string): string[] {
  const pattern = new RegExp(`<${tag}(?:\\s[^>]*)?>([\\s\\S]*?)</${tag}>`, 'g');
  return [...xml.matchAll(pattern)].map((match) => match[1] ?? '');
}

/** The decoded text of the first `<tag>` element. */
export function xmlText(xml: string, tag: string): string | undefined {
  const inner = xmlElements(xml, tag)[0];
  return inner === undefined ? undefined : decodeXml(inner.trim());
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** `<ErrorResponse><Error><Code>…<Message>…` or the older `<InvalidChangeBatch><Messages><Message>…`. */
function describeError(xml: string): { code: string | undefined; message: string | undefined } {
  const error = xmlElements(xml, 'Error')[0];
  if (error !== undefined) return { code: xmlText(error, 'Code'), message: xmlText(error, 'Message') };
  const messages = xmlElements(xml, 'Message').map(decodeXml);
  return { code: /<InvalidChangeBatch[\s>]/.test(xml) ? 'InvalidChangeBatch' : undefined, message: messages.length > 0 ? messages.join('; ') : undefined };
}

class Route53Error extends DnsProviderError {
  constructor(
    message: string,
    status: number,
    readonly code: string | undefined,
  ) {
    super(KEY, message, status);
  }
}

interface TxtSet {
  ttl: number;
  /** Quoted presentation values, as Route 53 stores TXT data. */
  values: string[];
}

type Change = { action: 'UPSERT' | 'DELETE'; name: string; set: TxtSet };

/** Challenges for "example.com" and "*.example.com" share one name: read-modify-write must not interleave. */
const nameLocks = new Map<string, Promise<unknown>>();

/** Runs `work` once everything queued earlier under `key` has finished. */
async function serialized<T>(key: string, work: () => Promise<T>): Promise<T> {
  const previous = nameLocks.get(key) ?? Promise.resolve();
  const current = previous.then(work, work);
  const settled = current.then(
    () => undefined,
    () => undefined,
  );
  nameLocks.set(key, settled);
  try {
    return await current;
  } finally {
    if (nameLocks.get(key) === settled) nameLocks.delete(key);
  }
}

/** Route 53 REST API (2013-04-01) with SigV4, keeping every other TXT value at a name. */
class Route53Dns implements DnsProvider {
  private readonly baseUrl: string;
  private readonly credentials: AwsCredentials;

  constructor(
    attributes: Route53Attributes,
    private readonly context: ProviderContext,
  ) {
    this.baseUrl = (context.baseUrl ?? BASE_URL).replace(/\/$/, '');
    this.credentials = { accessKeyId: attributes.access_key_id, secretAccessKey: attributes.secret_access_key };
  }

  async createTxt(fqdn: string, value: string, signal?: AbortSignal): Promise<void> {
    await this.updateSet(fqdn, signal, (values) => (values.includes(quote(value)) ? undefined : [...values, quote(value)]));
  }

  async deleteTxt(fqdn: string, value: string, signal?: AbortSignal): Promise<void> {
    await this.updateSet(fqdn, signal, (values) => (values.includes(quote(value)) ? values.filter((v) => v !== quote(value)) : undefined));
  }

  async verify(signal?: AbortSignal): Promise<void> {
    const xml = await this.call('GET', `${API}/hostedzonesbyname`, { maxitems: '1' }, undefined, signal);
    if (xmlElements(xml, 'HostedZone').length === 0) throw new DnsProviderError(KEY, 'these credentials see no hosted zones');
  }

  /** Reads the TXT set at `fqdn`, lets `edit` compute the new values (undefined: nothing to do) and writes it. */
  private async updateSet(fqdn: string, signal: AbortSignal | undefined, edit: (values: string[]) => string[] | undefined): Promise<void> {
    const name = `${fqdn.replace(/\.$/, '').toLowerCase()}.`;
    const zoneId = await this.findZone(name, signal);
    await serialized(`${this.credentials.accessKeyId}/${zoneId}/${name}`, async () => {
      for (let attempt = 1; ; attempt += 1) {
        const current = await this.readSet(zoneId, name, signal);
        const values = edit(current?.values ?? []);
        if (values === undefined) return;
        // UPSERT replaces the whole set, so it carries the other values; an emptied set must be DELETEd exactly as stored.
        const change: Change =
          current && values.length === 0 ? { action: 'DELETE', name, set: current } : { action: 'UPSERT', name, set: { ttl: current?.ttl ?? TTL, values } };
        try {
          await this.call('POST', `${API}/hostedzone/${zoneId}/rrset`, {}, changeBatch(change), signal);
          return;
        } catch (error) {
          if (!(error instanceof Route53Error && error.code === 'InvalidChangeBatch' && attempt < ATTEMPTS)) throw error;
        }
      }
    });
  }

  /** The id of the most specific public hosted zone whose name is a suffix of `name` (as TrueNAS chooses, §4.3). */
  private async findZone(name: string, signal?: AbortSignal): Promise<string> {
    for (const candidate of candidateZones(name)) {
      const zoneId = await this.publicZoneNamed(`${candidate}.`, signal);
      if (zoneId) return zoneId;
    }
    throw new DnsProviderError(KEY, `no public hosted zone holds ${name.slice(0, -1)}`);
  }

  /**
   * ListHostedZonesByName starts at `dnsname` in name order, so zones named exactly `zoneName` come
   * first; a private zone of the same name may fill a page, hence `NextDNSName`/`NextHostedZoneId`.
   */
  private async publicZoneNamed(zoneName: string, signal?: AbortSignal): Promise<string | undefined> {
    let query: Record<string, string> = { dnsname: zoneName };
    for (;;) {
      const xml = await this.call('GET', `${API}/hostedzonesbyname`, query, undefined, signal);
      for (const zone of xmlElements(xml, 'HostedZone')) {
        if (xmlText(zone, 'Name')?.toLowerCase() !== zoneName) return undefined;
        if (xmlText(zone, 'PrivateZone') !== 'true') return (xmlText(zone, 'Id') ?? '').replace(/^\/hostedzone\//, '');
      }
      const next = xmlText(xml, 'NextDNSName');
      const nextId = xmlText(xml, 'NextHostedZoneId');
      if (xmlText(xml, 'IsTruncated') !== 'true' || next?.toLowerCase() !== zoneName || !nextId) return undefined;
      query = { dnsname: zoneName, hostedzoneid: nextId };
    }
  }

  /** ListResourceRecordSets starts at (name, type); the first set is ours only if both match. */
  private async readSet(zoneId: string, name: string, signal?: AbortSignal): Promise<TxtSet | undefined> {
    const xml = await this.call('GET', `${API}/hostedzone/${zoneId}/rrset`, { name, type: 'TXT', maxitems: '1' }, undefined, signal);
    const set = xmlElements(xml, 'ResourceRecordSet')[0];
    if (set === undefined || xmlText(set, 'Name')?.toLowerCase() !== name || xmlText(set, 'Type') !== 'TXT') return undefined;
    return { ttl: Number(xmlText(set, 'TTL') ?? TTL), values: xmlElements(set, 'Value').map(decodeXml) };
  }

  private async call(method: 'GET' | 'POST', path: string, query: Record<string, string>, body: string | undefined, signal?: AbortSignal): Promise<string> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.send(method, path, query, body, signal);
      } catch (error) {
        if (!(error instanceof Route53Error && RETRYABLE.has(error.code ?? '') && attempt < ATTEMPTS)) throw error;
        await sleep(BACKOFF_MS * attempt, undefined, { signal }).catch(() => {
          throw new DnsProviderError(KEY, 'cancelled');
        });
      }
    }
  }

  private async send(method: 'GET' | 'POST', path: string, query: Record<string, string>, body: string | undefined, signal?: AbortSignal): Promise<string> {
    // The query is written with the signer's encoding so the wire form and the signed form agree.
    const search = Object.entries(query)
      .map(([name, value]) => `${awsUriEncode(name)}=${awsUriEncode(value)}`)
      .join('&');
    const url = new URL(`${this.baseUrl}${path}${search ? `?${search}` : ''}`);
    const signed = signV4({ method, url, headers: {}, body: body ?? '' }, this.credentials, { region: REGION, service: KEY }, new Date());
    const headers = { ...signed, ...(body === undefined ? {} : { 'content-type': 'application/xml' }) };
    const response = await httpCall(KEY, this.context, { method, url: url.toString(), headers, body, signal });
    if (response.status >= 200 && response.status < 300) return response.text;
    const { code, message } = describeError(response.text);
    throw new Route53Error(message ? `${message}${code ? ` (${code})` : ''}` : `HTTP ${response.status} from ${method} ${path}`, response.status, code);
  }
}

function quote(value: string): string {
  return `"${value.replace(/["\\]/g, '\\$&')}"`;
}

/** ChangeResourceRecordSets request body (Route 53 API reference). */
function changeBatch(change: Change): string {
  const records = change.set.values.map((value) => `<ResourceRecord><Value>${escapeXml(value)}</Value></ResourceRecord>`).join('');
  return (
    '<?xml version="1.0" encoding="UTF-8"?>' +
    '<ChangeResourceRecordSetsRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><ChangeBatch>' +
    `<Comment>certmid DNS-01 challenge ${change.action}</Comment><Changes><Change><Action>${change.action}</Action>` +
    `<ResourceRecordSet><Name>${escapeXml(change.name)}</Name><Type>TXT</Type><TTL>${change.set.ttl}</TTL>` +
    `<ResourceRecords>${records}</ResourceRecords></ResourceRecordSet></Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>`
  );
}

/** AWS Route 53 with an access key pair, signed with SigV4. */
export const route53Provider: ProviderDefinition<typeof schema> = {
  key: KEY,
  label: 'Amazon Route 53',
  schema: schema,
  secretFields: ['secret_access_key'],
  create: (attributes, context) => new Route53Dns(attributes, context),
};
