import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { closedOrigin, neverAnswer, startFakeServer } from '../../../test/fakes/fake-http.js';
import { startPorkbunFake, type PorkbunFake } from '../../../test/fakes/porkbun.js';
import { DnsProviderError } from '../provider.js';
import { porkbunProvider } from './porkbun.js';

const API_KEY = 'pk1_5ecret';
const SECRET = 'sk1_5ecret';
const NAME = '_acme-challenge.a.b.example.com';
/** More domains than one listAll chunk of 1000, with example.com in the second. */
const ZONES = [...Array.from({ length: 1001 }, (_, i) => `zone${i}.example.net`), 'other.com', 'example.com'];

let fake: PorkbunFake;
beforeEach(async () => {
  fake = await startPorkbunFake({ apiKey: API_KEY, secretApiKey: SECRET, zones: ZONES });
});
afterEach(() => fake.close());

const dns = (secret = SECRET, baseUrl = fake.baseUrl, timeoutMs = 2000) =>
  porkbunProvider.create({ api_key: API_KEY, secret_api_key: secret }, { timeoutMs, baseUrl });

async function failure(promise: Promise<unknown>): Promise<DnsProviderError> {
  const error = await promise.then(() => undefined, (caught: unknown) => caught);
  expect(error).toBeInstanceOf(DnsProviderError);
  return error as DnsProviderError;
}

const values = () => fake.txt('example.com', NAME).map((record) => record.content);

describe('porkbunProvider', () => {
  it('creates the TXT record in the domain holding a deep name, found past the first chunk of domains', async () => {
    await dns().createTxt(NAME, 'token-1');
    expect(fake.txt('example.com', NAME)).toMatchObject([{ name: NAME, content: 'token-1', ttl: '600' }]);
    expect(fake.txt('other.com', '_acme-challenge.a.b.other.com')).toEqual([]);
    const create = fake.requests.find((request) => request.url.pathname === '/api/json/v3/dns/create/example.com');
    expect(JSON.parse(create?.body ?? '{}')).toEqual({ apikey: API_KEY, secretapikey: SECRET, name: '_acme-challenge.a.b', type: 'TXT', content: 'token-1', ttl: '600' });
  });

  it('adds a second record at the same name and skips a value already there', async () => {
    await dns().createTxt(NAME, 'token-1');
    await dns().createTxt(NAME, 'token-2');
    await dns().createTxt(NAME, 'token-2');
    expect(values()).toEqual(['token-1', 'token-2']);
  });

  it('deletes the record holding one value and keeps the other', async () => {
    await dns().createTxt(NAME, 'token-1');
    await dns().createTxt(NAME, 'token-2');
    await dns().deleteTxt(NAME, 'token-1');
    expect(values()).toEqual(['token-2']);
  });

  it('treats deleting a record that is not there as done', async () => {
    await dns().deleteTxt(NAME, 'token-1');
    await dns().createTxt(NAME, 'kept');
    await dns().deleteTxt(NAME, 'token-1');
    expect(values()).toEqual(['kept']);
  });

  it('writes a record at the domain apex with a blank name', async () => {
    await dns().createTxt('example.com', 'apex');
    expect(fake.txt('example.com', 'example.com').map((record) => record.content)).toEqual(['apex']);
    await dns().deleteTxt('example.com', 'apex');
    expect(fake.txt('example.com', 'example.com')).toEqual([]);
  });

  it('reports a name outside every domain', async () => {
    const error = await failure(dns().createTxt('_acme-challenge.example.org', 'token-1'));
    expect(error.message).toBe('porkbun: no zone in this account holds _acme-challenge.example.org');
  });

  it("reports wrong credentials with Porkbun's message and without the keys", async () => {
    const error = await failure(dns('sk1_wrong').createTxt(NAME, 'token-1'));
    expect(error.status).toBe(400);
    expect(error.message).toBe('porkbun: Invalid API key. (002)');
  });

  it('reports a server that is down', async () => {
    const error = await failure(dns(SECRET, await closedOrigin()).createTxt(NAME, 'token-1'));
    expect(error.message).toMatch(/^porkbun: cannot reach 127\.0\.0\.1:\d+/);
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

  it('verifies good credentials with /ping and rejects bad ones', async () => {
    await expect(dns().verify()).resolves.toBeUndefined();
    expect(fake.requests.at(-1)?.url.pathname).toBe('/api/json/v3/ping');
    expect((await failure(dns('bad').verify())).message).toBe('porkbun: Invalid API key. (002)');
  });

  it('describes every attribute and keeps both keys secret', () => {
    for (const field of Object.values(porkbunProvider.schema.shape)) expect(field.description).toBeTruthy();
    expect(porkbunProvider.secretFields).toEqual(['api_key', 'secret_api_key']);
  });
});
