/**
 * A local stand-in for the deSEC API (https://desec.readthedocs.io/): "Authorization: Token", domain
 * listing with owns_qname and cursor pagination, RRsets read by "{subname}.../{type}/" or "@", bulk PUT
 * (an empty record list deletes), the domain's minimum TTL, and deSEC's error bodies.
 */
import { startFakeServer, type FakeRequest, type FakeResponse } from './fake-http.js';

export interface DesecFakeOptions {
  token: string;
  zones: Array<{ name: string; minimumTtl: number }>;
}

export interface DesecFake {
  /** Base URL to give the provider ("…/api/v1"). */
  baseUrl: string;
  requests: FakeRequest[];
  /** The stored TXT records at `subname` ("" for the apex) in `zone`. */
  txt(zone: string, subname: string): string[];
  ttl(zone: string, subname: string): number | undefined;
  seed(zone: string, subname: string, records: string[], ttl: number): void;
  close(): Promise<void>;
}

const PAGE = 500;
const notFound: FakeResponse = { status: 404, body: { detail: 'Not found.' } };

/** Starts the fake deSEC API on a free loopback port. */
export async function startDesecFake(options: DesecFakeOptions): Promise<DesecFake> {
  const rrsets = new Map<string, { ttl: number; records: string[] }>();
  const key = (zone: string, subname: string) => `${zone}/${subname}`;
  const domain = (name: string) => options.zones.find((zone) => zone.name === name);
  const view = (zone: { name: string; minimumTtl: number }) => ({ name: zone.name, minimum_ttl: zone.minimumTtl, created: '2024-01-01T00:00:00Z' });

  const listDomains = (url: URL): FakeResponse => {
    const qname = url.searchParams.get('owns_qname');
    if (qname !== null) {
      const owners = options.zones.filter((zone) => qname === zone.name || qname.endsWith(`.${zone.name}`));
      const owner = owners.sort((a, b) => b.name.length - a.name.length)[0];
      return { status: 200, body: owner ? [view(owner)] : [] };
    }
    const cursor = url.searchParams.get('cursor');
    if (cursor === null && options.zones.length > PAGE) {
      const detail = `Pagination required. You can query up to ${PAGE} items at a time (${options.zones.length} total). Please use the \`first\` page link (see Link header).`;
      return { status: 400, body: { detail } };
    }
    const start = Number(cursor || 0);
    const next = start + PAGE < options.zones.length ? `<${url.origin}/api/v1/domains/?cursor=${start + PAGE}>; rel="next"` : '';
    const link = [`<${url.origin}/api/v1/domains/?cursor=>; rel="first"`, next].filter(Boolean).join(', ');
    return { status: 200, body: options.zones.slice(start, start + PAGE).map(view), headers: { link } };
  };

  const bulkPut = (zone: { name: string; minimumTtl: number }, body: string): FakeResponse => {
    const items = JSON.parse(body) as Array<{ subname?: string; type: string; ttl: number; records: string[] }>;
    const problems = items.map((item) => (item.ttl < zone.minimumTtl ? { ttl: [`Ensure this value is greater than or equal to ${zone.minimumTtl}.`] } : {}));
    if (problems.some((problem) => Object.keys(problem).length > 0)) return { status: 400, body: problems };
    const written = [];
    for (const item of items) {
      const subname = item.subname ?? '';
      if (item.records.length === 0) rrsets.delete(key(zone.name, subname));
      else {
        rrsets.set(key(zone.name, subname), { ttl: item.ttl, records: [...item.records] });
        written.push({ domain: zone.name, subname, name: `${subname ? `${subname}.` : ''}${zone.name}.`, type: item.type, ttl: item.ttl, records: item.records });
      }
    }
    return { status: 200, body: written };
  };

  const server = await startFakeServer((request) => {
    if (request.headers.authorization !== `Token ${options.token}`) return { status: 401, body: { detail: 'Invalid token.' } };
    const path = request.url.pathname;
    if (request.method === 'GET' && path === '/api/v1/domains/') return listDomains(request.url);
    const bulk = path.match(/^\/api\/v1\/domains\/([^/]+)\/rrsets\/$/);
    const bulkZone = bulk && domain(bulk[1] ?? '');
    if (request.method === 'PUT' && bulkZone) return bulkPut(bulkZone, request.body);
    const one = path.match(/^\/api\/v1\/domains\/([^/]+)\/rrsets\/([^/]*)\/TXT\/$/);
    const zone = one && domain(one[1] ?? '');
    if (request.method === 'GET' && zone) {
      const raw = decodeURIComponent(one?.[2] ?? '');
      const subname = raw === '@' ? '' : raw.replace(/\.\.\.$/, '');
      const stored = rrsets.get(key(zone.name, subname));
      return stored ? { status: 200, body: { domain: zone.name, subname, type: 'TXT', ...stored } } : notFound;
    }
    return notFound;
  });

  return {
    baseUrl: `${server.origin}/api/v1`,
    requests: server.requests,
    txt: (zone, subname) => [...(rrsets.get(key(zone, subname))?.records ?? [])],
    ttl: (zone, subname) => rrsets.get(key(zone, subname))?.ttl,
    seed: (zone, subname, records, ttl) => void rrsets.set(key(zone, subname), { ttl, records: [...records] }),
    close: () => server.close(),
  };
}
