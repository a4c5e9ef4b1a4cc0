/**
 * Exactly once across daemons: two daemons and a worker share PostgreSQL and Redis (BullMQ); both
 * daemons hear every change and sweep, and still each serial reaches each target once (counted by
 * its reload command's runs and its webhook's hits).
 */
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CertmidClient } from '../../src/client/client.js';
import { sweepOnce } from '../../src/deploy/runs.js';
import { linesOf, replaceInPlace, script, targetWhen, type Target } from '../helpers/deploy-targets.js';
import { opensslSerial } from '../helpers/openssl.js';
import { adminClient, createInternalCertificate, createRootCa, type Entry } from '../helpers/pki-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createTestDatabase, dropQueuePrefix, postgresAvailable, REDIS_URL, redisAvailable, uniquePrefix } from '../helpers/services.js';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process.js';

const EC = { key_type: 'EC', ec_curve: 'SECP256R1', key_length: undefined };
const WAIT_MS = 30_000;

describe.runIf((await postgresAvailable()) && (await redisAvailable()))('deploy targets with two daemons and a worker sharing PostgreSQL and Redis', () => {
  const prefix = uniquePrefix();
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let one: TestServer;
  let two: TestServer;
  let worker: WorkerProcess;
  let scratch: string;
  let viaOne: CertmidClient;
  let viaTwo: CertmidClient;
  let receiver: http.Server;
  let receiverUrl: string;
  const hits: string[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'certmid-deploy-distributed-'));
    receiver = http.createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        hits.push((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { certificate: { serial: string } }).certificate.serial);
        response.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    const env = { DATABASE_URL: database.url, REDIS_URL, QUEUE_PREFIX: prefix, MASTER_KEY: Buffer.alloc(32, 5).toString('base64'), ADMIN_PASSWORD: 'distributed-deploy-password' };
    // One after the other: the first creates the schema and the administrator.
    one = await startTestServer({ env });
    two = await startTestServer({ env });
    const workerData = path.join(scratch, 'worker');
    fs.mkdirSync(workerData);
    worker = await spawnWorker({ ...env, DATA_DIR: workerData });
    [viaOne, viaTwo] = await Promise.all([adminClient(one), adminClient(two)]);
  }, 90_000);

  afterAll(async () => {
    for (const client of [viaOne, viaTwo]) client?.close();
    await worker?.stop();
    for (const server of [one, two]) await server?.close();
    await database?.drop();
    await dropQueuePrefix(prefix);
    await new Promise((resolve) => receiver?.close(resolve));
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  });

  /** Both daemons sweeping at once, several times over, on top of the sweeps events start. */
  const raceSweeps = () => Promise.all([one, two, one, two, one, two].map((server) => sweepOnce(server.daemon.app)));

  async function runsFinished(): Promise<void> {
    await expect
      .poll(async () => viaOne.call<number>('core.get_jobs', [['method', '=', 'certificate.deploy_target.run'], ['state', 'in', ['WAITING', 'RUNNING']]], { count: true }), {
        timeout: WAIT_MS,
        interval: 100,
      })
      .toBe(0);
  }

  it('deploys each serial once per target, whichever daemon hears of it first', async () => {
    const ca = await createRootCa(viaOne, 'distributed-deploy-root', EC);
    const cert = await createInternalCertificate(viaOne, 'distributed-deployed', ca.id, EC);
    const next = await createInternalCertificate(viaTwo, 'distributed-next', ca.id, EC);
    const first = opensslSerial(BigInt(String(cert.serial)));
    const second = opensslSerial(BigInt(String(next.serial)));
    const reloads = path.join(scratch, 'reloads');
    const reload = script(scratch, 'reload.sh', `echo "$CERTMID_CERTIFICATE_SERIAL" >> "${reloads}"`);
    const local = await viaOne.call<Target>('certificate.deploy_target.create', {
      name: 'distributed-local',
      certificate: cert.id,
      kind: 'LOCAL',
      attributes: { fullchain_path: path.join(scratch, 'fullchain.pem'), reload_command: [reload] },
    });
    const hook = await viaTwo.call<Target>('certificate.deploy_target.create', {
      name: 'distributed-hook',
      certificate: cert.id,
      kind: 'WEBHOOK',
      attributes: { url: receiverUrl, secret: 'distributed-hook-secret-123' },
    });
    await raceSweeps();
    for (const target of [local, hook]) await targetWhen(viaTwo, target.id, (t) => t.state === 'DEPLOYED' && t.last_serial === first, `${target.name} deployed`);

    await replaceInPlace(one, cert.id, next.id);
    await raceSweeps();
    for (const target of [local, hook]) await targetWhen(viaOne, target.id, (t) => t.state === 'DEPLOYED' && t.last_serial === second, `${target.name} deployed again`);
    await raceSweeps();
    await runsFinished();

    expect(linesOf(reloads)).toEqual([first, second]);
    expect(hits).toEqual([first, second]);
    // One claim, so one job, per target and serial: the daemons that lost a claim queued nothing.
    expect(await viaOne.call('core.get_jobs', [['method', '=', 'certificate.deploy_target.run']], { count: true })).toBe(4);
    const entry = await viaTwo.call<Entry>('certificate.get_instance', cert.id);
    expect(entry.used_by).toEqual([
      { type: 'DEPLOY_TARGET', name: 'Deploy target distributed-local', id: local.id, serial: second },
      { type: 'DEPLOY_TARGET', name: 'Deploy target distributed-hook', id: hook.id, serial: second },
    ]);
  });
});
