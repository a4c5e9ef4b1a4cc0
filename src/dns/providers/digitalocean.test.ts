import { afterEach, describe, expect, it } from 'vitest';
import { FakeDigitalocean, type FakeDigitaloceanOptions } from '../../../test/fakes/digitalocean.js';
import { describeProviderContract, failure as rejection } from '../../../test/helpers/dns-provider-contract.js';
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

const UNAUTHORIZED = 'digitalocean: Unable to authenticate you (Unauthorized)';

describeProviderContract('digitalocean provider', {
  definition: digitaloceanProvider,
  secretFields: ['digitalocean_token'],
  label: 'digitalocean',
  name: NAME,
  values: ['value-1', 'value-2'],
  start: async () => {
    const server = await startFake();
    return {
      provider: () => provider(server.baseUrl),
      wrongProvider: () => provider(server.baseUrl, 'dop_v1_wrong'),
      badVerifier: () => provider(server.baseUrl, 'nope'),
      at: (origin, timeoutMs) => provider(origin, TOKEN, timeoutMs),
      txt: () => server.txt(NAME),
    };
  },
  skipsExisting: false,
  afterDeleteOne: () => {
    const list = fake?.requests.find((r) => r.method === 'GET' && r.url.pathname.endsWith('/records'));
    expect(Object.fromEntries(list?.url.searchParams ?? [])).toMatchObject({ type: 'TXT', name: NAME });
  },
  afterMissingDelete: () => expect(fake?.requests.filter((r) => r.method === 'DELETE')).toEqual([]),
  wrongCredentials: { status: 401, message: UNAUTHORIZED, secret: 'dop_v1_wrong' },
  badVerify: { message: UNAUTHORIZED },
});

describe('digitalocean attributes', () => {
  it('requires a token described as DigitalOcean does', () => {
    expect(digitaloceanProvider.schema.safeParse({}).success).toBe(false);
    expect(digitaloceanProvider.schema.shape.digitalocean_token.description).toBe('DigitalOcean Token');
  });
});

describe('digitalocean provider', () => {
  it('creates a TXT record relative to the domain', async () => {
    const server = await startFake();
    await provider(server.baseUrl).createTxt(NAME, 'value-1');
    expect(server.records).toEqual([expect.objectContaining({ domain: 'example.com', type: 'TXT', name: '_acme-challenge', data: 'value-1', ttl: 30 })]);
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

  it('verifies a valid token through the account and its domains', async () => {
    const server = await startFake();
    await expect(provider(server.baseUrl).verify()).resolves.toBeUndefined();
    expect(server.requests.map((r) => r.url.pathname)).toEqual(['/v2/account', '/v2/domains']);
  });

  it('verifies a token scoped to domains without account:read', async () => {
    const server = await startFake({ withoutAccountScope: true });
    await expect(provider(server.baseUrl).verify()).resolves.toBeUndefined();
  });

  it('fails verification when the token sees no domains', async () => {
    const server = await startFake({ domains: [] });
    const error = await rejection(provider(server.baseUrl).verify());
    expect(error.message).toBe('digitalocean: this token sees no domains');
  });
});
