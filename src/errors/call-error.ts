import { ERRNO, type Errname } from './codes.js';

/** A method failed for a reason the caller should read (-32001 "Method call error" on the wire). */
export class CallError extends Error {
  readonly errno: number;
  readonly errname: Errname;
  readonly extra: unknown;

  constructor(message: string, errname: Errname = 'EFAULT', extra: unknown = null) {
    super(message);
    this.name = 'CallError';
    this.errname = errname;
    this.errno = ERRNO[errname];
    this.extra = extra;
  }

  /** TrueNAS formats the reason as "[ERRNAME] message". */
  get reason(): string {
    return `[${this.errname}] ${this.message}`;
  }
}

/** The caller is not logged in. */
export class NotAuthenticatedError extends CallError {
  constructor() {
    super('Not authenticated', 'ENOTAUTHENTICATED');
    this.name = 'NotAuthenticatedError';
  }
}

/** The caller is logged in but lacks a role the method needs. */
export class NotAuthorizedError extends CallError {
  constructor(message = 'Not authorized') {
    super(message, 'EACCES');
    this.name = 'NotAuthorizedError';
  }
}

/** `query` with `{get: true}` matched nothing (TrueNAS's MatchNotFound). */
export class MatchNotFoundError extends CallError {
  constructor() {
    super('MatchNotFound()', 'EINVAL');
    this.name = 'MatchNotFoundError';
  }

  override get reason(): string {
    return 'MatchNotFound()';
  }
}

/** A job's failure replayed as a call error, keeping the job's own reason text. */
export class JobFailedError extends CallError {
  private readonly jobReason: string;

  constructor(reason: string, errname: Errname, extra: unknown) {
    super(reason, errname, extra);
    this.name = 'JobFailedError';
    this.jobReason = reason;
  }

  override get reason(): string {
    return this.jobReason;
  }
}
