import type { DataSource } from 'typeorm';
import type { Caller } from '../src/api/caller.js';
import type { JobMethods } from '../src/api/jobs.js';
import type { Logger } from '../src/logger.js';
import type { SecretBox } from '../src/secrets.js';

/** A job call gives up on an unreachable Redis after this long (and at once when it is known to be down). */
export const QUEUE_TIMEOUT_MS = 3000;

/** What the core gives the job runners (composed in src/bootstrap.ts). */
export interface JobEnvironment {
  /** The job methods they run. */
  methods: JobMethods;
  /** The database that holds the job records. */
  db: DataSource;
  /** The master key: results in the database and everything in Redis are sealed with it. */
  secrets: SecretBox;
  logger: Logger;
  /** Where the queue and the live feed are; null runs every job in the daemon, with no feed beyond it. */
  redis: { url: string; prefix: string } | null;
  /** How often this process records that it is alive. */
  heartbeatMs: number;
}

/** What a runner needs to run a job. `args` are the caller's raw arguments, secrets included. */
export interface JobRequest {
  id: number;
  method: string;
  args: unknown[];
  caller: Caller | null;
  lock: string | null;
}
