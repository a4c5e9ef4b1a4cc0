import type { CallContext } from '../api/call-context.js';
import type { AnyMethod } from '../api/define-method.js';
import { parseParams } from '../api/params.js';
import { screenParams } from '../api/screen.js';
import type { App } from '../app.js';
import { auditMethodCall, isAudited, type AuditSource } from '../audit/record.js';
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
 * session set `legacy_jobs: false`, the job's result once it ends. Calls of audited methods are
 * recorded once they end, allowed or not, with their outcome.
 */
export async function dispatch(app: App, session: Session, method: AnyMethod, request: RpcRequest): Promise<unknown> {
  if (!isAudited(method)) return await run(app, session, method, request);
  let screened = false;
  try {
    const result = await run(app, session, method, request, () => (screened = true));
    await auditMethodCall(app, auditSourceOf(session), method, request.params, { success: true, authorized: true });
    return result;
  } catch (error) {
    // Parameters refused by the screen may be nested too deep to walk: record that they were refused.
    const params = screened ? request.params : [PARAMS_REFUSED];
    await auditMethodCall(app, auditSourceOf(session), method, params, { success: false, authorized: !isAuthorizationError(error) });
    throw error;
  }
}

/** A call refused before it reached `dispatch` (the legacy protocol authorizes first), recorded if audited. */
export async function auditRefusal(app: App, session: Session, method: AnyMethod): Promise<void> {
  if (!isAudited(method)) return;
  await auditMethodCall(app, auditSourceOf(session), method, [PARAMS_REFUSED], { success: false, authorized: false });
}

/** Stands for parameters not recorded because they were never read (not authorized, or refused by the screen). */
const PARAMS_REFUSED = '(not read)';

function isAuthorizationError(error: unknown): boolean {
  return error instanceof NotAuthorizedError || error instanceof NotAuthenticatedError;
}

function auditSourceOf(session: Session): AuditSource {
  return { sessionId: session.id, address: session.remoteAddress, caller: session.caller };
}

async function run(app: App, session: Session, method: AnyMethod, request: RpcRequest, onScreened?: () => void): Promise<unknown> {
  authorize(method, session);
  screenParams(method, request.params);
  onScreened?.();
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
