import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { QUEUE_NAME, bullmqJobId, redisOptions } from '../../jobs/bullmq-backend.js';
import { SettingEntity } from '../../src/certs/default-certificate.js';
import { CertmidClient, JobError, type CollectionUpdate, type Job, type WebSocketConstructor } from '../../src/client/client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { REDIS_URL, dropQueuePrefix, redisAvailable, uniquePrefix } from '../helpers/services.js';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process.js';

/** Redis answers, does not (skip the bullmq half), or must answer and does not (CI: fail it). */
const redis = await redisAvailable().then(
  (up) => ({ up, error: undefined }),
  (error: Error) => ({ up: false, error }),
);

const FINAL = new Set(['SUCCESS', 'FAILED', 'ABORTED']);
const SECRET = `s3cret-${randomBytes(12).toString('hex')}`;

/** Every `core.get_jobs` event a client receives, to assert on sequences and wait for states. */
class JobEvents {
  private readonly received: Array<CollectionUpdate<Job>> = [];
  private readonly listeners = new Set<() => void>();

  static async attach(client: CertmidClient): Promise<JobEvents> {
    const events = new JobEvents();
    await client.subscribe<Job>('core.get_jobs', (event) => {
      events.received.push(event);
      events.listeners.forEach((listener) => listener());
    });
    return events;
  }

  of(id: number): Job[] {
    return this.received.filter((event) => event.id === id).map((event) => event.fields!);
  }

  /** The job's record once `predicate` holds for it. */
  until(id: number, predicate: (job: Job) => boolean, timeoutMs = 20_000): Promise<Job> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const job = this.of(id).find(predicate);
        if (!job) return;
        this.listeners.delete(check);
        clearTimeout(timer);
        resolve(job);
      };
      const timer = setTimeout(() => {
        this.listeners.delete(check);
        reject(new Error(`job ${id} did not reach the expected state; last: ${JSON.stringify(this.of(id).at(-1))}`));
      }, timeoutMs);
      this.listeners.add(check);
      check();
    });
  }

  finished(id: number, timeoutMs?: number): Promise<Job> {
    return this.until(id, (job) => FINAL.has(job.state), timeoutMs);
  }
}

interface Frame {
  direction: 'in' | 'out';
  message: Record<string, unknown>;
}

/** A `ws` WebSocket that logs every frame in the order it is sent or received. */
function recordingWebSocket(log: Frame[]): WebSocketConstructor {
  return class extends WebSocket {
    constructor(url: string) {
      super(url);
      this.on('message', (data) => log.push({ direction: 'in', message: JSON.parse(data.toString()) as Record<string, unknown> }));
    }

    override send(data: string): void {
      log.push({ direction: 'out', message: JSON.parse(data) as Record<string, unknown> });
      super.send(data);
    }
  } as unknown as WebSocketConstructor;
}


/** The text of every key under `prefix`, whatever its type. */
async function dumpKeys(client: Redis, prefix: string): Promise<string> {
  const parts: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) parts.push(key, JSON.stringify(await readKey(client, key)));
  } while (cursor !== '0');
  return parts.join('\n');
}

async function readKey(client: Redis, key: string): Promise<unknown> {
  switch (await client.type(key)) {
    case 'string':
      return client.get(key);
    case 'hash':
      return client.hgetall(key);
    case 'list':
      return client.lrange(key, 0, -1);
    case 'set':
      return client.smembers(key);
    case 'zset':
      return client.zrange(key, 0, -1, 'WITHSCORES');
    case 'stream':
      return client.xrange(key, '-', '+');
    default:
      return null;
  }
}

async function deleteKeys(client: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await client.del(...keys);
  } while (cursor !== '0');
}

async function jobError(promise: Promise<unknown>): Promise<JobError> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(JobError);
  return error as JobError;
}

type Backend = 'in-process' | 'bullmq';

