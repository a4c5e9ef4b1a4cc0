/**
 * A local stand-in for the Vultr API v2 DNS endpoints (https://www.vultr.com/api/#tag/dns): Bearer API
 * keys, cursor pagination (per_page up to 500, `meta.links.next`), record create and delete by id, and
 * `{"error": …, "status": n}` bodies.
 */
import { startFakeServer, type FakeRequest, type FakeResponse } from './fake-http.js';

export interface VultrFakeOptions {
  apiKey: string;
  zones: string[];
}

export interface VultrRecord {
  id: string;
  type: string;
  name: string;
  data: string;
  priority: number;
  ttl: number;
}

export interface VultrFake {
  baseUrl: string;
  requests: FakeRequest[];
  /** The TXT records of `zone` at relative `name` ("" for the apex). */
  txt(zone: string, name: string): VultrRecord[];
  seed(zone: string, records: Array<Omit<VultrRecord, 'id'>>): void;
  close(): Promise<void>;
}

const error = (status: number, message: string): FakeResponse => ({ status, body: { error: message, status } });

/** A page from an opaque cursor (here: the offset in base64). */
function paged<K extends string>(key: K, items: unknown[], url: URL): FakeResponse {
  const perPage = Number(url.searchParams.get('per_page') ?? 100);
  if (perPage < 1 || perPage > 500) return error(400, 'per_page must be between 1 and 500');
  const start = Number(Buffer.from(url.searchParams.get('cursor') ?? '', 'base64').toString() || 0);
  const end = start + perPage;
  const next = end < items.length ? Buffer.from(String(end)).toString('base64') : '';
  const prev = start > 0 ? Buffer.from(String(Math.max(0, start - perPage))).toString('base64') : '';
  return { status: 200, body: { [key]: items.slice(start, end), meta: { total: items.length, links: { next, prev } } } };
}

/** Starts the fake Vultr DNS API on a free loopback port. */
export async function startVultrFake(options: VultrFakeOptions): Promise<VultrFake> {
  const records = new Map<string, VultrRecord[]>(options.zones.map((zone) => [zone, []]));
  let nextId = 1;
  const uuid = () => `cb676a46-66fd-4dfb-b839-${String(nextId++).padStart(12, '0')}`;

  const recordsRoute = (request: FakeRequest, zoneRecords: VultrRecord[], id: string | undefined): FakeResponse => {
    if (request.method === 'GET' && !id) return paged('records', zoneRecords, request.url);
    if (request.method === 'POST' && !id) {
      const body = JSON.parse(request.body) as Omit<VultrRecord, 'id'>;
      const record = { id: uuid(), type: body.type, name: body.name, data: body.data, priority: body.priority ?? 0, ttl: body.ttl ?? 300 };
      zoneRecords.push(record);
      return { status: 201, body: { record } };
    }
    const index = zoneRecords.findIndex((record) => record.id === id);
    if (request.method === 'DELETE' && index >= 0) {
      zoneRecords.splice(index, 1);
      return { status: 204 };
    }
    return error(404, 'Invalid record.');
  };

  const server = await startFakeServer((request) => {
    if (request.headers.authorization !== `Bearer ${options.apiKey}`) return error(401, 'Invalid API token.');
    const path = request.url.pathname;
    if (request.method === 'GET' && path === '/v2/domains') {
      return paged('domains', options.zones.map((domain) => ({ domain, date_created: '2024-01-01T00:00:00+00:00', dns_sec: 'disabled' })), request.url);
    }
    const match = path.match(/^\/v2\/domains\/([^/]+)\/records(?:\/([^/]+))?$/);
    const zoneRecords = match && records.get(decodeURIComponent(match[1] ?? ''));
    return zoneRecords ? recordsRoute(request, zoneRecords, match?.[2]) : error(404, 'Invalid domain.');
  });

  return {
    baseUrl: `${server.origin}/v2`,
    requests: server.requests,
    txt: (zone, name) => (records.get(zone) ?? []).filter((record) => record.type === 'TXT' && record.name === name),
    seed: (zone, added) => void records.get(zone)?.push(...added.map((record) => ({ ...record, id: uuid() }))),
    close: () => server.close(),
  };
}
