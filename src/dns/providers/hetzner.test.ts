import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { closedOrigin, neverAnswer, startFakeServer } from '../../../test/fakes/fake-http.js';
import { startHetznerFake, type HetznerFake } from '../../../test/fakes/hetzner.js';
import { DnsProviderError } from '../provider.js';
import { hetznerProvider } from './hetzner.js';

const TOKEN = 'hz-token-5ecret';
const NAME = '_acme-challenge.a.b.example.com';
/** More zones than one page of 50, with example.com on the second page. */
const ZONES = [...Array.from({ length: 55 }, (_, i) => `zone${i}.example.net`), 'other.com', 'example.com'];

let fake: HetznerFake;
beforeEach(async () => {
  fake = await startHetznerFake({ token: TOKEN, zones: ZONES });
});
afterEach(() => fake.close());

const dns = (token = TOKEN, baseUrl = fake.baseUrl, timeoutMs = 2000) => hetznerProvider.create({ api_token: token }, { timeoutMs, baseUrl });

async function failure(promise: Promise<unknown>): Promise<DnsProviderError> {
  const error = await promise.then(() => undefined, (caught: unknown) => caught);
  expect(error).toBeInstanceOf(DnsProviderError);
  return error as DnsProviderError;
}

describe('hetznerProvider', () => {
  it('adds the TXT record to the zone holding a deep name, found past the first page of zones', async () => {
    await dns().createTxt(NAME, 'token-1');
    expect(fake.txt('example.com', '_acme-challenge.a.b')).toEqual(['"token-1"']);
    expect(fake.txt('other.com', '_acme-challenge.a.b')).toEqual([]);
    const add = fake.requests.find((request) => request.url.pathname.endsWith('/add_records'));
    expect(JSON.parse(add?.body ?? '{}')).toEqual({ ttl: 60, records: [{ value: '"token-1"' }] });
    expect(fake.requests.some((request) => request.url.pathname.startsWith('/v1/actions/'))).toBe(true);
  });

  it('adds a second value beside the first and skips a value already there', async () => {
    await dns().createTxt(NAME, 'token-1');
    await dns().createTxt(NAME, 'token-2');
    await dns().createTxt(NAME, 'token-2');
    expect(fake.txt('example.com', '_acme-challenge.a.b')).toEqual(['"token-1"', '"token-2"']);
  });

  it('deletes one value and keeps the other, then removes the last', async () => {
    await dns().createTxt(NAME, 'token-1');
    await dns().createTxt(NAME, 'token-2');
    await dns().deleteTxt(NAME, 'token-1');
    expect(fake.txt('example.com', '_acme-challenge.a.b')).toEqual(['"token-2"']);
    await dns().deleteTxt(NAME, 'token-2');
    expect(fake.txt('example.com', '_acme-challenge.a.b')).toEqual([]);
  });

  it('treats deleting a record that is not there as done', async () => {
    await dns().deleteTxt(NAME, 'token-1');
    fake.seed('example.com', '_acme-challenge.a.b', ['"kept"']);
    await dns().deleteTxt(NAME, 'token-1');
    expect(fake.txt('example.com', '_acme-challenge.a.b')).toEqual(['"kept"']);
  });

  it('uses "@" for a record at the zone apex', async () => {
    await dns().createTxt('example.com', 'apex');
    expect(fake.txt('example.com', '@')).toEqual(['"apex"']);
  });

  it('reports an action that ends in error', async () => {
    fake.failNextAction('zone is locked');
    const error = await failure(dns().createTxt(NAME, 'token-1'));
    expect(error.message).toBe('hetzner: action add_rrset_records failed: zone is locked');
  });

  it('reports a name outside every zone', async () => {
    const error = await failure(dns().createTxt('_acme-challenge.example.org', 'token-1'));
    expect(error.message).toBe('hetzner: no zone in this account holds _acme-challenge.example.org');
  });

  it("reports wrong credentials with Hetzner's message and without the token", async () => {
    const error = await failure(dns('wrong-5ecret').createTxt(NAME, 'token-1'));
    expect(error.status).toBe(401);
    expect(error.message).toBe('hetzner: unable to authenticate (unauthorized)');
    expect(error.message).not.toContain('5ecret');
  });

  it('reports a server that is down', async () => {
    const error = await failure(dns(TOKEN, `${await closedOrigin()}/v1`).createTxt(NAME, 'token-1'));
    expect(error.message).toMatch(/^hetzner: cannot reach 127\.0\.0\.1:\d+/);
  });

  it('gives up on a server that does not answer within the timeout', async () => {
    const silent = await startFakeServer(neverAnswer);
    try {
      const started = Date.now();
      const error = await failure(dns(TOKEN, silent.origin, 200).verify());
      expect(error.message).toMatch(/no answer from 127\.0\.0\.1:\d+ within 200 ms/);
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      await silent.close();
    }
  });

  it('verifies good credentials and rejects bad ones', async () => {
    await expect(dns().verify()).resolves.toBeUndefined();
    expect((await failure(dns('bad').verify())).status).toBe(401);
  });

  it('describes every attribute and keeps the token secret', () => {
    expect(hetznerProvider.schema.shape.api_token.description).toBeTruthy();
    expect(hetznerProvider.secretFields).toEqual(['api_token']);
  });
});
