import type { CallContext } from '../api/call-context.js';
import type { AnyMethod } from '../api/define-method.js';
import { parseParams } from '../api/params.js';
import { screenParams } from '../api/screen.js';
import type { App } from '../app.js';
import { expandRoles, hasAnyRole } from '../auth/roles.js';
import { decode } from '../client/ejson.js';
import { CallError, JobFailedError, NotAuthenticatedError, NotAuthorizedError } from '../errors/call-error.js';
import { errnameOf } from '../errors/codes.js';
import { ValidationErrors, type ValidationTriple } from '../errors/validation-errors.js';
import type { JobRecord } from '../api/jobs.js';
import type { RpcRequest } from './envelope.js';
import type { Session } from './session.js';

/** Refuses a caller who may not call `method`. */
export function authorize(method: AnyMethod, session: Session): void {
  if (method.public) return;
  if (!session.caller) throw new NotAuthenticatedError();
  if (!hasAnyRole(expandRoles(session.caller.roles), method.roles)) throw new NotAuthorizedError();
}

/**
 * Runs one call for a session and returns its result. A job method returns its job id, or, when the
 * session set `legacy_jobs: false`, the job's result once it ends.
 */
export async function dispatch(app: App, session: Session, method: AnyMethod, request: RpcRequest): Promise<unknown> {
  authorize(method, session);
  screenParams(method, request.params);
  const args = decode(request.params) as unknown[];
  if (method.job) {
    if (method.precheck) await method.precheck(contextFor(app, session), parseParams(method, args));
    const record = await app.jobs.submit(method.name, args, session.caller, request.id);
    if (session.options.legacy_jobs) return record.id;
    return jobOutcome(await app.jobs.wait(record.id));
  }
  return await method.handler(contextFor(app, session), parseParams(method, args));
}

function contextFor(app: App, session: Session): CallContext {
  return { app, caller: session.caller, sessionId: session.id, job: null };
}

/** A finished job's result, or its failure as the error a direct call would have raised. */
export function jobOutcome(record: JobRecord): unknown {
  if (record.state === 'SUCCESS') return record.result;
  if (record.state === 'ABORTED') throw new CallError('Job aborted', 'ECANCELED');
  const info = record.exc_info;
  if (info?.type === 'VALIDATION' && Array.isArray(info.extra)) throw new ValidationErrors(info.extra as ValidationTriple[]);
  throw new JobFailedError(record.error ?? 'Job failed', errnameOf(info?.errno ?? 14), info?.extra ?? null);
}
