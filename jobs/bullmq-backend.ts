import { Queue, QueueEvents, type JobsOptions } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import type { Caller } from '../src/api/caller.js';
import type { JobSchedule } from '../src/api/jobs.js';
import { parse, stringify } from '../src/client/ejson.js';
import type { SecretBox } from '../src/secrets.js';
import type { JobBackend, JobEnvironment, JobRequest, JobSink } from './job-backend.js';
import { abortedPatch, failurePatch, successPatch } from './job-outcome.js';
import type { JobPatch, JobProgress, JobRecord } from './job-record.js';

/** The BullMQ queue every daemon and worker shares; its Redis keys are `<prefix>:jobs:…`. */
export const QUEUE_NAME = 'jobs';

/** The error of a job whose worker died while running it. */
export const STALLED_ERROR = '[EFAULT] Job stalled: the worker running it stopped';

/** BullMQ's failedReason for a job that stalled more often than maxStalledCount allows. */
const BULLMQ_STALLED_REASON = 'job stalled more than allowable limit';

/** How long an abort request waits for a worker to notice it (a job delayed behind its lock comes back sooner). */
const ABORT_MARK_TTL_MS = 24 * 3600_000;

/** Finished jobs stay in Redis for inspection, within bounds; the daemons keep their own records. */
export const JOB_OPTIONS: JobsOptions = {
  // Never retried: a job may have had side effects, and a ValidationErrors would fail again anyway.
  attempts: 1,
  removeOnComplete: { age: 24 * 3600, count: 1000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 1000 },
  // Stacks name files and lines only, but keep Redis free of anything a handler's error might carry.
  stackTraceLimit: 0,
};

/** Redis key and channel names of certmid's own additions to the queue, all under the prefix. */
export interface RedisNames {
  /** The job id counter (INCR). */
  ids: string;
  /** The key a job holds while it runs with lock `name`. */
  lock(name: string): string;
  /** Set when a job is to be aborted, so a worker that picks it up later still sees the request. */
  abortMark(bullmqJobId: string): string;
  /** Where daemons publish the BullMQ ids of running jobs to abort. */
  abortChannel: string;
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
  return {
    ids: `${prefix}:job-ids`,
    lock: (name) => `${prefix}:job-locks:${name}`,
    abortMark: (jobId) => `${prefix}:job-aborts:${jobId}`,
    abortChannel: `${prefix}:job-aborts`,
  };
}

