import { Queue, type JobsOptions } from 'bullmq';
import type { RedisOptions } from 'ioredis';
import type { Caller } from '../src/api/caller.js';
import type { JobSchedule } from '../src/api/jobs.js';
import { stringify } from '../src/client/ejson.js';
import { CallError } from '../src/errors/call-error.js';
import type { SecretBox } from '../src/secrets.js';
import { QUEUE_TIMEOUT_MS, type JobRequest } from './environment.js';

/** The BullMQ queue every daemon and worker shares; its Redis keys are `<prefix>:jobs:…`. */
export const QUEUE_NAME = 'jobs';

/** BullMQ's failedReason for a job that stalled more often than maxStalledCount allows. */
export const BULLMQ_STALLED_REASON = 'job stalled more than allowable limit';


/** Finished jobs stay in Redis for inspection, within bounds; their records are in the database. */
export const JOB_OPTIONS: JobsOptions = {
  // Never retried: a job may have had side effects, and a ValidationErrors would fail again anyway.
  attempts: 1,
  removeOnComplete: { age: 24 * 3600, count: 1000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 1000 },
  // Stacks name files and lines only, but keep Redis free of anything a handler's error might carry.
  stackTraceLimit: 0,
};

/** Redis key names of certmid's own additions to the queue, all under the prefix. */
export interface RedisNames {
  /** The key a job holds while it runs with lock `name`. */
  lock(name: string): string;
}

/** The BullMQ id of certmid job `id`: BullMQ refuses custom ids that are integers. */
export function bullmqJobId(id: number): string {
  return `job-${id}`;
}

/** The certmid job id of a BullMQ job id, or null for a job certmid did not queue. */
export function certmidJobId(jobId: string): number | null {
  const match = /^job-(\d+)$/.exec(jobId);
  return match ? Number(match[1]) : null;
}

/** The names under `prefix` that the daemons and workers of one deployment share. */
export function redisNames(prefix: string): RedisNames {
  return { lock: (name) => `${prefix}:job-locks:${name}` };
}

/** A job's data in Redis. Nothing secret in clear: the arguments and the caller are sealed. */
export interface BullmqJobData {
  method: string;
  lock: string | null;
  /** {@link SealedCall} as ejson, encrypted with the master key. */
  sealed: string;
}

/** What the worker needs to run the call, kept sealed in Redis. */
export interface SealedCall {
  args: unknown[];
  caller: Caller | null;
}

/**
 * What a job scheduler's iterations carry (periodic jobs such as `certificate.renew_certs`), and
 * the one-off runs queued at start and for retries: the method to run. A worker turns each into an
 * ordinary certmid job, so it gets an id and every daemon lists it; BullMQ makes one iteration per
 * interval however many daemons upsert it, and keeps one of each one-off run however many queue it.
 */
export interface ScheduleTrigger {
  schedule: string;
}

/** Whether a BullMQ job's data is a scheduler's trigger rather than a certmid job. */
export function isScheduleTrigger(data: unknown): data is ScheduleTrigger {
  return typeof data === 'object' && data !== null && typeof (data as Partial<ScheduleTrigger>).schedule === 'string';
}

/** A job's return value in Redis: its outcome is in the database, so only the state. */
export interface BullmqJobResult {
  state: string;
}

/** ioredis options from a redis:// or rediss:// URL, for BullMQ, which owns and closes the connections it makes. */
export function redisOptions(url: string): RedisOptions {
  const parsed = new URL(url);
  return {
    host: parsed.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1',
    port: parsed.port ? Number(parsed.port) : 6379,
    username: parsed.username ? decodeURIComponent(parsed.username) : undefined,
    password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
    db: parsed.pathname.length > 1 ? Number(parsed.pathname.slice(1)) : 0,
    tls: parsed.protocol === 'rediss:' ? {} : undefined,
  };
}

/** The error of a job call while Redis cannot take the job. */
export class QueueUnavailableError extends CallError {
  constructor(cause: unknown) {
    super(`Job queue unavailable: ${describeRedisError(cause)}; try again when Redis is back`, 'EAGAIN');
    this.name = 'QueueUnavailableError';
  }
}

function describeRedisError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  // ioredis's words for "not connected and not queueing".
  if (/Stream isn't writeable|enableOfflineQueue|Connection is closed/i.test(message)) return 'Redis is not connected';
  return message.slice(0, 200);
}

/** `promise`, or a QueueUnavailableError once `ms` have passed. */
async function withinQueueTimeout<T>(promise: Promise<T>, ms = QUEUE_TIMEOUT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new QueueUnavailableError(`no answer from Redis within ${ms / 1000} s`)), ms)));
  try {
    return await Promise.race([promise, expired]);
  } catch (error) {
    throw error instanceof QueueUnavailableError ? error : new QueueUnavailableError(error);
  } finally {
    clearTimeout(timer);
  }
}

/** Queues certmid job `request`, its arguments and caller sealed with `secrets`; fails fast while Redis is away. */
export async function addJob(queue: Queue<BullmqJobData>, secrets: SecretBox, request: JobRequest): Promise<void> {
  const sealed: SealedCall = { args: request.args, caller: request.caller };
  const data: BullmqJobData = { method: request.method, lock: request.lock, sealed: secrets.encrypt(stringify(sealed)) };
  await withinQueueTimeout(queue.add(request.method, data, { jobId: bullmqJobId(request.id) }));
}

