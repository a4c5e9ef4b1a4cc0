/**
 * Certificate files with several daemons and a worker sharing PostgreSQL and Redis: every daemon
 * writes its own host's directory from the change events Redis carries; workers never write; a
 * daemon told CERTIFICATES_WRITE=false shares another's directory without writing it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CertmidClient } from '../../src/client/client.js';
import { openssl, opensslSerial } from '../helpers/openssl.js';
import { adminClient, createInternalCertificate, createRootCa, type Entry } from '../helpers/pki-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createTestDatabase, dropQueuePrefix, postgresAvailable, REDIS_URL, redisAvailable, uniquePrefix } from '../helpers/services.js';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process.js';

const WAIT_MS = 20_000;
const EC = { key_type: 'EC', ec_curve: 'SECP256R1' };

async function until(probe: () => boolean | Promise<boolean>, what: string): Promise<void> {
  await expect.poll(probe, { timeout: WAIT_MS, interval: 50, message: what }).toBe(true);
}

async function crlText(crl: string, ca: string): Promise<string> {
  const result = await openssl(['crl', '-in', crl, '-CAfile', ca, '-noout', '-text']);
  return result.code === 0 && /verify OK/.test(result.stderr) ? result.stdout : '';
}

describe.runIf((await postgresAvailable()) && (await redisAvailable()))('certificate files with two daemons and a worker sharing PostgreSQL and Redis', () => {
  const prefix = uniquePrefix();
  const masterKey = Buffer.alloc(32, 9).toString('base64');
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let one: TestServer;
  let two: TestServer;
  let sharing: TestServer;
  let worker: WorkerProcess;
  let scratch: string;
  let viaOne: CertmidClient;
  let viaTwo: CertmidClient;
  let viaSharing: CertmidClient;
  const dirs = () => [path.join(one.dataDir, 'certificates'), path.join(two.dataDir, 'certificates')];
  const inBoth = (relative: string) => dirs().every((dir) => fs.existsSync(path.join(dir, relative)));
  const inNeither = (relative: string) => dirs().every((dir) => !fs.existsSync(path.join(dir, relative)));

  beforeAll(async () => {
    database = await createTestDatabase();
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'certmid-files-distributed-'));
    const env = { DATABASE_URL: database.url, REDIS_URL, QUEUE_PREFIX: prefix, MASTER_KEY: masterKey, ADMIN_PASSWORD: 'distributed-files-password' };
    // One after the other: the first creates the schema and the administrator.
    one = await startTestServer({ env });
    two = await startTestServer({ env });
    sharing = await startTestServer({ env: { ...env, CERTIFICATES_DIR: path.join(one.dataDir, 'certificates'), CERTIFICATES_WRITE: 'false' } });
    const workerData = path.join(scratch, 'worker');
    fs.mkdirSync(workerData);
    worker = await spawnWorker({ ...env, DATA_DIR: workerData, CERTIFICATES_DIR: path.join(workerData, 'certificates') });
    [viaOne, viaTwo, viaSharing] = await Promise.all([adminClient(one), adminClient(two), adminClient(sharing)]);
  }, 90_000);

  afterAll(async () => {
    for (const client of [viaOne, viaTwo, viaSharing]) client?.close();
    await worker?.stop();
    for (const server of [one, two, sharing]) await server?.close();
    await database?.drop();
    await dropQueuePrefix(prefix);
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  });

  it('writes a change made through either daemon, or run by the worker, into both daemons’ directories', async () => {
    const ca = await createRootCa(viaOne, 'spread-root', EC);
    await until(() => ['CA/spread-root.crt', 'CA/spread-root.key', 'CA/spread-root.crl'].every(inBoth), 'the CA is in both directories');

    // certificate.create is a job: the worker runs it, and both daemons hear of it through Redis.
    const leaf = await createInternalCertificate(viaTwo, 'spread-leaf', ca.id, EC);
    await until(() => ['spread-leaf.crt', 'spread-leaf.key'].every(inBoth), 'the certificate is in both directories');
    for (const dir of dirs()) expect(fs.statSync(path.join(dir, 'spread-leaf.key')).mode & 0o777).toBe(0o600);

    await viaOne.callJob('certificate.update', [leaf.id, { revoked: true }]);
    const serial = `Serial Number: ${opensslSerial(leaf.serial as number)}`;
    for (const dir of dirs()) {
      await until(async () => (await crlText(path.join(dir, 'CA/spread-root.crl'), path.join(dir, 'CA/spread-root.crt'))).includes(serial), `${dir} lists the revocation`);
    }

    await viaTwo.callJob('certificate.update', [leaf.id, { name: 'spread-renamed' }]);
    await until(() => inBoth('spread-renamed.crt') && inNeither('spread-leaf.crt') && inNeither('spread-leaf.key'), 'the rename reached both directories');
    await viaOne.callJob('certificate.delete', [leaf.id]);
    await until(() => inNeither('spread-renamed.crt') && inNeither('spread-renamed.key'), 'the delete reached both directories');
  });

  it('never writes from a worker, nor from a daemon told not to', async () => {
    const ca = await createRootCa(viaSharing, 'spread-quiet', { ...EC, add_to_trusted_store: true });
    await until(() => inBoth('CA/spread-quiet.crt') && inBoth('trusted-store/ca_spread-quiet.crt'), 'the daemons that write have it');
    expect(fs.existsSync(path.join(scratch, 'worker', 'certificates'))).toBe(false);
    // The sharing daemon names the files the first daemon writes, and says it does not write them.
    const entry = await viaSharing.call<Entry>('certificateauthority.get_instance', ca.id);
    expect(entry.certificate_path).toBe(path.join(one.dataDir, 'certificates', 'CA', 'spread-quiet.crt'));
    expect(fs.existsSync(entry.certificate_path as string)).toBe(true);
    expect(await viaSharing.call('certificate.files_status')).toMatchObject({ directory: path.join(one.dataDir, 'certificates'), writing: false });
    expect(await viaOne.call('certificate.files_status')).toMatchObject({ writing: true, error: null, reconciled_at: expect.any(Date) });
  });
});
