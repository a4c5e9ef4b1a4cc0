import type { Caller, CredentialType } from '../src/api/call-context.js';

export type JobState = 'WAITING' | 'RUNNING' | 'SUCCESS' | 'FAILED' | 'ABORTED';

export const TERMINAL_STATES: ReadonlySet<JobState> = new Set(['SUCCESS', 'FAILED', 'ABORTED']);

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

/** The changes a backend reports about a job; the manager merges them into the record. */
export type JobPatch = Partial<Pick<JobRecord, 'state' | 'progress' | 'result' | 'error' | 'exception' | 'exc_info' | 'time_finished'>>;

export function newJobRecord(
  id: number,
  method: string,
  redactedArguments: unknown[],
  caller: Caller | null,
  abortable: boolean,
): JobRecord {
  return {
    id,
    method,
    arguments: redactedArguments,
    transient: false,
    description: null,
    abortable,
    logs_path: null,
    logs_excerpt: null,
    progress: { percent: 0, description: '', extra: null },
    result: null,
    result_encoding_error: null,
    error: null,
    exception: null,
    exc_info: null,
    state: 'WAITING',
    time_started: new Date(),
    time_finished: null,
    credentials: caller
      ? { type: caller.credentialType, data: { username: caller.username, login_at: new Date(caller.loginAt) } }
      : null,
    message_ids: [],
  };
}
