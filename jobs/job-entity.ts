import { EntitySchema, type ValueTransformer } from 'typeorm';
import type { JobExcInfo, JobProgress, JobState } from '../src/api/jobs.js';
import { parse, stringify } from '../src/client/ejson.js';
import { timestampColumn } from '../src/db/columns.js';

/** Where a job runs: in the daemon that queued it, or on a BullMQ worker. */
export type JobBackendName = 'in-process' | 'bullmq';

/** A job as stored: what `core.get_jobs` shows, plus who runs it. The real arguments are never stored. */
export interface JobRow {
  id: number;
  method: string;
  /** With secrets replaced by "********". */
  arguments: unknown[];
  state: JobState;
  progress: JobProgress;
  /** The result as ejson sealed with the master key: results may hold private keys. */
  result: string | null;
  error: string | null;
  exception: string | null;
  exc_info: JobExcInfo | null;
  abortable: boolean;
  time_started: Date;
  time_finished: Date | null;
  /** The caller's user name (who may see the job besides full admins); null for internal jobs. */
  owner: string | null;
  credential_type: string | null;
  login_at: Date | null;
  backend: JobBackendName;
  /** The runner holding the job: the daemon for in-process jobs from the start, a worker once it runs one. */
  runner: string | null;
  /** Its effect committed (in the same transaction): it can only end SUCCESS now. */
  effect_committed: boolean;
}

/** A daemon or worker that runs jobs, alive while its heartbeat is recent. */
export interface JobRunnerRow {
  id: string;
  kind: 'daemon' | 'worker';
  /** The worker's name, or the daemon's URL. */
  name: string;
  host: string;
  pid: number;
  /** Identifies the process-id space on its host (boot and pid namespace), so a local runner's death can be checked by pid. */
  process_space: string | null;
  started_at: Date;
  heartbeat_at: Date;
  heartbeat_interval_ms: number;
}

/** ejson in a text column, so dates and the other TrueNAS types read back as they were written. */
const ejsonTransformer: ValueTransformer = {
  to: (value: unknown) => (value === undefined ? null : stringify(value)),
  from: (value: string | null) => (value === null || value === undefined ? null : parse(value)),
};

const ejsonColumn = (nullable = false) => ({ type: 'text', nullable, transformer: ejsonTransformer }) as const;

export const JobEntity = new EntitySchema<JobRow>({
  name: 'job',
  tableName: 'job',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    method: { type: 'varchar', length: 256 },
    arguments: ejsonColumn(),
    state: { type: 'varchar', length: 16 },
    progress: ejsonColumn(),
    result: { type: 'text', nullable: true },
    error: { type: 'text', nullable: true },
    exception: { type: 'text', nullable: true },
    exc_info: ejsonColumn(true),
    abortable: { type: 'boolean' },
    time_started: timestampColumn(),
    time_finished: timestampColumn(true),
    owner: { type: 'varchar', length: 128, nullable: true },
    credential_type: { type: 'varchar', length: 32, nullable: true },
    login_at: timestampColumn(true),
    backend: { type: 'varchar', length: 16 },
    runner: { type: 'varchar', length: 64, nullable: true },
    effect_committed: { type: 'boolean', default: false },
  },
});

export const JobRunnerEntity = new EntitySchema<JobRunnerRow>({
  name: 'job_runner',
  tableName: 'job_runner',
  columns: {
    id: { type: 'varchar', length: 64, primary: true },
    kind: { type: 'varchar', length: 16 },
    name: { type: 'varchar', length: 512 },
    host: { type: 'varchar', length: 255 },
    pid: { type: 'integer' },
    process_space: { type: 'varchar', length: 128, nullable: true },
    started_at: timestampColumn(),
    heartbeat_at: timestampColumn(),
    heartbeat_interval_ms: { type: 'integer' },
  },
});

/** The entities the job runners keep in the database. */
export const JOB_ENTITIES = [JobEntity, JobRunnerEntity];
