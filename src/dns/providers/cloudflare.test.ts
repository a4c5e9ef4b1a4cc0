import { afterEach, describe, expect, it } from 'vitest';
import { FakeCloudflare, type FakeCloudflareOptions } from '../../../test/fakes/cloudflare.js';
import { describeProviderContract, failure as rejection } from '../../../test/helpers/dns-provider-contract.js';
import { DnsProviderError } from '../provider.js';
import { cloudflareProvider, validateCloudflare } from './cloudflare.js';

const TOKEN = 'cf-token-0123456789abcdef0123456789abcdef';
const EMAIL = 'admin@example.com';
const API_KEY = '0123456789abcdef0123456789abcdef01234';
const NAME = '_acme-challenge.example.com';

let fake: FakeCloudflare | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

async function startFake(zones: Array<{ name: string; status?: 'active' | 'pending' }> = [{ name: 'example.com' }], options: Partial<FakeCloudflareOptions> = {}) {
  fake = await FakeCloudflare.start({ token: TOKEN, email: EMAIL, apiKey: API_KEY, zones, ...options });
  return fake;
}

function withToken(baseUrl: string, token = TOKEN, timeoutMs = 2000) {
  return cloudflareProvider.create(cloudflareProvider.schema.parse({ api_token: token }), { timeoutMs, baseUrl });
}

describeProviderContract('cloudflare provider', {
  definition: cloudflareProvider,
  secretFields: ['api_key', 'api_token'],
  label: 'cloudflare',
  name: NAME,
  values: ['value-1', 'value-2'],
  start: async () => {
    const server = await startFake();
    return {
      provider: () => withToken(server.baseUrl),
      wrongProvider: () => withToken(server.baseUrl, 'wrong-token-value'),
      badVerifier: () => withToken(server.baseUrl, 'nope'),
      at: (origin, timeoutMs) => withToken(origin, TOKEN, timeoutMs),
      txt: () => server.txt(NAME),
    };
  },
  wrongCredentials: { status: 403, message: 'cloudflare: Authentication error (10000)', secret: 'wrong-token-value' },
  badVerify: { status: 401, message: 'cloudflare: Invalid API Token (1000)' },
});

describe('cloudflare attributes', () => {
  it('defaults every attribute to null', () => {
    expect(cloudflareProvider.schema.parse({})).toEqual({ cloudflare_email: null, api_key: null, api_token: null });
  });

  it('rejects e-mail and key next to a token with TrueNAS messages', () => {
    expect(validateCloudflare({ api_token: 't', cloudflare_email: 'e@x', api_key: 'k' })).toEqual([
      ['cloudflare_email', 'Should not be specified when using "api_token".'],
      ['api_key', 'Should not be specified when using "api_token".'],
    ]);
  });

  it('requires both halves of a Global API Key', () => {
    expect(validateCloudflare({ api_token: null, cloudflare_email: null, api_key: 'k' })).toEqual([
      ['cloudflare_email', 'Attribute is required when using a Global API Key (should be associated with Cloudflare account).'],
    ]);
    expect(validateCloudflare({ api_token: null, cloudflare_email: 'e@x', api_key: null })).toEqual([
      ['api_key', 'Attribute is required when using a Global API Key.'],
    ]);
  });

  it('requires a token when no Global API Key is given', () => {
    expect(validateCloudflare({ api_token: null, cloudflare_email: null, api_key: null })).toEqual([
      ['api_token', 'Attribute must be specified when Global API Key is not specified.'],
    ]);
    expect(validateCloudflare({ api_token: 't', cloudflare_email: null, api_key: null })).toEqual([]);
  });
});

