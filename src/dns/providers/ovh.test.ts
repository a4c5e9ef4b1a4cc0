import { afterEach, describe, expect, it } from 'vitest';
import { closedOrigin, neverAnswer, startFakeServer } from '../../../test/fakes/fake-http.js';
import { FakeOvh, type FakeOvhOptions } from '../../../test/fakes/ovh.js';
import { DnsProviderError } from '../provider.js';
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

async function rejection(promise: Promise<unknown>): Promise<DnsProviderError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DnsProviderError);
  return error as DnsProviderError;
}

describe('OVH attributes', () => {
  it('offers the lexicon endpoints and describes every attribute', () => {
    expect(ovhProvider.schema.shape.endpoint.options).toEqual(['ovh-eu', 'ovh-ca', 'ovh-us', 'kimsufi-eu', 'kimsufi-ca', 'soyoustart-eu', 'soyoustart-ca']);
    expect(OVH_ENDPOINTS['ovh-us']).toBe('https://api.us.ovhcloud.com/1.0');
    expect(ovhProvider.schema.safeParse({ ...CREDENTIALS, endpoint: 'runabove-ca' }).success).toBe(false);
    for (const field of Object.values(ovhProvider.schema.shape)) expect(field.description).toBeTruthy();
    expect(ovhProvider.secretFields).toEqual(['application_secret', 'consumer_key']);
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

  it('keeps the first value when a second is added at the same name', async () => {
    const server = await startFake();
    const dns = provider(server.baseUrl);
    await dns.createTxt(NAME, 'value-1');
    await dns.createTxt(NAME, 'value-2');
    expect(server.txt('example.com', '_acme-challenge')).toEqual(['value-1', 'value-2']);
  });

  it('deletes one value and leaves the other', async () => {
    const server = await startFake();
    const dns = provider(server.baseUrl);
    await dns.createTxt(NAME, 'value-1');
    await dns.createTxt(NAME, 'value-2');
    await dns.deleteTxt(NAME, 'value-1');
    expect(server.txt('example.com', '_acme-challenge')).toEqual(['value-2']);
    expect(server.refreshes).toHaveLength(3);
  });

  it('deletes a record whose target came back quoted', async () => {
    const server = await startFake();
    server.records.push({ id: 7, zone: 'example.com', fieldType: 'TXT', subDomain: '_acme-challenge', target: '"quoted"', ttl: 60 });
    await provider(server.baseUrl).deleteTxt(NAME, 'quoted');
    expect(server.records).toEqual([]);
  });

  it('deletes a missing record without error or refresh', async () => {
    const server = await startFake();
    await provider(server.baseUrl).deleteTxt(NAME, 'never-created');
    expect(server.refreshes).toEqual([]);
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

  it('reports a wrong application secret with OVH’s message and without the secret', async () => {
    const server = await startFake();
    const error = await rejection(provider(server.baseUrl, { application_secret: 'wrongSecretValue' }).createTxt(NAME, 'x'));
    expect(error.message).toBe('OVH: Invalid signature (INVALID_SIGNATURE)');
    expect(error.status).toBe(400);
    expect(error.message).not.toContain('wrongSecretValue');
  });

  it('reports an unknown consumer key', async () => {
    const server = await startFake();
    const error = await rejection(provider(server.baseUrl, { consumer_key: 'revokedConsumerKey' }).deleteTxt(NAME, 'x'));
    expect(error.message).toBe('OVH: This credential is not valid (INVALID_CREDENTIAL)');
    expect(error.status).toBe(403);
    expect(error.message).not.toContain('revokedConsumerKey');
  });

  it('reports a server that is down', async () => {
    const error = await rejection(provider(`${await closedOrigin()}/1.0`).createTxt(NAME, 'x'));
    expect(error.message).toMatch(/^OVH: cannot reach 127\.0\.0\.1:\d+/);
  });

  it('gives up on a server that does not answer within the timeout', async () => {
    const silent = await startFakeServer(neverAnswer);
    try {
      const error = await rejection(provider(silent.origin, {}, 200).verify());
      expect(error.message).toMatch(/no answer from 127\.0\.0\.1:\d+ within 200 ms/);
    } finally {
      await silent.close();
    }
  });

  it('verifies good credentials and rejects a wrong application key', async () => {
    const server = await startFake();
    await expect(provider(server.baseUrl).verify()).resolves.toBeUndefined();
    const error = await rejection(provider(server.baseUrl, { application_key: 'unknownKey' }).verify());
    expect(error.message).toBe('OVH: Invalid application key (INVALID_KEY)');
  });

  it('fails verification when the credentials see no zones', async () => {
    const server = await startFake({ zones: [] });
    const error = await rejection(provider(server.baseUrl).verify());
    expect(error.message).toBe('OVH: these credentials see no DNS zones');
  });
});
