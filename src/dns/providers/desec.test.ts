import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startDesecFake, type DesecFake } from '../../../test/fakes/desec.js';
import { closedOrigin, neverAnswer, startFakeServer } from '../../../test/fakes/fake-http.js';
import { DnsProviderError } from '../provider.js';
import { desecProvider } from './desec.js';

const TOKEN = 'desec-5ecret-token';
const NAME = '_acme-challenge.a.b.example.com';
const SUBNAME = '_acme-challenge.a.b';

let fake: DesecFake;
beforeEach(async () => {
  fake = await startDesecFake({ token: TOKEN, zones: [{ name: 'other.com', minimumTtl: 3600 }, { name: 'example.com', minimumTtl: 3600 }, { name: 'me.dedyn.io', minimumTtl: 60 }] });
});
afterEach(() => fake.close());

const dns = (token = TOKEN, baseUrl = fake.baseUrl, timeoutMs = 2000) => desecProvider.create({ token }, { timeoutMs, baseUrl });

async function failure(promise: Promise<unknown>): Promise<DnsProviderError> {
  const error = await promise.then(() => undefined, (caught: unknown) => caught);
  expect(error).toBeInstanceOf(DnsProviderError);
  return error as DnsProviderError;
}

describe('desecProvider', () => {
  it('writes the TXT RRset in the domain deSEC names as responsible for a deep name', async () => {
    await dns().createTxt(NAME, 'token-1');
    expect(fake.txt('example.com', SUBNAME)).toEqual(['"token-1"']);
    expect(fake.txt('other.com', SUBNAME)).toEqual([]);
    expect(fake.requests[0]?.url.searchParams.get('owns_qname')).toBe(NAME);
  });

  it("uses the domain's minimum TTL", async () => {
    await dns().createTxt(NAME, 'token-1');
    await dns().createTxt('_acme-challenge.me.dedyn.io', 'token-1');
    expect(fake.ttl('example.com', SUBNAME)).toBe(3600);
    expect(fake.ttl('me.dedyn.io', '_acme-challenge')).toBe(60);
  });

  it('adds a second value to the RRset and skips a value already there', async () => {
    await dns().createTxt(NAME, 'token-1');
    await dns().createTxt(NAME, 'token-2');
    await dns().createTxt(NAME, 'token-2');
    expect(fake.txt('example.com', SUBNAME)).toEqual(['"token-1"', '"token-2"']);
  });

  it('keeps both values when two challenges for one name are written at once', async () => {
    const provider = dns();
    await Promise.all([provider.createTxt(NAME, 'apex'), provider.createTxt(NAME, 'wildcard')]);
    expect(fake.txt('example.com', SUBNAME).sort()).toEqual(['"apex"', '"wildcard"']);
  });

  it('writes back the RRset without the deleted value, then deletes the emptied RRset', async () => {
    fake.seed('example.com', SUBNAME, ['"kept"', '"token-1"'], 7200);
    await dns().deleteTxt(NAME, 'token-1');
    expect(fake.txt('example.com', SUBNAME)).toEqual(['"kept"']);
    expect(fake.ttl('example.com', SUBNAME)).toBe(7200);
    await dns().deleteTxt(NAME, 'kept');
    expect(fake.ttl('example.com', SUBNAME)).toBeUndefined();
  });

  it('treats deleting a record that is not there as done', async () => {
    await dns().deleteTxt(NAME, 'token-1');
    fake.seed('example.com', SUBNAME, ['"kept"'], 3600);
    await dns().deleteTxt(NAME, 'token-1');
    expect(fake.txt('example.com', SUBNAME)).toEqual(['"kept"']);
  });

  it('writes a record at the domain apex with an empty subname', async () => {
    await dns().createTxt('me.dedyn.io', 'apex');
    expect(fake.txt('me.dedyn.io', '')).toEqual(['"apex"']);
  });

  it('reports a name outside every domain', async () => {
    const error = await failure(dns().createTxt('_acme-challenge.example.org', 'token-1'));
    expect(error.message).toBe('desec: no zone in this account holds _acme-challenge.example.org');
  });

  it("reports wrong credentials with deSEC's message and without the token", async () => {
    const error = await failure(dns('wrong-5ecret').createTxt(NAME, 'token-1'));
    expect(error.status).toBe(401);
    expect(error.message).toBe('desec: Invalid token.');
  });

  it('reports a server that is down', async () => {
    const error = await failure(dns(TOKEN, await closedOrigin()).createTxt(NAME, 'token-1'));
    expect(error.message).toMatch(/^desec: cannot reach 127\.0\.0\.1:\d+/);
  });

  it('gives up on a server that does not answer within the timeout', async () => {
    const silent = await startFakeServer(neverAnswer);
    try {
      const error = await failure(dns(TOKEN, silent.origin, 200).verify());
      expect(error.message).toMatch(/no answer from 127\.0\.0\.1:\d+ within 200 ms/);
    } finally {
      await silent.close();
    }
  });

  it('verifies good credentials, also past one page of domains, and rejects bad ones', async () => {
    await expect(dns().verify()).resolves.toBeUndefined();
    const many = await startDesecFake({ token: TOKEN, zones: Array.from({ length: 501 }, (_, i) => ({ name: `zone${i}.example.net`, minimumTtl: 3600 })) });
    try {
      await expect(dns(TOKEN, many.baseUrl).verify()).resolves.toBeUndefined();
    } finally {
      await many.close();
    }
    expect((await failure(dns('bad').verify())).status).toBe(401);
  });

  it('describes every attribute and keeps the token secret', () => {
    expect(desecProvider.schema.shape.token.description).toBeTruthy();
    expect(desecProvider.secretFields).toEqual(['token']);
  });
});