describe.each<Backend>(['in-process', 'bullmq'])('jobs contract: %s backend', (backend) => {
  const skip = backend === 'bullmq' && !redis.up && redis.error === undefined;
  const prefix = `certmid-test-${randomBytes(6).toString('hex')}`;
  const workers: WorkerProcess[] = [];
  const clients: CertmidClient[] = [];
  let server: TestServer;
  let admin: CertmidClient;
  let events: JobEvents;
  let queue: Queue | undefined;
  let redisClient: Redis | undefined;

  async function connect(WebSocketClass: WebSocketConstructor = WebSocket as unknown as WebSocketConstructor): Promise<CertmidClient> {
    const client = await CertmidClient.connect(server.url, { WebSocket: WebSocketClass, callTimeout: 30_000 });
    clients.push(client);
    return client;
  }

  /** The environment of this backend's daemons. */
  const serverEnv = (): Record<string, string> => (backend === 'bullmq' ? { REDIS_URL, QUEUE_PREFIX: prefix } : {});

  beforeAll(async () => {
    if (skip) return;
    if (backend === 'bullmq' && redis.error) throw redis.error;
    const env = serverEnv();
    server = await startTestServer({ env });
    expect(server.daemon.app.jobs.backendName).toBe(backend);
    if (backend === 'bullmq') {
      const workerEnv = { ...env, DATA_DIR: server.dataDir };
      workers.push(...(await Promise.all([spawnWorker(workerEnv), spawnWorker(workerEnv)])));
      queue = new Queue(QUEUE_NAME, { connection: redisOptions(REDIS_URL), prefix });
      redisClient = new Redis(REDIS_URL);
    }
    admin = await connect();
    await admin.login(server.admin.username, server.admin.password);
    events = await JobEvents.attach(admin);
  });

  beforeEach((context) => {
    if (skip) context.skip();
  });

  afterAll(async () => {
    if (skip) return;
    await Promise.allSettled(clients.map((client) => client.close()));
    await server?.close();
    await Promise.allSettled(workers.map((worker) => worker.stop()));
    if (queue) {
      await queue.obliterate({ force: true });
      await queue.close();
    }
    if (redisClient) {
      await deleteKeys(redisClient, prefix);
      await redisClient.quit();
    }
  });

  it('reports WAITING, RUNNING, each progress step and SUCCESS with the result, in order', async () => {
    const seen: string[] = [];
    const result = await admin.callJob('test.job_with_progress', [3, 20], {
      onProgress: (progress) => seen.push(progress.description),
    });
    expect(result).toEqual({ steps: 3 });
    const id = (await admin.call<Array<{ id: number }>>('core.get_jobs', [['method', '=', 'test.job_with_progress']])).at(-1)!.id;
    const sequence = events.of(id);
    expect(sequence[0]).toMatchObject({ state: 'WAITING', progress: { percent: 0 } });
    const states = sequence.map((job) => job.state).filter((state, i, all) => state !== all[i - 1]);
    expect(states).toEqual(['WAITING', 'RUNNING', 'SUCCESS']);
    const percents = sequence.map((job) => job.progress.percent);
    expect(percents).toEqual([...percents].sort((a, b) => a - b));
    const steps = sequence.map((job) => job.progress.description).filter((text, i, all) => text && text !== all[i - 1]);
    expect(steps).toEqual(['Step 1 of 3', 'Step 2 of 3', 'Step 3 of 3']);
    expect(sequence.at(-1)).toMatchObject({ state: 'SUCCESS', result: { steps: 3 }, progress: { percent: 100 } });
    expect(seen).toContain('Step 3 of 3');
  });

  it('sends the "added" event with the request id in message_ids before the reply when legacy_jobs is false', async () => {
    const log: Frame[] = [];
    const client = await connect(recordingWebSocket(log));
    await client.call('core.set_options', { legacy_jobs: false });
    await client.login(server.admin.username, server.admin.password);
    await client.subscribe('core.get_jobs', () => undefined);
    expect(await client.call('test.job_with_progress', 2, 5)).toEqual({ steps: 2 });
    const requestId = log.find((frame) => frame.direction === 'out' && frame.message.method === 'test.job_with_progress')!.message.id;
    const added = log.findIndex((frame) => {
      const params = frame.message.params as CollectionUpdate<{ message_ids: unknown[] }> | undefined;
      return frame.direction === 'in' && params?.msg === 'added' && params.fields?.message_ids.includes(requestId) === true;
    });
    const reply = log.findIndex((frame) => frame.direction === 'in' && frame.message.id === requestId);
    expect(added).toBeGreaterThanOrEqual(0);
    expect(added).toBeLessThan(reply);
  });

  it('returns the integer job id at once with legacy_jobs', async () => {
    const id = await admin.call<number>('test.job_slow', 1500);
    expect(Number.isInteger(id)).toBe(true);
    const [job] = await admin.call<Job[]>('core.get_jobs', [['id', '=', id]]);
    expect(FINAL.has(job!.state)).toBe(false);
    expect((await events.finished(id)).state).toBe('SUCCESS');
  });

  it('ends a failing job FAILED with the error and exc_info', async () => {
    const error = await jobError(admin.callJob('test.job_fails', ['it broke']));
    expect(error.job).toMatchObject({
      state: 'FAILED',
      error: '[EINVAL] it broke',
      exc_info: { type: 'CallError', errno: 22 },
    });
  });

  it('ends invalid arguments FAILED with exc_info VALIDATION, without a retry', async () => {
    const error = await jobError(admin.callJob('test.job_validates', [{ count: 0 }]));
    expect(error.job.state).toBe('FAILED');
    expect(error.job.exc_info).toMatchObject({ type: 'VALIDATION', extra: [['test_job.count', expect.any(String), 22]] });
    if (queue) {
      // The record ends first (in the database); BullMQ then fails its job, never to run again.
      await expect.poll(async () => (await queue!.getJob(bullmqJobId(error.job.id)))?.getState(), { timeout: 5000 }).toBe('failed');
      expect((await queue.getJob(bullmqJobId(error.job.id)))?.attemptsMade).toBe(1);
    }
  });

  it('aborts a running job', async () => {
    const id = await admin.call<number>('test.job_slow', 30_000);
    await events.until(id, (job) => job.state === 'RUNNING');
    await admin.call('core.job_abort', id);
    const job = await events.finished(id);
    expect(job.state).toBe('ABORTED');
    expect(job.result).toBeNull();
  });

  it('aborts a job waiting for its lock without ever running it', async () => {
    const holder = await admin.call<number>('test.job_slow', 30_000, 'abort-lock');
    await events.until(holder, (job) => job.state === 'RUNNING');
    const waiting = await admin.call<number>('test.job_slow', 10, 'abort-lock');
    await sleep(300);
    await admin.call('core.job_abort', waiting);
    expect((await events.finished(waiting)).state).toBe('ABORTED');
    await admin.call('core.job_abort', holder);
    expect((await events.finished(holder)).state).toBe('ABORTED');
    expect(events.of(waiting).map((job) => job.state)).not.toContain('RUNNING');
  });

  it('runs jobs with the same lock one at a time and jobs with different locks together', async () => {
    const serial = await Promise.all([1, 2, 3].map(() => admin.call<number>('test.job_slow', 300, 'serial')));
    const parallel = await Promise.all(['a', 'b'].map((lock) => admin.call<number>('test.job_slow', 1500, `parallel-${lock}`)));
    const resultOf = async (id: number) => (await events.finished(id)).result as { started: number; finished: number };
    const runs = (await Promise.all(serial.map(resultOf))).sort((a, b) => a.started - b.started);
    for (let i = 1; i < runs.length; i++) expect(runs[i]!.started).toBeGreaterThanOrEqual(runs[i - 1]!.finished);
    const [a, b] = await Promise.all(parallel.map(resultOf));
    expect(a!.started).toBeLessThan(b!.finished);
    expect(b!.started).toBeLessThan(a!.finished);
  });

  it('makes core.job_wait end with the target job result or error', async () => {
    const succeeding = await admin.call<number>('test.job_slow', 200);
    expect(await admin.callJob('core.job_wait', [succeeding])).toMatchObject({ started: expect.any(Number) });
    const failing = await admin.call<number>('test.job_fails', 'waited failure');
    const error = await jobError(admin.callJob('core.job_wait', [failing]));
    expect(error.job.error).toBe('[EINVAL] waited failure');
  });

  it('filters core.get_jobs', async () => {
    const id = await admin.call<number>('test.job_fails', 'for filtering');
    await events.finished(id);
    const byId = await admin.call<Job[]>('core.get_jobs', [['id', '=', id]]);
    expect(byId.map((job) => job.id)).toEqual([id]);
    const failed = await admin.call<Job[]>('core.get_jobs', [['method', '=', 'test.job_fails'], ['state', '=', 'FAILED']]);
    expect(failed.map((job) => job.id)).toContain(id);
    expect(failed.every((job) => job.method === 'test.job_fails' && job.state === 'FAILED')).toBe(true);
  });

  it('shows secret arguments as "********" and keeps them out of Redis', async () => {
    const id = await admin.call<number>('test.job_with_secret', { name: 'n', password: SECRET });
    const job = await events.finished(id);
    expect(job).toMatchObject({ state: 'SUCCESS', result: SECRET.length });
    for (const event of events.of(id)) expect(event.arguments).toEqual([{ name: 'n', password: '********' }]);
    const [listed] = await admin.call<Job[]>('core.get_jobs', [['id', '=', id]]);
    expect(listed!.arguments).toEqual([{ name: 'n', password: '********' }]);
    if (redisClient) {
      const dump = await dumpKeys(redisClient, prefix);
      expect(dump).toContain('test.job_with_secret');
      expect(dump).not.toContain(SECRET);
      // Workers log each job's start and end, never its arguments.
      const logs = workers.map((worker) => worker.output.join('')).join('');
      expect(logs).toMatch(new RegExp(`"job":${id},"method":"test.job_with_secret","msg":"job started"`));
      expect(logs).toMatch(new RegExp(`"job":${id},"method":"test.job_with_secret","state":"SUCCESS","ms":\\d+,"msg":"job ended"`));
      expect(logs).not.toContain(SECRET);
    }
  });

  it.runIf(backend === 'bullmq')('shows and aborts jobs queued through another daemon', async () => {
    const other = await startTestServer({
      dataDir: server.dataDir,
      env: { REDIS_URL, QUEUE_PREFIX: prefix, ADMIN_PASSWORD: server.admin.password },
    });
    try {
      const client = await CertmidClient.connect(other.url, { WebSocket: WebSocket as unknown as WebSocketConstructor });
      clients.push(client);
      await client.login(other.admin.username, other.admin.password);
      const seen = await JobEvents.attach(client);
      const done = await admin.call<number>('test.job_with_progress', 2, 20);
      expect(await seen.finished(done)).toMatchObject({ state: 'SUCCESS', result: { steps: 2 }, message_ids: [] });
      expect(seen.of(done)[0]).toMatchObject({ state: 'WAITING' });
      const [listed] = await client.call<Job[]>('core.get_jobs', [['id', '=', done]]);
      expect(listed).toMatchObject({ method: 'test.job_with_progress', state: 'SUCCESS' });
      const running = await admin.call<number>('test.job_slow', 30_000);
      await seen.until(running, (job) => job.state === 'RUNNING');
      await client.call('core.job_abort', running);
      expect((await events.finished(running)).state).toBe('ABORTED');
    } finally {
      await other.close();
    }
  });

  it('lists the same jobs, results included, on another daemon sharing the database', async () => {
    const done = await admin.call<number>('test.job_with_progress', 2, 5);
    expect((await events.finished(done)).state).toBe('SUCCESS');
    const failed = await admin.call<number>('test.job_fails', 'seen everywhere');
    expect((await events.finished(failed)).state).toBe('FAILED');
    const other = await startTestServer({ dataDir: server.dataDir, env: { ...serverEnv(), ADMIN_PASSWORD: server.admin.password } });
    try {
      const client = await CertmidClient.connect(other.url, { WebSocket: WebSocket as unknown as WebSocketConstructor });
      clients.push(client);
      await client.login(other.admin.username, other.admin.password);
      const listed = await client.call<Job[]>('core.get_jobs', [['id', 'in', [done, failed]]], { order_by: ['id'] });
      expect(listed).toMatchObject([
        { id: done, method: 'test.job_with_progress', state: 'SUCCESS', result: { steps: 2 }, progress: { percent: 100 } },
        { id: failed, method: 'test.job_fails', state: 'FAILED', error: '[EINVAL] seen everywhere', exc_info: { type: 'CallError', errno: 22 } },
      ]);
      expect(await client.call('core.job_wait', done)).toEqual(expect.any(Number));
    } finally {
      await other.close();
    }
  });

  it('commits a job\'s effect together with its SUCCESS', async () => {
    const key = `effect-${backend}`;
    expect(await admin.callJob('test.job_commits', [0, key])).toBe(key);
    const row = await server.daemon.app.db.getRepository(SettingEntity).findOneBy({ key: `test:${key}` });
    expect(row?.value).toBe('written');
  });

  it.runIf(backend === 'bullmq')('rolls back the effect of a job that ended while its worker was frozen, so no effect exists without SUCCESS', async () => {
    const key = 'frozen';
    const id = await admin.call<number>('test.job_commits', 4000, key);
    await events.until(id, (job) => job.state === 'RUNNING');
    const processedBy = (await queue!.getJob(bullmqJobId(id)))!.processedBy!;
    const frozen = workers.find((worker) => worker.child.pid === Number(processedBy.split(':').at(-1)))!;
    frozen.child.kill('SIGSTOP');
    let job: Job;
    try {
      // Its BullMQ lock lapses; the other worker's stall check ends the job.
      job = await events.finished(id, 20_000);
    } finally {
      frozen.child.kill('SIGCONT');
    }
    expect(job).toMatchObject({ state: 'FAILED', error: '[EINTR] Job interrupted: the process running it stopped' });
    // Thawed, the handler reaches its transaction, which finds the job ended and rolls back.
    await expect.poll(() => frozen.output.join('').includes(`"job":${id},"method":"test.job_commits","state":"FAILED"`), { timeout: 15_000 }).toBe(true);
    expect(await server.daemon.app.db.getRepository(SettingEntity).findOneBy({ key: `test:${key}` })).toBeNull();
    const [listed] = await admin.call<Job[]>('core.get_jobs', [['id', '=', id]]);
    expect(listed).toMatchObject({ state: 'FAILED', error: '[EINTR] Job interrupted: the process running it stopped' });
  });

  it.runIf(backend === 'bullmq')('says a job waits for a worker while none runs, and lists the workers with their heartbeat', async () => {
    const lonelyPrefix = uniquePrefix();
    const lines: string[] = [];
    const lonely = await startTestServer({ env: { REDIS_URL, QUEUE_PREFIX: lonelyPrefix, JOB_HEARTBEAT_SECONDS: '0.5' }, logLines: lines });
    let worker: WorkerProcess | undefined;
    try {
      const client = await CertmidClient.connect(lonely.url, { WebSocket: WebSocket as unknown as WebSocketConstructor });
      clients.push(client);
      await client.login(lonely.admin.username, lonely.admin.password);
      const id = await client.call<number>('test.job_with_progress', 1, 0);
      const [waiting] = await client.call<Job[]>('core.get_jobs', [['id', '=', id]]);
      expect(waiting).toMatchObject({ state: 'WAITING', progress: { description: 'Waiting for a worker: none is running' } });
      const warning = lines.map((line) => JSON.parse(line) as { level: number; msg: string; jobs?: number[] }).find((entry) => entry.msg.includes('no worker is running'));
      expect(warning).toMatchObject({ level: 40, jobs: [id] });
      expect(await client.call<Array<{ kind: string }>>('core.job_runners')).toEqual([expect.objectContaining({ kind: 'daemon', alive: true })]);

      worker = await spawnWorker({ REDIS_URL, QUEUE_PREFIX: lonelyPrefix, DATA_DIR: lonely.dataDir, JOB_HEARTBEAT_SECONDS: '0.5' });
      expect(await client.callJob('core.job_wait', [id])).toEqual({ steps: 1 });
      const runners = await client.call<Array<{ kind: string; pid: number; alive: boolean; last_heartbeat: Date; jobs_running: number }>>('core.job_runners');
      const listed = runners.find((runner) => runner.kind === 'worker');
      expect(listed).toMatchObject({ pid: worker.child.pid, alive: true, host: expect.any(String), started: expect.any(Date) });
      const slow = await client.call<number>('test.job_slow', 30_000);
      await expect
        .poll(async () => (await client.call<typeof runners>('core.job_runners')).find((runner) => runner.kind === 'worker')!.jobs_running, { timeout: 5000 })
        .toBeGreaterThanOrEqual(1);
      await client.call('core.job_abort', slow);
      // It beats every half second.
      await expect
        .poll(async () => (await client.call<typeof runners>('core.job_runners')).find((runner) => runner.kind === 'worker')!.last_heartbeat.getTime(), { timeout: 5000 })
        .toBeGreaterThan(listed!.last_heartbeat.getTime());
    } finally {
      await worker?.stop();
      await lonely.close();
      await dropQueuePrefix(lonelyPrefix);
    }
  });

  it.runIf(backend === 'bullmq')('ends the job of a worker killed mid-job FAILED within seconds', async () => {
    const id = await admin.call<number>('test.job_slow', 60_000);
    await events.until(id, (job) => job.state === 'RUNNING');
    const processedBy = (await queue!.getJob(bullmqJobId(id)))!.processedBy!;
    const victim = workers.find((worker) => worker.child.pid === Number(processedBy.split(':').at(-1)))!;
    const killedAt = Date.now();
    victim.child.kill('SIGKILL');
    const job = await events.finished(id, 20_000);
    expect(job.state).toBe('FAILED');
    expect(job.error).toBe('[EINTR] Job interrupted: the process running it stopped');
    expect(Date.now() - killedAt).toBeLessThan(15_000);
  });

  // Last: it replaces the daemon the other tests use.
  it('keeps every job with its outcome across a restart, and never gives an id twice, whatever Redis lost', async () => {
    const succeeded = await admin.call<number>('test.job_with_progress', 1, 0);
    const failed = await admin.call<number>('test.job_fails', 'before the restart');
    await Promise.all([events.finished(succeeded), events.finished(failed)]);
    const before = await admin.call<Job[]>('core.get_jobs', [], { order_by: ['id'] });
    await server.daemon.stop(1000);
    // Redis restarted without persistence has no id counter any more.
    if (redisClient) await redisClient.del(`${prefix}:job-ids`);
    server = await startTestServer({ dataDir: server.dataDir, env: { ...serverEnv(), ADMIN_PASSWORD: server.admin.password } });
    admin = await connect();
    await admin.login(server.admin.username, server.admin.password);
    const after = await admin.call<Job[]>('core.get_jobs', [['id', 'in', before.map((job) => job.id)]], { order_by: ['id'] });
    expect(after.map(({ id, state, result, error }) => ({ id, state, result, error }))).toEqual(
      before.map(({ id, state, result, error }) => ({ id, state, result, error })),
    );
    expect(after.find((job) => job.id === succeeded)).toMatchObject({ state: 'SUCCESS', result: { steps: 1 } });
    expect(after.find((job) => job.id === failed)).toMatchObject({ state: 'FAILED', error: '[EINVAL] before the restart' });
    const next = await admin.call<number>('test.job_with_progress', 1, 0);
    expect(next).toBeGreaterThan(Math.max(...before.map((job) => job.id)));
    expect(await admin.callJob('core.job_wait', [next])).toEqual({ steps: 1 });
  });
});
