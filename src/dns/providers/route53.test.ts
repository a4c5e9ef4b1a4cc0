import { afterEach, describe, expect, it } from 'vitest';
import { startFakeServer } from '../../../test/fakes/fake-http.js';
import { FakeRoute53 } from '../../../test/fakes/route53.js';
import { describeProviderContract, failure as rejection } from '../../../test/helpers/dns-provider-contract.js';
import { route53Provider, signV4 } from './route53.js';

const ACCESS_KEY = 'AKIAFAKEEXAMPLE00001';
const SECRET = 'fakeSecret/K7MDENG+bPxRfiCYEXAMPLEKEY00';
const NAME = '_acme-challenge.example.com';

/** Credentials and date of AWS's published SigV4 test suite (aws-sig-v4-test-suite). */
const SUITE = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const SUITE_DATE = new Date('2015-08-30T12:36:00Z');

let fake: FakeRoute53 | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

async function startFake(zones: Array<{ name: string; private?: boolean }> = [{ name: 'example.com' }], maxItems?: number) {
  fake = await FakeRoute53.start({ accessKeyId: ACCESS_KEY, secretAccessKey: SECRET, zones, ...(maxItems ? { maxItems } : {}) });
  return fake;
}

function provider(baseUrl: string, secret = SECRET, accessKey = ACCESS_KEY, timeoutMs = 2000) {
  return route53Provider.create(route53Provider.schema.parse({ access_key_id: accessKey, secret_access_key: secret }), { timeoutMs, baseUrl });
}

const changes = (server: FakeRoute53) => server.requests.filter((r) => r.method === 'POST').map((r) => /<Action>(\w+)<\/Action>/.exec(r.body)?.[1]);

describeProviderContract('route53 provider', {
  definition: route53Provider,
  secretFields: ['secret_access_key'],
  label: 'route53',
  name: NAME,
  values: ['value-1', 'value-2'],
  start: async () => {
    const server = await startFake();
    return {
      provider: () => provider(server.baseUrl),
      wrongProvider: () => provider(server.baseUrl, 'wrong/secret+value'),
      badVerifier: () => provider(server.baseUrl, 'nope'),
      at: (origin, timeoutMs) => provider(origin, SECRET, ACCESS_KEY, timeoutMs),
      txt: () => server.txt(NAME),
    };
  },
  afterDeleteLast: () => {
    expect(fake?.recordSets).toEqual([]);
    if (fake) expect(changes(fake)).toEqual(['UPSERT', 'UPSERT', 'UPSERT', 'DELETE']);
  },
  afterMissingDelete: () => fake && expect(changes(fake)).toEqual([]),
  wrongCredentials: {
    status: 403,
    message: expect.stringMatching(/^route53: The request signature we calculated does not match the signature you provided\..* \(SignatureDoesNotMatch\)$/),
    secret: 'wrong/secret+value',
  },
  badVerify: { message: expect.stringContaining('(SignatureDoesNotMatch)') },
});

describe('signV4', () => {
  it('matches the get-vanilla vector', () => {
    const signed = signV4({ method: 'GET', url: new URL('https://example.amazonaws.com/'), headers: {}, body: '' }, SUITE, { region: 'us-east-1', service: 'service' }, SUITE_DATE);
    expect(signed).toEqual({
      'x-amz-date': '20150830T123600Z',
      authorization:
        'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
    });
  });

  it('matches the get-vanilla-query-order-key-case vector', () => {
    const url = new URL('https://example.amazonaws.com/?Param2=value2&Param1=value1');
    const signed = signV4({ method: 'GET', url, headers: {}, body: '' }, SUITE, { region: 'us-east-1', service: 'service' }, SUITE_DATE);
    expect(signed.authorization).toMatch(/Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500$/);
  });

  it('matches the post-x-www-form-urlencoded vector', () => {
    const request = { method: 'POST', url: new URL('https://example.amazonaws.com/'), headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'Param1=value1' };
    const signed = signV4(request, SUITE, { region: 'us-east-1', service: 'service' }, SUITE_DATE);
    expect(signed.authorization).toBe(
      'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a',
    );
  });

  it('matches the IAM ListUsers example of the signing guide', () => {
    const request = {
      method: 'GET',
      url: new URL('https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08'),
      headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
      body: '',
    };
    const signed = signV4(request, SUITE, { region: 'us-east-1', service: 'iam' }, SUITE_DATE);
    expect(signed.authorization).toMatch(/Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7$/);
  });
});

