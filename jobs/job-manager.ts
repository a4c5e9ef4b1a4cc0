import { EventEmitter } from 'node:events';
import os from 'node:os';
import type { Caller } from '../src/api/caller.js';
import { TERMINAL_STATES, type JobEvent, type JobProgress, type JobRecord, type JobRunnerInfo, type Jobs, type JobSchedule } from '../src/api/jobs.js';
import { expandRoles } from '../src/auth/roles.js';
import { CallError } from '../src/errors/call-error.js';
import { runQuery } from '../src/query/sql-query.js';
import { redactSecrets } from '../src/secrets.js';
import type { BullmqQueue } from './bullmq-backend.js';
import { QUEUE_TIMEOUT_MS, type JobEnvironment } from './environment.js';
import { LocalJobFeed, type JobFeed } from './job-feed.js';
import { abortedPatch, failurePatch, interruptedPatch, lostPatch } from './job-outcome.js';
import type { RunnerContext } from './job-run.js';
import { JobStore } from './job-store.js';
import { InProcessRunner } from './in-process-runner.js';
import { Runners } from './runners.js';

/** How often a waiter reads the database, in case the news of the job's end never comes. */
export const WAIT_POLL_MS = 1000;

/** A queued job Redis does not hold this long after it was queued (a call gives up on Redis sooner) was lost: Redis restarted without persistence. */
const LOST_AFTER_MS = QUEUE_TIMEOUT_MS + 2000;

/** How often a daemon checks that Redis still holds the job schedules (the daily renewal). */
const SCHEDULE_CHECK_MS = 60_000;

/** The progress of a queued job while no worker is alive to take it. */
export const WAITING_FOR_WORKER: JobProgress = { percent: 0, description: 'Waiting for a worker: none is running', extra: null };

/** Unfinished jobs whose latest news is kept. */
const KEEP_LIVE = 10_000;

/** Request ids kept per job for `message_ids`, for this many jobs. */
const KEEP_MESSAGE_IDS = 1000;

function isFullAdmin(caller: Caller | null): boolean {
  return caller !== null && expandRoles(caller.roles).has('FULL_ADMIN');
}

/**
 * The daemon's jobs: records in the database (shared by every daemon, kept across restarts), live
 * news through the feed, work in this process or on BullMQ workers. Whoever runs a job writes its
 * record; the daemon reads it for `core.get_jobs`, waits and aborts.
 */
export class JobManager implements Jobs {
  readonly store: JobStore;
  private feed: JobFeed = new LocalJobFeed();
  private registry: Runners | undefined;
  private local: InProcessRunner | undefined;
  private queue: BullmqQueue | null = null;
  private readonly emitter = new EventEmitter();
  /** The latest news of unfinished jobs: fresher progress than the database holds (it is written at most once a second). */
  private readonly live = new Map<number, JobRecord>();
  /** Request ids of the calls that queued jobs here; other daemons' sessions' ids could match unrelated requests. */
  private readonly messageIds = new Map<number, Array<string | number>>();
  private readonly waiters = new Map<number, Set<(record: JobRecord) => void>>();
  private pollTimer: NodeJS.Timeout | undefined;
  private watchTimer: NodeJS.Timeout | undefined;
  private workerCheck: { at: number; alive: Promise<number> } | undefined;
  private schedulesCheckedAt = Date.now();

  constructor(private readonly environment: JobEnvironment) {
    this.store = new JobStore(environment.db, environment.secrets, environment.logger);
    this.emitter.setMaxListeners(0);
  }

  get backendName(): 'in-process' | 'bullmq' {
    return this.environment.redis ? 'bullmq' : 'in-process';
  }

  get schedule(): JobSchedule | null {
    return this.queue;
  }

  /** Connects the feed and the queue, then ends the jobs of runners that died (this daemon's earlier life among them) before anyone is served. */
  async start(): Promise<void> {
    const { redis, secrets, logger, db, heartbeatMs, methods } = this.environment;
    if (redis) {
      const [{ RedisJobFeed }, { BullmqQueue }] = await Promise.all([import('./redis-job-feed.js'), import('./bullmq-backend.js')]);
      this.feed = await RedisJobFeed.connect(redis.url, redis.prefix, secrets, logger);
      this.queue = await BullmqQueue.open(redis.url, redis.prefix, secrets);
    }
    this.feed.onEvent((event) => this.hear(event));
    this.feed.onAbortRequest((id) => this.local?.abort(id));
    this.registry = new Runners(db, this.store, this.feed, logger, { kind: 'daemon', name: `${os.hostname()}:${process.pid}`, heartbeatMs });
    const context: RunnerContext = { store: this.store, feed: this.feed, runnerId: this.registry.id, logger };
    this.local = new InProcessRunner(context, methods);
    await this.registry.start();
    if (this.queue) this.watchTimer = setInterval(() => void this.watchQueue(), heartbeatMs);
  }

  onEvent(listener: (event: JobEvent) => void): void {
    this.emitter.on('event', listener);
  }

