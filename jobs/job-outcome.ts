import { CallError } from '../src/errors/call-error.js';
import { ValidationErrors } from '../src/errors/validation-errors.js';
import type { JobPatch } from './job-record.js';

/** The patch for a job that finished with `result`. */
export function successPatch(result: unknown): JobPatch {
  return { state: 'SUCCESS', result: result ?? null, time_finished: new Date() };
}

/** The patch for a job that threw. Unexpected errors keep their text out of the record (it is logged). */
export function failurePatch(error: unknown): JobPatch {
  const finished = new Date();
  if (error instanceof ValidationErrors) {
    return {
      state: 'FAILED',
      error: error.reason,
      exception: error.reason,
      exc_info: { repr: `ValidationErrors(${JSON.stringify(error.errors)})`, type: 'VALIDATION', errno: null, extra: error.errors },
      time_finished: finished,
    };
  }
  if (error instanceof CallError) {
    return {
      state: 'FAILED',
      error: error.reason,
      exception: error.reason,
      exc_info: { repr: `CallError(${JSON.stringify(error.message)})`, type: 'CallError', errno: error.errno, extra: error.extra ?? null },
      time_finished: finished,
    };
  }
  return {
    state: 'FAILED',
    error: '[EFAULT] Internal error',
    exception: '[EFAULT] Internal error',
    exc_info: { repr: 'InternalError()', type: 'InternalError', errno: 14, extra: null },
    time_finished: finished,
  };
}

export function abortedPatch(): JobPatch {
  return { state: 'ABORTED', error: 'Job aborted', time_finished: new Date() };
}
