import os from 'node:os';
import { DelayedError, Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { parse, stringify } from '../src/client/ejson.js';
import { isExpectedError } from '../src/errors/to-rpc-error.js';
import {
  JOB_OPTIONS,
  QUEUE_NAME,
  addJob,
  certmidJobId,
  encodeOutcome,
  isScheduleTrigger,
  redisNames,
  redisOptions,
  type BullmqJobData,
  type BullmqJobResult,
  type RedisNames,
  type SealedCall,
} from './bullmq-backend.js';
import type { JobEnvironment } from './job-backend.js';
import { abortedPatch, failurePatch } from './job-outcome.js';
import { newJobRecord, type JobPatch, type JobProgress } from './job-record.js';
import { progressReporter } from './progress-reporter.js';

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
  /** Shown as the job's `processedBy` in Redis. @defaultValue `<hostname>:<pid>` */
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

/** What a worker process is given: the job environment and where the queue is. */
export interface WorkerEnvironment extends JobEnvironment {
  redisUrl: string;
  queuePrefix: string;
}

interface WorkerContext {
  environment: WorkerEnvironment;
  names: RedisNames;
  commands: Redis;
  /** Where scheduled runs are queued as jobs (see {@link queueScheduledJob}). */
  queue: Queue<BullmqJobData, BullmqJobResult>;
  settings: Required<WorkerOptions>;
}

/**
 * Starts processing the BullMQ queue with the job methods `environment` gives (the composer built
 * them on the same database, secrets and event bus as the daemon's); serves no clients.
 *
 * Stall policy: maxStalledCount is 0, so a job whose worker died ends FAILED ("Job stalled") instead
 * of running again; a job may have had side effects (a certificate issued, a CA revoked) that a
 * second run would repeat.
 */
export async function startWorker(environment: WorkerEnvironment, options: WorkerOptions = {}): Promise<RunningWorker> {
  const { logger, redisUrl, queuePrefix } = environment;
  const settings: Required<WorkerOptions> = {
    concurrency: 4,
    lockDurationMs: 30_000,
    stalledIntervalMs: 30_000,
    jobLockTtlMs: 30_000,
    lockRetryDelayMs: 1000,
    name: `${os.hostname()}:${process.pid}`,
    ...options,
  };
  const names = redisNames(queuePrefix);
  const commands = new Redis(redisUrl, { lazyConnect: true });
  const subscriber = new Redis(redisUrl, { lazyConnect: true });
  await Promise.all([commands.connect(), subscriber.connect()]);
  const queue = new Queue<BullmqJobData, BullmqJobResult>(QUEUE_NAME, { connection: redisOptions(redisUrl), prefix: queuePrefix, defaultJobOptions: JOB_OPTIONS });
  const context: WorkerContext = { environment, names, commands, queue, settings };
  const worker = new Worker<BullmqJobData, BullmqJobResult>(
    QUEUE_NAME,
    // Three parameters: BullMQ passes the abort signal only to processors that declare it.
    (job, token, signal) => processJob(context, job, token, signal),
    {
      connection: { ...redisOptions(redisUrl), maxRetriesPerRequest: null },
      prefix: queuePrefix,
      name: settings.name,
      concurrency: settings.concurrency,
      lockDuration: settings.lockDurationMs,
      stalledInterval: settings.stalledIntervalMs,
      maxStalledCount: 0,
      autorun: false,
    },
  );
  worker.on('error', (error) => logger.error({ err: error }, 'worker error'));
  subscriber.on('message', (_channel: string, jobId: string) => worker.cancelJob(jobId, 'aborted'));
  await subscriber.subscribe(names.abortChannel);
  const running = worker.run().catch((error: unknown) => logger.error({ err: error }, 'worker stopped unexpectedly'));
  await worker.waitUntilReady();
  logger.info({ worker: settings.name, concurrency: settings.concurrency, queue: `${queuePrefix}:${QUEUE_NAME}` }, 'certmid worker is running');

  let closing: Promise<void> | undefined;
  return {
    close(graceMs = 10_000) {
      closing ??= (async () => {
        const timer = setTimeout(() => worker.cancelAllJobs('shutdown'), graceMs);
        await worker.close();
        await running;
        clearTimeout(timer);
        await Promise.allSettled([subscriber.quit(), commands.quit(), queue.close()]);
      })();
      return closing;
    },
  };
}

/** The failure BullMQ records for a job that ended otherwise than with a result: never retried. */
function outcomeError(patch: JobPatch): UnrecoverableError {
  return new UnrecoverableError(encodeOutcome(patch));
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
  const abortSignal = signal ?? new AbortController().signal;
  const jobId = job.id!;
  if (abortSignal.aborted || (await commands.exists(names.abortMark(jobId)))) {
    await commands.del(names.abortMark(jobId));
    throw outcomeError(abortedPatch());
  }
  const lockKey = job.data.lock === null ? null : names.lock(job.data.lock);
  if (lockKey && (await commands.set(lockKey, jobId, 'PX', settings.jobLockTtlMs, 'NX')) !== 'OK') {
    await job.moveToDelayed(Date.now() + settings.lockRetryDelayMs, token);
    throw new DelayedError();
  }
  const renewal = lockKey ? setInterval(() => void renewLock(context, lockKey, jobId), settings.jobLockTtlMs / 3) : undefined;
  try {
    return await runHandler(context, job, abortSignal);
  } finally {
    clearInterval(renewal);
    if (lockKey) await commands.eval(RELEASE_LOCK, 1, lockKey, jobId).catch(() => undefined);
    await commands.del(names.abortMark(jobId)).catch(() => undefined);
  }
}

/**
 * Queues a scheduled run of `method` as an ordinary certmid job (no caller, no arguments), as the
 * daemons' JobManager would: a new id, a record every daemon adopts from the queue's events.
 */
async function queueScheduledJob({ environment, commands, names, queue }: WorkerContext, method: string): Promise<BullmqJobResult> {
  const options = environment.methods.options(method, []);
  if (!options) throw new UnrecoverableError(`Scheduled ${method} is not a job method`);
  const id = await commands.incr(names.ids);
  const record = newJobRecord(id, method, [], null, options.abortable);
  await addJob(queue, environment.secrets, { id, method, args: [], caller: null, lock: options.lock }, record);
  return { sealed: environment.secrets.encrypt(stringify(id)) };
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

/** Runs the handler with progress relayed to BullMQ; every end other than success becomes an outcome error. */
async function runHandler(context: WorkerContext, job: Job<BullmqJobData, BullmqJobResult>, signal: AbortSignal): Promise<BullmqJobResult> {
  const { methods, secrets, logger } = context.environment;
  const id = certmidJobId(job.id!)!;
  const relay = progressRelay(job);
  let result: unknown;
  try {
    // A master key other than the daemon's fails here, as an unexpected (logged) error.
    const { args, caller } = parse(secrets.decrypt(job.data.sealed)) as SealedCall;
    // The first progress tells the daemons the job is RUNNING: it now holds its lock.
    relay.send({ percent: 0, description: '', extra: null });
    result = await methods.run(job.data.method, args, caller, progressReporter(id, signal, relay.send));
  } catch (error) {
    await relay.flush();
    if (signal.aborted) throw outcomeError(abortedPatch());
    if (isExpectedError(error)) logger.info({ job: id, method: job.data.method, error: error.reason }, 'job failed');
    else logger.error({ err: error, job: id, method: job.data.method }, 'job failed unexpectedly');
    throw outcomeError(failurePatch(error));
  }
  await relay.flush();
  if (signal.aborted) throw outcomeError(abortedPatch());
  return { sealed: secrets.encrypt(stringify(result ?? null)) };
}

/** Sends progress to BullMQ one update at a time, so updates arrive in order and before the job's end. */
function progressRelay(job: Job): { send(progress: JobProgress): void; flush(): Promise<void> } {
  let tail = Promise.resolve();
  return {
    send(progress) {
      tail = tail.then(() => job.updateProgress({ ...progress })).catch(() => undefined);
    },
    flush: () => tail,
  };
}