  offEvent(listener: (event: JobEvent) => void): void {
    this.emitter.off('event', listener);
  }

  async submit(method: string, args: unknown[], caller: Caller | null, messageId?: string | number | null): Promise<JobRecord> {
    const options = this.environment.methods.options(method, args);
    if (!options) throw new CallError(`${method} is not a job method`, 'ENOMETHOD');
    const queue = options.inDaemon ? null : this.queue;
    const noWorker = queue !== null && (await this.workersAlive()) === 0;
    // A job this process runs at once is stored RUNNING from the start: one write rather than two.
    const claim = queue ? null : this.local!.claimStart(options.lock);
    let record: JobRecord;
    try {
      record = await this.store.insert(
        {
          method,
          redactedArguments: redactSecrets(args) as unknown[],
          abortable: options.abortable,
          caller,
          backend: queue ? 'bullmq' : 'in-process',
          runner: queue ? null : this.registry!.id,
          progress: noWorker ? WAITING_FOR_WORKER : undefined,
        },
        claim !== null,
      );
    } catch (error) {
      claim?.release();
      throw error;
    }
    if (messageId !== undefined && messageId !== null) this.rememberMessageId(record.id, messageId);
    if (noWorker) this.warnNoWorker([record.id]);
    // Heard here at once: the "added" event reaches the caller's session before the reply.
    this.feed.publish({ msg: 'added', record });
    const request = { id: record.id, method, args, caller, lock: options.lock };
    if (!queue) {
      this.local!.enqueue(request, record, claim ?? undefined);
      return record;
    }
    try {
      await queue.enqueue(request);
    } catch (error) {
      // Announced already: it must end rather than wait for a queue that never took it.
      await this.end(record.id, failurePatch(error), ['WAITING']);
      throw error;
    }
    return record;
  }

  async get(id: number): Promise<JobRecord | undefined> {
    const record = await this.store.get(id);
    return record && this.shown(record);
  }

  canAccess(caller: Caller | null, record: JobRecord): boolean {
    if (!caller) return false;
    return isFullAdmin(caller) || record.credentials?.data.username === caller.username;
  }

  async query(caller: Caller | null, filters: unknown, options: unknown): Promise<unknown> {
    const own = isFullAdmin(caller) ? [] : [['credentials.data.username', '=', caller?.username ?? null]];
    return runQuery(this.store.querySpec((record) => this.shown(record)), [...own, ...((filters as unknown[] | undefined) ?? [])], options);
  }

  async wait(id: number): Promise<JobRecord> {
    const record = await this.get(id);
    if (!record) throw new CallError('Job does not exist', 'ENOENT');
    if (TERMINAL_STATES.has(record.state)) return record;
    return new Promise((resolve) => {
      const settle = (final: JobRecord) => {
        const set = this.waiters.get(id);
        set?.delete(settle);
        if (set?.size === 0) this.waiters.delete(id);
        resolve(final);
      };
      if (!this.waiters.has(id)) this.waiters.set(id, new Set());
      this.waiters.get(id)!.add(settle);
      this.pollTimer ??= setInterval(() => void this.pollWaited(), WAIT_POLL_MS);
    });
  }

  async abort(id: number, caller: Caller | null): Promise<void> {
    let record = await this.get(id);
    if (!record) throw new CallError('Job does not exist', 'ENOENT');
    if (!this.canAccess(caller, record)) throw new CallError('Job is not owned by current session', 'EPERM');
    if (record.state === 'WAITING') {
      // A waiting job ends now, as on TrueNAS; whoever would have run it finds it no longer waiting.
      if (await this.end(id, abortedPatch(), ['WAITING'])) {
        this.local!.abort(id);
        await this.queue?.discard(id);
        return;
      }
      record = (await this.get(id))!;
    }
    if (TERMINAL_STATES.has(record.state)) return;
    if (!record.abortable) throw new CallError('Job is not abortable', 'EINVAL');
    if (this.local!.abort(id)) return;
    if (!this.feed.shared) throw new CallError('Job runs in another daemon, which only hears aborts through Redis; abort it there', 'EINVAL');
    this.feed.requestAbort(id);
  }

  runners(): Promise<JobRunnerInfo[]> {
    return this.registry!.list();
  }

  async close(graceMs?: number): Promise<void> {
    clearInterval(this.watchTimer);
    await this.local?.close(graceMs);
    await this.registry?.close();
    await this.queue?.close();
    clearInterval(this.pollTimer);
    await this.feed.close();
    this.emitter.removeAllListeners();
  }

  /** Ends job `id` if it is still in one of `from`, and tells everyone; whether it did. */
  private async end(id: number, patch: Parameters<JobStore['finish']>[1], from: Parameters<JobStore['finish']>[2]): Promise<boolean> {
    const ended = await this.store.finish(id, patch, from);
    if (ended) this.feed.publish({ msg: 'changed', record: ended });
    return ended !== null;
  }