describe('cloudflare provider', () => {
  it('creates a TXT record with a bearer token', async () => {
    const server = await startFake();
    await withToken(server.baseUrl).createTxt(NAME, 'value-1');
    expect(server.records).toEqual([expect.objectContaining({ zoneId: server.zones[0]?.id, type: 'TXT', name: NAME, content: 'value-1', ttl: 120 })]);
    expect(server.requests.at(-1)?.headers.authorization).toBe(`Bearer ${TOKEN}`);
  });

  it('keeps the first value when a second is added at the same name with a trailing dot', async () => {
    const server = await startFake();
    const provider = withToken(server.baseUrl);
    await provider.createTxt(NAME, 'value-1');
    await provider.createTxt(`${NAME}.`, 'value-2');
    expect(server.txt(NAME)).toEqual(['value-1', 'value-2']);
  });

  it('finds the most specific zone from a deep name', async () => {
    const server = await startFake([{ name: 'example.com' }, { name: 'b.example.com' }]);
    await withToken(server.baseUrl).createTxt('_acme-challenge.a.b.example.com', 'deep');
    const zone = server.zones.find((z) => z.name === 'b.example.com');
    expect(server.records).toEqual([expect.objectContaining({ zoneId: zone?.id, name: '_acme-challenge.a.b.example.com' })]);
  });

  it('pages through zones and prefers the active copy', async () => {
    const server = await startFake([{ name: 'example.com', status: 'pending' }, { name: 'example.com' }], { maxPerPage: 1 });
    await withToken(server.baseUrl).createTxt(NAME, 'paged');
    expect(server.records[0]?.zoneId).toBe(server.zones[1]?.id);
    expect(server.requests.some((r) => r.url.pathname.endsWith('/zones') && r.url.searchParams.get('page') === '2')).toBe(true);
  });

  it('works with an e-mail and Global API Key', async () => {
    const server = await startFake();
    const provider = cloudflareProvider.create(cloudflareProvider.schema.parse({ cloudflare_email: EMAIL, api_key: API_KEY }), { timeoutMs: 2000, baseUrl: server.baseUrl });
    await provider.createTxt(NAME, 'keyed');
    await provider.verify();
    expect(server.txt(NAME)).toEqual(['keyed']);
    expect(server.requests[0]?.headers['x-auth-key']).toBe(API_KEY);
  });

  it('reports a wrong Global API Key without the key', async () => {
    const server = await startFake();
    const provider = cloudflareProvider.create(cloudflareProvider.schema.parse({ cloudflare_email: EMAIL, api_key: 'bad-key-123' }), { timeoutMs: 2000, baseUrl: server.baseUrl });
    const error = await rejection(provider.deleteTxt(NAME, 'x'));
    expect(error.message).toBe('cloudflare: Unknown X-Auth-Key or X-Auth-Email (9103)');
    expect(error.message).not.toContain('bad-key-123');
  });

  it('names the record when no zone holds it', async () => {
    const server = await startFake([{ name: 'example.org' }]);
    const error = await rejection(withToken(server.baseUrl).createTxt(NAME, 'x'));
    expect(error.message).toBe(`cloudflare: no zone holding ${NAME} is visible to these credentials`);
  });

  it('refuses to start without credentials', () => {
    expect(() => cloudflareProvider.create(cloudflareProvider.schema.parse({}), { timeoutMs: 1000 })).toThrow(DnsProviderError);
  });

  it('verifies a token through tokens/verify and the zone list', async () => {
    const server = await startFake();
    await expect(withToken(server.baseUrl).verify()).resolves.toBeUndefined();
    expect(server.requests.map((r) => r.url.pathname)).toEqual(['/client/v4/user/tokens/verify', '/client/v4/zones']);
  });

  it('verifies an account-owned token through the zone list', async () => {
    const server = await startFake(undefined, { accountOwnedToken: true });
    await expect(withToken(server.baseUrl).verify()).resolves.toBeUndefined();
  });

  it('fails verification when the credentials see no zones', async () => {
    const server = await startFake([]);
    const error = await rejection(withToken(server.baseUrl).verify());
    expect(error.message).toContain('see no zones');
  });
});
