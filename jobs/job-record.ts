import type { Caller } from '../src/api/caller.js';
import type { JobRecord } from '../src/api/jobs.js';

export { TERMINAL_STATES } from '../src/api/jobs.js';
export type { JobEvent, JobExcInfo, JobProgress, JobRecord, JobState } from '../src/api/jobs.js';

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
