import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue, Worker } from 'bullmq';
import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { QUEUE_NAME, bullmqJobId, redisOptions, type BullmqQueue } from '../../jobs/bullmq-backend.js';
import { CertmidClient, RpcError, type Job, type WebSocketConstructor } from '../../src/client/client.js';
import { createRootCa, subjectParams } from '../helpers/pki-client.js';
import { spawnDaemon, startOwnRedis, type OwnRedis, type TestProcess } from '../helpers/processes.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createTestDatabase, postgresAvailable } from '../helpers/services.js';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process.js';

/**
 * Faults injected into real parts: workers and daemons killed with SIGKILL, a Redis without
 * persistence restarted, two daemons on one PostgreSQL database. Each scenario counts, over every
 * job a client was told about: jobs lost (not listed), jobs not final after the bound, certificate
 * rows without a SUCCESS job (and SUCCESS jobs without their row), duplicated certificates, and
 * what a client waiting for a reply saw.
 */

const FINAL = new Set(['SUCCESS', 'FAILED', 'ABORTED']);
const INTERRUPTED = '[EINTR] Job interrupted: the process running it stopped';
/** Every process beats twice a second: one that stops is dead within 1.5 s. */
const HEARTBEAT = { JOB_HEARTBEAT_SECONDS: '0.5' };
const redisServer = fs.existsSync('/usr/bin/redis-server') || process.env.CI === 'true';
const postgres = await postgresAvailable();

const ws = WebSocket as unknown as WebSocketConstructor;
const password = `faults-${randomBytes(6).toString('hex')}`;

async function admin(url: string, options: { legacyJobs?: boolean } = {}): Promise<CertmidClient> {
  const client = await CertmidClient.connect(url, { WebSocket: ws, callTimeout: 60_000 });
  if (options.legacyJobs === false) await client.call('core.set_options', { legacy_jobs: false });
  await client.login('admin', password);
  return client;
}

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'certmid-faults-'));
}

/** What one call that waits for its job's reply (legacy_jobs false) ended with. */
interface Seen {
  outcome: 'result' | 'error' | 'pending';
  value?: unknown;
  error?: Error;
}

function watch(promise: Promise<unknown>): Seen {
  const seen: Seen = { outcome: 'pending' };
  promise.then(
    (value) => Object.assign(seen, { outcome: 'result', value }),
    (error: Error) => Object.assign(seen, { outcome: 'error', error }),
  );
  return seen;
}

/** The jobs with `ids`, polled until every one is final or `boundMs` has passed. */
async function finalJobs(client: CertmidClient, ids: number[], boundMs: number): Promise<Job[]> {
  const deadline = Date.now() + boundMs;
  for (;;) {
    const jobs = await client.call<Job[]>('core.get_jobs', [['id', 'in', ids]], { order_by: ['id'] });
    if (jobs.length === ids.length && jobs.every((job) => FINAL.has(job.state))) return jobs;
    if (Date.now() > deadline) return jobs;
    await sleep(200);
  }
}

/** For a failure message: what BullMQ holds of the jobs not yet final. */
async function queueStates(queue: Queue, jobs: Job[]): Promise<string> {
  const pending = jobs.filter((job) => !FINAL.has(job.state));
  const states = await Promise.all(
    pending.map(async (job) => {
      const held = await queue.getJob(bullmqJobId(job.id));
      return { id: job.id, state: job.state, queue: held ? await held.getState() : 'absent', processedBy: held?.processedBy, attemptsMade: held?.attemptsMade, failedReason: held?.failedReason };
    }),
  );
  return `jobs not final and what the queue holds of them: ${JSON.stringify(states)}`;
}

/** The counts every scenario must find at zero. */
async function tally(client: CertmidClient, ids: number[], jobs: Job[]) {
  const certificates = await client.call<Array<{ id: number; name: string }>>('certificate.query', [], { select: ['id', 'name'] });
  const rowsByName = new Map<string, number>();
  for (const row of certificates) rowsByName.set(row.name, (rowsByName.get(row.name) ?? 0) + 1);
  const creates = jobs.filter((job) => job.method === 'certificate.create');
  const nameOf = (job: Job) => (job.arguments[0] as { name: string }).name;
  return {
    lost: ids.filter((id) => !jobs.some((job) => job.id === id)),
    notFinal: jobs.filter((job) => !FINAL.has(job.state)).map((job) => job.id),
    rowsWithoutSuccess: creates.filter((job) => job.state !== 'SUCCESS' && rowsByName.has(nameOf(job))).map(nameOf),
    successWithoutRow: creates.filter((job) => job.state === 'SUCCESS' && !rowsByName.has(nameOf(job))).map(nameOf),
    duplicated: [...rowsByName].filter(([, count]) => count > 1).map(([name]) => name),
  };
}

