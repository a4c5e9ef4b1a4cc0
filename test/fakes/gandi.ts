/**
 * A local stand-in for Gandi LiveDNS (https://api.gandi.net/docs/livedns/): "Authorization: Bearer <PAT>"
 * or "Apikey <key>", domains looked up one by one, TXT rrsets read, replaced (PUT) and deleted, and
 * Gandi's error bodies. Values are stored quoted, as LiveDNS answers them.
 */
import { startFakeServer, type FakeRequest, type FakeResponse } from './fake-http.js';

export interface GandiFakeOptions {
  /** The Authorization header value that is accepted, e.g. "Bearer pat" or "Apikey key". */
  authorization: string;
  zones: string[];
}

export interface GandiFake {
  /** Base URL to give the provider ("…/v5/livedns"). */
  baseUrl: string;
  requests: FakeRequest[];
  /** The stored TXT values at `name` (relative, "@" for the apex) in `zone`. */
  txt(zone: string, name: string): string[];
  /** The stored TTL of that rrset. */
  ttl(zone: string, name: string): number | undefined;
  seed(zone: string, name: string, values: string[], ttl: number): void;
  close(): Promise<void>;
}

const MIN_TTL = 300;

function error(code: number, object: string, cause: string, message: string, errors?: unknown[]): FakeResponse {
  return { status: code, body: { code, message, object, cause, ...(errors ? { errors } : {}) } };
}

const notFound = () => error(404, 'HTTPNotFound', 'Not Found', 'The resource could not be found.');

/** Starts the fake Gandi LiveDNS API on a free loopback port. */
export async function startGandiFake(options: GandiFakeOptions): Promise<GandiFake> {
  const rrsets = new Map<string, { ttl: number; values: string[] }>();
  const key = (zone: string, name: string) => `${zone}/${name}`;

  const records = (request: FakeRequest, zone: string, name: string): FakeResponse => {
    const stored = rrsets.get(key(zone, name));
    const href = `${request.url.origin}/v5/livedns/domains/${zone}/records/${name}/TXT`;
    if (request.method === 'GET') {
      if (!stored) return notFound();
      return { status: 200, body: { rrset_name: name, rrset_type: 'TXT', rrset_ttl: stored.ttl, rrset_values: stored.values, rrset_href: href } };
    }
    if (request.method === 'PUT') {
      const body = JSON.parse(request.body) as { rrset_ttl?: number; rrset_values: string[] };
      const ttl = body.rrset_ttl ?? 10800;
      if (ttl < MIN_TTL) {
        const detail = { location: 'body', name: 'rrset_ttl', description: `${ttl} is less than minimum value ${MIN_TTL}` };
        return error(400, 'HTTPBadRequest', 'Bad Request', 'Validation error', [detail]);
      }
      // LiveDNS quotes TXT values given bare.
      rrsets.set(key(zone, name), { ttl, values: body.rrset_values.map((value) => (value.startsWith('"') ? value : `"${value}"`)) });
      return { status: 201, body: { message: 'DNS Record Created' } };
    }
    if (request.method === 'DELETE') {
      if (!stored) return notFound();
      rrsets.delete(key(zone, name));
      return { status: 204 };
    }
    return error(405, 'HTTPMethodNotAllowed', 'Method Not Allowed', 'The method is not allowed for the requested URL.');
  };

  const server = await startFakeServer((request) => {
    if (request.headers.authorization !== options.authorization) {
      const message =
        'The server could not verify that you authorized to access the document you requested. Either you supplied the wrong credentials (e.g., bad api key), or your access token has expired';
      return error(401, 'HTTPUnauthorized', 'Unauthorized', message);
    }
    const path = request.url.pathname;
    if (request.method === 'GET' && path === '/v5/livedns/domains') {
      const perPage = Number(request.url.searchParams.get('per_page') ?? 100);
      return { status: 200, body: options.zones.slice(0, perPage).map((fqdn) => ({ fqdn, domain_href: `${request.url.origin}/v5/livedns/domains/${fqdn}` })) };
    }
    const domain = path.match(/^\/v5\/livedns\/domains\/([^/]+)$/);
    if (request.method === 'GET' && domain) {
      const fqdn = decodeURIComponent(domain[1] ?? '');
      return options.zones.includes(fqdn) ? { status: 200, body: { fqdn, automatic_snapshots: true } } : notFound();
    }
    const rrset = path.match(/^\/v5\/livedns\/domains\/([^/]+)\/records\/([^/]+)\/TXT$/);
    const zone = rrset && decodeURIComponent(rrset[1] ?? '');
    if (!zone || !options.zones.includes(zone)) return notFound();
    return records(request, zone, decodeURIComponent(rrset?.[2] ?? ''));
  });

  return {
    baseUrl: `${server.origin}/v5/livedns`,
    requests: server.requests,
    txt: (zone, name) => [...(rrsets.get(key(zone, name))?.values ?? [])],
    ttl: (zone, name) => rrsets.get(key(zone, name))?.ttl,
    seed: (zone, name, values, ttl) => void rrsets.set(key(zone, name), { ttl, values: [...values] }),
    close: () => server.close(),
  };
}
