import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { closedOrigin, neverAnswer, startFakeServer } from '../../../test/fakes/fake-http.js';
import { startVultrFake, type VultrFake } from '../../../test/fakes/vultr.js';
import { DnsProviderError } from '../provider.js';
import { vultrProvider } from './vultr.js';

const API_KEY = 'VULTR5ECRETKEY';
const NAME = '_acme-challenge.a.b.example.com';
const RELATIVE = '_acme-challenge.a.b';
/** More domains than one page of 500, with example.com on the second page. */
const ZONES = [...Array.from({ length: 501 }, (_, i) => `zone${i}.example.net`), 'other.com', 'example.com'];

let fake: VultrFake;
beforeEach(async () => {
  fake = await startVultrFake({ apiKey: API_KEY, zones: ZONES });
});
afterEach(() => fake.close());

const dns = (apiKey = API_KEY, baseUrl = fake.baseUrl, timeoutMs = 2000) => vultrProvider.create({ api_key: apiKey }, { timeoutMs, baseUrl });

async function failure(promise: Promise<unknown>): Promise<DnsProviderError> {
  const error = await promise.then(() => undefined, (caught: unknown) => caught);
  expect(error).toBeInstanceOf(DnsProviderError);
  return error as DnsProviderError;
}

const data = () => fake.txt('example.com', RELATIVE).map((record) => record.data);

describe('vultrProvider', () => {
  it('creates the quoted TXT record in the domain holding a deep name, found past the first page', async () => {
    await dns().createTxt(NAME, 'token-1');
    expect(fake.txt('example.com', RELATIVE)).toMatchObject([{ type: 'TXT', name: RELATIVE, data: '"token-1"', ttl: 120 }]);
    expect(fake.txt('other.com', RELATIVE)).toEqual([]);
    expect(fake.requests.filter((request) => request.url.pathname === '/v2/domains')).toHaveLength(2);
  });

  it('adds a second record at the same name and skips a value already there', async () => {
    await dns().createTxt(NAME, 'token-1');
    await dns().createTxt(NAME, 'token-2');
    await dns().createTxt(NAME, 'token-2');
    expect(data()).toEqual(['"token-1"', '"token-2"']);
  });

  it('deletes the record holding one value and keeps the other', async () => {
    await dns().createTxt(NAME, 'token-1');
    await dns().createTxt(NAME, 'token-2');
    await dns().deleteTxt(NAME, 'token-1');
    expect(data()).toEqual(['"token-2"']);
  });

  it('treats deleting a record that is not there as done', async () => {
    await dns().deleteTxt(NAME, 'token-1');
    await dns().createTxt(NAME, 'kept');
    await dns().deleteTxt(NAME, 'token-1');
    expect(data()).toEqual(['"kept"']);
  });

  it('reads every page of the record listing', async () => {
    fake.seed('example.com', Array.from({ length: 600 }, (_, i) => ({ type: 'A', name: `host${i}`, data: '192.0.2.1', priority: 0, ttl: 300 })));
    await dns().createTxt(NAME, 'token-1');
    await dns().createTxt(NAME, 'token-1');
    await dns().deleteTxt(NAME, 'token-1');
    expect(data()).toEqual([]);
  });

  it('writes a record at the domain apex with an empty name', async () => {
    await dns().createTxt('example.com', 'apex');
    expect(fake.txt('example.com', '').map((record) => record.data)).toEqual(['"apex"']);
  });

  it('reports a name outside every domain', async () => {
    const error = await failure(dns().createTxt('_acme-challenge.example.org', 'token-1'));
    expect(error.message).toBe('vultr: no zone in this account holds _acme-challenge.example.org');
  });

  it("reports wrong credentials with Vultr's message and without the key", async () => {
    const error = await failure(dns('WRONG5ECRET').createTxt(NAME, 'token-1'));
    expect(error.status).toBe(401);
    expect(error.message).toBe('vultr: Invalid API token.');
  });

  it('reports a server that is down', async () => {
    const error = await failure(dns(API_KEY, await closedOrigin()).createTxt(NAME, 'token-1'));
    expect(error.message).toMatch(/^vultr: cannot reach 127\.0\.0\.1:\d+/);
  });

  it('gives up on a server that does not answer within the timeout', async () => {
    const silent = await startFakeServer(neverAnswer);
    try {
      const error = await failure(dns(API_KEY, silent.origin, 200).verify());
      expect(error.message).toMatch(/no answer from 127\.0\.0\.1:\d+ within 200 ms/);
    } finally {
      await silent.close();
    }
  });

  it('verifies good credentials and rejects bad ones', async () => {
    await expect(dns().verify()).resolves.toBeUndefined();
    expect((await failure(dns('bad').verify())).status).toBe(401);
  });

  it('describes every attribute and keeps the key secret', () => {
    expect(vultrProvider.schema.shape.api_key.description).toBeTruthy();
    expect(vultrProvider.secretFields).toEqual(['api_key']);
  });
});
