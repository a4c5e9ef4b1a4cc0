import { createHash, createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { xmlElements, xmlText } from '../../src/dns/providers/route53.js';
import { startFakeServer, type FakeRequest, type FakeResponse, type FakeServer } from './fake-http.js';

export interface FakeRoute53Zone {
  id: string;
  /** With the trailing dot, as Route 53 writes names. */
  name: string;
  private: boolean;
}

export interface FakeRoute53RecordSet {
  zoneId: string;
  name: string;
  type: string;
  ttl: number;
  values: string[];
}

export interface FakeRoute53Options {
  accessKeyId: string;
  secretAccessKey: string;
  zones: Array<{ name: string; private?: boolean }>;
  /** Largest page the fake returns, whatever `maxitems` asks (forces pagination in tests). */
  maxItems?: number;
}

const XMLNS = 'https://route53.amazonaws.com/doc/2013-04-01/';
/** AWS refuses signatures more than 5 minutes away from its clock. */
const MAX_SKEW_MS = 5 * 60 * 1000;

/**
 * The Route 53 REST API (2013-04-01) as a DNS-01 client uses it: ListHostedZonesByName with
 * truncation, ListResourceRecordSets, ChangeResourceRecordSets (CREATE/UPSERT/DELETE with AWS's
 * InvalidChangeBatch rules), each request's SigV4 signature recomputed from the wire request.
 */
export class FakeRoute53 {
  readonly zones: FakeRoute53Zone[];
  readonly recordSets: FakeRoute53RecordSet[] = [];
  /** Runs once before the next change is applied (simulates another writer). */
  beforeNextChange: (() => void) | undefined;
  /** How many of the next requests get Route 53's throttling answer. */
  throttleNext = 0;
  private server: FakeServer | undefined;

  private constructor(private readonly options: FakeRoute53Options) {
    this.zones = options.zones.map((zone, i) => ({ id: `Z${String(i + 1).padStart(4, '0')}FAKE`, name: `${zone.name}.`, private: zone.private ?? false }));
  }

  static async start(options: FakeRoute53Options): Promise<FakeRoute53> {
    const fake = new FakeRoute53(options);
    fake.server = await startFakeServer((request) => fake.handle(request));
    return fake;
  }

  get baseUrl(): string {
    return this.server?.origin ?? '';
  }

  get requests(): FakeRequest[] {
    return this.server?.requests ?? [];
  }

  /** The TXT values at `name` (no trailing dot), unquoted. */
  txt(name: string): string[] {
    const set = this.recordSets.find((s) => s.name === `${name}.` && s.type === 'TXT');
    return (set?.values ?? []).map((v) => v.slice(1, -1));
  }

  async close(): Promise<void> {
    await this.server?.close();
  }

  private handle(request: FakeRequest): FakeResponse {
    const denied = this.checkSignature(request);
    if (denied) return denied;
    if (this.throttleNext > 0) {
      this.throttleNext -= 1;
      return error(400, 'Throttling', 'Rate exceeded');
    }
    const path = request.url.pathname;
    if (request.method === 'GET' && path === '/2013-04-01/hostedzonesbyname') return this.listZones(request);
    const match = /^\/2013-04-01\/hostedzone\/([^/]+)\/rrset$/.exec(path);
    if (!match) return error(404, 'UnknownOperationException', `Unknown operation ${request.method} ${path}`);
    const zone = this.zones.find((z) => z.id === match[1]);
    if (!zone) return error(404, 'NoSuchHostedZone', `No hosted zone found with ID: ${match[1]}`);
    if (request.method === 'GET') return this.listRecordSets(request, zone);
    if (request.method === 'POST') return this.change(request, zone);
    return error(405, 'UnknownOperationException', `Unknown operation ${request.method} ${path}`);
  }

  /** SigV4 checked independently of the client's signer: canonical request rebuilt from what arrived. */
  private checkSignature(request: FakeRequest): FakeResponse | undefined {
    const header = request.headers.authorization ?? '';
    const auth = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/.exec(header);
    if (!auth) return error(403, 'MissingAuthenticationToken', 'Missing Authentication Token');
    const [, accessKeyId = '', day = '', region = '', service = '', signedHeaders = '', signature = ''] = auth;
    if (accessKeyId !== this.options.accessKeyId) return error(403, 'InvalidClientTokenId', 'The security token included in the request is invalid.');
    const date = String(request.headers['x-amz-date'] ?? '');
    const names = signedHeaders.split(';');
    if (!names.includes('host') || !names.includes('x-amz-date')) return error(403, 'IncompleteSignature', "'Host' or 'x-amz-date' must be a signed header.");
    const when = Date.parse(date.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'));
    if (!(Math.abs(Date.now() - when) <= MAX_SKEW_MS)) return error(403, 'SignatureDoesNotMatch', `Signature expired: ${date} is now earlier or later than the allowed skew.`);
    if (region !== 'us-east-1' || service !== 'route53' || !date.startsWith(day)) {
      return error(403, 'SignatureDoesNotMatch', 'Credential should be scoped to a valid region and service.');
    }
    const expected = this.signature(request, names, date, `${day}/${region}/${service}/aws4_request`);
    if (!timingSafeEqual(Buffer.from(expected), Buffer.from(signature))) {
      return error(
        403,
        'SignatureDoesNotMatch',
        'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
      );
    }
    return undefined;
  }

  private signature(request: FakeRequest, names: string[], date: string, scope: string): string {
    const [rawPath = '/', rawQuery = ''] = request.target.split('?');
    const encode = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
    const path = rawPath
      .split('/')
      .map((segment) => encode(segment))
      .join('/');
    const query = rawQuery
      .split('&')
      .filter(Boolean)
      .map((pair) => pair.split('=').map((part) => encode(decodeURIComponent(part))))
      .sort(([a = '', x = ''], [b = '', y = '']) => (a === b ? compare(x, y) : compare(a, b)))
      .map(([name = '', value = '']) => `${name}=${value}`)
      .join('&');
    const headerLines = names.map((name) => {
      const value = request.headers[name];
      return `${name}:${(Array.isArray(value) ? value.join(',') : (value ?? '')).trim().replace(/\s+/g, ' ')}`;
    });
    const hash = (s: string) => createHash('sha256').update(s).digest('hex');
    const canonical = [request.method, path, query, ...headerLines, '', names.join(';'), hash(request.body)].join('\n');
    const toSign = ['AWS4-HMAC-SHA256', date, scope, hash(canonical)].join('\n');
    let key: Buffer | string = `AWS4${this.options.secretAccessKey}`;
    for (const part of scope.split('/')) key = createHmac('sha256', key).update(part).digest();
    return createHmac('sha256', key).update(toSign).digest('hex');
  }

  /** Zones in reversed-label name order, then by id, starting at (dnsname, hostedzoneid). */
  private listZones(request: FakeRequest): FakeResponse {
    const query = request.url.searchParams;
    const order = (zone: FakeRoute53Zone) => `${reversed(zone.name)} ${zone.id}`;
    const start = `${reversed(withDot(query.get('dnsname') ?? ''))} ${query.get('hostedzoneid') ?? ''}`;
    const sorted = [...this.zones].sort((a, b) => (order(a) < order(b) ? -1 : 1)).filter((zone) => !query.has('dnsname') || order(zone) >= start);
    const maxItems = Math.min(Number(query.get('maxitems') ?? 100), this.options.maxItems ?? 100);
    const page = sorted.slice(0, maxItems);
    const next = sorted[maxItems];
    const zones = page
      .map(
        (z) =>
          `<HostedZone><Id>/hostedzone/${z.id}</Id><Name>${z.name}</Name><CallerReference>${z.id}-ref</CallerReference>` +
          `<Config><PrivateZone>${z.private}</PrivateZone></Config><ResourceRecordSetCount>2</ResourceRecordSetCount></HostedZone>`,
      )
      .join('');
    const truncation = next ? `<IsTruncated>true</IsTruncated><NextDNSName>${next.name}</NextDNSName><NextHostedZoneId>${next.id}</NextHostedZoneId>` : '<IsTruncated>false</IsTruncated>';
    const echo = query.has('dnsname') ? `<DNSName>${query.get('dnsname')}</DNSName>` : '';
    return xml(200, `<ListHostedZonesByNameResponse xmlns="${XMLNS}"><HostedZones>${zones}</HostedZones>${echo}${truncation}<MaxItems>${maxItems}</MaxItems></ListHostedZonesByNameResponse>`);
  }

  private listRecordSets(request: FakeRequest, zone: FakeRoute53Zone): FakeResponse {
    const query = request.url.searchParams;
    const order = (set: { name: string; type: string }) => `${reversed(set.name)} ${set.type}`;
    const start = order({ name: withDot(query.get('name') ?? zone.name), type: query.get('type') ?? '' });
    const sets = this.recordSets
      .filter((s) => s.zoneId === zone.id && order(s) >= start)
      .sort((a, b) => (order(a) < order(b) ? -1 : 1))
      .slice(0, Number(query.get('maxitems') ?? 300));
    const body = sets
      .map(
        (s) =>
          `<ResourceRecordSet><Name>${s.name}</Name><Type>${s.type}</Type><TTL>${s.ttl}</TTL><ResourceRecords>` +
          s.values.map((v) => `<ResourceRecord><Value>${escape(v)}</Value></ResourceRecord>`).join('') +
          '</ResourceRecords></ResourceRecordSet>',
      )
      .join('');
    return xml(200, `<ListResourceRecordSetsResponse xmlns="${XMLNS}"><ResourceRecordSets>${body}</ResourceRecordSets><IsTruncated>false</IsTruncated><MaxItems>${query.get('maxitems') ?? 300}</MaxItems></ListResourceRecordSetsResponse>`);
  }

  /** Applies a ChangeBatch atomically, with the InvalidChangeBatch messages AWS uses. */
  private change(request: FakeRequest, zone: FakeRoute53Zone): FakeResponse {
    this.beforeNextChange?.();
    this.beforeNextChange = undefined;
    const working = this.recordSets.map((s) => ({ ...s, values: [...s.values] }));
    for (const change of xmlElements(request.body, 'Change')) {
      const action = xmlText(change, 'Action');
      const name = withDot((xmlText(change, 'Name') ?? '').toLowerCase());
      const type = xmlText(change, 'Type') ?? '';
      const ttl = Number(xmlText(change, 'TTL'));
      const values = xmlElements(change, 'Value').map((v) => xmlText(`<V>${v}</V>`, 'V') ?? '');
      const label = `[name='${name}', type='${type}']`;
      if (name !== zone.name && !name.endsWith(`.${zone.name}`)) return invalidBatch(`RRSet with DNS name ${name} is not permitted in zone ${zone.name}`);
      const bad = values.find((v) => type === 'TXT' && !/^".*"$/.test(v));
      if (bad !== undefined) return invalidBatch(`Invalid Resource Record: 'FATAL problem: InvalidCharacterString (Value should be enclosed in quotation marks) encountered with '${bad}''`);
      const index = working.findIndex((s) => s.zoneId === zone.id && s.name === name && s.type === type);
      const existing = working[index];
      if (action === 'DELETE') {
        if (!existing) return invalidBatch(`Tried to delete resource record set ${label} but it was not found`);
        if (existing.ttl !== ttl || [...existing.values].sort().join() !== [...values].sort().join()) {
          return invalidBatch(`Tried to delete resource record set ${label} but the values provided do not match the current values`);
        }
        working.splice(index, 1);
      } else if (action === 'CREATE' && existing) {
        return invalidBatch(`Tried to create resource record set ${label} but it already exists`);
      } else if (action === 'CREATE' || action === 'UPSERT') {
        if (values.length === 0) return error(400, 'InvalidInput', 'ResourceRecords must contain at least one record');
        if (existing) working.splice(index, 1);
        working.push({ zoneId: zone.id, name, type, ttl, values });
      } else {
        return error(400, 'InvalidInput', `Invalid Action ${action}`);
      }
    }
    this.recordSets.splice(0, this.recordSets.length, ...working);
    const info = `<ChangeInfo><Id>/change/C${randomUUID().replaceAll('-', '').slice(0, 12).toUpperCase()}</Id><Status>PENDING</Status><SubmittedAt>${new Date().toISOString()}</SubmittedAt></ChangeInfo>`;
    return xml(200, `<ChangeResourceRecordSetsResponse xmlns="${XMLNS}">${info}</ChangeResourceRecordSetsResponse>`);
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function withDot(name: string): string {
  return name.endsWith('.') ? name : `${name}.`;
}

function reversed(name: string): string {
  return name.replace(/\.$/, '').split('.').reverse().join('.');
}

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function xml(status: number, body: string): FakeResponse {
  return { status, body: `<?xml version="1.0" encoding="UTF-8"?>\n${body}`, headers: { 'content-type': 'text/xml' } };
}

/** Route 53's standard error document (Route 53 API reference, "Errors"). */
function error(status: number, code: string, message: string): FakeResponse {
  return xml(status, `<ErrorResponse xmlns="${XMLNS}"><Error><Type>Sender</Type><Code>${code}</Code><Message>${escape(message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`);
}

function invalidBatch(message: string): FakeResponse {
  return error(400, 'InvalidChangeBatch', message);
}
