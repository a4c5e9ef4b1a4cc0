import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startGoDaddyFake, type GoDaddyFake } from '../../../test/fakes/godaddy.js';
import { describeProviderContract, failure } from '../../../test/helpers/dns-provider-contract.js';
import { godaddyProvider } from './godaddy.js';

const API_KEY = 'gd-key';
const SECRET = 'gd-5ecret';
const NAME = '_acme-challenge.a.b.example.com';
const RELATIVE = '_acme-challenge.a.b';
/** More domains than one listing page of 1000; example.com sorts after them. */
const ZONES = ['other.com', 'example.com', ...Array.from({ length: 1001 }, (_, i) => `a${String(i).padStart(4, '0')}.example.net`)];

let fake: GoDaddyFake;
beforeEach(async () => {
  fake = await startGoDaddyFake({ apiKey: API_KEY, apiSecret: SECRET, zones: ZONES });
});
afterEach(() => fake.close());

const dns = (secret = SECRET, baseUrl = fake.baseUrl, timeoutMs = 2000) => godaddyProvider.create({ api_key: API_KEY, api_secret: secret }, { timeoutMs, baseUrl });

describeProviderContract('godaddyProvider', {
  definition: godaddyProvider,
  secretFields: ['api_key', 'api_secret'],
  label: 'godaddy',
  name: NAME,
  start: () => ({
    provider: () => dns(),
    wrongProvider: () => dns('wrong-5ecret'),
    at: (origin, timeoutMs) => dns(SECRET, origin, timeoutMs),
    txt: () => fake.txt('example.com', RELATIVE).map((record) => record.data),
    seed: (value) => fake.seed('example.com', RELATIVE, [{ data: value, ttl: 600 }]),
  }),
  concurrentWrites: true,
  wrongCredentials: { status: 401, message: 'godaddy: Unauthorized : Could not authenticate API key/secret (UNABLE_TO_AUTHENTICATE)', secret: '5ecret' },
  badVerify: { status: 401 },
  outsideZone: { name: '_acme-challenge.example.org', message: 'godaddy: no zone in this account holds _acme-challenge.example.org' },
});

describe('godaddyProvider', () => {
  it('writes the TXT records of a deep name in its domain, found past the first page of domains', async () => {
    await dns().createTxt(NAME, 'token-1');
    expect(fake.txt('example.com', RELATIVE)).toEqual([{ data: 'token-1', name: RELATIVE, ttl: 600, type: 'TXT' }]);
    expect(fake.txt('other.com', RELATIVE)).toEqual([]);
    const listings = fake.requests.filter((request) => request.url.pathname === '/v1/domains');
    expect(listings.map((request) => request.url.searchParams.get('marker'))).toEqual([null, 'a0999.example.net']);
    expect(fake.requests.at(-1)?.headers.authorization).toBe(`sso-key ${API_KEY}:${SECRET}`);
  });

  it('writes back the records without the deleted value, then deletes the last one', async () => {
    fake.seed('example.com', RELATIVE, [{ data: 'kept', ttl: 3600 }, { data: 'token-1', ttl: 600 }]);
    await dns().deleteTxt(NAME, 'token-1');
    expect(fake.txt('example.com', RELATIVE)).toEqual([{ data: 'kept', name: RELATIVE, ttl: 3600, type: 'TXT' }]);
    await dns().deleteTxt(NAME, 'kept');
    expect(fake.txt('example.com', RELATIVE)).toEqual([]);
    expect(fake.requests.at(-1)?.method).toBe('DELETE');
  });

  it('uses "@" for a record at the domain apex', async () => {
    await dns().createTxt('example.com', 'apex');
    expect(fake.txt('example.com', '@').map((record) => record.data)).toEqual(['apex']);
  });

  it('reports an account GoDaddy refuses API access', async () => {
    const denied = await startGoDaddyFake({ apiKey: API_KEY, apiSecret: SECRET, zones: ZONES, denyAccess: true });
    try {
      const error = await failure(dns(SECRET, denied.baseUrl).verify());
      expect(error.status).toBe(403);
      expect(error.message).toBe('godaddy: Authenticated user is not allowed access (ACCESS_DENIED)');
    } finally {
      await denied.close();
    }
  });
});
