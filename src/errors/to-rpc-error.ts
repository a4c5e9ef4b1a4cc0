import { CallError } from './call-error.js';
import { ERRNO, RPC_CODE, errnameOf } from './codes.js';
import { ValidationErrors } from './validation-errors.js';

/** The `error.data` object TrueNAS clients parse (`format_truenas_error`). */
export interface TruenasErrorData {
  error: number;
  errname: string;
  reason: string;
  trace: null;
  extra: unknown;
}

export interface RpcError {
  code: number;
  message: string;
  data?: TruenasErrorData;
}

/** True for errors a handler throws on purpose; anything else is a bug to log. */
export function isExpectedError(error: unknown): error is CallError | ValidationErrors {
  return error instanceof CallError || error instanceof ValidationErrors;
}

/** The TrueNAS error data for any thrown value. Unexpected errors never reveal their text or stack. */
export function toErrorData(error: unknown): TruenasErrorData {
  if (error instanceof ValidationErrors) {
    return { error: ERRNO.EINVAL, errname: 'EINVAL', reason: error.reason, trace: null, extra: error.errors };
  }
  if (error instanceof CallError) {
    return { error: error.errno, errname: error.errname, reason: error.reason, trace: null, extra: error.extra };
  }
  return { error: ERRNO.EFAULT, errname: errnameOf(ERRNO.EFAULT), reason: '[EFAULT] Internal error', trace: null, extra: null };
}

/** Maps a thrown value to the JSON-RPC error object of the reply. */
export function toRpcError(error: unknown): RpcError {
  if (error instanceof ValidationErrors) {
    return { code: RPC_CODE.INVALID_PARAMS, message: 'Invalid params', data: toErrorData(error) };
  }
  return { code: RPC_CODE.CALL_ERROR, message: 'Method call error', data: toErrorData(error) };
}
