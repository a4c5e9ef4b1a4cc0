/**
 * A local stand-in for the GoDaddy Domains API v1 (https://developer.godaddy.com/doc/endpoint/domains):
 * "Authorization: sso-key key:secret", domain listing with limit/marker, TXT records at a name read,
 * replaced (PUT, TTL at least 600) and deleted, and `{"code", "message", "fields"?}` error bodies.
 */
import { startFakeServer, type FakeRequest, type FakeResponse } from './fake-http.js';

export interface GoDaddyFakeOptions {
  apiKey: string;
  apiSecret: string;
  zones: string[];
  /** Answer every authenticated call as for accounts GoDaddy no longer serves. */
  denyAccess?: boolean;
}

export interface GoDaddyRecord {
  data: string;
  name: string;
  ttl: number;
  type: string;
}

export interface GoDaddyFake {
  baseUrl: string;
  requests: FakeRequest[];
  /** The TXT records of `zone` at relative `name` ("@" for the apex). */
  txt(zone: string, name: string): GoDaddyRecord[];
  seed(zone: string, name: string, records: Array<{ data: string; ttl: number }>): void;
  close(): Promise<void>;
}

const MIN_TTL = 600;
const error = (status: number, code: string, message: string, fields?: unknown[]): FakeResponse => ({ status, body: { code, message, ...(fields ? { fields } : {}) } });

/** Starts the fake GoDaddy Domains API on a free loopback port. */
export async function startGoDaddyFake(options: GoDaddyFakeOptions): Promise<GoDaddyFake> {
  const zones = [...options.zones].sort();
  const records = new Map<string, GoDaddyRecord[]>();
  const key = (zone: string, name: string) => `${zone}/${name}`;

  const listDomains = (url: URL): FakeResponse => {
    const marker = url.searchParams.get('marker') ?? '';
    const limit = Number(url.searchParams.get('limit') ?? zones.length);
    const page = zones.filter((domain) => domain > marker).slice(0, limit);
    return { status: 200, body: page.map((domain, index) => ({ domainId: 1000 + index, domain, status: 'ACTIVE', renewAuto: true })) };
  };

  const txtRoute = (request: FakeRequest, zone: string, name: string): FakeResponse => {
    const stored = records.get(key(zone, name)) ?? [];
    if (request.method === 'GET') return { status: 200, body: stored };
    if (request.method === 'PUT') {
      const body = JSON.parse(request.body) as Array<{ data: string; ttl?: number }>;
      const fields = body.flatMap((record, index) =>
        (record.ttl ?? 3600) < MIN_TTL ? [{ code: 'MISMATCH_FORMAT', message: `ttl must be at least ${MIN_TTL}`, path: `records[${index}].ttl` }] : [],
      );
      if (body.length === 0 || fields.length > 0) return error(422, 'INVALID_BODY', "Request body doesn't fulfill schema, see details in `fields`", fields);
      records.set(key(zone, name), body.map((record) => ({ data: record.data, name, ttl: record.ttl ?? 3600, type: 'TXT' })));
      return { status: 200 };
    }
    if (request.method === 'DELETE') {
      if (stored.length === 0) return error(404, 'NOT_FOUND', `No records found for TXT ${name}`);
      records.delete(key(zone, name));
      return { status: 204 };
    }
    return error(405, 'METHOD_NOT_ALLOWED', 'Method not allowed');
  };

  const server = await startFakeServer((request) => {
    if (request.headers.authorization !== `sso-key ${options.apiKey}:${options.apiSecret}`) {
      return error(401, 'UNABLE_TO_AUTHENTICATE', 'Unauthorized : Could not authenticate API key/secret');
    }
    if (options.denyAccess) return error(403, 'ACCESS_DENIED', 'Authenticated user is not allowed access');
    const path = request.url.pathname;
    if (request.method === 'GET' && path === '/v1/domains') return listDomains(request.url);
    const match = path.match(/^\/v1\/domains\/([^/]+)\/records\/TXT\/([^/]+)$/);
    const zone = match && decodeURIComponent(match[1] ?? '');
    if (!zone || !zones.includes(zone)) return error(404, 'UNKNOWN_DOMAIN', 'The given domain is not registered, or does not have a zone file');
    return txtRoute(request, zone, decodeURIComponent(match?.[2] ?? ''));
  });

  return {
    baseUrl: `${server.origin}/v1`,
    requests: server.requests,
    txt: (zone, name) => [...(records.get(key(zone, name)) ?? [])],
    seed: (zone, name, added) => void records.set(key(zone, name), added.map((record) => ({ ...record, name, type: 'TXT' }))),
    close: () => server.close(),
  };
}