  /** News of a job from the feed (this process's runners, other daemons', workers'): tell the sessions and the waiters. */
  private hear(event: JobEvent): void {
    const record = this.shownLive(event.record);
    if (TERMINAL_STATES.has(record.state)) {
      this.live.delete(record.id);
      for (const settle of [...(this.waiters.get(record.id) ?? [])]) settle(record);
    } else {
      this.live.set(record.id, record);
      // News of a job's end can be lost (Redis away); the oldest entries then go.
      if (this.live.size > KEEP_LIVE) this.live.delete(this.live.keys().next().value!);
    }
    this.emitter.emit('event', { msg: event.msg, record } satisfies JobEvent);
  }

  /** A record read from the database as this daemon shows it: live progress, and its own request ids. */
  private shown(record: JobRecord): JobRecord {
    const live = this.live.get(record.id);
    if (TERMINAL_STATES.has(record.state)) this.live.delete(record.id);
    else if (live && !TERMINAL_STATES.has(live.state)) record = { ...record, progress: live.progress };
    return this.shownLive(record);
  }

  private shownLive(record: JobRecord): JobRecord {
    return { ...record, message_ids: [...(this.messageIds.get(record.id) ?? [])] };
  }

  private rememberMessageId(id: number, messageId: string | number): void {
    this.messageIds.set(id, [...(this.messageIds.get(id) ?? []), messageId]);
    if (this.messageIds.size > KEEP_MESSAGE_IDS) this.messageIds.delete(this.messageIds.keys().next().value!);
  }

  /** Reads the waited jobs that ended, in case their news was lost (Redis away, or a runner that died). */
  private async pollWaited(): Promise<void> {
    const ids = [...this.waiters.keys()];
    if (ids.length === 0) {
      clearInterval(this.pollTimer);
      this.pollTimer = undefined;
      return;
    }
    try {
      for (const record of await this.store.finishedAmong(ids)) {
        const shown = this.shown(record);
        for (const settle of [...(this.waiters.get(record.id) ?? [])]) settle(shown);
      }
    } catch (error) {
      this.environment.logger.warn({ err: error }, 'waited jobs could not be read');
    }
  }

  /** Live workers, asked of the database at most once a second. */
  private workersAlive(): Promise<number> {
    const now = Date.now();
    if (!this.workerCheck || now - this.workerCheck.at > 1000) {
      this.workerCheck = { at: now, alive: this.registry!.liveWorkers().catch(() => 1) };
    }
    return this.workerCheck.alive;
  }

  private warnNoWorker(ids: number[]): void {
    this.environment.logger.warn({ jobs: ids }, 'jobs are waiting and no worker is running; start one with `npm run worker`');
  }

  /**
   * Each heartbeat, with BullMQ: jobs waiting while no worker is alive say so; jobs Redis no longer
   * holds (it restarted without persistence) end FAILED, since no worker will ever take them.
   */
  private async watchQueue(): Promise<void> {
    try {
      if (Date.now() - this.schedulesCheckedAt > SCHEDULE_CHECK_MS) {
        this.schedulesCheckedAt = Date.now();
        const restored = await this.queue!.restoreSchedules();
        if (restored.length > 0) this.environment.logger.warn({ schedules: restored }, 'job schedules lost by Redis were put back');
      }
      const waiting = await this.store.waitingSince('bullmq', new Date(Date.now() - Math.min(LOST_AFTER_MS, 1000)));
      if (waiting.length === 0) return;
      if ((await this.workersAlive()) === 0) {
        const silent = waiting.filter((record) => record.progress.description !== WAITING_FOR_WORKER.description);
        for (const record of silent) {
          const described = await this.store.describeWaiting(record.id, WAITING_FOR_WORKER);
          if (described) this.feed.publish({ msg: 'changed', record: described });
        }
        if (silent.length > 0) this.warnNoWorker(silent.map((record) => record.id));
      }
      const settled = Date.now() - LOST_AFTER_MS;
      // The oldest first, a hundred per beat: a long backlog costs Redis one look-up per job.
      let liveWorkers: Set<string> | undefined;
      for (const record of waiting.filter((job) => job.time_started.getTime() < settled).slice(0, 100)) {
        const holding = await this.queue!.holding(record.id);
        if (holding.held === 'no') {
          if (await this.end(record.id, lostPatch(), ['WAITING'])) this.environment.logger.warn({ job: record.id, method: record.method }, 'queued job lost by Redis; ended FAILED');
          continue;
        }
        // Taken by a worker that died before it marked the job RUNNING: BullMQ would notice only
        // at its stall check, half a minute later, and the runner sweep sees no job of that worker.
        const worker = holding.held === 'yes' ? holding.worker : null;
        if (worker === null) continue;
        liveWorkers ??= await this.registry!.liveWorkerNames();
        if (!liveWorkers.has(worker) && (await this.end(record.id, interruptedPatch(), ['WAITING']))) {
          this.environment.logger.warn({ job: record.id, method: record.method, worker }, 'job taken by a worker that stopped before running it; ended as interrupted');
        }
      }
    } catch (error) {
      this.environment.logger.warn({ err: error }, 'queued jobs could not be checked');
    }
  }
}
