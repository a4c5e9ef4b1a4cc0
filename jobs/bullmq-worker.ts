import os from 'node:os';
import { DelayedError, UnrecoverableError, Worker, type Job, type Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { parse } from '../src/client/ejson.js';
import { isExpectedError } from '../src/errors/to-rpc-error.js';
import {
  BULLMQ_STALLED_REASON,
  QUEUE_NAME,
  addJob,
  bullmqJobId,
  certmidJobId,
  isScheduleTrigger,
  openQueue,
  redisNames,
  redisOptions,
  type BullmqJobData,
  type BullmqJobResult,
  type RedisNames,
  type SealedCall,
} from './bullmq-backend.js';
import type { JobEnvironment } from './environment.js';
import { abortedPatch, failurePatch, successPatch } from './job-outcome.js';
import { JobRun, type RunnerContext } from './job-run.js';
import { JobStore } from './job-store.js';
import { RedisJobFeed } from './redis-job-feed.js';
import { Runners } from './runners.js';

/** Settings of a worker process; tests shorten the times so a dead worker is noticed in seconds. */
export interface WorkerOptions {
  /** Jobs run at once by this process. @defaultValue 4 */
  concurrency?: number;
  /** BullMQ's lock on a running job; a worker that stops renewing it is dead. @defaultValue 30000 */
  lockDurationMs?: number;
  /** How often this worker looks for jobs whose worker died. @defaultValue 30000 */
  stalledIntervalMs?: number;
  /** Expiry of a job's named lock (`cert_create`, …), renewed while the job runs. @defaultValue 30000 */
  jobLockTtlMs?: number;
  /** How long a job waits before trying again for a named lock another job holds. @defaultValue 1000 */
  lockRetryDelayMs?: number;
  /** Shown as the job's `processedBy` in Redis and by `core.job_runners`. @defaultValue `<hostname>:<pid>` */
  name?: string;
}

/** A running worker process's jobs side. */
export interface RunningWorker {
  /** Stops taking jobs; running ones get `graceMs` to finish, then are aborted; then everything closes. */
  close(graceMs?: number): Promise<void>;
}

/** The named-lock scripts: only the job that holds a lock renews or releases it. */
const RENEW_LOCK = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0`;
const RELEASE_LOCK = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0`;

interface WorkerContext {
  environment: JobEnvironment;
  runner: RunnerContext;
  names: RedisNames;
  commands: Redis;
  /** Where scheduled runs are queued as jobs (see {@link queueScheduledJob}). */
  queue: Queue<BullmqJobData>;
  settings: Required<WorkerOptions>;
}

/**
 * Starts processing the BullMQ queue with the job methods `environment` gives (the composer built
 * them on the same database, secrets and event bus as the daemon's); serves no clients. Each job's
 * record is written here, in the database, as it runs; the feed carries its news to the daemons.
 *
 * Stall policy: maxStalledCount is 0, so a job whose worker died ends FAILED (interrupted) instead
 * of running again; a job may have had side effects (a certificate issued, a CA revoked) that a
 * second run would repeat. The heartbeat sweep ends it too, should no worker be left to notice.
 */
export async function startWorker(environment: JobEnvironment, options: WorkerOptions = {}): Promise<RunningWorker> {
  const { logger, redis, db, secrets, heartbeatMs } = environment;
  if (!redis) throw new Error('A worker needs REDIS_URL');
  const settings: Required<WorkerOptions> = {
    concurrency: 4,
    lockDurationMs: 30_000,
    stalledIntervalMs: 30_000,
    jobLockTtlMs: 30_000,
    lockRetryDelayMs: 1000,
    name: `${os.hostname()}:${process.pid}`,
    ...options,
  };
  const store = new JobStore(db, secrets, logger);
  const feed = await RedisJobFeed.connect(redis.url, redis.prefix, secrets, logger);
  const runners = new Runners(db, store, feed, logger, { kind: 'worker', name: settings.name, heartbeatMs });
  await runners.start();
  const commands = new Redis(redis.url, { lazyConnect: true });
  commands.on('error', () => undefined); // reconnects by itself; a lock call that fails is logged where it fails
  await commands.connect();
  const queue = openQueue(redis.url, redis.prefix);
  const runner: RunnerContext = { store, feed, runnerId: runners.id, logger };
  const context: WorkerContext = { environment, runner, names: redisNames(redis.prefix), commands, queue, settings };
  const worker = new Worker<BullmqJobData, BullmqJobResult>(
    QUEUE_NAME,
    // Three parameters: BullMQ passes the abort signal only to processors that declare it.
    (job, token, signal) => processJob(context, job, token, signal),
    {
      connection: { ...redisOptions(redis.url), maxRetriesPerRequest: null },
      prefix: redis.prefix,
      name: settings.name,
      concurrency: settings.concurrency,
      lockDuration: settings.lockDurationMs,
      stalledInterval: settings.stalledIntervalMs,
      maxStalledCount: 0,
      autorun: false,
    },
  );
  worker.on('error', (error) => logger.error({ err: error }, 'worker error'));
  worker.on('failed', (job, error) => void endStalled(runner, job, error));
  feed.onAbortRequest((id) => worker.cancelJob(bullmqJobId(id), 'aborted'));
  const running = worker.run().catch((error: unknown) => logger.error({ err: error }, 'worker stopped unexpectedly'));
  await worker.waitUntilReady();
  logger.info({ worker: settings.name, concurrency: settings.concurrency, queue: `${redis.prefix}:${QUEUE_NAME}` }, 'certmid worker is running');

  let closing: Promise<void> | undefined;
  return {
    close(graceMs = 10_000) {
      closing ??= (async () => {
        const timer = setTimeout(() => worker.cancelAllJobs('shutdown'), graceMs);
        await worker.close();
        await running;
        clearTimeout(timer);
        await runners.close();
        await Promise.allSettled([commands.quit(), queue.close(), feed.close()]);
      })();
      return closing;
    },
  };
}

/** BullMQ failed a job whose worker died (the stall check, here or in another worker): it ends interrupted. */
async function endStalled(runner: RunnerContext, job: Job | undefined, error: Error): Promise<void> {
  const id = job?.id ? certmidJobId(job.id) : null;
  if (id === null || error.message !== BULLMQ_STALLED_REASON) return;
  try {
    const ended = await runner.store.interrupt(id);
    if (!ended) return;
    runner.feed.publish({ msg: 'changed', record: ended });
    runner.logger.warn({ job: id, method: ended.method }, 'job interrupted: the worker running it stopped');
  } catch (failure) {
    runner.logger.error({ err: failure, job: id }, 'interrupted job could not be recorded');
  }
}

/** Runs one job: waits its turn for the job's named lock, then runs the handler. */
async function processJob(
  context: WorkerContext,
  job: Job<BullmqJobData, BullmqJobResult>,
  token: string | undefined,
  signal: AbortSignal | undefined,
): Promise<BullmqJobResult> {
  const { commands, names, settings } = context;
  // A job scheduler's iteration (the daily certificate.renew_certs) only queues the job it stands for.
  if (isScheduleTrigger(job.data)) return queueScheduledJob(context, job.data.schedule);
  const jobId = job.id!;
  const lockKey = job.data.lock === null ? null : names.lock(job.data.lock);
  if (lockKey && (await commands.set(lockKey, jobId, 'PX', settings.jobLockTtlMs, 'NX')) !== 'OK') {
    await job.moveToDelayed(Date.now() + settings.lockRetryDelayMs, token);
    throw new DelayedError();
  }
  const renewal = lockKey ? setInterval(() => void renewLock(context, lockKey, jobId), settings.jobLockTtlMs / 3) : undefined;
  try {
    return await runJob(context, job, signal ?? new AbortController().signal);
  } finally {
    clearInterval(renewal);
    if (lockKey) await commands.eval(RELEASE_LOCK, 1, lockKey, jobId).catch(() => undefined);
  }
}

/**
 * Queues a scheduled run of `method` as an ordinary certmid job (no caller, no arguments), as the
 * daemons' JobManager would: a record in the database, its news on the feed, then the queue.
 */
async function queueScheduledJob({ environment, runner, queue }: WorkerContext, method: string): Promise<BullmqJobResult> {
  const options = environment.methods.options(method, []);
  if (!options) throw new UnrecoverableError(`Scheduled ${method} is not a job method`);
  const record = await runner.store.insert({ method, redactedArguments: [], abortable: options.abortable, caller: null, backend: 'bullmq', runner: null });
  runner.feed.publish({ msg: 'added', record });
  try {
    await addJob(queue, environment.secrets, { id: record.id, method, args: [], caller: null, lock: options.lock });
  } catch (error) {
    const ended = await runner.store.finish(record.id, failurePatch(error));
    if (ended) runner.feed.publish({ msg: 'changed', record: ended });
    throw error;
  }
  return { state: 'QUEUED' };
}

/** Extends a named lock the job holds; losing it means another job with that lock may start meanwhile. */
async function renewLock({ environment: { logger }, commands, settings }: WorkerContext, lockKey: string, jobId: string): Promise<void> {
  try {
    if ((await commands.eval(RENEW_LOCK, 1, lockKey, jobId, settings.jobLockTtlMs)) !== 1) {
      logger.warn({ job: jobId, lock: lockKey }, 'job lost its lock');
    }
  } catch (error) {
    logger.warn({ err: error, job: jobId, lock: lockKey }, 'job lock renewal failed');
  }
}

/**
 * Runs the handler of a job that is still WAITING in the database (one aborted, lost or failed
 * meanwhile is skipped), recording its start, progress and end there. An end other than success
 * also fails the BullMQ job, never retried, so Redis's own view agrees.
 */
async function runJob(context: WorkerContext, job: Job<BullmqJobData, BullmqJobResult>, signal: AbortSignal): Promise<BullmqJobResult> {
  const { methods, secrets, logger } = context.environment;
  const id = certmidJobId(job.id!);
  if (id === null) throw new UnrecoverableError('Not a certmid job');
  const run = await JobRun.begin(context.runner, id);
  if (!run) {
    logger.info({ job: id, method: job.data.method }, 'job skipped: it is no longer waiting');
    return { state: 'SKIPPED' };
  }
  const started = Date.now();
  logger.info({ job: id, method: run.method }, 'job started');
  let outcome;
  try {
    // A master key other than the daemon's fails here, as an unexpected (logged) error.
    const { args, caller } = parse(secrets.decrypt(job.data.sealed)) as SealedCall;
    const result = await methods.run(job.data.method, args, caller, run.reporter(signal));
    outcome = await run.end(signal.aborted ? abortedPatch() : successPatch(result));
  } catch (error) {
    if (!signal.aborted && !isExpectedError(error)) logger.error({ err: error, job: id, method: run.method }, 'job failed unexpectedly');
    outcome = await run.end(signal.aborted ? abortedPatch() : failurePatch(error));
  }
  logger.info({ job: id, method: run.method, state: outcome.state, ms: Date.now() - started, error: outcome.error ?? undefined }, 'job ended');
  if (outcome.state !== 'SUCCESS') throw new UnrecoverableError(outcome.error ?? outcome.state);
  return { state: outcome.state };
}
