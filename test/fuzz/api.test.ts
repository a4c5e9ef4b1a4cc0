/**
 * Hostile input through a real daemon on SQLite and on PostgreSQL: queries from the grammar of
 * TrueNAS's filter language (filters on stored columns run in SQL, so both databases' type rules
 * are met) and `certificate.create` imports of damaged certificates, keys and PKCS#12 files, run as
 * jobs. Any reply or job that ends with EFAULT fails the test: everything else (results,
 * validation errors, TrueNAS's call errors) is an answer the caller can act on.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { CertmidClient, JobError, RpcError } from '../../src/client/client.js';
import { toPem } from '../../src/crypto/pem.js';
import { adminClient, createRootCa } from '../helpers/pki-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { databaseBackends } from '../helpers/services.js';
import { damagedBytes, damagedPem, damagedPemText, damagedTree, FIXTURE_PASSPHRASE, fixture, fixtureDer, runs } from './fuzz.js';
import { paramsFor, registry, spoiler } from './params-grammar.js';
import { queryFilters, queryOptions } from './query-grammar.js';
import { RawSocket } from '../helpers/raw-socket.js';

const backends = await databaseBackends();

const QUERY_METHODS = ['certificate.query', 'certificateauthority.query', 'user.query', 'api_key.query', 'acme.dns.authenticator.query'];

/** Fails on EFAULT; any other outcome of a call is fine. */
async function notInternal(call: Promise<unknown>): Promise<void> {
  try {
    await call;
  } catch (error) {
    if (error instanceof JobError) {
      expect(error.job.exc_info?.type, `job failed with ${error.job.error}`).toBe('VALIDATION');
      return;
    }
    if (!(error instanceof RpcError)) throw error;
    expect(error.errname, `${error.message}`).not.toBe('EFAULT');
  }
}

/** Methods that only read, so that any params may be sent to them without changing what the other properties meet. */
const READ_ONLY = registry.allMethods().filter((method) => !method.job && /\.(query|get_instance|\w*choices|ping|get_methods|me|sessions|mechanism_choices|schemas)$/.test(method.name));

/** Whole text frames: valid envelopes calling read-only methods with generated params, spoiled envelopes, and junk. */
const frames = fc.oneof(
  { weight: 6, arbitrary: fc.oneof(...READ_ONLY.map((method) => paramsFor(method).map((params) => `{"jsonrpc":"2.0","id":1,"method":${JSON.stringify(method.name)},"params":${params}}`))) },
  { weight: 2, arbitrary: fc.tuple(fc.jsonValue({ maxDepth: 1 }), fc.oneof(fc.constantFrom('core.ping', 'no.such_method', '', 'core.'), fc.string({ maxLength: 8 })), spoiler).map(([id, method, params]) => `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"method":${JSON.stringify(method)},"params":${params}}`) },
  { weight: 1, arbitrary: fc.oneof(fc.string({ maxLength: 40 }), fc.jsonValue({ maxDepth: 2 }).map((value) => JSON.stringify(value))) },
);

const CERTIFICATE = fixture('ec-cert.pem').toString();
const KEY = fixture('ec-key.pem').toString();

/** `certificate.create` CERTIFICATE_CREATE_IMPORTED with one of certificate, key, passphrase or PKCS#12 damaged. */
const damagedImport = fc.oneof(
  fc.oneof(damagedPem(CERTIFICATE), damagedPemText(CERTIFICATE), damagedTree(fixtureDer('ec-cert.pem')).map((der) => toPem('CERTIFICATE', der))).map((certificate) => ({ certificate, privatekey: KEY })),
  fc
    .tuple(fc.constantFrom('ec-key.pem', 'ec-key-pbes2.pem', 'ec-key-legacy.pem').chain((name) => fc.oneof(damagedPem(fixture(name).toString()), damagedPemText(fixture(name).toString()))), fc.constantFrom(FIXTURE_PASSPHRASE, 'wrong', ''))
    .map(([privatekey, passphrase]) => ({ certificate: CERTIFICATE, privatekey, passphrase })),
  fc
    .tuple(fc.constantFrom('bundle.p12', 'bundle-nomac.p12', 'bundle-plain.p12').chain((name) => fc.oneof(damagedBytes(fixture(name)), damagedTree(fixture(name)))), fc.constantFrom(FIXTURE_PASSPHRASE, ''))
    .map(([bundle, passphrase]) => ({ pkcs12: bundle.toString('base64'), passphrase })),
);

describe.each(backends)('hostile input through the API on %s', (_backend, database, available) => {
  let server: TestServer;
  let client: CertmidClient;
  let drop: () => Promise<void> = async () => undefined;

  beforeAll(async () => {
    if (!available) return;
    const db = await database();
    drop = db.drop;
    server = await startTestServer({ env: db.env });
    client = await adminClient(server);
    // Rows of every kind, so that filters meet real values in SQL and in memory.
    const root = await createRootCa(client, 'fuzz-root', { key_type: 'EC', key_length: undefined });
    await client.callJob('certificate.create', [{ name: 'fuzz-imported', create_type: 'CERTIFICATE_CREATE_IMPORTED', certificate: CERTIFICATE, privatekey: KEY }]);
    await client.call('user.create', { username: 'fuzz-user', full_name: 'Fuzz Üser', password: 'a-long-password', roles: ['READONLY_ADMIN'] });
    await client.call('api_key.create', { name: 'fuzz-key' });
    expect(root.id).toBeGreaterThan(0);
  });
  afterAll(async () => {
    await client?.close();
    await server?.close();
    await drop();
  });

  it.runIf(available)('answers queries from the grammar without an internal error', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...QUERY_METHODS), queryFilters, queryOptions, async (method, filters, options) => {
        await notInternal(client.call(method, filters, options));
      }),
      { numRuns: runs(400) },
    );
  });

  it.runIf(available)('answers any text frame without an internal error or closing the connection', async () => {
    const socket = await RawSocket.admin(server);
    let sent = 0;
    await fc.assert(
      fc.asyncProperty(frames, async (frame) => {
        const id = `frame-${++sent}`;
        socket.send(frame);
        // A ping after every frame: its reply proves the connection is open and the frame answered (or ignored).
        socket.send({ jsonrpc: '2.0', id, method: 'core.ping', params: [] });
        for (;;) {
          const reply = await socket.next(10_000);
          expect((reply.error as { data?: { errname?: string } } | undefined)?.data?.errname, JSON.stringify(reply).slice(0, 300)).not.toBe('EFAULT');
          if (reply.id === id) break;
        }
      }),
      { numRuns: runs(400) },
    );
    socket.close();
    expect(READ_ONLY.length).toBeGreaterThan(10);
  });

  it.runIf(available)('answers imports of damaged certificates, keys and PKCS#12 files with a result or a VALIDATION job', async () => {
    let seq = 0;
    await fc.assert(
      fc.asyncProperty(damagedImport, async (fields) => {
        await notInternal(client.callJob('certificate.create', [{ name: `fuzz-import-${++seq}`, create_type: 'CERTIFICATE_CREATE_IMPORTED', ...fields }]));
      }),
      { numRuns: runs(120) },
    );
  });
});
