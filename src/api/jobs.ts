/**
 * Jobs as the core sees them: the record TrueNAS clients read, what a handler reports through, and
 * the two interfaces that join the core and the job runners (jobs/). The core owns them; jobs/
 * implements `Jobs` and is given `JobMethods`, and src/bootstrap.ts puts the two together.
 */
import type { EntityManager } from 'typeorm';
import type { Caller, CredentialType } from './caller.js';

export type JobState = 'WAITING' | 'RUNNING' | 'SUCCESS' | 'FAILED' | 'ABORTED';

export const TERMINAL_STATES: ReadonlySet<JobState> = new Set(['SUCCESS', 'FAILED', 'ABORTED']);

/**
 * The ejson text each job result was parsed from (the job store reads results as text): a job
 * event writes the record out again, and a certificate entry is long to write. A record's result
 * is never changed once parsed.
 */
const resultTexts = new WeakMap<object, string>();

/** Remembers that `result` was parsed from `text`. */
export function rememberResultText(result: unknown, text: string): void {
  if (result !== null && typeof result === 'object') resultTexts.set(result, text);
}

/** The text a record's `result` was parsed from, when it is known. */
export function resultTextOf(result: unknown): string | undefined {
  return result !== null && typeof result === 'object' ? resultTexts.get(result) : undefined;
}

export interface JobProgress {
  percent: number;
  description: string;
  extra: unknown;
}

export interface JobExcInfo {
  repr: string;
  /** "VALIDATION" for invalid input, else the error class name. */
  type: string;
  errno: number | null;
  extra: unknown;
}

/** A job as `core.get_jobs` returns it and as `core.get_jobs` events carry it (TrueNAS's Job.__encode__). */
export interface JobRecord {
  id: number;
  method: string;
  /** With secrets replaced by "********". */
  arguments: unknown[];
  transient: boolean;
  description: string | null;
  abortable: boolean;
  logs_path: string | null;
  logs_excerpt: string | null;
  progress: JobProgress;
  result: unknown;
  result_encoding_error: string | null;
  error: string | null;
  exception: string | null;
  exc_info: JobExcInfo | null;
  state: JobState;
  time_started: Date;
  time_finished: Date | null;
  credentials: { type: CredentialType; data: { username: string; login_at: Date } } | null;
  /** Ids of the requests that created or wait on this job, so a client can match the job to its call. */
  message_ids: Array<string | number>;
}

/** A `core.get_jobs` event before it is sent to the sessions that may see the job. */
export interface JobEvent {
  msg: 'added' | 'changed';
  record: JobRecord;
}

/** What a job handler reports through. */
export interface JobReporter {
  readonly id: number;
  /** Only the arguments given change; percent never goes down. */
  progress(percent?: number | null, description?: string | null, extra?: unknown): void;
  /** Aborted by `core.job_abort` (for abortable jobs) or at shutdown. */
  readonly signal: AbortSignal;
  /**
   * Called inside the transaction that makes the job's effect (a certificate written, changed or
   * deleted), with its manager: records there that the effect is made, so the job ends SUCCESS if
   * and only if the effect commits. Throws, rolling the effect back, when the job ended meanwhile
   * (aborted, or its runner taken for dead).
   */
  commitEffect(manager: EntityManager): Promise<void>;
}

/** The part of a reporter that code reporting a share of a job's progress needs. */
export type JobProgressReporter = Pick<JobReporter, 'id' | 'progress' | 'signal'>;

/** How a job method runs, as far as a job runner needs to know. */
export interface JobMethodOptions {
  /** Whether `core.job_abort` may stop it while it runs. */
  abortable: boolean;
  /** Runs in the daemon that queued it, whatever the backend (jobs that only coordinate others). */
  inDaemon: boolean;
  /** Jobs with the same lock run one at a time; null for none. */
  lock: string | null;
}

/** The core's job methods as the runners see them. */
export interface JobMethods {
  /** How job method `name` runs with `args`; undefined when there is no such job method. */
  options(name: string, args: readonly unknown[]): JobMethodOptions | undefined;
  /** Runs job method `name` (validating `args` inside the job, as TrueNAS does) and returns its result. */
  run(name: string, args: readonly unknown[], caller: Caller | null, reporter: JobReporter): Promise<unknown>;
}

/** Periodic and delayed runs of a job method shared by every daemon (BullMQ's job schedulers). */
export interface JobSchedule {
  /** Runs `method` every `everyMs`, once per interval however many daemons ask. */
  every(method: string, everyMs: number): Promise<void>;
  /** One run now, shared by the daemons that ask within `windowMs` of each other. */
  runOnStart(method: string, windowMs: number): Promise<void>;
  /** One run at `at`, shared by the daemons that ask for the same time. */
  runAt(method: string, at: Date): Promise<void>;
}

/** A daemon or BullMQ worker that runs jobs, as `core.job_runners` lists it. */
export interface JobRunnerInfo {
  id: string;
  kind: 'daemon' | 'worker';
  /** A worker's name (`<host>:<pid>` unless set), or the daemon's host and pid. */
  name: string;
  host: string;
  pid: number;
  started: Date;
  last_heartbeat: Date;
  /** Its heartbeat is recent; a dead runner is listed until a sweep has ended its jobs. */
  alive: boolean;
  jobs_running: number;
}

/** The jobs of a deployment, as the dispatcher, the core.* methods and the renewal schedule use them. */
export interface Jobs {
  /** Where queued jobs run: in this process, or on BullMQ workers. */
  readonly backendName: 'in-process' | 'bullmq';
  /** Shared schedules, when the backend has them (BullMQ); null when each daemon keeps its own timers. */
  readonly schedule: JobSchedule | null;
  start(): Promise<void>;
  /**
   * Queues job method `method`. The "added" event is emitted before this resolves, so it precedes
   * any reply to the call that queued it.
   */
  submit(method: string, args: unknown[], caller: Caller | null, messageId?: string | number | null): Promise<JobRecord>;
  /** The job with id `id`, or undefined. */
  get(id: number): Promise<JobRecord | undefined>;
  /** Whether `caller` may see or abort the job: its owner, or a full admin. */
  canAccess(caller: Caller | null, record: JobRecord): boolean;
  /** `core.get_jobs`: the jobs `caller` may see, filtered with the query language. */
  query(caller: Caller | null, filters: unknown, options: unknown): Promise<unknown>;
  /** Resolves with the record once the job is SUCCESS, FAILED or ABORTED. */
  wait(id: number): Promise<JobRecord>;
  /** `core.job_abort`, with its access checks. */
  abort(id: number, caller: Caller | null): Promise<void>;
  /** Every daemon and worker that runs jobs, with its last heartbeat. */
  runners(): Promise<JobRunnerInfo[]>;
  onEvent(listener: (event: JobEvent) => void): void;
  offEvent(listener: (event: JobEvent) => void): void;
  /** Stops taking jobs; running ones get `graceMs` to finish, then are aborted. */
  close(graceMs?: number): Promise<void>;
}
