/**
 * A local stand-in for the Hetzner Cloud API's DNS part (https://docs.hetzner.cloud/reference/cloud#zones):
 * Bearer tokens, paged zone listing, RRSets read by name and type, the add_records / remove_records
 * actions and GET /actions/{id}. Records are held in memory.
 */
import { startFakeServer, type FakeRequest, type FakeResponse } from './fake-http.js';

export interface HetznerFakeOptions {
  token: string;
  /** Zone names, listed in this order. */
  zones: string[];
}

export interface HetznerFake {
  /** Base URL to give the provider ("…/v1"). */
  baseUrl: string;
  requests: FakeRequest[];
  /** The TXT record values (as stored, quoted) at `name` (relative, "@" for the apex) in `zone`. */
  txt(zone: string, name: string): string[];
  /** Stores records directly, as if made elsewhere. */
  seed(zone: string, name: string, values: string[]): void;
  /** Makes the next action end in this error. */
  failNextAction(message: string): void;
  close(): Promise<void>;
}

interface Action {
  id: number;
  command: string;
  status: 'running' | 'success' | 'error';
  error: { code: string; message: string } | null;
}

const MAX_PAGE = 50;

/** Starts the fake Hetzner Cloud DNS API on a free loopback port. */
export async function startHetznerFake(options: HetznerFakeOptions): Promise<HetznerFake> {
  const zones = options.zones.map((name, index) => ({ id: 1000 + index, name }));
  const rrsets = new Map<string, { ttl: number | null; values: string[] }>();
  const actions = new Map<number, Action>();
  let failure: string | undefined;

  const key = (zoneId: number, name: string) => `${zoneId}/${name}/TXT`;
  const zoneBy = (idOrName: string) => zones.find((zone) => String(zone.id) === idOrName || zone.name === idOrName);
  const error = (status: number, code: string, message: string): FakeResponse => ({ status, body: { error: { code, message, details: {} } } });

  const startAction = (command: string, zoneId: number): FakeResponse => {
    const id = 500 + actions.size;
    // Actions answer while running; GET /actions/{id} reports the outcome.
    actions.set(id, { id, command, status: failure ? 'error' : 'success', error: failure ? { code: 'action_failed', message: failure } : null });
    failure = undefined;
    return { status: 201, body: { action: { id, command, status: 'running', progress: 0, resources: [{ id: zoneId, type: 'zone' }], error: null } } };
  };

  const listZones = (url: URL): FakeResponse => {
    const page = Number(url.searchParams.get('page') ?? 1);
    const perPage = Math.min(Number(url.searchParams.get('per_page') ?? 25), MAX_PAGE);
    const lastPage = Math.max(1, Math.ceil(zones.length / perPage));
    const pagination = { page, per_page: perPage, previous_page: page > 1 ? page - 1 : null, next_page: page < lastPage ? page + 1 : null, last_page: lastPage, total_entries: zones.length };
    return { status: 200, body: { zones: zones.slice((page - 1) * perPage, page * perPage).map((zone) => ({ ...zone, mode: 'primary', ttl: 3600 })), meta: { pagination } } };
  };

  const rrsetRoute = (request: FakeRequest, zoneRef: string, name: string, action: string | undefined): FakeResponse => {
    const zone = zoneBy(zoneRef);
    if (!zone) return error(404, 'not_found', 'zone not found');
    const stored = rrsets.get(key(zone.id, name));
    if (request.method === 'GET' && !action) {
      if (!stored) return error(404, 'not_found', 'rrset not found');
      return { status: 200, body: { rrset: { id: `${name}/TXT`, name, type: 'TXT', ttl: stored.ttl, zone: zone.id, records: stored.values.map((value) => ({ value, comment: null })) } } };
    }
    const body = JSON.parse(request.body) as { ttl?: number; records: Array<{ value: string }> };
    const values = body.records.map((record) => record.value);
    if (action === 'add_records') {
      if (values.some((value) => !/^".*"$/.test(value))) return error(422, 'invalid_input', 'invalid input in field \'records\'');
      const next = stored ?? { ttl: body.ttl ?? null, values: [] };
      next.values.push(...values.filter((value) => !next.values.includes(value)));
      rrsets.set(key(zone.id, name), next);
      return startAction('add_rrset_records', zone.id);
    }
    if (action === 'remove_records') {
      if (!stored) return error(404, 'not_found', 'rrset not found');
      stored.values = stored.values.filter((value) => !values.includes(value));
      if (stored.values.length === 0) rrsets.delete(key(zone.id, name));
      return startAction('remove_rrset_records', zone.id);
    }
    return error(404, 'not_found', 'not found');
  };

  const server = await startFakeServer((request) => {
    if (request.headers.authorization !== `Bearer ${options.token}`) return error(401, 'unauthorized', 'unable to authenticate');
    const path = request.url.pathname;
    if (request.method === 'GET' && path === '/v1/zones') return listZones(request.url);
    const rrset = path.match(/^\/v1\/zones\/([^/]+)\/rrsets\/([^/]+)\/TXT(?:\/actions\/(\w+))?$/);
    if (rrset) return rrsetRoute(request, decodeURIComponent(rrset[1] ?? ''), decodeURIComponent(rrset[2] ?? ''), rrset[3]);
    const action = path.match(/^\/v1\/actions\/(\d+)$/);
    const found = action && actions.get(Number(action[1]));
    if (request.method === 'GET' && found) return { status: 200, body: { action: found } };
    return error(404, 'not_found', 'not found');
  });

  const zoneId = (zone: string) => zoneBy(zone)?.id ?? -1;
  return {
    baseUrl: `${server.origin}/v1`,
    requests: server.requests,
    txt: (zone, name) => [...(rrsets.get(key(zoneId(zone), name))?.values ?? [])],
    seed: (zone, name, values) => void rrsets.set(key(zoneId(zone), name), { ttl: 3600, values: [...values] }),
    failNextAction: (message) => void (failure = message),
    close: () => server.close(),
  };
}
