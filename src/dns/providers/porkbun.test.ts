import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startPorkbunFake, type PorkbunFake } from '../../../test/fakes/porkbun.js';
import { describeProviderContract } from '../../../test/helpers/dns-provider-contract.js';
import { porkbunProvider } from './porkbun.js';

const API_KEY = 'pk1_5ecret';
const SECRET = 'sk1_5ecret';
const NAME = '_acme-challenge.a.b.example.com';
/** More domains than one listAll chunk of 1000, with example.com in the second. */
const ZONES = [...Array.from({ length: 1001 }, (_, i) => `zone${i}.example.net`), 'other.com', 'example.com'];
const INVALID_KEY = 'porkbun: Invalid API key. (002)';

let fake: PorkbunFake;
beforeEach(async () => {
  fake = await startPorkbunFake({ apiKey: API_KEY, secretApiKey: SECRET, zones: ZONES });
});
afterEach(() => fake.close());

const dns = (secret = SECRET, baseUrl = fake.baseUrl, timeoutMs = 2000) =>
  porkbunProvider.create({ api_key: API_KEY, secret_api_key: secret }, { timeoutMs, baseUrl });

describeProviderContract('porkbunProvider', {
  definition: porkbunProvider,
  secretFields: ['api_key', 'secret_api_key'],
  label: 'porkbun',
  name: NAME,
  start: () => ({
    provider: () => dns(),
    wrongProvider: () => dns('sk1_wrong'),
    at: (origin, timeoutMs) => dns(SECRET, origin, timeoutMs),
    txt: () => fake.txt('example.com', NAME).map((record) => record.content),
  }),
  wrongCredentials: { status: 400, message: INVALID_KEY, secret: 'sk1_wrong' },
  badVerify: { message: INVALID_KEY },
  outsideZone: { name: '_acme-challenge.example.org', message: 'porkbun: no zone in this account holds _acme-challenge.example.org' },
});

describe('porkbunProvider', () => {
  it('creates the TXT record in the domain holding a deep name, found past the first chunk of domains', async () => {
    await dns().createTxt(NAME, 'token-1');
    expect(fake.txt('example.com', NAME)).toMatchObject([{ name: NAME, content: 'token-1', ttl: '600' }]);
    expect(fake.txt('other.com', '_acme-challenge.a.b.other.com')).toEqual([]);
    const create = fake.requests.find((request) => request.url.pathname === '/api/json/v3/dns/create/example.com');
    expect(JSON.parse(create?.body ?? '{}')).toEqual({ apikey: API_KEY, secretapikey: SECRET, name: '_acme-challenge.a.b', type: 'TXT', content: 'token-1', ttl: '600' });
  });

  it('writes a record at the domain apex with a blank name', async () => {
    await dns().createTxt('example.com', 'apex');
    expect(fake.txt('example.com', 'example.com').map((record) => record.content)).toEqual(['apex']);
    await dns().deleteTxt('example.com', 'apex');
    expect(fake.txt('example.com', 'example.com')).toEqual([]);
  });

  it('verifies credentials with /ping', async () => {
    await expect(dns().verify()).resolves.toBeUndefined();
    expect(fake.requests.at(-1)?.url.pathname).toBe('/api/json/v3/ping');
  });
});
