import { afterEach, describe, expect, it } from 'vitest';
import { FakeOvh, type FakeOvhOptions } from '../../../test/fakes/ovh.js';
import { describeProviderContract, failure as rejection } from '../../../test/helpers/dns-provider-contract.js';
import { OVH_ENDPOINTS, ovhProvider, ovhSignature } from './ovh.js';

const CREDENTIALS = { application_key: 'appKey0123456789', application_secret: 'appSecret0123456789abcdef0123456', consumer_key: 'consumerKey0123456789abcdef01234' };
const NAME = '_acme-challenge.example.com';

let fake: FakeOvh | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

async function startFake(options: Partial<FakeOvhOptions> = {}) {
  fake = await FakeOvh.start({
    applicationKey: CREDENTIALS.application_key,
    applicationSecret: CREDENTIALS.application_secret,
    consumerKey: CREDENTIALS.consumer_key,
    zones: ['example.com'],
    ...options,
  });
  return fake;
}

function provider(baseUrl: string, overrides: Partial<typeof CREDENTIALS> = {}, timeoutMs = 2000) {
  return ovhProvider.create(ovhProvider.schema.parse({ ...CREDENTIALS, endpoint: 'ovh-eu', ...overrides }), { timeoutMs, baseUrl });
}

describeProviderContract('OVH provider', {
  definition: ovhProvider,
  secretFields: ['application_secret', 'consumer_key'],
  label: 'OVH',
  name: NAME,
  values: ['value-1', 'value-2'],
  start: async () => {
    const server = await startFake();
    return {
      provider: () => provider(server.baseUrl),
      wrongProvider: () => provider(server.baseUrl, { application_secret: 'wrongSecretValue' }),
      badVerifier: () => provider(server.baseUrl, { application_key: 'unknownKey' }),
      at: (origin, timeoutMs) => provider(origin, {}, timeoutMs),
      txt: () => server.txt('example.com', '_acme-challenge'),
    };
  },
  skipsExisting: false,
  afterDeleteOne: () => expect(fake?.refreshes).toHaveLength(3),
  afterMissingDelete: () => expect(fake?.refreshes).toEqual([]),
  wrongCredentials: { status: 400, message: 'OVH: Invalid signature (INVALID_SIGNATURE)', secret: 'wrongSecretValue' },
  badVerify: { message: 'OVH: Invalid application key (INVALID_KEY)' },
});

describe('OVH attributes', () => {
  it('offers the lexicon endpoints', () => {
    expect(ovhProvider.schema.shape.endpoint.options).toEqual(['ovh-eu', 'ovh-ca', 'ovh-us', 'kimsufi-eu', 'kimsufi-ca', 'soyoustart-eu', 'soyoustart-ca']);
    expect(OVH_ENDPOINTS['ovh-us']).toBe('https://api.us.ovhcloud.com/1.0');
    expect(ovhProvider.schema.safeParse({ ...CREDENTIALS, endpoint: 'runabove-ca' }).success).toBe(false);
  });

  it('signs as documented: $1$ and the SHA-1 of the joined request parts', () => {
    // printf '%s' 'AS+CK+GET+https://eu.api.ovh.com/1.0/domain/zone++1366560945' | sha1sum
    expect(ovhSignature('AS', 'CK', 'GET', 'https://eu.api.ovh.com/1.0/domain/zone', '', 1366560945)).toBe('$1$1ba3e2ca70ace14cca453b826cb08bfe3dd35d67');
  });
});

describe('OVH provider', () => {
  it('creates a TXT record and refreshes the zone', async () => {
    const server = await startFake();
    await provider(server.baseUrl).createTxt(NAME, 'value-1');
    expect(server.records).toEqual([expect.objectContaining({ zone: 'example.com', fieldType: 'TXT', subDomain: '_acme-challenge', target: 'value-1', ttl: 60 })]);
    expect(server.refreshes).toEqual(['example.com']);
  });

  it('deletes a record whose target came back quoted', async () => {
    const server = await startFake();
    server.records.push({ id: 7, zone: 'example.com', fieldType: 'TXT', subDomain: '_acme-challenge', target: '"quoted"', ttl: 60 });
    await provider(server.baseUrl).deleteTxt(NAME, 'quoted');
    expect(server.records).toEqual([]);
  });

  it('finds the most specific zone from a deep name', async () => {
    const server = await startFake({ zones: ['example.com', 'b.example.com'] });
    await provider(server.baseUrl).createTxt('_acme-challenge.a.b.example.com', 'deep');
    expect(server.records).toEqual([expect.objectContaining({ zone: 'b.example.com', subDomain: '_acme-challenge.a' })]);
  });

  it('corrects its clock with /auth/time', async () => {
    const server = await startFake({ clockOffset: 3600 });
    await provider(server.baseUrl).createTxt(NAME, 'skewed');
    expect(server.txt('example.com', '_acme-challenge')).toEqual(['skewed']);
    expect(server.requests.filter((r) => r.url.pathname === '/1.0/auth/time')).toHaveLength(1);
  });

  it('names the record when no zone holds it', async () => {
    const server = await startFake({ zones: ['example.org'] });
    const error = await rejection(provider(server.baseUrl).createTxt(NAME, 'x'));
    expect(error.message).toBe(`OVH: no DNS zone holding ${NAME} is visible to these credentials`);
  });

  it('reports an unknown consumer key', async () => {
    const server = await startFake();
    const error = await rejection(provider(server.baseUrl, { consumer_key: 'revokedConsumerKey' }).deleteTxt(NAME, 'x'));
    expect(error.message).toBe('OVH: This credential is not valid (INVALID_CREDENTIAL)');
    expect(error.status).toBe(403);
    expect(error.message).not.toContain('revokedConsumerKey');
  });

  it('fails verification when the credentials see no zones', async () => {
    const server = await startFake({ zones: [] });
    const error = await rejection(provider(server.baseUrl).verify());
    expect(error.message).toBe('OVH: these credentials see no DNS zones');
  });
});
