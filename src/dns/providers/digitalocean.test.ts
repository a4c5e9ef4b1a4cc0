import { afterEach, describe, expect, it } from 'vitest';
import { closedOrigin, neverAnswer, startFakeServer } from '../../../test/fakes/fake-http.js';
import { FakeDigitalocean, type FakeDigitaloceanOptions } from '../../../test/fakes/digitalocean.js';
import { DnsProviderError } from '../provider.js';
import { digitaloceanProvider } from './digitalocean.js';

const TOKEN = 'dop_v1_0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab';
const NAME = '_acme-challenge.example.com';

let fake: FakeDigitalocean | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

async function startFake(options: Partial<FakeDigitaloceanOptions> = {}) {
  fake = await FakeDigitalocean.start({ token: TOKEN, domains: ['example.com'], ...options });
  return fake;
}

function provider(baseUrl: string, token = TOKEN, timeoutMs = 2000) {
  return digitaloceanProvider.create(digitaloceanProvider.schema.parse({ digitalocean_token: token }), { timeoutMs, baseUrl });
}

async function rejection(promise: Promise<unknown>): Promise<DnsProviderError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DnsProviderError);
  return error as DnsProviderError;
}

describe('digitalocean attributes', () => {
  it('requires a described, secret token', () => {
    expect(digitaloceanProvider.schema.safeParse({}).success).toBe(false);
    expect(digitaloceanProvider.schema.shape.digitalocean_token.description).toBe('DigitalOcean Token');
    expect(digitaloceanProvider.secretFields).toEqual(['digitalocean_token']);
  });
});

describe('digitalocean provider', () => {
  it('creates a TXT record relative to the domain', async () => {
    const server = await startFake();
    await provider(server.baseUrl).createTxt(NAME, 'value-1');
    expect(server.records).toEqual([expect.objectContaining({ domain: 'example.com', type: 'TXT', name: '_acme-challenge', data: 'value-1', ttl: 30 })]);
  });

  it('keeps the first value when a second is added at the same name', async () => {
    const server = await startFake();
    const dns = provider(server.baseUrl);
    await dns.createTxt(NAME, 'value-1');
    await dns.createTxt(NAME, 'value-2');
    expect(server.txt(NAME)).toEqual(['value-1', 'value-2']);
  });

  it('deletes one value and leaves the other', async () => {
    const server = await startFake();
    const dns = provider(server.baseUrl);
    await dns.createTxt(NAME, 'value-1');
    await dns.createTxt(NAME, 'value-2');
    await dns.deleteTxt(NAME, 'value-1');
    expect(server.txt(NAME)).toEqual(['value-2']);
    const list = server.requests.find((r) => r.method === 'GET' && r.url.pathname.endsWith('/records'));
    expect(Object.fromEntries(list?.url.searchParams ?? [])).toMatchObject({ type: 'TXT', name: NAME });
  });

  it('deletes a missing record without error', async () => {
    const server = await startFake();
    await provider(server.baseUrl).deleteTxt(NAME, 'never-created');
    expect(server.requests.filter((r) => r.method === 'DELETE')).toEqual([]);
  });

  it('finds the most specific domain from a deep name across pages', async () => {
    const server = await startFake({ domains: ['a.net', 'b.net', 'example.com', 'c.net', 'b.example.com'], maxPerPage: 2 });
    await provider(server.baseUrl).createTxt('_acme-challenge.a.b.example.com', 'deep');
    expect(server.records).toEqual([expect.objectContaining({ domain: 'b.example.com', name: '_acme-challenge.a' })]);
    expect(server.requests.filter((r) => r.url.pathname === '/v2/domains').map((r) => r.url.searchParams.get('page'))).toEqual([null, '2', '3']);
  });

  it('follows next links on the configured origin only', async () => {
    const server = await startFake({ domains: ['a.net', 'example.com'], maxPerPage: 1 });
    await provider(server.baseUrl).createTxt(NAME, 'x');
    // The fake's links name api.digitalocean.com, as the real API does; the second page still came here.
    expect(server.requests.filter((r) => r.url.pathname === '/v2/domains')).toHaveLength(2);
  });

  it('names the record when no domain holds it', async () => {
    const server = await startFake({ domains: ['example.org'] });
    const error = await rejection(provider(server.baseUrl).createTxt(NAME, 'x'));
    expect(error.message).toBe(`digitalocean: no domain holding ${NAME} is visible to this token`);
  });

  it('reports a wrong token with DigitalOcean’s message and without the token', async () => {
    const server = await startFake();
    const error = await rejection(provider(server.baseUrl, 'dop_v1_wrong').createTxt(NAME, 'x'));
    expect(error.message).toBe('digitalocean: Unable to authenticate you (Unauthorized)');
    expect(error.status).toBe(401);
    expect(error.message).not.toContain('dop_v1_wrong');
  });

  it('reports a server that is down', async () => {
    const error = await rejection(provider(`${await closedOrigin()}/v2`).deleteTxt(NAME, 'x'));
    expect(error.message).toMatch(/^digitalocean: cannot reach 127\.0\.0\.1:\d+/);
  });

  it('gives up on a server that does not answer within the timeout', async () => {
    const silent = await startFakeServer(neverAnswer);
    try {
      const error = await rejection(provider(silent.origin, TOKEN, 200).createTxt(NAME, 'x'));
      expect(error.message).toMatch(/no answer from 127\.0\.0\.1:\d+ within 200 ms/);
    } finally {
      await silent.close();
    }
  });

  it('verifies a valid token through the account and its domains', async () => {
    const server = await startFake();
    await expect(provider(server.baseUrl).verify()).resolves.toBeUndefined();
    expect(server.requests.map((r) => r.url.pathname)).toEqual(['/v2/account', '/v2/domains']);
  });

  it('verifies a token scoped to domains without account:read', async () => {
    const server = await startFake({ withoutAccountScope: true });
    await expect(provider(server.baseUrl).verify()).resolves.toBeUndefined();
  });

  it('fails verification of a wrong token', async () => {
    const server = await startFake();
    const error = await rejection(provider(server.baseUrl, 'nope').verify());
    expect(error.message).toBe('digitalocean: Unable to authenticate you (Unauthorized)');
  });

  it('fails verification when the token sees no domains', async () => {
    const server = await startFake({ domains: [] });
    const error = await rejection(provider(server.baseUrl).verify());
    expect(error.message).toBe('digitalocean: this token sees no domains');
  });
});
