import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startVultrFake, type VultrFake } from '../../../test/fakes/vultr.js';
import { describeProviderContract } from '../../../test/helpers/dns-provider-contract.js';
import { vultrProvider } from './vultr.js';

const API_KEY = 'VULTR5ECRETKEY';
const NAME = '_acme-challenge.a.b.example.com';
const RELATIVE = '_acme-challenge.a.b';
/** More domains than one page of 500, with example.com on the second page. */
const ZONES = [...Array.from({ length: 501 }, (_, i) => `zone${i}.example.net`), 'other.com', 'example.com'];

let fake: VultrFake;
beforeEach(async () => {
  fake = await startVultrFake({ apiKey: API_KEY, zones: ZONES });
});
afterEach(() => fake.close());

const dns = (apiKey = API_KEY, baseUrl = fake.baseUrl, timeoutMs = 2000) => vultrProvider.create({ api_key: apiKey }, { timeoutMs, baseUrl });
const data = () => fake.txt('example.com', RELATIVE).map((record) => record.data);

describeProviderContract('vultrProvider', {
  definition: vultrProvider,
  secretFields: ['api_key'],
  label: 'vultr',
  name: NAME,
  stored: (value) => `"${value}"`,
  start: () => ({ provider: () => dns(), wrongProvider: () => dns('WRONG5ECRET'), at: (origin, timeoutMs) => dns(API_KEY, origin, timeoutMs), txt: data }),
  wrongCredentials: { status: 401, message: 'vultr: Invalid API token.', secret: '5ECRET' },
  badVerify: { status: 401 },
  outsideZone: { name: '_acme-challenge.example.org', message: 'vultr: no zone in this account holds _acme-challenge.example.org' },
});

describe('vultrProvider', () => {
  it('creates the quoted TXT record in the domain holding a deep name, found past the first page', async () => {
    await dns().createTxt(NAME, 'token-1');
    expect(fake.txt('example.com', RELATIVE)).toMatchObject([{ type: 'TXT', name: RELATIVE, data: '"token-1"', ttl: 120 }]);
    expect(fake.txt('other.com', RELATIVE)).toEqual([]);
    expect(fake.requests.filter((request) => request.url.pathname === '/v2/domains')).toHaveLength(2);
  });

  it('reads every page of the record listing', async () => {
    fake.seed('example.com', Array.from({ length: 600 }, (_, i) => ({ type: 'A', name: `host${i}`, data: '192.0.2.1', priority: 0, ttl: 300 })));
    await dns().createTxt(NAME, 'token-1');
    await dns().createTxt(NAME, 'token-1');
    await dns().deleteTxt(NAME, 'token-1');
    expect(data()).toEqual([]);
  });

  it('writes a record at the domain apex with an empty name', async () => {
    await dns().createTxt('example.com', 'apex');
    expect(fake.txt('example.com', '').map((record) => record.data)).toEqual(['"apex"']);
  });
});
