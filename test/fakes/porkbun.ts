/**
 * A local stand-in for the Porkbun API v3 (https://porkbun.com/api/json/v3/documentation): every call a
 * POST with apikey/secretapikey in the JSON body, /ping, domain/listAll in chunks of 1000 from `start`,
 * DNS create / retrieveByNameType / delete by id, TTLs raised to 600, and `{"status": "ERROR", "message"}`.
 */
import { startFakeServer, type FakeRequest, type FakeResponse } from './fake-http.js';

export interface PorkbunFakeOptions {
  apiKey: string;
  secretApiKey: string;
  zones: string[];
}

export interface PorkbunRecord {
  id: string;
  name: string;
  type: string;
  content: string;
  ttl: string;
}

export interface PorkbunFake {
  baseUrl: string;
  requests: FakeRequest[];
  /** The TXT records of `zone` at full name `name`. */
  txt(zone: string, name: string): PorkbunRecord[];
  close(): Promise<void>;
}

const CHUNK = 1000;
const MIN_TTL = 600;
const fail = (message: string): FakeResponse => ({ status: 400, body: { status: 'ERROR', message } });

/** Starts the fake Porkbun API on a free loopback port. */
export async function startPorkbunFake(options: PorkbunFakeOptions): Promise<PorkbunFake> {
  const records = new Map<string, PorkbunRecord[]>(options.zones.map((zone) => [zone, []]));
  let nextId = 106926000;

  const dns = (action: string, zone: string, rest: string[], body: Record<string, unknown>): FakeResponse => {
    const zoneRecords = records.get(zone);
    if (!zoneRecords) return fail('Invalid domain.');
    if (action === 'create') {
      const name = String(body.name ?? '');
      const ttl = String(Math.max(Number(body.ttl ?? MIN_TTL), MIN_TTL));
      const record = { id: String(nextId++), name: name ? `${name}.${zone}` : zone, type: String(body.type), content: String(body.content), ttl };
      zoneRecords.push(record);
      return { status: 200, body: { status: 'SUCCESS', id: Number(record.id) } };
    }
    if (action === 'retrieveByNameType') {
      const [type, subdomain] = rest;
      const name = subdomain ? `${subdomain}.${zone}` : zone;
      return { status: 200, body: { status: 'SUCCESS', cloudflare: 'enabled', records: zoneRecords.filter((record) => record.type === type && record.name === name) } };
    }
    if (action === 'delete') {
      const index = zoneRecords.findIndex((record) => record.id === rest[0]);
      if (index < 0) return fail('Invalid record ID.');
      zoneRecords.splice(index, 1);
      return { status: 200, body: { status: 'SUCCESS' } };
    }
    return fail('Invalid command.');
  };

  const server = await startFakeServer((request) => {
    if (request.method !== 'POST') return { status: 405, body: 'Method Not Allowed' };
    const body = JSON.parse(request.body || '{}') as Record<string, unknown>;
    if (body.apikey !== options.apiKey || body.secretapikey !== options.secretApiKey) return fail('Invalid API key. (002)');
    const [, command, ...args] = request.url.pathname.replace(/^\/api\/json\/v3/, '').split('/').map(decodeURIComponent);
    if (command === 'ping') return { status: 200, body: { status: 'SUCCESS', yourIp: '127.0.0.1' } };
    if (command === 'domain' && args[0] === 'listAll') {
      const start = Number(body.start ?? 0);
      const domains = options.zones.slice(start, start + CHUNK).map((domain) => ({ domain, status: 'ACTIVE', tld: domain.split('.').pop(), autoRenew: 0, notLocal: 0 }));
      return { status: 200, body: { status: 'SUCCESS', domains } };
    }
    const [action, zone, ...rest] = args;
    if (command === 'dns' && action && zone) return dns(action, zone, rest, body);
    return fail('Invalid command.');
  });

  return {
    baseUrl: `${server.origin}/api/json/v3`,
    requests: server.requests,
    txt: (zone, name) => (records.get(zone) ?? []).filter((record) => record.type === 'TXT' && record.name === name),
    close: () => server.close(),
  };
}
