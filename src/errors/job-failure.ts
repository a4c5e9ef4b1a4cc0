import { CallError } from './call-error.js';
import { ValidationErrors } from './validation-errors.js';

/** What a FAILED job shows of the error that ended it (`error`, `exception`, `exc_info`). */
export interface JobFailure {
  error: string;
  exception: string;
  exc_info: { repr: string; type: string; errno: number | null; extra: unknown };
}

/** How an error that ended a job is shown. Unexpected errors keep their text out of the record (it is logged). */
export function describeJobFailure(error: unknown): JobFailure {
  if (error instanceof ValidationErrors) {
    return {
      error: error.reason,
      exception: error.reason,
      exc_info: { repr: `ValidationErrors(${JSON.stringify(error.errors)})`, type: 'VALIDATION', errno: null, extra: error.errors },
    };
  }
  if (error instanceof CallError) {
    return {
      error: error.reason,
      exception: error.reason,
      exc_info: { repr: `CallError(${JSON.stringify(error.message)})`, type: 'CallError', errno: error.errno, extra: error.extra ?? null },
    };
  }
  return {
    error: '[EFAULT] Internal error',
    exception: '[EFAULT] Internal error',
    exc_info: { repr: 'InternalError()', type: 'InternalError', errno: 14, extra: null },
  };
}
