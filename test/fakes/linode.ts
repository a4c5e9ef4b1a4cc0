/**
 * A local stand-in for the Linode API v4 Domains endpoints (https://techdocs.akamai.com/linode-api/reference/get-domains):
 * Bearer tokens, page/page_size listings answered with `pages`, X-Filter on records, record create and
 * delete by id, ttl_sec rounded up to the values Linode offers, and `{"errors": [{"reason"}]}` bodies.
 */
import { startFakeServer, type FakeRequest, type FakeResponse } from './fake-http.js';

export interface LinodeFakeOptions {
  token: string;
  zones: string[];
}

export interface LinodeRecord {
  id: number;
  type: string;
  name: string;
  target: string;
  ttl_sec: number;
}

export interface LinodeFake {
  baseUrl: string;
  requests: FakeRequest[];
  /** The TXT records of `zone` at relative `name` ("" for the apex). */
  txt(zone: string, name: string): LinodeRecord[];
  /** Adds other records to `zone`, e.g. to make its record listing span pages. */
  seed(zone: string, records: Array<Omit<LinodeRecord, 'id'>>): void;
  close(): Promise<void>;
}

const TTLS = [0, 30, 120, 300, 3600, 7200, 14400, 28800, 57600, 86400, 172800, 345600, 604800, 1209600, 2419200];
const errors = (status: number, reason: string, field?: string): FakeResponse => ({ status, body: { errors: [{ ...(field ? { field } : {}), reason }] } });

function paged<T>(items: T[], url: URL): FakeResponse {
  const page = Number(url.searchParams.get('page') ?? 1);
  const size = Number(url.searchParams.get('page_size') ?? 100);
  if (size < 25 || size > 500) return errors(400, 'Must be 25-500', 'page_size');
  const pages = Math.max(1, Math.ceil(items.length / size));
  return { status: 200, body: { data: items.slice((page - 1) * size, page * size), page, pages, results: items.length } };
}

/** Starts the fake Linode Domains API on a free loopback port. */
export async function startLinodeFake(options: LinodeFakeOptions): Promise<LinodeFake> {
  const domains = options.zones.map((domain, index) => ({ id: 3150400 + index, domain, type: 'master', status: 'active', records: [] as LinodeRecord[] }));
  let nextId = 14950400;

  const recordsRoute = (request: FakeRequest, domain: (typeof domains)[number], recordId: string | undefined): FakeResponse => {
    if (request.method === 'GET' && !recordId) {
      const filter = JSON.parse(String(request.headers['x-filter'] ?? '{}')) as Record<string, unknown>;
      const records = domain.records.filter((record) => Object.entries(filter).every(([field, wanted]) => record[field as keyof LinodeRecord] === wanted));
      return paged(records, request.url);
    }
    if (request.method === 'POST' && !recordId) {
      const body = JSON.parse(request.body) as Omit<LinodeRecord, 'id'>;
      if (body.target.length > 65535) return errors(400, 'Length must be 0-65535 characters', 'target');
      const record = { id: nextId++, type: body.type, name: body.name, target: body.target, ttl_sec: TTLS.find((ttl) => ttl >= body.ttl_sec) ?? 2419200 };
      domain.records.push(record);
      return { status: 200, body: { ...record, priority: 0, weight: 0, port: 0, tag: null } };
    }
    const index = domain.records.findIndex((record) => String(record.id) === recordId);
    if (request.method === 'DELETE' && index >= 0) {
      domain.records.splice(index, 1);
      return { status: 200, body: {} };
    }
    return errors(404, 'Not found');
  };

  const server = await startFakeServer((request) => {
    if (request.headers.authorization !== `Bearer ${options.token}`) return errors(401, 'Invalid Token');
    const path = request.url.pathname;
    if (request.method === 'GET' && path === '/v4/domains') return paged(domains.map(({ records: _, ...domain }) => domain), request.url);
    const match = path.match(/^\/v4\/domains\/(\d+)\/records(?:\/(\d+))?$/);
    const domain = match && domains.find((candidate) => String(candidate.id) === match[1]);
    return domain ? recordsRoute(request, domain, match?.[2]) : errors(404, 'Not found');
  });

  const zone = (name: string) => domains.find((domain) => domain.domain === name);
  return {
    baseUrl: `${server.origin}/v4`,
    requests: server.requests,
    txt: (name, recordName) => (zone(name)?.records ?? []).filter((record) => record.type === 'TXT' && record.name === recordName),
    seed: (name, records) => void zone(name)?.records.push(...records.map((record) => ({ ...record, id: nextId++ }))),
    close: () => server.close(),
  };
}
