import { afterEach, describe, expect, it } from 'vitest';
import { FakeAcmeDns } from '../../../test/fakes/acme-dns.js';
import { closedOrigin } from '../../../test/fakes/fake-http.js';
import { describeProviderContract, failure as rejection } from '../../../test/helpers/dns-provider-contract.js';
import { acmeDnsProvider } from './acme-dns.js';

const ACCOUNT = { username: 'c36f50e8-4632-44f0-83fe-e070fef28a10', password: 'htB9mR9DYgcu9bX_afHF62erXaH2TS7bg9KW3F7Z', subdomain: '8e5700ea-a4bf-41c7-8a77-e990661dcc6a' };
const NAME = '_acme-challenge.example.com';
/** ACME DNS-01 values are base64url SHA-256 digests: 43 characters. */
const VALUE_1 = 'LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0';
const VALUE_2 = 'DJ8dlGmDNJ2Av5y0Lr9FxGSJk6hSm26-ih_5-0SqZ2w';
const VALUE_3 = 'gIKSjvXLqJ1mP3MqLzsZNaW_x6mP7dAnrD9ILaX2YbE';

let fake: FakeAcmeDns | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

async function startFake() {
  fake = await FakeAcmeDns.start([ACCOUNT]);
  return fake;
}

function provider(baseUrl: string, overrides: Partial<typeof ACCOUNT> = {}, timeoutMs = 2000) {
  return acmeDnsProvider.create(acmeDnsProvider.schema.parse({ api_url: 'https://auth.example.org', ...ACCOUNT, ...overrides }), { timeoutMs, baseUrl });
}

const WRONG_PASSWORD = 'x'.repeat(40);

describeProviderContract('acme-dns provider', {
  definition: acmeDnsProvider,
  secretFields: ['password'],
  label: 'acme-dns',
  name: NAME,
  values: [VALUE_1, VALUE_2],
  records: false,
  start: async () => {
    const server = await startFake();
    return {
      provider: () => provider(server.baseUrl),
      wrongProvider: () => provider(server.baseUrl, { password: WRONG_PASSWORD }),
      at: (origin, timeoutMs) => provider(origin, {}, timeoutMs),
      txt: () => server.txt.get(ACCOUNT.subdomain) ?? [],
    };
  },
  wrongCredentials: { status: 401, message: expect.stringMatching(/^acme-dns: forbidden: wrong username or password/), secret: WRONG_PASSWORD },
  badVerify: false,
});

describe('acme-dns attributes', () => {
  it('requires every attribute and an http(s) API URL', () => {
    expect(acmeDnsProvider.schema.safeParse({ ...ACCOUNT }).success).toBe(false);
    expect(acmeDnsProvider.schema.safeParse({ api_url: 'ftp://auth.example.org', ...ACCOUNT }).success).toBe(false);
  });
});

describe('acme-dns provider', () => {
  it('updates the account’s subdomain with the API headers', async () => {
    const server = await startFake();
    await provider(server.baseUrl).createTxt(NAME, VALUE_1);
    expect(server.txt.get(ACCOUNT.subdomain)).toEqual([VALUE_1]);
    const update = server.requests[0];
    expect(update?.headers['x-api-user']).toBe(ACCOUNT.username);
    expect(update?.headers['x-api-key']).toBe(ACCOUNT.password);
    expect(JSON.parse(update?.body ?? '')).toEqual({ subdomain: ACCOUNT.subdomain, txt: VALUE_1 });
  });

  it('serves a second value next to the first, and a third pushes out the oldest', async () => {
    const server = await startFake();
    const dns = provider(server.baseUrl);
    await dns.createTxt(NAME, VALUE_1);
    await dns.createTxt(NAME, VALUE_2);
    expect(server.txt.get(ACCOUNT.subdomain)).toEqual([VALUE_1, VALUE_2]);
    await dns.createTxt(NAME, VALUE_3);
    expect(server.txt.get(ACCOUNT.subdomain)).toEqual([VALUE_2, VALUE_3]);
  });

  it('leaves the values in place on delete, present or missing', async () => {
    const server = await startFake();
    const dns = provider(server.baseUrl);
    await dns.createTxt(NAME, VALUE_1);
    await dns.createTxt(NAME, VALUE_2);
    await dns.deleteTxt(NAME, VALUE_1);
    await dns.deleteTxt(NAME, VALUE_3);
    expect(server.txt.get(ACCOUNT.subdomain)).toEqual([VALUE_1, VALUE_2]);
    expect(server.requests).toHaveLength(2);
  });

  it('writes a deep name to the same delegated subdomain', async () => {
    const server = await startFake();
    await provider(server.baseUrl).createTxt('_acme-challenge.a.b.example.com', VALUE_1);
    expect(server.txt.get(ACCOUNT.subdomain)).toEqual([VALUE_1]);
  });

  it('reports a value acme-dns refuses', async () => {
    const server = await startFake();
    const error = await rejection(provider(server.baseUrl).createTxt(NAME, 'too-short'));
    expect(error.message).toBe('acme-dns: bad_txt: the value is not 43 characters of base64url');
  });

  it('verifies well-formed credentials against /health without updating', async () => {
    const server = await startFake();
    await expect(provider(server.baseUrl).verify()).resolves.toBeUndefined();
    expect(server.requests.map((r) => `${r.method} ${r.url.pathname}`)).toEqual(['GET /health']);
  });

  it('fails verification of a malformed password or an unreachable server', async () => {
    const server = await startFake();
    expect((await rejection(provider(server.baseUrl, { password: 'short' }).verify())).message).toBe('acme-dns: the password is not an acme-dns key (40 characters)');
    expect((await rejection(provider(server.baseUrl, { username: 'admin' }).verify())).message).toBe('acme-dns: the username is not an acme-dns account id (a UUID)');
    expect((await rejection(provider(await closedOrigin()).verify())).message).toMatch(/cannot reach/);
  });
});