const NONE = { lost: [], notFinal: [], rowsWithoutSuccess: [], successWithoutRow: [], duplicated: [] };

function certificateParams(name: string, signedby: number, keyLength = 2048): Record<string, unknown> {
  return { ...subjectParams({ key_length: keyLength, common: name }), name, create_type: 'CERTIFICATE_CREATE_INTERNAL', signedby };
}

describe.runIf(redisServer)('a job a worker took from the queue but did not start', () => {
  let redis: OwnRedis;
  let server: TestServer;
  let ghost: Worker | undefined;
  const prefix = `certmid-ghost-${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    redis = await startOwnRedis();
    // No certmid worker: the only one that ever takes a job is the ghost below.
    server = await startTestServer({ env: { REDIS_URL: redis.url, QUEUE_PREFIX: prefix, ADMIN_PASSWORD: password, ...HEARTBEAT } });
  });

  afterEach(async () => {
    await ghost?.close(true);
    ghost = undefined;
  });

  afterAll(async () => {
    await server?.close();
    await redis?.process.kill();
  });

  /** A worker that no certmid runner stands for: it takes every job (the daemon's schedule triggers too, hence several at once) and never records one as started. */
  function startGhost(processor: () => Promise<unknown>): void {
    ghost = new Worker(QUEUE_NAME, processor, { connection: { ...redisOptions(redis.url), maxRetriesPerRequest: null }, prefix, name: 'ghost-host:1', concurrency: 8 });
  }

  it('ends it FAILED (interrupted) within seconds when that worker dies, not at BullMQ\'s stall check half a minute later', async () => {
    const client = await admin(server.url);
    const id = await client.call<number>('test.job_slow', 1000);
    startGhost(() => new Promise(() => undefined));
    const jobs = await finalJobs(client, [id], 15_000);
    expect(jobs[0]).toMatchObject({ id, state: 'FAILED', error: INTERRUPTED });
    await client.close();
  });

  it('ends it FAILED within seconds when the queue failed it without the record ever starting', async () => {
    const client = await admin(server.url);
    const id = await client.call<number>('test.job_slow', 1000);
    startGhost(() => Promise.reject(new Error('could not start')));
    const jobs = await finalJobs(client, [id], 15_000);
    expect(jobs[0]).toMatchObject({ id, state: 'FAILED' });
    await client.close();
  });
});

describe.runIf(redisServer)('BullMQ under faults, on a Redis of its own without persistence', () => {
  let redis: OwnRedis;
  let server: TestServer;
  let queue: Queue;
  const workers: WorkerProcess[] = [];
  const clients: CertmidClient[] = [];
  const prefix = `certmid-faults-${randomBytes(4).toString('hex')}`;
  let env: Record<string, string>;
  let caId: number;

  async function client(options?: { legacyJobs?: boolean }): Promise<CertmidClient> {
    const made = await admin(server.url, options);
    clients.push(made);
    return made;
  }

  async function addWorker(): Promise<WorkerProcess> {
    const worker = await spawnWorker({ ...env, DATA_DIR: server.dataDir });
    workers.push(worker);
    return worker;
  }

  beforeAll(async () => {
    redis = await startOwnRedis();
    env = { REDIS_URL: redis.url, QUEUE_PREFIX: prefix, ADMIN_PASSWORD: password, ...HEARTBEAT };
    server = await startTestServer({ env });
    await Promise.all([addWorker(), addWorker()]);
    queue = new Queue(QUEUE_NAME, { connection: redisOptions(redis.url), prefix });
    caId = (await createRootCa(await client(), 'faults-root', { key_type: 'EC', ec_curve: 'SECP256R1' })).id;
  });

  afterAll(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    await server?.close();
    await Promise.allSettled(workers.map((worker) => worker.stop()));
    await queue?.close();
    await redis?.process.kill();
  });

  it('ends the jobs of a worker killed mid-job FAILED (interrupted) and leaves no certificate without SUCCESS', async () => {
    const submitter = await client();
    const waiter = await client({ legacyJobs: false });
    const slow = await submitter.call<number>('test.job_slow', 60_000);
    const creates = await Promise.all(
      // RSA-2048: the survivor finishes its share well within the bound, even on a loaded machine.
      ['w-a', 'w-b', 'w-c', 'w-d', 'w-e', 'w-f'].map((name) => submitter.call<number>('certificate.create', certificateParams(name, caId))),
    );
    // A caller waiting for its reply, on a job that ends by itself on whichever worker runs it.
    const waited = watch(waiter.call('test.job_slow', 4000));
    let waitedId: number | undefined;
    await expect
      .poll(async () => (waitedId = (await submitter.call<Job[]>('core.get_jobs', [['method', '=', 'test.job_slow'], ['id', '>', slow]]))[0]?.id), { timeout: 10_000 })
      .toBeTypeOf('number');
    await expect.poll(async () => (await submitter.call<Job[]>('core.get_jobs', [['id', '=', slow]]))[0]!.state, { timeout: 10_000 }).toBe('RUNNING');
    const processedBy = (await queue.getJob(bullmqJobId(slow)))!.processedBy!;
    const victim = workers.find((worker) => worker.child.pid === Number(processedBy.split(':').at(-1)))!;
    victim.child.kill('SIGKILL');
    const killedAt = Date.now();

    const ids = [slow, ...creates, waitedId!];
    const jobs = await finalJobs(submitter, ids, 20_000);
    expect(await tally(submitter, ids, jobs), await queueStates(queue, jobs)).toEqual(NONE);
    expect(jobs.find((job) => job.id === slow)).toMatchObject({ state: 'FAILED', error: INTERRUPTED });
    expect(Date.now() - killedAt).toBeLessThan(20_000);
    // The caller waiting for its reply got its job's outcome, whichever worker ran it.
    const waitedJob = jobs.find((job) => job.id === waitedId)!;
    await expect.poll(() => waited.outcome, { timeout: 5000 }).not.toBe('pending');
    if (waitedJob.state === 'SUCCESS') expect(waited.value).toEqual(waitedJob.result);
    else expect(waited.error?.message).toBe(INTERRUPTED);
    workers.splice(workers.indexOf(victim), 1);
    await addWorker();
  });

  it('fails job calls fast while Redis is down, recovers by itself, never reuses an id, and ends every job Redis lost', async () => {
    const submitter = await client();
    const waiter = await client({ legacyJobs: false });
    // One job runs; the rest wait behind its lock, in Redis only.
    const running = await submitter.call<number>('test.job_slow', 3000, 'redis-restart');
    await expect.poll(async () => (await submitter.call<Job[]>('core.get_jobs', [['id', '=', running]]))[0]!.state, { timeout: 10_000 }).toBe('RUNNING');
    const queued = await Promise.all([1, 2, 3, 4].map(() => submitter.call<number>('test.job_slow', 100, 'redis-restart')));
    const waited = watch(waiter.call('test.job_slow', 100, 'redis-restart'));
    let waitedId: number | undefined;
    await expect
      .poll(async () => (waitedId = (await submitter.call<Job[]>('core.get_jobs', [['method', '=', 'test.job_slow'], ['state', '=', 'WAITING'], ['id', 'nin', queued]]))[0]?.id), { timeout: 5000 })
      .toBeTypeOf('number');
    const before = await submitter.call<Job[]>('core.get_jobs', [], { order_by: ['-id'], limit: 1 });

    await redis.process.kill();
    const called = Date.now();
    const refused = await submitter.call('test.job_slow', 10).then(
      () => null,
      (error: unknown) => error,
    );
    expect(Date.now() - called).toBeLessThan(5000);
    expect(refused).toBeInstanceOf(RpcError);
    expect((refused as RpcError).errname).toBe('EAGAIN');
    expect((refused as RpcError).message).toMatch(/^\[EAGAIN\] Job queue unavailable: /);

    await redis.restart();
    // Back by itself: calls succeed again once the clients have reconnected.
    let next: number | undefined;
    await expect
      .poll(async () => (next = await submitter.call<number>('test.job_slow', 10).catch(() => undefined)), { timeout: 15_000, interval: 250 })
      .toBeTypeOf('number');
    expect(next).toBeGreaterThan(before[0]!.id);

    const ids = [running, ...queued, waitedId!, next!];
    const jobs = await finalJobs(submitter, ids, 20_000);
    expect(await tally(submitter, ids, jobs)).toEqual(NONE);
    // The running job's worker finished it and wrote it down, Redis or not.
    expect(jobs.find((job) => job.id === running)).toMatchObject({ state: 'SUCCESS' });
    expect(jobs.find((job) => job.id === next)).toMatchObject({ state: 'SUCCESS' });
    // The queued jobs went with Redis and end FAILED (lost); one a worker had in hand as Redis went
    // (it retries its lock every 100 ms) may run once Redis is back, and succeed.
    const lost = (job: Job) => job.state === 'FAILED' && job.error!.startsWith('[EINTR] Job lost: the job queue (Redis) no longer holds it');
    const outcomes = [...queued, waitedId!].map((id) => jobs.find((job) => job.id === id)!);
    expect(outcomes.filter((job) => !lost(job) && job.state !== 'SUCCESS')).toEqual([]);
    expect(outcomes.filter(lost).length).toBeGreaterThan(0);
    // The caller waiting for its reply got its job's outcome.
    const waitedJob = outcomes.at(-1)!;
    await expect.poll(() => waited.outcome, { timeout: 5000 }).not.toBe('pending');
    if (waitedJob.state === 'SUCCESS') expect(waited.value).toEqual(waitedJob.result);
    else expect(waited.error?.message).toBe(waitedJob.error);
    // Every id stays unique.
    const all = await submitter.call<Job[]>('core.get_jobs', [], { select: ['id'] });
    expect(new Set(all.map((job) => job.id)).size).toBe(all.length);
    // The daily renewal's schedule went with Redis; the daemon puts it back (it checks once a minute).
    expect(await queue.getJobScheduler('certificate.renew_certs')).toBeFalsy();
    const schedule = server.daemon.app.jobs.schedule as BullmqQueue;
    expect(await schedule.restoreSchedules()).toEqual(['certificate.renew_certs']);
    expect(await queue.getJobScheduler('certificate.renew_certs')).toMatchObject({ every: 86_400_000 });
    expect(await schedule.restoreSchedules()).toEqual([]);
  });

  it('lists a job that finished while no daemon was up, with its result', async () => {
    const submitter = await client();
    const id = await submitter.call<number>('test.job_slow', 2000);
    await expect.poll(async () => (await submitter.call<Job[]>('core.get_jobs', [['id', '=', id]]))[0]!.state, { timeout: 10_000 }).toBe('RUNNING');
    await server.daemon.stop(100);
    await expect.poll(() => workers.some((worker) => worker.output.join('').includes(`"job":${id},"method":"test.job_slow","state":"SUCCESS"`)), { timeout: 15_000 }).toBe(true);
    server = await startTestServer({ dataDir: server.dataDir, env });
    const after = await client();
    const [job] = await after.call<Job[]>('core.get_jobs', [['id', '=', id]]);
    expect(job).toMatchObject({ state: 'SUCCESS', result: { started: expect.any(Number), finished: expect.any(Number) } });
  });
});

describe('in-process daemons under faults', () => {
  const processes: TestProcess[] = [];
  const clients: CertmidClient[] = [];
  const dirs: string[] = [];

  afterAll(async () => {
    await Promise.allSettled(clients.map((c) => c.close()));
    await Promise.allSettled(processes.map((p) => p.stop()));
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  async function daemon(env: Record<string, string>) {
    const started = await spawnDaemon({ ADMIN_PASSWORD: password, ...HEARTBEAT, ...env });
    processes.push(started);
    return started;
  }

  async function client(url: string, options?: { legacyJobs?: boolean }): Promise<CertmidClient> {
    const made = await admin(url, options);
    clients.push(made);
    return made;
  }

  it('shows the jobs of a daemon killed mid-job FAILED (interrupted) as soon as it is back, and no certificate without SUCCESS', async () => {
    const dataDir = tempDir();
    dirs.push(dataDir);
    const first = await daemon({ DATA_DIR: dataDir });
    const submitter = await client(first.url);
    const waiter = await client(first.url, { legacyJobs: false });
    const caId = (await createRootCa(submitter, 'crash-root', { key_type: 'EC', ec_curve: 'SECP256R1' })).id;
    const slow = await Promise.all([1, 2, 3].map(() => submitter.call<number>('test.job_slow', 60_000)));
    const creates = await Promise.all(['d-a', 'd-b', 'd-c', 'd-d'].map((name, i) => submitter.call<number>('certificate.create', certificateParams(name, caId, i < 2 ? 4096 : 2048))));
    const waited = watch(waiter.call('test.job_slow', 60_000));
    await expect.poll(async () => (await submitter.call<Job[]>('core.get_jobs', [['id', 'in', slow], ['state', '=', 'RUNNING']])).length, { timeout: 10_000 }).toBe(3);
    await first.kill();
    // The waiting caller learns that its connection, not its job, ended.
    await expect.poll(() => waited.outcome, { timeout: 5000 }).toBe('error');
    expect(waited.error?.message).toMatch(/connection closed/i);

    const second = await daemon({ DATA_DIR: dataDir });
    const after = await client(second.url);
    // No wait: the daemon ended its earlier life's jobs before it listened.
    const ids = [...slow, ...creates];
    const jobs = await after.call<Job[]>('core.get_jobs', [['id', 'in', ids]], { order_by: ['id'] });
    expect(await tally(after, ids, jobs)).toEqual(NONE);
    for (const id of slow) expect(jobs.find((job) => job.id === id)).toMatchObject({ state: 'FAILED', error: INTERRUPTED });
    // On reconnecting, the waiting caller finds its job by id (the newest test.job_slow).
    const [its] = await after.call<Job[]>('core.get_jobs', [['method', '=', 'test.job_slow']], { order_by: ['-id'], limit: 1 });
    expect(its).toMatchObject({ state: 'FAILED', error: INTERRUPTED });
    expect(await after.call<number>('test.job_slow', 0)).toBeGreaterThan(Math.max(...ids, its!.id));
  });

  it.runIf(postgres)('two daemons on one PostgreSQL database list the same jobs, and one ends the jobs of the other when it is killed', async () => {
    const database = await createTestDatabase();
    try {
      const shared = { DATABASE_URL: database.url, MASTER_KEY: randomBytes(32).toString('base64') };
      dirs.push(tempDir(), tempDir());
      const [one, two] = [await daemon({ DATA_DIR: dirs.at(-2)!, ...shared }), await daemon({ DATA_DIR: dirs.at(-1)!, ...shared })];
      const onOne = await client(one.url);
      const onTwo = await client(two.url);
      const caId = (await createRootCa(onOne, 'pg-root', { key_type: 'EC', ec_curve: 'SECP256R1' })).id;
      const slow = await Promise.all([1, 2].map(() => onOne.call<number>('test.job_slow', 60_000)));
      const creates = await Promise.all(['p-a', 'p-b', 'p-c'].map((name) => onOne.call<number>('certificate.create', certificateParams(name, caId, 4096))));
      const done = await onTwo.call<number>('test.job_slow', 0);
      await expect.poll(async () => (await onTwo.call<Job[]>('core.get_jobs', [['id', 'in', slow], ['state', '=', 'RUNNING']])).length, { timeout: 10_000 }).toBe(2);
      // The other daemon lists them, and waits for one of them.
      expect((await onTwo.call<Job[]>('core.get_jobs', [['id', 'in', [...slow, ...creates, done]]])).length).toBe(6);
      const waited = watch(onTwo.callJob('core.job_wait', [slow[0]]));
      await one.kill();
      const killedAt = Date.now();

      const ids = [...slow, ...creates, done];
      const jobs = await finalJobs(onTwo, ids, 10_000);
      expect(await tally(onTwo, ids, jobs)).toEqual(NONE);
      for (const id of slow) expect(jobs.find((job) => job.id === id)).toMatchObject({ state: 'FAILED', error: INTERRUPTED });
      expect(Date.now() - killedAt).toBeLessThan(10_000);
      await expect.poll(() => waited.outcome, { timeout: 5000 }).toBe('error');
      expect(waited.error?.message).toBe(INTERRUPTED);
    } finally {
      await Promise.allSettled(processes.splice(0).map((p) => p.stop()));
      await database.drop();
    }
  });
});
