/**
 * A local stand-in for the PowerDNS Authoritative HTTP API (https://doc.powerdns.com/authoritative/http-api/):
 * X-API-Key, GET /servers/{id}, zone lookup with ?zone=, zone ids with "=XX" escapes, zone GET with
 * rrset_name/rrset_type filters, PATCH with REPLACE/DELETE changetypes (TXT content must be quoted),
 * PUT …/notify, and PowerDNS's `{"error": …}` bodies.
 */
import { startFakeServer, type FakeRequest, type FakeResponse } from './fake-http.js';

export interface PowerDnsFakeOptions {
  apiKey: string;
  serverId?: string;
  /** Zones with a trailing dot, e.g. { name: "example.com.", kind: "Master" }. */
  zones: Array<{ name: string; kind: 'Native' | 'Master' }>;
  /** Answer zone GETs with every RRset, as servers before the rrset_name filter did. */
  ignoreRRSetFilter?: boolean;
}

interface RRSet {
  name: string;
  type: string;
  ttl: number;
  records: Array<{ content: string; disabled: boolean }>;
}

export interface PowerDnsFake {
  /** Webserver URL to give the provider (without /api/v1). */
  baseUrl: string;
  requests: FakeRequest[];
  /** The TXT RRset at absolute `name` ("x.example.com.") in `zone`. */
  rrset(zone: string, name: string): RRSet | undefined;
  seed(zone: string, rrset: RRSet): void;
  /** Zones notified through PUT …/notify, in order. */
  notified: string[];
  close(): Promise<void>;
}

const error = (status: number, message: string): FakeResponse => ({ status, body: { error: message } });

/** The inverse of PowerDNS's apiZoneNameToId: "=XX" becomes the byte 0xXX. */
function zoneName(id: string): string {
  return id.replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}

/** Starts the fake PowerDNS webserver API on a free loopback port. */
export async function startPowerDnsFake(options: PowerDnsFakeOptions): Promise<PowerDnsFake> {
  const serverId = options.serverId ?? 'localhost';
  const prefix = `/api/v1/servers/${serverId}`;
  const zones = new Map(options.zones.map((zone) => [zone.name, { ...zone, rrsets: [{ name: zone.name, type: 'SOA', ttl: 3600, records: [{ content: `ns1.${zone.name} hostmaster.${zone.name} 1 10800 3600 604800 3600`, disabled: false }] }] as RRSet[] }]));
  const notified: string[] = [];
  const summary = (name: string, kind: string) => {
    const id = name.replace(/[^A-Za-z0-9.-]/g, (character) => `=${character.charCodeAt(0).toString(16).toUpperCase()}`);
    return { id, name, url: `${prefix}/zones/${id}`, kind, serial: 1, dnssec: false, account: '' };
  };

  const patch = (zone: { name: string; rrsets: RRSet[] }, body: string): FakeResponse => {
    const changes = (JSON.parse(body) as { rrsets: Array<RRSet & { changetype: string }> }).rrsets;
    for (const change of changes) {
      if (!change.name.endsWith(`.${zone.name}`) && change.name !== zone.name) return error(422, `RRset ${change.name} IN ${change.type}: Name is out of zone`);
      const bare = change.records?.find((record) => change.type === 'TXT' && !record.content.startsWith('"'));
      if (bare) return error(422, `Parsing record content (try 'pdnsutil check-zone'): Data field in DNS should start with quote (") at position 0 of '${bare.content}'`);
    }
    for (const change of changes) {
      zone.rrsets = zone.rrsets.filter((rrset) => rrset.name !== change.name || rrset.type !== change.type);
      if (change.changetype === 'REPLACE') zone.rrsets.push({ name: change.name, type: change.type, ttl: change.ttl, records: change.records });
    }
    return { status: 204 };
  };

  const zoneRoute = (request: FakeRequest, id: string, rest: string): FakeResponse => {
    const name = zoneName(id);
    const zone = zones.get(name);
    if (!zone) return error(404, `Could not find domain '${name}'`);
    if (request.method === 'PATCH' && rest === '') return patch(zone, request.body);
    if (request.method === 'PUT' && rest === '/notify') {
      if (zone.kind !== 'Master') return error(422, `Domain '${name}' is not a master domain`);
      notified.push(name);
      return { status: 200, body: { result: 'Notification queued' } };
    }
    if (request.method !== 'GET' || rest !== '') return error(405, 'Method Not Allowed');
    const filterName = options.ignoreRRSetFilter ? null : request.url.searchParams.get('rrset_name');
    const filterType = options.ignoreRRSetFilter ? null : request.url.searchParams.get('rrset_type');
    const rrsets = zone.rrsets.filter((rrset) => (!filterName || rrset.name === filterName) && (!filterType || rrset.type === filterType));
    return { status: 200, body: { ...summary(zone.name, zone.kind), rrsets } };
  };

  const server = await startFakeServer((request) => {
    if (request.headers['x-api-key'] !== options.apiKey) return error(401, 'Unauthorized');
    const path = request.url.pathname;
    if (!path.startsWith(`${prefix}`)) return error(404, 'Not Found');
    const rest = path.slice(prefix.length);
    if (request.method === 'GET' && rest === '') return { status: 200, body: { type: 'Server', id: serverId, daemon_type: 'authoritative', version: '4.9.4', url: prefix } };
    if (request.method === 'GET' && rest === '/zones') {
      const wanted = request.url.searchParams.get('zone');
      const listed = [...zones.values()].filter((zone) => wanted === null || zone.name === (wanted.endsWith('.') ? wanted : `${wanted}.`));
      return { status: 200, body: listed.map((zone) => summary(zone.name, zone.kind)) };
    }
    const zone = rest.match(/^\/zones\/([^/]+)(\/notify)?$/);
    if (zone) return zoneRoute(request, zone[1] ?? '', zone[2] ?? '');
    return error(404, 'Not Found');
  });

  return {
    baseUrl: server.origin,
    requests: server.requests,
    rrset: (zone, name) => zones.get(zone)?.rrsets.find((rrset) => rrset.name === name && rrset.type === 'TXT'),
    seed: (zone, rrset) => void zones.get(zone)?.rrsets.push(rrset),
    notified,
    close: () => server.close(),
  };
}
