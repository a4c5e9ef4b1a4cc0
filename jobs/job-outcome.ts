import { describeJobFailure } from '../src/errors/job-failure.js';
import type { JobPatch } from './job-record.js';

/** The patch for a job that finished with `result`. */
export function successPatch(result: unknown): JobPatch {
  return { state: 'SUCCESS', result: result ?? null, time_finished: new Date() };
}

/** The patch for a job that threw. Unexpected errors keep their text out of the record (it is logged). */
export function failurePatch(error: unknown): JobPatch {
  return { state: 'FAILED', ...describeJobFailure(error), time_finished: new Date() };
}

export function abortedPatch(): JobPatch {
  return { state: 'ABORTED', error: 'Job aborted', time_finished: new Date() };
}
