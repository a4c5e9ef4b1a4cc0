/**
 * Hostile and malformed input through a real daemon: every one is answered with a validation
 * error naming the attribute (or a 404 for a URL), never `[EFAULT] Internal error`, never a
 * polluted prototype, never a half-written row. Runs on SQLite and on PostgreSQL, which refuses
 * NUL characters in text and so turned them into internal errors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { CertmidClient, JobError, RpcError } from '../../src/client/client.js';
import { explicit, integer, octetString, oid, sequence, setOf } from '../helpers/tlv.js';
import { splitPem } from '../../src/crypto/pem.js';
import { opensslOk, withFiles } from '../helpers/openssl.js';
import { RawSocket } from '../helpers/raw-socket.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { databaseBackends } from '../helpers/services.js';

type Triple = [string | null, string, number];
const EINVAL = 22;
const EXTRA = 'Extra inputs are not permitted';
const NUL = 'Null characters are not allowed';
const KEY_MESSAGE = 'A valid private key is required, with a passphrase if one has been set.';

const backends = await databaseBackends();

/** The -32602 triples of a raw reply; any other reply (EFAULT above all) fails the test. */
function invalidParams(reply: Record<string, unknown>): Triple[] {
  const error = reply.error as { code: number; data: { errname: string; extra: Triple[] } } | undefined;
  expect(error, `expected a validation error, got ${JSON.stringify(reply).slice(0, 300)}`).toBeDefined();
  expect(error!.data.errname, JSON.stringify(error)).toBe('EINVAL');
  expect(error!.code).toBe(-32602);
  return error!.data.extra;
}

/** The triples of a failed call or job; a job that FAILED other than with VALIDATION (EFAULT) fails the test. */
async function validationOf(promise: Promise<unknown>): Promise<Triple[]> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof JobError) {
      expect(error.job.exc_info?.type, `job failed with ${error.job.error}`).toBe('VALIDATION');
      return error.job.exc_info!.extra as Triple[];
    }
    if (error instanceof RpcError && error.code === -32602) return error.data!.extra as Triple[];
    throw error;
  }
  throw new Error('expected a validation failure, but the call succeeded');
}

/** Sends one call as exact JSON text (so `__proto__` stays an own key) and returns its reply. */
async function rawCall(socket: RawSocket, method: string, paramsJson: string): Promise<Record<string, unknown>> {
  const id = socket.nextId();
  socket.send(`{"jsonrpc":"2.0","id":${id},"method":${JSON.stringify(method)},"params":${paramsJson}}`);
  for (;;) {
    const message = await socket.next(20_000);
    if (message.id === id) return message;
  }
}

