import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { closedOrigin, neverAnswer, startFakeServer } from '../../../test/fakes/fake-http.js';
import { startGoDaddyFake, type GoDaddyFake } from '../../../test/fakes/godaddy.js';
import { DnsProviderError } from '../provider.js';
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

async function failure(promise: Promise<unknown>): Promise<DnsProviderError> {
  const error = await promise.then(() => undefined, (caught: unknown) => caught);
  expect(error).toBeInstanceOf(DnsProviderError);
  return error as DnsProviderError;
}

const data = () => fake.txt('example.com', RELATIVE).map((record) => record.data);

describe('godaddyProvider', () => {
  it('writes the TXT records of a deep name in its domain, found past the first page of domains', async () => {
    await dns().createTxt(NAME, 'token-1');
    expect(fake.txt('example.com', RELATIVE)).toEqual([{ data: 'token-1', name: RELATIVE, ttl: 600, type: 'TXT' }]);
    expect(fake.txt('other.com', RELATIVE)).toEqual([]);
    const listings = fake.requests.filter((request) => request.url.pathname === '/v1/domains');
    expect(listings.map((request) => request.url.searchParams.get('marker'))).toEqual([null, 'a0999.example.net']);
    expect(fake.requests.at(-1)?.headers.authorization).toBe(`sso-key ${API_KEY}:${SECRET}`);
  });

  it('adds a second value beside the first and skips a value already there', async () => {
    await dns().createTxt(NAME, 'token-1');
    await dns().createTxt(NAME, 'token-2');
    await dns().createTxt(NAME, 'token-2');
    expect(data()).toEqual(['token-1', 'token-2']);
  });

  it('keeps both values when two challenges for one name are written at once', async () => {
    const provider = dns();
    await Promise.all([provider.createTxt(NAME, 'apex'), provider.createTxt(NAME, 'wildcard')]);
    expect(data().sort()).toEqual(['apex', 'wildcard']);
  });

  it('writes back the records without the deleted value, then deletes the last one', async () => {
    fake.seed('example.com', RELATIVE, [{ data: 'kept', ttl: 3600 }, { data: 'token-1', ttl: 600 }]);
    await dns().deleteTxt(NAME, 'token-1');
    expect(fake.txt('example.com', RELATIVE)).toEqual([{ data: 'kept', name: RELATIVE, ttl: 3600, type: 'TXT' }]);
    await dns().deleteTxt(NAME, 'kept');
    expect(fake.txt('example.com', RELATIVE)).toEqual([]);
    expect(fake.requests.at(-1)?.method).toBe('DELETE');
  });

  it('treats deleting a record that is not there as done', async () => {
    await dns().deleteTxt(NAME, 'token-1');
    fake.seed('example.com', RELATIVE, [{ data: 'kept', ttl: 600 }]);
    await dns().deleteTxt(NAME, 'token-1');
    expect(data()).toEqual(['kept']);
  });

  it('uses "@" for a record at the domain apex', async () => {
    await dns().createTxt('example.com', 'apex');
    expect(fake.txt('example.com', '@').map((record) => record.data)).toEqual(['apex']);
  });

  it('reports a name outside every domain', async () => {
    const error = await failure(dns().createTxt('_acme-challenge.example.org', 'token-1'));
    expect(error.message).toBe('godaddy: no zone in this account holds _acme-challenge.example.org');
  });

  it("reports wrong credentials with GoDaddy's message and without the secret", async () => {
    const error = await failure(dns('wrong-5ecret').createTxt(NAME, 'token-1'));
    expect(error.status).toBe(401);
    expect(error.message).toBe('godaddy: Unauthorized : Could not authenticate API key/secret (UNABLE_TO_AUTHENTICATE)');
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

  it('reports a server that is down', async () => {
    const error = await failure(dns(SECRET, await closedOrigin()).createTxt(NAME, 'token-1'));
    expect(error.message).toMatch(/^godaddy: cannot reach 127\.0\.0\.1:\d+/);
  });

  it('gives up on a server that does not answer within the timeout', async () => {
    const silent = await startFakeServer(neverAnswer);
    try {
      const error = await failure(dns(SECRET, silent.origin, 200).verify());
      expect(error.message).toMatch(/no answer from 127\.0\.0\.1:\d+ within 200 ms/);
    } finally {
      await silent.close();
    }
  });

  it('verifies good credentials and rejects bad ones', async () => {
    await expect(dns().verify()).resolves.toBeUndefined();
    expect((await failure(dns('bad').verify())).status).toBe(401);
  });

  it('describes every attribute and keeps both credentials secret', () => {
    for (const field of Object.values(godaddyProvider.schema.shape)) expect(field.description).toBeTruthy();
    expect(godaddyProvider.secretFields).toEqual(['api_key', 'api_secret']);
  });
});
