import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startDesecFake, type DesecFake } from '../../../test/fakes/desec.js';
import { describeProviderContract } from '../../../test/helpers/dns-provider-contract.js';
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

describeProviderContract('desecProvider', {
  definition: desecProvider,
  secretFields: ['token'],
  label: 'desec',
  name: NAME,
  stored: (value) => `"${value}"`,
  start: () => ({
    provider: () => dns(),
    wrongProvider: () => dns('wrong-5ecret'),
    at: (origin, timeoutMs) => dns(TOKEN, origin, timeoutMs),
    txt: () => fake.txt('example.com', SUBNAME),
    seed: (value) => fake.seed('example.com', SUBNAME, [`"${value}"`], 3600),
  }),
  concurrentWrites: true,
  wrongCredentials: { status: 401, message: 'desec: Invalid token.', secret: '5ecret' },
  badVerify: { status: 401 },
  outsideZone: { name: '_acme-challenge.example.org', message: 'desec: no zone in this account holds _acme-challenge.example.org' },
});

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

  it('writes back the RRset without the deleted value, then deletes the emptied RRset', async () => {
    fake.seed('example.com', SUBNAME, ['"kept"', '"token-1"'], 7200);
    await dns().deleteTxt(NAME, 'token-1');
    expect(fake.txt('example.com', SUBNAME)).toEqual(['"kept"']);
    expect(fake.ttl('example.com', SUBNAME)).toBe(7200);
    await dns().deleteTxt(NAME, 'kept');
    expect(fake.ttl('example.com', SUBNAME)).toBeUndefined();
  });

  it('writes a record at the domain apex with an empty subname', async () => {
    await dns().createTxt('me.dedyn.io', 'apex');
    expect(fake.txt('me.dedyn.io', '')).toEqual(['"apex"']);
  });

  it('verifies good credentials past one page of domains', async () => {
    const many = await startDesecFake({ token: TOKEN, zones: Array.from({ length: 501 }, (_, i) => ({ name: `zone${i}.example.net`, minimumTtl: 3600 })) });
    try {
      await expect(dns(TOKEN, many.baseUrl).verify()).resolves.toBeUndefined();
    } finally {
      await many.close();
    }
  });
});