/** A self-signed EC certificate made by openssl with extra `req` arguments, and its key. */
async function selfSigned(args: string[]): Promise<[certificate: string, key: string]> {
  const key = (await opensslOk(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'])).stdout;
  const certificate = await withFiles({ 'key.pem': key }, async (paths) => (await opensslOk(['req', '-x509', '-key', paths['key.pem']!, '-subj', '/CN=malformed', '-days', '30', ...args])).stdout);
  return [certificate, key];
}

/** `[[[…]]]` nested `depth` deep. */
const nested = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);

describe.each(backends)('malformed input on %s', (_backend, database, available) => {
  let server: TestServer;
  let socket: RawSocket;
  let client: CertmidClient;
  let drop: () => Promise<void> = async () => undefined;
  let certificate: string;
  let key: string;
  let encryptedKey: string;

  beforeAll(async () => {
    if (!available) return;
    const db = await database();
    drop = db.drop;
    server = await startTestServer({ env: db.env });
    socket = await RawSocket.admin(server);
    client = await CertmidClient.connect(server.url, { WebSocket });
    await client.login(server.admin.username, server.admin.password);
    [certificate, key] = await selfSigned([]);
    encryptedKey = (await opensslOk(['pkcs8', '-topk8', '-v2', 'aes-256-cbc', '-passout', 'pass:s3cret'], key)).stdout;
  });
  afterAll(async () => {
    socket?.close();
    await client?.close();
    await server?.close();
    await drop();
  });

  const count = async (method: string, filters: unknown[]) => client.call<number>(method, filters, { count: true });

  describe.runIf(available)('a __proto__ key', () => {
    it('in auth.login_ex is refused and does not log in', async () => {
      const anonymous = await RawSocket.open(server.url);
      const login = JSON.stringify({ mechanism: 'PASSWORD_PLAIN', username: 'admin', password: server.admin.password }).slice(0, -1);
      const reply = await rawCall(anonymous, 'auth.login_ex', `[${login},"__proto__":{"login_options":{"user_info":true}}}]`);
      expect(invalidParams(reply)).toEqual([['login_data.PASSWORD_PLAIN.__proto__', EXTRA, EINVAL]]);
      expect((await anonymous.call('auth.me')).error).toMatchObject({ data: { errname: 'ENOTAUTHENTICATED' } });
      anonymous.close();
    });

    it('in user.create is refused and creates nobody', async () => {
      const reply = await rawCall(
        socket,
        'user.create',
        '[{"username":"proto1","full_name":"p","password":"a-long-password","__proto__":{"roles":["FULL_ADMIN"]}}]',
      );
      expect(invalidParams(reply)).toEqual([['user_create.__proto__', EXTRA, EINVAL]]);
      expect(await count('user.query', [['username', '=', 'proto1']])).toBe(0);
    });

    it('in api_key.create is refused and makes no key', async () => {
      const reply = await rawCall(socket, 'api_key.create', '[{"name":"proto-key","__proto__":{"username":"admin"}}]');
      expect(invalidParams(reply)).toEqual([['api_key_create.__proto__', EXTRA, EINVAL]]);
      expect(await count('api_key.query', [['name', '=', 'proto-key']])).toBe(0);
    });

    it('in acme.dns.authenticator.create, at the top or inside attributes, is refused', async () => {
      const top = await rawCall(
        socket,
        'acme.dns.authenticator.create',
        '[{"name":"proto-dns","attributes":{"authenticator":"cloudflare","api_token":"t"},"__proto__":{"x":1}}]',
      );
      expect(invalidParams(top)).toEqual([['dns_authenticator_create.__proto__', EXTRA, EINVAL]]);
      const inside = await rawCall(
        socket,
        'acme.dns.authenticator.create',
        '[{"name":"proto-dns","attributes":{"authenticator":"cloudflare","api_token":"t","__proto__":{"x":1}}}]',
      );
      expect(invalidParams(inside)).toEqual([['dns_authenticator_create.attributes.cloudflare.__proto__', EXTRA, EINVAL]]);
      expect(await count('acme.dns.authenticator.query', [['name', '=', 'proto-dns']])).toBe(0);
    });

    it('in a legacy-schema method (certificate.query options) is "Field was not expected"', async () => {
      const reply = await rawCall(socket, 'certificate.query', '[[],{"__proto__":{"count":true}}]');
      expect(invalidParams(reply)).toEqual([['options.__proto__', 'Field was not expected', EINVAL]]);
    });

    it('keys named after Object.prototype members are extra inputs, not internal errors', async () => {
      const reply = await rawCall(
        socket,
        'user.create',
        '[{"username":"proto2","full_name":"p","password":"a-long-password","constructor":{"prototype":{"polluted":true}},"toString":1}]',
      );
      expect(invalidParams(reply)).toEqual([
        ['user_create.constructor', EXTRA, EINVAL],
        ['user_create.toString', EXTRA, EINVAL],
      ]);
    });

    it('never pollutes a prototype of the daemon (which runs in this process)', () => {
      expect(({} as Record<string, unknown>).roles).toBeUndefined();
      expect(({} as Record<string, unknown>).username).toBeUndefined();
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(({} as Record<string, unknown>).x).toBeUndefined();
    });
  });

  describe.runIf(available)('params nested 30,000 deep', () => {
    it('are a validation error naming the parameter, in a filter', async () => {
      const reply = await rawCall(socket, 'certificate.query', `[[["name","=",${nested(30_000)}]]]`);
      expect(invalidParams(reply)).toEqual([['filters', 'Nested more than 64 levels deep', EINVAL]]);
    });

    it('are a validation error naming the parameter, in a pydantic method and in a job method', async () => {
      expect(invalidParams(await rawCall(socket, 'user.create', `[{"username":"deep","full_name":${nested(30_000)}}]`))).toEqual([
        ['user_create', 'Nested more than 64 levels deep', EINVAL],
      ]);
      expect(invalidParams(await rawCall(socket, 'certificate.create', `[{"name":"deep","san":${nested(30_000)}}]`))).toEqual([
        ['certificate_create', 'Nested more than 64 levels deep', EINVAL],
      ]);
    });

    it('as an extra argument are "Too many arguments", and the connection keeps working', async () => {
      expect(invalidParams(await rawCall(socket, 'core.ping', `[${nested(30_000)}]`))).toEqual([
        ['', 'Too many arguments (expected 0, found 1)', EINVAL],
      ]);
      expect((await socket.call('core.ping')).result).toBe('pong');
    });

    it('64 levels are still accepted, 65 are not', async () => {
      const at64 = await rawCall(socket, 'auth.generate_token', `[600,{"a":${nested(63)}}]`);
      expect(at64.error).toBeUndefined();
      expect(typeof at64.result).toBe('string');
      expect(invalidParams(await rawCall(socket, 'auth.generate_token', `[600,{"a":${nested(64)}}]`))).toEqual([
        ['attrs', 'Nested more than 64 levels deep', EINVAL],
      ]);
    });
  });

  describe.runIf(available)('nesting on the legacy protocol', () => {
    async function legacyAdmin(): Promise<RawSocket> {
      const legacy = await RawSocket.open(server.url.replace('/api/current', '/websocket'));
      legacy.send({ msg: 'connect', version: '1', support: ['1'] });
      expect(await legacy.next()).toMatchObject({ msg: 'connected' });
      legacy.send({ msg: 'method', id: 'login', method: 'auth.login_ex', params: [{ mechanism: 'PASSWORD_PLAIN', username: 'admin', password: server.admin.password }] });
      expect(await legacy.next()).toMatchObject({ id: 'login', result: { response_type: 'SUCCESS' } });
      return legacy;
    }

    it('params 30,000 deep are a validation error', async () => {
      const legacy = await legacyAdmin();
      legacy.send(`{"msg":"method","id":"deep","method":"certificate.query","params":[${nested(30_000)}]}`);
      expect(await legacy.next()).toMatchObject({
        id: 'deep',
        msg: 'result',
        error: { type: 'VALIDATION', extra: [['filters', 'Nested more than 64 levels deep', EINVAL]] },
      });
      legacy.close();
    });

    it.each(['method', 'sub', 'unsub'])('a %s whose id is nested 30,000 deep closes that connection (1007), and the daemon goes on', async (kind) => {
      const legacy = await legacyAdmin();
      legacy.send(`{"msg":"${kind}","id":${nested(30_000)},"method":"core.ping","name":"core.get_jobs"}`);
      expect(await legacy.closed).toEqual({ code: 1007, reason: 'The message id is nested too deeply' });
      expect((await socket.call('core.ping')).result).toBe('pong');
    });
  });

  describe.runIf(available)('a malformed ENCRYPTED PRIVATE KEY with a passphrase', () => {
    const malformed: Array<[string, () => string]> = [
      ['not DER', () => '-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n'],
      ['not base64', () => '-----BEGIN ENCRYPTED PRIVATE KEY-----\n!!!!\n-----END ENCRYPTED PRIVATE KEY-----\n'],
      ['a primitive value', () => '-----BEGIN ENCRYPTED PRIVATE KEY-----\nBAA=\n-----END ENCRYPTED PRIVATE KEY-----\n'],
      ['an empty sequence', () => '-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n'],
      ['truncated', () => truncatedPem(encryptedKey)],
    ];

    it.each(malformed)('(%s) fails certificate.create as a VALIDATION job at privatekey, writing nothing', async (_what, key) => {
      const before = await count('certificate.query', []);
      const errors = await validationOf(
        client.callJob('certificate.create', [{ name: 'enc-import', create_type: 'CERTIFICATE_CREATE_IMPORTED', certificate, privatekey: key(), passphrase: 's3cret' }]),
      );
      expect(errors).toEqual([['certificate_create.privatekey', KEY_MESSAGE, EINVAL]]);
      expect(await count('certificate.query', [])).toBe(before);
    });

    it.each(malformed)('(%s) fails certificateauthority.create import at privatekey, writing nothing', async (_what, key) => {
      const before = await count('certificateauthority.query', []);
      const errors = await validationOf(
        client.call('certificateauthority.create', { name: 'enc-ca', create_type: 'CA_CREATE_IMPORTED', certificate, privatekey: key(), passphrase: 's3cret' }),
      );
      expect(errors).toEqual([['certificate_authority_create.privatekey', KEY_MESSAGE, EINVAL]]);
      expect(await count('certificateauthority.query', [])).toBe(before);
    });
  });

  describe.runIf(available)('a PKCS#12 bundle whose certificate cannot be read', () => {
    it.each([
      ['with its key', true],
      ['alone', false],
    ])('(%s) fails certificate.create as a VALIDATION job at pkcs12, writing nothing', async (_what, withKey) => {
      const before = await count('certificate.query', []);
      const bundle = bundleWithUnreadableCertificate(withKey ? key : null);
      const errors = await validationOf(
        client.callJob('certificate.create', [{ name: 'p12-bad-cert', create_type: 'CERTIFICATE_CREATE_IMPORTED', pkcs12: bundle.toString('base64'), passphrase: '' }]),
      );
      expect(errors).toContainEqual(['certificate_create.pkcs12', 'Unable to read the PKCS#12 bundle: it is malformed or the passphrase is wrong', EINVAL]);
      expect(await count('certificate.query', [])).toBe(before);
    });
  });

  describe.runIf(available)('a certificate whose serial number is longer than 20 octets', () => {
    it('is refused at certificate by certificate.create and certificateauthority.create, writing nothing', async () => {
      const [longSerial, longSerialKey] = await selfSigned(['-set_serial', `0x${'7f'.repeat(30)}`, '-addext', 'basicConstraints=critical,CA:TRUE']);
      const message = "The certificate's serial number is longer than 20 octets (RFC 5280)";
      const before = await count('certificate.query', []);
      const imported = { certificate: longSerial, privatekey: longSerialKey };
      expect(await validationOf(client.callJob('certificate.create', [{ name: 'long-serial', create_type: 'CERTIFICATE_CREATE_IMPORTED', ...imported }]))).toEqual([
        ['certificate_create.certificate', message, EINVAL],
      ]);
      expect(await validationOf(client.call('certificateauthority.create', { name: 'long-serial-ca', create_type: 'CA_CREATE_IMPORTED', ...imported }))).toEqual([
        ['certificate_authority_create.certificate', message, EINVAL],
      ]);
      expect(await count('certificate.query', [])).toBe(before);
      expect(await count('certificateauthority.query', [['name', '=', 'long-serial-ca']])).toBe(0);
    });

    it('20 octets are still accepted', async () => {
      const [certificate20, key20] = await selfSigned(['-set_serial', `0x${'7f'.repeat(20)}`]);
      const entry = await client.callJob<{ serial: string }>('certificate.create', [{ name: 'serial-20', create_type: 'CERTIFICATE_CREATE_IMPORTED', certificate: certificate20, privatekey: key20 }]);
      expect(BigInt(entry.serial)).toBe(BigInt(`0x${'7f'.repeat(20)}`));
    });
  });

  describe.runIf(available)('a long Origin', () => {
    it('(a host name of 300 characters) still gets a token bound to it, usable from that origin', async () => {
      const host = `${'a'.repeat(300)}.example:${server.port}`;
      /** A WebSocket that claims that host and origin, as any non-browser client may. */
      class FromLongOrigin extends WebSocket {
        constructor(url: string) {
          super(url, { headers: { host, origin: `http://${host}` } });
        }
      }
      const first = await CertmidClient.connect(server.url, { WebSocket: FromLongOrigin });
      await first.login(server.admin.username, server.admin.password);
      const token = await first.call<string>('auth.generate_token', 600, {}, true, true);
      const second = await CertmidClient.connect(server.url, { WebSocket: FromLongOrigin });
      expect(await second.call('auth.login_ex', { mechanism: 'TOKEN_PLAIN', token })).toMatchObject({ response_type: 'SUCCESS' });
      await first.close();
      await second.close();
    });
  });

  describe.runIf(available)('ACME values longer than their columns', () => {
    const directory = `https://acme.invalid/${'d'.repeat(490)}`;
    it('a directory URL over 500 characters or an EAB key id over 256 is refused before any network call', async () => {
      expect(await validationOf(client.call('acme.registration.create', { acme_directory_uri: directory, eab_kid: 'k'.repeat(257), eab_hmac_key: 'aGk' }))).toEqual([
        ['acme_registration_create.acme_directory_uri', 'String should have at most 500 characters', EINVAL],
        ['acme_registration_create.eab_kid', 'String should have at most 256 characters', EINVAL],
      ]);
      const create = { name: 'acme-long', create_type: 'CERTIFICATE_CREATE_ACME', tos: true, csr_id: 1, dns_mapping: {}, acme_directory_uri: directory, eab_kid: 'k'.repeat(257), eab_hmac_key: 'aGk' };
      expect(await validationOf(client.callJob('certificate.create', [create]))).toEqual([
        ['certificate_create.acme_directory_uri', 'The value may not be longer than 500 characters', EINVAL],
        ['certificate_create.eab_kid', 'The value may not be longer than 256 characters', EINVAL],
      ]);
    });
  });

  describe.runIf(available)('NUL characters in strings', () => {
    const cases: Array<[string, string, string]> = [
      ['user.create', '[{"username":"nul","full_name":"a\\u0000b","password":"a-long-password"}]', 'user_create.full_name'],
      ['user.query', '[[["full_name","=","a\\u0000"]]]', 'filters.0.2'],
      ['api_key.create', '[{"name":"k\\u0000"}]', 'api_key_create.name'],
      ['auth.login_ex', '[{"mechanism":"PASSWORD_PLAIN","username":"ad\\u0000min","password":"x"}]', 'login_data.PASSWORD_PLAIN.username'],
      ['certificateauthority.create', '[{"name":"ca\\u0000","create_type":"CA_CREATE_INTERNAL"}]', 'ca_create.name'],
      ['certificate.create', '[{"name":"c\\u0000","create_type":"CERTIFICATE_CREATE_IMPORTED"}]', 'certificate_create.name'],
      ['certificate.query', '[[["name","^","\\u0000"]],{"select":["name"]}]', 'filters.0.2'],
      ['acme.dns.authenticator.create', '[{"name":"d\\u0000","attributes":{"authenticator":"cloudflare","api_token":"t"}}]', 'dns_authenticator_create.name'],
      [
        'acme.dns.authenticator.create',
        '[{"name":"dns-nul","attributes":{"authenticator":"cloudflare","api_token":"t\\u0000"}}]',
        'dns_authenticator_create.attributes.cloudflare.api_token',
      ],
    ];

    it.each(cases)('%s %s is refused at %s', async (method, params, attribute) => {
      expect(invalidParams(await rawCall(socket, method, params))).toEqual([[attribute, NUL, EINVAL]]);
    });

    it('in hundreds of strings is reported 50 times, enough to read and short to send', async () => {
      const filters = JSON.stringify(Array.from({ length: 300 }, (_, i) => ['full_name', '=', `n${i}\u0000`]));
      const errors = invalidParams(await rawCall(socket, 'user.query', `[${filters}]`));
      expect(errors).toHaveLength(50);
      expect(errors[49]).toEqual(['filters.49.2', NUL, EINVAL]);
    });

    it('in an object key is refused at that key', async () => {
      const reply = await rawCall(socket, 'certificate.create', '[{"name":"c","dns_mapping":{"a\\u0000.example":1}}]');
      expect(invalidParams(reply)).toEqual([['certificate_create.dns_mapping.a\u0000.example', NUL, EINVAL]]);
    });

    it('left nothing behind', async () => {
      expect(await count('user.query', [['username', '=', 'nul']])).toBe(0);
      expect(await count('api_key.query', [])).toBe(0);
      expect(await count('acme.dns.authenticator.query', [])).toBe(0);
    });
  });

  describe.runIf(available)('CRL and CA URLs with ids no row can have', () => {
    it.each(['/crl/', '/ca/'])('%s<5000 digits> is 404', async (prefix) => {
      for (const extension of prefix === '/crl/' ? ['crl', 'pem'] : ['crt', 'pem', 'der']) {
        const response = await fetch(`http://127.0.0.1:${server.port}${prefix}${'9'.repeat(5000)}.${extension}`);
        expect(response.status).toBe(404);
      }
      expect((await fetch(`http://127.0.0.1:${server.port}${prefix}9007199254740992.pem`)).status).toBe(404);
      expect((await fetch(`http://127.0.0.1:${server.port}${prefix}0.pem`)).status).toBe(404);
    });
  });
});

/** A PEM cut after half of its base64 lines: the DER inside ends early. */
function truncatedPem(pem: string): string {
  const lines = pem.trim().split('\n');
  const body = lines.slice(1, -1);
  return [lines[0], ...body.slice(0, Math.ceil(body.length / 2)), lines.at(-1), ''].join('\n');
}

/**
 * A PKCS#12 file (no MAC, no encryption) with a certificate bag holding DER that is not a
 * certificate, and optionally a readable key bag; both carry the same localKeyId, as OpenSSL writes.
 */
function bundleWithUnreadableCertificate(keyPem: string | null): Buffer {
  const DATA = '1.2.840.113549.1.7.1';
  const localKeyId = setOf(sequence(oid('1.2.840.113549.1.9.21'), setOf(octetString(Buffer.alloc(20, 1)))));
  const bag = (type: string, value: Buffer) => sequence(oid(type), explicit(0, value), localKeyId);
  const certBag = bag('1.2.840.113549.1.12.10.1.3', sequence(oid('1.2.840.113549.1.9.22.1'), explicit(0, octetString(sequence(integer(1))))));
  const keyBags = keyPem ? [bag('1.2.840.113549.1.12.10.1.1', splitPem(keyPem)[0]!.der)] : [];
  const authSafe = sequence(sequence(oid(DATA), explicit(0, octetString(sequence(certBag, ...keyBags)))));
  return sequence(integer(3), sequence(oid(DATA), explicit(0, octetString(authSafe))));
}
