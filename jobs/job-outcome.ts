import { describeJobFailure } from '../src/errors/job-failure.js';
import type { JobRecord } from '../src/api/jobs.js';

/** Changes to a job's record. */
export type JobPatch = Partial<Pick<JobRecord, 'state' | 'progress' | 'result' | 'error' | 'exception' | 'exc_info' | 'time_finished'>>;

/** The end of a job: its final state and what goes with it. */
export type FinalPatch = JobPatch & { state: 'SUCCESS' | 'FAILED' | 'ABORTED' };

/** Why a job whose runner stopped (killed, crashed, lost its host) ended. */
export const INTERRUPTED_REASON = 'Job interrupted: the process running it stopped';

/** Why a job the queue lost before any worker took it ended. */
export const LOST_REASON = 'Job lost: the job queue (Redis) no longer holds it, so it never ran; nothing was done';

/** The patch for a job that finished with `result`. */
export function successPatch(result: unknown): FinalPatch {
  return { state: 'SUCCESS', result: result ?? null, time_finished: new Date() };
}

/** The patch for a job that threw. Unexpected errors keep their text out of the record (it is logged). */
export function failurePatch(error: unknown): FinalPatch {
  return { state: 'FAILED', ...describeJobFailure(error), time_finished: new Date() };
}

export function abortedPatch(): FinalPatch {
  return { state: 'ABORTED', error: 'Job aborted', time_finished: new Date() };
}

/** A job that cannot end by itself any more: its runner died, or the queue lost it. */
function endedElsewherePatch(reason: string, type: string): FinalPatch {
  const error = `[EINTR] ${reason}`;
  return {
    state: 'FAILED',
    error,
    exception: error,
    exc_info: { repr: `${type}()`, type, errno: 4, extra: null },
    time_finished: new Date(),
  };
}

export const interruptedPatch = (): FinalPatch => endedElsewherePatch(INTERRUPTED_REASON, 'JobInterrupted');

export const lostPatch = (): FinalPatch => endedElsewherePatch(LOST_REASON, 'JobLost');

/** A job whose effect committed, and whose runner stopped before it returned its result. */
export function effectSavedPatch(): FinalPatch {
  return {
    state: 'SUCCESS',
    result: null,
    progress: { percent: 100, description: 'Done: the change was saved, but the process running the job stopped before it returned the result', extra: null },
    time_finished: new Date(),
  };
}