/** A job's data in Redis. Nothing secret in clear: the arguments and the caller are sealed. */
export interface BullmqJobData {
  method: string;
  lock: string | null;
  /** The job record as queued (arguments redacted), JSON, so other daemons can list the job. */
  record: string;
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

/** Queues certmid job `record` for `request`, its arguments and caller sealed with `secrets`. */
export async function addJob(queue: Queue<BullmqJobData, BullmqJobResult>, secrets: SecretBox, request: JobRequest, record: JobRecord): Promise<void> {
  const sealed: SealedCall = { args: request.args, caller: request.caller };
  const data: BullmqJobData = {
    method: request.method,
    lock: request.lock,
    record: JSON.stringify(record),
    sealed: secrets.encrypt(stringify(sealed)),
  };
  await queue.add(request.method, data, { jobId: bullmqJobId(request.id) });
}

/** A job's return value in Redis: its result as ejson, encrypted (results may hold private keys). */
export interface BullmqJobResult {
  sealed: string;
}

/** How a worker tells the daemons a job's end other than success, through BullMQ's failedReason. */
interface OutcomeEnvelope {
  certmid: Omit<JobPatch, 'time_finished'>;
}

/** The failedReason text for `patch`. The daemon stamps time_finished itself, on its own clock. */
export function encodeOutcome(patch: JobPatch): string {
  const { time_finished: _ignored, ...rest } = patch;
  return JSON.stringify({ certmid: rest } satisfies OutcomeEnvelope);
}

/** The patch a failedReason describes: a worker's outcome, a stall, or BullMQ's own failure text. */
export function decodeOutcome(failedReason: string): JobPatch {
  try {
    const envelope = JSON.parse(failedReason) as Partial<OutcomeEnvelope>;
    if (envelope.certmid) return { ...envelope.certmid, time_finished: new Date() };
  } catch {
    // Not ours: BullMQ failed the job itself.
  }
  if (failedReason === BULLMQ_STALLED_REASON) return stalledPatch();
  const error = `[EFAULT] Job failed in the queue: ${failedReason}`;
  return {
    state: 'FAILED',
    error,
    exception: error,
    exc_info: { repr: `QueueError(${JSON.stringify(failedReason)})`, type: 'QueueError', errno: 14, extra: null },
    time_finished: new Date(),
  };
}

/** The patch for a job whose worker died while running it. */
export function stalledPatch(): JobPatch {
  return {
    state: 'FAILED',
    error: STALLED_ERROR,
    exception: STALLED_ERROR,
    exc_info: { repr: 'JobStalled()', type: 'JobStalled', errno: 14, extra: null },
    time_finished: new Date(),
  };
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

/** The record as stored in Redis, with its dates back as `Date`s. */
function reviveRecord(json: string): JobRecord {
  const record = JSON.parse(json) as JobRecord;
  record.time_started = new Date(record.time_started);
  record.time_finished = record.time_finished === null ? null : new Date(record.time_finished);
  if (record.credentials) record.credentials.data.login_at = new Date(record.credentials.data.login_at);
  // Request ids belong to the creating daemon's sessions; here they could match an unrelated request.
  record.message_ids = [];
  return record;
}

function toProgress(data: unknown): JobProgress {
  const value = (typeof data === 'object' && data !== null ? data : {}) as Partial<JobProgress>;
  return { percent: value.percent ?? 0, description: value.description ?? '', extra: value.extra ?? null };
}

/**
 * The distributed backend, daemon side: jobs go to a BullMQ queue, `npm run worker` processes run
 * them, and the queue's events (from every worker, for every daemon's jobs) become record updates.
 */
export class BullmqBackend implements JobBackend, JobSchedule {
  readonly name = 'bullmq' as const;
  private readonly names: RedisNames;
  private environment: JobEnvironment | undefined;
  private sink: JobSink | undefined;
  private queue: Queue<BullmqJobData, BullmqJobResult> | undefined;
  private events: QueueEvents | undefined;
  private commands: Redis | undefined;
  /** Per job, the tail of its event handling, so each job's updates apply in order. */
  private readonly chains = new Map<string, Promise<void>>();

  constructor(
    private readonly redisUrl: string,
    private readonly prefix: string,
  ) {
    this.names = redisNames(prefix);
  }

  async start(environment: JobEnvironment, sink: JobSink): Promise<void> {
    this.environment = environment;
    this.sink = sink;
    const connection = redisOptions(this.redisUrl);
    this.commands = new Redis(this.redisUrl, { lazyConnect: true });
    await this.commands.connect();
    this.queue = new Queue(QUEUE_NAME, { connection, prefix: this.prefix, defaultJobOptions: JOB_OPTIONS });
    await this.queue.waitUntilReady();
    // Start reading right after the stream's current end: older events are history, newer ones must not be missed.
    const [last] = await this.commands.xrevrange(this.queue.keys.events!, '+', '-', 'COUNT', 1);
    this.events = new QueueEvents(QUEUE_NAME, {
      connection: { ...connection, maxRetriesPerRequest: null },
      prefix: this.prefix,
      lastEventId: last?.[0] ?? '0',
    });
    this.listen(this.events);
    await this.events.waitUntilReady();
  }

  async allocateId(): Promise<number> {
    return await this.commands!.incr(this.names.ids);
  }

  async enqueue(request: JobRequest, record: JobRecord): Promise<void> {
    try {
      await addJob(this.queue!, this.environment!.secrets, request, record);
    } catch (error) {
      // The record was announced already; it must not stay WAITING for a job that was never queued.
      this.sink!.update(request.id, failurePatch(error));
      throw error;
    }
  }

  /**
   * Runs job method `method` (without arguments) every `everyMs` through a BullMQ job scheduler
   * keyed by the method: upserting it from every daemon keeps one schedule, so one run per
   * interval. An existing schedule keeps its times; a new one (or a changed interval) first runs
   * an interval from now, since the run at start is {@link runOnStart}'s.
   */
  async every(method: string, everyMs: number): Promise<void> {
    const repeat = { every: everyMs, startDate: Date.now() + everyMs };
    await this.triggers().upsertJobScheduler(method, repeat, { name: method, data: { schedule: method } });
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

  async abort(id: number): Promise<void> {
    const jobId = bullmqJobId(id);
    const job = await this.queue!.getJob(jobId);
    if (!job) return; // not a queued job (core.job_wait runs in the daemon) or long gone
    const state = await job.getState();
    if (state === 'completed' || state === 'failed' || state === 'unknown') return;
    const mark = this.names.abortMark(jobId);
    await this.commands!.set(mark, '1', 'PX', ABORT_MARK_TTL_MS);
    // remove() refuses (0) a job a worker holds; that one is told to stop instead.
    if (state !== 'active' && (await this.queue!.remove(jobId)) === 1) {
      await this.commands!.del(mark);
      this.sink!.update(id, abortedPatch());
      return;
    }
    await this.commands!.publish(this.names.abortChannel, jobId);
  }

  async close(): Promise<void> {
    // Jobs run in the workers: closing the daemon stops following them, it does not stop them.
    await this.events?.close();
    await Promise.allSettled([...this.chains.values()]);
    await this.queue?.close();
    await this.commands?.quit().catch(() => undefined);
  }

  /** The queue, for jobs that carry a {@link ScheduleTrigger}: a worker turns each into a certmid job. */
  private triggers(): Queue<ScheduleTrigger> {
    // The queue's jobs are typed as certmid jobs; a trigger is the other kind it carries.
    return this.queue! as unknown as Queue<ScheduleTrigger>;
  }

  private listen(events: QueueEvents): void {
    events.on('added', ({ jobId }) => this.report(jobId, () => null));
    events.on('progress', ({ jobId, data }) => this.report(jobId, () => ({ state: 'RUNNING', progress: toProgress(data) })));
    events.on('completed', ({ jobId, returnvalue }) => this.report(jobId, () => this.completedPatch(returnvalue)));
    events.on('failed', ({ jobId, failedReason }) => this.report(jobId, () => decodeOutcome(failedReason)));
    events.on('stalled', ({ jobId }) => this.report(jobId, () => this.afterStall(jobId)));
    events.on('removed', ({ jobId }) => this.report(jobId, () => abortedPatch()));
    events.on('error', (error) => this.environment!.logger.warn({ err: error }, 'job event stream error'));
    // 'active' is not RUNNING: a job behind a held lock goes active only to be delayed again. The
    // worker reports RUNNING with its first progress, once it holds the lock.
  }

  /** Applies an event to a job in order with the job's earlier events, adopting jobs other daemons queued. */
  private report(jobId: string, makePatch: () => JobPatch | null | Promise<JobPatch | null>): void {
    const id = certmidJobId(jobId);
    if (id === null) return;
    const next = (this.chains.get(jobId) ?? Promise.resolve())
      .then(async () => {
        if (!this.sink!.has(id) && !(await this.adopt(jobId))) return;
        const patch = await makePatch();
        if (patch) this.sink!.update(id, patch);
      })
      .catch((error: unknown) => this.environment!.logger.error({ err: error, job: id }, 'job event not applied'));
    this.chains.set(jobId, next);
    void next.then(() => {
      if (this.chains.get(jobId) === next) this.chains.delete(jobId);
    });
  }

  private async adopt(jobId: string): Promise<boolean> {
    const job = await this.queue!.getJob(jobId);
    if (!job?.data?.record) return false;
    this.sink!.adopt(reviveRecord(job.data.record));
    return true;
  }

  /** A stalled job either failed for good (maxStalledCount reached) or went back to wait to run again. */
  private async afterStall(jobId: string): Promise<JobPatch> {
    const job = await this.queue!.getJob(jobId);
    return job?.deferredFailure ? stalledPatch() : { state: 'WAITING' };
  }

  /** SUCCESS with the unsealed result; a result this daemon cannot open (another master key) fails the job. */
  private completedPatch(returnvalue: unknown): JobPatch {
    try {
      const { sealed } = returnvalue as BullmqJobResult;
      return successPatch(parse(this.environment!.secrets.decrypt(sealed)));
    } catch (error) {
      this.environment!.logger.error({ err: error }, 'job result cannot be opened; do the workers share this master key?');
      return failurePatch(error);
    }
  }
}
