import type { Caller } from '../src/api/caller.js';
import type { JobMethods } from '../src/api/jobs.js';
import type { Logger } from '../src/logger.js';
import type { SecretBox } from '../src/secrets.js';
import type { JobPatch, JobRecord } from './job-record.js';

/** What a backend needs to run a job. `args` are the caller's raw arguments, secrets included. */
export interface JobRequest {
  id: number;
  method: string;
  args: unknown[];
  caller: Caller | null;
  lock: string | null;
}

/** Where a backend reports what happens to jobs. */
export interface JobSink {
  update(id: number, patch: JobPatch): void;
  /** A job this process did not queue (another daemon did) shows up; the backend describes it. */
  adopt(record: JobRecord): void;
  has(id: number): boolean;
}

/** What the core gives the job runners: the methods they run, the master key, the log. */
export interface JobEnvironment {
  methods: JobMethods;
  secrets: SecretBox;
  logger: Logger;
}

/** Runs jobs: in this process, or through BullMQ on any number of workers. */
export interface JobBackend {
  readonly name: 'in-process' | 'bullmq';
  start(environment: JobEnvironment, sink: JobSink): Promise<void>;
  /** A new job id, unique across every daemon sharing this backend. */
  allocateId(): Promise<number>;
  enqueue(request: JobRequest, record: JobRecord): Promise<void>;
  /** Cancels a waiting job, or signals a running one. */
  abort(id: number): Promise<void>;
  /** Stops taking jobs; running ones get `graceMs` to finish, then are aborted; resources are released. */
  close(graceMs?: number): Promise<void>;
}
