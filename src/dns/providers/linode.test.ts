import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { closedOrigin, neverAnswer, startFakeServer } from '../../../test/fakes/fake-http.js';
import { startLinodeFake, type LinodeFake } from '../../../test/fakes/linode.js';
import { DnsProviderError } from '../provider.js';
import { linodeProvider } from './linode.js';

const TOKEN = 'linode-5ecret-token';
const NAME = '_acme-challenge.a.b.example.com';
const RELATIVE = '_acme-challenge.a.b';
/** More domains than one page of 500, with example.com on the second page. */
const ZONES = [...Array.from({ length: 501 }, (_, i) => `zone${i}.example.net`), 'other.com', 'example.com'];

let fake: LinodeFake;
beforeEach(async () => {
  fake = await startLinodeFake({ token: TOKEN, zones: ZONES });
});
afterEach(() => fake.close());

const dns = (token = TOKEN, baseUrl = fake.baseUrl, timeoutMs = 2000) => linodeProvider.create({ api_token: token }, { timeoutMs, baseUrl });

async function failure(promise: Promise<unknown>): Promise<DnsProviderError> {
  const error = await promise.then(() => undefined, (caught: unknown) => caught);
  expect(error).toBeInstanceOf(DnsProviderError);
  return error as DnsProviderError;
}

const targets = () => fake.txt('example.com', RELATIVE).map((record) => record.target);

describe('linodeProvider', () => {
  it('creates the TXT record in the domain holding a deep name, found past the first page of domains', async () => {
    await dns().createTxt(NAME, 'token-1');
    expect(fake.txt('example.com', RELATIVE)).toMatchObject([{ type: 'TXT', name: RELATIVE, target: 'token-1', ttl_sec: 30 }]);
    expect(fake.txt('other.com', RELATIVE)).toEqual([]);
  });

  it('adds a second record at the same name and skips a value already there', async () => {
    await dns().createTxt(NAME, 'token-1');
    await dns().createTxt(NAME, 'token-2');
    await dns().createTxt(NAME, 'token-2');
    expect(targets()).toEqual(['token-1', 'token-2']);
  });

  it('deletes the record holding one value and keeps the other', async () => {
    await dns().createTxt(NAME, 'token-1');
    await dns().createTxt(NAME, 'token-2');
    await dns().deleteTxt(NAME, 'token-1');
    expect(targets()).toEqual(['token-2']);
  });

  it('treats deleting a record that is not there as done', async () => {
    await dns().deleteTxt(NAME, 'token-1');
    await dns().createTxt(NAME, 'kept');
    await dns().deleteTxt(NAME, 'token-1');
    expect(targets()).toEqual(['kept']);
  });

  it('filters the record listing by name and type and reads every page of it', async () => {
    fake.seed('example.com', Array.from({ length: 600 }, (_, i) => ({ type: 'TXT', name: RELATIVE, target: `other-${i}`, ttl_sec: 300 })));
    await dns().createTxt(NAME, 'token-1');
    await dns().deleteTxt(NAME, 'other-599');
    expect(targets()).toHaveLength(600);
    expect(targets()).not.toContain('other-599');
    const listing = fake.requests.find((request) => /\/records$/.test(request.url.pathname));
    expect(JSON.parse(String(listing?.headers['x-filter']))).toEqual({ name: RELATIVE, type: 'TXT' });
  });

  it('writes a record at the domain apex with an empty name', async () => {
    await dns().createTxt('example.com', 'apex');
    expect(fake.txt('example.com', '').map((record) => record.target)).toEqual(['apex']);
  });

  it('reports a name outside every domain', async () => {
    const error = await failure(dns().createTxt('_acme-challenge.example.org', 'token-1'));
    expect(error.message).toBe('linode: no zone in this account holds _acme-challenge.example.org');
  });

  it("reports wrong credentials with Linode's message and without the token", async () => {
    const error = await failure(dns('wrong-5ecret').createTxt(NAME, 'token-1'));
    expect(error.status).toBe(401);
    expect(error.message).toBe('linode: Invalid Token');
  });

  it('reports a server that is down', async () => {
    const error = await failure(dns(TOKEN, await closedOrigin()).createTxt(NAME, 'token-1'));
    expect(error.message).toMatch(/^linode: cannot reach 127\.0\.0\.1:\d+/);
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

  it('verifies good credentials and rejects bad ones', async () => {
    await expect(dns().verify()).resolves.toBeUndefined();
    expect((await failure(dns('bad').verify())).status).toBe(401);
  });

  it('describes every attribute and keeps the token secret', () => {
    expect(linodeProvider.schema.shape.api_token.description).toBeTruthy();
    expect(linodeProvider.secretFields).toEqual(['api_token']);
  });
});