/** A queue client that fails at once while Redis is unreachable (no offline queue), and reconnects by itself. */
export function openQueue(redisUrl: string, prefix: string): Queue<BullmqJobData> {
  const queue = new Queue<BullmqJobData>(QUEUE_NAME, {
    connection: { ...redisOptions(redisUrl), enableOfflineQueue: false, maxRetriesPerRequest: 1 },
    prefix,
    defaultJobOptions: JOB_OPTIONS,
  });
  queue.on('error', () => undefined); // reported where a call fails
  return queue;
}

/** See {@link BullmqQueue.holding}. */
export type QueueHolding = { held: 'no' | 'unknown' } | { held: 'yes'; worker: string | null };

/**
 * The distributed backend, daemon side: jobs go to a BullMQ queue and `npm run worker` processes
 * run them, writing their records to the database and their news to the feed.
 */
export class BullmqQueue implements JobSchedule {
  /** The schedules this daemon keeps, to put back should Redis lose them. */
  private readonly schedules = new Map<string, number>();

  private constructor(
    private readonly queue: Queue<BullmqJobData>,
    private readonly secrets: SecretBox,
  ) {}

  static async open(redisUrl: string, prefix: string, secrets: SecretBox): Promise<BullmqQueue> {
    const queue = openQueue(redisUrl, prefix);
    await queue.waitUntilReady();
    return new BullmqQueue(queue, secrets);
  }

  enqueue(request: JobRequest): Promise<void> {
    return addJob(this.queue, this.secrets, request);
  }

  /** Takes a job that will not run (aborted while waiting) out of the queue; a worker would skip it anyway. */
  async discard(id: number): Promise<void> {
    await this.queue.remove(bullmqJobId(id)).catch(() => undefined);
  }

  /**
   * What Redis holds of job `id`: `no` when it is gone, or over there (failed or completed) while
   * certmid's record still waits, as when a worker could not start it; `yes` with the worker that
   * has taken it while it is active; `unknown` when Redis cannot be asked. One look-up.
   */
  async holding(id: number): Promise<QueueHolding> {
    try {
      const job = await withinQueueTimeout(this.queue.getJob(bullmqJobId(id)));
      if (!job) return { held: 'no' };
      const state = await withinQueueTimeout(job.getState());
      if (state === 'failed' || state === 'completed') return { held: 'no' };
      return { held: 'yes', worker: state === 'active' ? (job.processedBy ?? null) : null };
    } catch {
      return { held: 'unknown' };
    }
  }

  /**
   * Runs job method `method` (without arguments) every `everyMs` through a BullMQ job scheduler
   * keyed by the method: upserting it from every daemon keeps one schedule, so one run per
   * interval. An existing schedule keeps its times; a new one (or a changed interval) first runs
   * an interval from now, since the run at start is {@link runOnStart}'s.
   */
  async every(method: string, everyMs: number): Promise<void> {
    this.schedules.set(method, everyMs);
    const repeat = { every: everyMs, startDate: Date.now() + everyMs };
    await this.triggers().upsertJobScheduler(method, repeat, { name: method, data: { schedule: method } });
  }

  /** Puts back the schedules Redis no longer holds (it restarted without persistence); existing ones are left alone. */
  async restoreSchedules(): Promise<string[]> {
    const restored: string[] = [];
    for (const [method, everyMs] of this.schedules) {
      if (await withinQueueTimeout(this.triggers().getJobScheduler(method))) continue;
      await this.every(method, everyMs);
      restored.push(method);
    }
    return restored;
  }

  /**
   * Queues one run of `method` for a daemon starting now, unless another daemon queued one less than
   * `windowMs` ago: BullMQ's deduplication keeps the first request's id for `windowMs`, whether
   * its run is done or not, so daemons starting together make one run (no time bucket to straddle).
   */
  async runOnStart(method: string, windowMs: number): Promise<void> {
    await this.triggers().add(method, { schedule: method }, { deduplication: { id: `${method}-start`, ttl: windowMs } });
  }

  /**
   * Queues one run of `method` at `at` (at once when it has passed). The job id names the time, so
   * the daemons that each ask for the same run (they all see the run that calls for it end) queue it once.
   */
  async runAt(method: string, at: Date): Promise<void> {
    const jobId = `${method}-at-${at.getTime()}`;
    await this.triggers().add(method, { schedule: method }, { jobId, delay: Math.max(0, at.getTime() - Date.now()) });
  }

  async close(): Promise<void> {
    // Jobs run in the workers: closing the daemon stops queueing, it does not stop them.
    await this.queue.close();
  }

  /** The queue, for jobs that carry a {@link ScheduleTrigger}: a worker turns each into a certmid job. */
  private triggers(): Queue<ScheduleTrigger> {
    // The queue's jobs are typed as certmid jobs; a trigger is the other kind it carries.
    return this.queue as unknown as Queue<ScheduleTrigger>;
  }
}
