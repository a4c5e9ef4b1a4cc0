import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startPowerDnsFake, type PowerDnsFake } from '../../../test/fakes/powerdns.js';
import { describeProviderContract, failure } from '../../../test/helpers/dns-provider-contract.js';
import { powerdnsProvider, zoneId } from './powerdns.js';

const KEY = 'pdns-5ecret-key';
const NAME = '_acme-challenge.a.b.example.com';
const ABSOLUTE = `${NAME}.`;
const ZONES = [
  { name: 'other.com.', kind: 'Native' as const },
  { name: 'example.com.', kind: 'Master' as const },
  { name: '_tenant.example.org.', kind: 'Native' as const },
];

let fake: PowerDnsFake;
beforeEach(async () => {
  fake = await startPowerDnsFake({ apiKey: KEY, zones: ZONES });
});
afterEach(() => fake.close());

const dns = (apiKey = KEY, baseUrl = fake.baseUrl, timeoutMs = 2000, serverId = 'localhost') =>
  powerdnsProvider.create({ api_url: 'http://pdns.invalid:8081', api_key: apiKey, server_id: serverId }, { timeoutMs, baseUrl });

describeProviderContract('powerdnsProvider', {
  definition: powerdnsProvider,
  secretFields: ['api_key'],
  label: 'powerdns',
  name: NAME,
  stored: (value) => `"${value}"`,
  start: () => ({
    provider: () => dns(),
    wrongProvider: () => dns('wrong-5ecret'),
    at: (origin, timeoutMs) => dns(KEY, origin, timeoutMs),
    txt: () => fake.rrset('example.com.', ABSOLUTE)?.records.map((record) => record.content) ?? [],
  }),
  afterMissingDelete: () => expect(fake.requests.some((request) => request.method === 'PATCH')).toBe(false),
  concurrentWrites: true,
  wrongCredentials: { status: 401, message: 'powerdns: Unauthorized', secret: '5ecret' },
  badVerify: { status: 401 },
  outsideZone: { name: '_acme-challenge.example.net', message: 'powerdns: no zone in this account holds _acme-challenge.example.net' },
});

describe('zoneId', () => {
  it('adds the trailing dot and escapes as PowerDNS does', () => {
    expect(zoneId('example.com')).toBe('example.com.');
    expect(zoneId('example.com.')).toBe('example.com.');
    expect(zoneId('_tenant.example.org')).toBe('=5Ftenant.example.org.');
    expect(zoneId('a/b.example')).toBe('a=2Fb.example.');
    expect(zoneId('.')).toBe('=2E');
  });
});

describe('powerdnsProvider', () => {
  it('replaces the TXT RRset in the zone holding a deep name and notifies secondaries of a primary zone', async () => {
    await dns().createTxt(NAME, 'token-1');
    expect(fake.rrset('example.com.', ABSOLUTE)).toEqual({ name: ABSOLUTE, type: 'TXT', ttl: 60, records: [{ content: '"token-1"', disabled: false }] });
    expect(fake.rrset('other.com.', ABSOLUTE)).toBeUndefined();
    expect(fake.notified).toEqual(['example.com.']);
    const patch = fake.requests.find((request) => request.method === 'PATCH');
    expect(patch?.url.pathname).toBe('/api/v1/servers/localhost/zones/example.com.');
    expect(JSON.parse(patch?.body ?? '{}')).toMatchObject({ rrsets: [{ changetype: 'REPLACE' }] });
  });

  it('writes back the RRset without the deleted value, then deletes the emptied RRset', async () => {
    fake.seed('example.com.', { name: ABSOLUTE, type: 'TXT', ttl: 300, records: [{ content: '"kept"', disabled: true }, { content: '"token-1"', disabled: false }] });
    await dns().deleteTxt(NAME, 'token-1');
    expect(fake.rrset('example.com.', ABSOLUTE)).toEqual({ name: ABSOLUTE, type: 'TXT', ttl: 300, records: [{ content: '"kept"', disabled: true }] });
    await dns().deleteTxt(NAME, 'kept');
    expect(fake.rrset('example.com.', ABSOLUTE)).toBeUndefined();
    const last = fake.requests.filter((request) => request.method === 'PATCH').at(-1);
    expect(JSON.parse(last?.body ?? '{}')).toEqual({ rrsets: [{ name: ABSOLUTE, type: 'TXT', changetype: 'DELETE' }] });
  });

  it('finds its RRset among the whole zone on servers without the rrset_name filter', async () => {
    const old = await startPowerDnsFake({ apiKey: KEY, zones: ZONES, ignoreRRSetFilter: true });
    try {
      await dns(KEY, old.baseUrl).createTxt(NAME, 'token-1');
      await dns(KEY, old.baseUrl).createTxt(NAME, 'token-2');
      expect(old.rrset('example.com.', ABSOLUTE)?.records.map((record) => record.content)).toEqual(['"token-1"', '"token-2"']);
    } finally {
      await old.close();
    }
  });

  it('addresses a zone by its escaped id and does not notify a native zone', async () => {
    await dns().createTxt('_acme-challenge._tenant.example.org', 'token-1');
    expect(fake.rrset('_tenant.example.org.', '_acme-challenge._tenant.example.org.')?.records).toEqual([{ content: '"token-1"', disabled: false }]);
    expect(fake.requests.find((request) => request.method === 'PATCH')?.url.pathname).toBe('/api/v1/servers/localhost/zones/=5Ftenant.example.org.');
    expect(fake.notified).toEqual([]);
  });

  it('rejects an unknown server id on verification', async () => {
    expect((await failure(dns(KEY, fake.baseUrl, 2000, 'nope').verify())).status).toBe(404);
  });

  it('defaults the server id', () => {
    expect(powerdnsProvider.schema.parse({ api_url: 'http://ns1:8081', api_key: 'k' }).server_id).toBe('localhost');
  });
});
