import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startLinodeFake, type LinodeFake } from '../../../test/fakes/linode.js';
import { describeProviderContract } from '../../../test/helpers/dns-provider-contract.js';
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
const targets = () => fake.txt('example.com', RELATIVE).map((record) => record.target);

describeProviderContract('linodeProvider', {
  definition: linodeProvider,
  secretFields: ['api_token'],
  label: 'linode',
  name: NAME,
  start: () => ({ provider: () => dns(), wrongProvider: () => dns('wrong-5ecret'), at: (origin, timeoutMs) => dns(TOKEN, origin, timeoutMs), txt: targets }),
  wrongCredentials: { status: 401, message: 'linode: Invalid Token', secret: '5ecret' },
  badVerify: { status: 401 },
  outsideZone: { name: '_acme-challenge.example.org', message: 'linode: no zone in this account holds _acme-challenge.example.org' },
});

describe('linodeProvider', () => {
  it('creates the TXT record in the domain holding a deep name, found past the first page of domains', async () => {
    await dns().createTxt(NAME, 'token-1');
    expect(fake.txt('example.com', RELATIVE)).toMatchObject([{ type: 'TXT', name: RELATIVE, target: 'token-1', ttl_sec: 30 }]);
    expect(fake.txt('other.com', RELATIVE)).toEqual([]);
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
});