describe('route53 attributes', () => {
  it('requires the secret key', () => {
    expect(route53Provider.schema.safeParse({ access_key_id: 'a' }).success).toBe(false);
  });
});

describe('route53 provider', () => {
  it('upserts a quoted TXT value', async () => {
    const server = await startFake();
    await provider(server.baseUrl).createTxt(NAME, 'value-1');
    expect(server.recordSets).toEqual([{ zoneId: server.zones[0]?.id, name: `${NAME}.`, type: 'TXT', ttl: 10, values: ['"value-1"'] }]);
    expect(changes(server)).toEqual(['UPSERT']);
  });

  it('keeps both values when two challenges at one name are published at once', async () => {
    const server = await startFake();
    await Promise.all([provider(server.baseUrl).createTxt(NAME, 'apex'), provider(server.baseUrl).createTxt(NAME, 'wildcard')]);
    expect(server.txt(NAME).sort()).toEqual(['apex', 'wildcard']);
  });

  it('retries when another writer changes the set between read and write', async () => {
    const server = await startFake();
    const dns = provider(server.baseUrl);
    await dns.createTxt(NAME, 'mine');
    server.beforeNextChange = () => server.recordSets[0]?.values.push('"theirs"');
    await dns.deleteTxt(NAME, 'mine');
    expect(server.txt(NAME)).toEqual(['theirs']);
    expect(changes(server)).toEqual(['UPSERT', 'DELETE', 'UPSERT']);
  });

  it('retries a throttled request with backoff', async () => {
    const server = await startFake();
    server.throttleNext = 2;
    await provider(server.baseUrl).createTxt(NAME, 'patient');
    expect(server.txt(NAME)).toEqual(['patient']);
  });

  it('gives up after repeated throttling with AWS’s message', async () => {
    const server = await startFake();
    server.throttleNext = 3;
    const error = await rejection(provider(server.baseUrl).verify());
    expect(error.message).toBe('route53: Rate exceeded (Throttling)');
  });

  it('finds the most specific public zone from a deep name', async () => {
    const server = await startFake([{ name: 'example.com' }, { name: 'b.example.com' }, { name: 'a.b.example.com', private: true }]);
    await provider(server.baseUrl).createTxt('_acme-challenge.x.a.b.example.com', 'deep');
    expect(server.recordSets[0]).toMatchObject({ zoneId: server.zones[1]?.id, name: '_acme-challenge.x.a.b.example.com.' });
  });

  it('pages past a private zone of the same name', async () => {
    const server = await startFake([{ name: 'example.com', private: true }, { name: 'example.com' }], 1);
    await provider(server.baseUrl).createTxt(NAME, 'paged');
    expect(server.recordSets[0]?.zoneId).toBe(server.zones[1]?.id);
    expect(server.requests.some((r) => r.url.searchParams.get('hostedzoneid') === server.zones[1]?.id)).toBe(true);
  });

  it('names the record when no public zone holds it', async () => {
    const server = await startFake([{ name: 'example.com', private: true }]);
    const error = await rejection(provider(server.baseUrl).createTxt(NAME, 'x'));
    expect(error.message).toBe(`route53: no public hosted zone holds ${NAME}`);
  });

  it('reports an unknown access key', async () => {
    const server = await startFake();
    const error = await rejection(provider(server.baseUrl, SECRET, 'AKIAUNKNOWN').deleteTxt(NAME, 'x'));
    expect(error.message).toBe('route53: The security token included in the request is invalid. (InvalidClientTokenId)');
  });

  it('reads the older InvalidChangeBatch error document', async () => {
    const legacy = await startFakeServer(() => ({
      status: 400,
      body: '<?xml version="1.0"?>\n<InvalidChangeBatch xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Messages><Message>Tried to delete &apos;x&apos;</Message></Messages></InvalidChangeBatch>',
    }));
    try {
      const error = await rejection(provider(legacy.origin).verify());
      expect(error.message).toBe("route53: Tried to delete 'x' (InvalidChangeBatch)");
    } finally {
      await legacy.close();
    }
  });

  it('fails verification when the credentials see no hosted zones', async () => {
    const server = await startFake([]);
    const error = await rejection(provider(server.baseUrl).verify());
    expect(error.message).toBe('route53: these credentials see no hosted zones');
  });
});
