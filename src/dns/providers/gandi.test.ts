import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startGandiFake, type GandiFake } from '../../../test/fakes/gandi.js';
import { describeProviderContract } from '../../../test/helpers/dns-provider-contract.js';
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

describeProviderContract('gandiProvider', {
  definition: gandiProvider,
  secretFields: ['personal_access_token', 'api_key'],
  label: 'gandi',
  name: NAME,
  stored: (value) => `"${value}"`,
  start: () => ({
    provider: () => dns(),
    wrongProvider: () => dns({ personal_access_token: 'wrong-5ecret' }),
    badVerifier: () => dns({ api_key: 'bad' }),
    at: (origin, timeoutMs) => dns(undefined, origin, timeoutMs),
    txt: () => fake.txt('example.com', RELATIVE),
    seed: (value) => fake.seed('example.com', RELATIVE, [`"${value}"`], 300),
  }),
  concurrentWrites: true,
  wrongCredentials: { status: 401, message: expect.stringMatching(/^gandi: The server could not verify that you authorized/), secret: '5ecret' },
  badVerify: { status: 401 },
  outsideZone: { name: '_acme-challenge.example.org', message: 'gandi: no zone in this account holds _acme-challenge.example.org' },
});

describe('gandiProvider', () => {
  it('writes the TXT rrset in the zone holding a deep name, asking zone by zone', async () => {
    await dns().createTxt(NAME, 'token-1');
    expect(fake.txt('example.com', RELATIVE)).toEqual(['"token-1"']);
    expect(fake.ttl('example.com', RELATIVE)).toBe(300);
    const lookups = fake.requests.filter((request) => /^\/v5\/livedns\/domains\/[^/]+$/.test(request.url.pathname));
    expect(lookups.map((request) => request.url.pathname.split('/').pop())).toEqual([NAME, 'a.b.example.com', 'b.example.com', 'example.com']);
  });

  it('writes back the rrset without the deleted value, then deletes the emptied rrset', async () => {
    fake.seed('example.com', RELATIVE, ['"kept"', '"token-1"'], 600);
    await dns().deleteTxt(NAME, 'token-1');
    expect(fake.txt('example.com', RELATIVE)).toEqual(['"kept"']);
    expect(fake.ttl('example.com', RELATIVE)).toBe(600);
    await dns().deleteTxt(NAME, 'kept');
    expect(fake.ttl('example.com', RELATIVE)).toBeUndefined();
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
});
