import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startHetznerFake, type HetznerFake } from '../../../test/fakes/hetzner.js';
import { describeProviderContract, failure } from '../../../test/helpers/dns-provider-contract.js';
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

describeProviderContract('hetznerProvider', {
  definition: hetznerProvider,
  secretFields: ['api_token'],
  label: 'hetzner',
  name: NAME,
  stored: (value) => `"${value}"`,
  start: () => ({
    provider: () => dns(),
    wrongProvider: () => dns('wrong-5ecret'),
    at: (origin, timeoutMs) => dns(TOKEN, `${origin}/v1`, timeoutMs),
    txt: () => fake.txt('example.com', '_acme-challenge.a.b'),
    seed: (value) => fake.seed('example.com', '_acme-challenge.a.b', [`"${value}"`]),
  }),
  wrongCredentials: { status: 401, message: 'hetzner: unable to authenticate (unauthorized)', secret: '5ecret' },
  badVerify: { status: 401 },
  outsideZone: { name: '_acme-challenge.example.org', message: 'hetzner: no zone in this account holds _acme-challenge.example.org' },
});

describe('hetznerProvider', () => {
  it('adds the TXT record to the zone holding a deep name, found past the first page of zones', async () => {
    await dns().createTxt(NAME, 'token-1');
    expect(fake.txt('example.com', '_acme-challenge.a.b')).toEqual(['"token-1"']);
    expect(fake.txt('other.com', '_acme-challenge.a.b')).toEqual([]);
    const add = fake.requests.find((request) => request.url.pathname.endsWith('/add_records'));
    expect(JSON.parse(add?.body ?? '{}')).toEqual({ ttl: 60, records: [{ value: '"token-1"' }] });
    expect(fake.requests.some((request) => request.url.pathname.startsWith('/v1/actions/'))).toBe(true);
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
});
