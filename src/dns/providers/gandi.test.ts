import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { closedOrigin, neverAnswer, startFakeServer } from '../../../test/fakes/fake-http.js';
import { startGandiFake, type GandiFake } from '../../../test/fakes/gandi.js';
import { DnsProviderError } from '../provider.js';
import { gandiProvider } from './gandi.js';

const PAT = 'pat_5ecret-token';
const NAME = '_acme-challenge.a.b.example.com';
const RELATIVE = '_acme-challenge.a.b';

let fake: GandiFake;
beforeEach(async () => {
  fake = await startGandiFake({ authorization: `Bearer ${PAT}`, zones: ['other.com', 'example.com'] });
});
afterEach(() => fake.close());

const dns = (attributes: { personal_access_token?: string; api_key?: string } = { personal_access_token: PAT }, baseUrl = fake.baseUrl, timeoutMs = 2000) =>
  gandiProvider.create(attributes, { timeoutMs, baseUrl });

async function failure(promise: Promise<unknown>): Promise<DnsProviderError> {
  const error = await promise.then(() => undefined, (caught: unknown) => caught);
  expect(error).toBeInstanceOf(DnsProviderError);
  return error as DnsProviderError;
}

describe('gandiProvider', () => {
  it('writes the TXT rrset in the zone holding a deep name, asking zone by zone', async () => {
    await dns().createTxt(NAME, 'token-1');
    expect(fake.txt('example.com', RELATIVE)).toEqual(['"token-1"']);
    expect(fake.ttl('example.com', RELATIVE)).toBe(300);
    const lookups = fake.requests.filter((request) => /^\/v5\/livedns\/domains\/[^/]+$/.test(request.url.pathname));
    expect(lookups.map((request) => request.url.pathname.split('/').pop())).toEqual([NAME, 'a.b.example.com', 'b.example.com', 'example.com']);
  });

  it('adds a second value to the rrset and skips a value already there', async () => {
    await dns().createTxt(NAME, 'token-1');
    await dns().createTxt(NAME, 'token-2');
    await dns().createTxt(NAME, 'token-2');
    expect(fake.txt('example.com', RELATIVE)).toEqual(['"token-1"', '"token-2"']);
  });

  it('keeps both values when two challenges for one name are written at once', async () => {
    const provider = dns();
    await Promise.all([provider.createTxt(NAME, 'apex'), provider.createTxt(NAME, 'wildcard')]);
    expect(fake.txt('example.com', RELATIVE).sort()).toEqual(['"apex"', '"wildcard"']);
  });

  it('writes back the rrset without the deleted value, then deletes the emptied rrset', async () => {
    fake.seed('example.com', RELATIVE, ['"kept"', '"token-1"'], 600);
    await dns().deleteTxt(NAME, 'token-1');
    expect(fake.txt('example.com', RELATIVE)).toEqual(['"kept"']);
    expect(fake.ttl('example.com', RELATIVE)).toBe(600);
    await dns().deleteTxt(NAME, 'kept');
    expect(fake.ttl('example.com', RELATIVE)).toBeUndefined();
  });

  it('treats deleting a record that is not there as done', async () => {
    await dns().deleteTxt(NAME, 'token-1');
    fake.seed('example.com', RELATIVE, ['"kept"'], 300);
    await dns().deleteTxt(NAME, 'token-1');
    expect(fake.txt('example.com', RELATIVE)).toEqual(['"kept"']);
  });

  it('signs with the legacy API key when no personal access token is given', async () => {
    const legacy = await startGandiFake({ authorization: 'Apikey 5ecret-key', zones: ['example.com'] });
    try {
      await dns({ api_key: '5ecret-key' }, legacy.baseUrl).createTxt(NAME, 'token-1');
      expect(legacy.txt('example.com', RELATIVE)).toEqual(['"token-1"']);
    } finally {
      await legacy.close();
    }
  });

  it('requires a personal access token or an API key', () => {
    expect(gandiProvider.schema.safeParse({}).success).toBe(false);
    expect(gandiProvider.schema.safeParse({ personal_access_token: '', api_key: '' }).success).toBe(false);
    expect(gandiProvider.schema.safeParse({ api_key: 'k' }).success).toBe(true);
  });

  it('reports a name outside every zone', async () => {
    const error = await failure(dns().createTxt('_acme-challenge.example.org', 'token-1'));
    expect(error.message).toBe('gandi: no zone in this account holds _acme-challenge.example.org');
  });

  it("reports wrong credentials with Gandi's message and without the token", async () => {
    const error = await failure(dns({ personal_access_token: 'wrong-5ecret' }).createTxt(NAME, 'token-1'));
    expect(error.status).toBe(401);
    expect(error.message).toMatch(/^gandi: The server could not verify that you authorized/);
    expect(error.message).not.toContain('5ecret');
  });

  it('reports a server that is down', async () => {
    const error = await failure(dns(undefined, await closedOrigin()).createTxt(NAME, 'token-1'));
    expect(error.message).toMatch(/^gandi: cannot reach 127\.0\.0\.1:\d+/);
  });

  it('gives up on a server that does not answer within the timeout', async () => {
    const silent = await startFakeServer(neverAnswer);
    try {
      const error = await failure(dns(undefined, silent.origin, 200).verify());
      expect(error.message).toMatch(/no answer from 127\.0\.0\.1:\d+ within 200 ms/);
    } finally {
      await silent.close();
    }
  });

  it('verifies good credentials and rejects bad ones', async () => {
    await expect(dns().verify()).resolves.toBeUndefined();
    expect((await failure(dns({ api_key: 'bad' }).verify())).status).toBe(401);
  });

  it('describes every attribute and keeps both credentials secret', () => {
    for (const field of Object.values(gandiProvider.schema.shape)) expect(field.description).toBeTruthy();
    expect(gandiProvider.secretFields).toEqual(['personal_access_token', 'api_key']);
  });
});
