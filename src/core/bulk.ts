import { z } from 'zod';
import type { CallContext, Caller } from '../api/call-context.js';
import { defineMethod, type AnyMethod } from '../api/define-method.js';
import { parseParams } from '../api/params.js';
import { screenParams } from '../api/screen.js';
import { auditMethodCall, isAudited, type AuditSource } from '../audit/record.js';
import { expandRoles, hasAnyRole } from '../auth/roles.js';
import { CallError, NotAuthenticatedError, NotAuthorizedError } from '../errors/call-error.js';
import { describeJobFailure } from '../errors/job-failure.js';

/** The outcome of one call of a bulk run, as TrueNAS reports it. */
interface BulkStatus {
  job_id: number | null;
  error: string | null;
  result: unknown;
}

/**
 * Fills TrueNAS's progress description (`"Deleting {0}"`): `{n}` is the n-th argument and
 * `{n[key]}` a key of it, as Python's `str.format` reads them here.
 */
function describe(template: string, args: readonly unknown[]): string {
  return template.replace(/\{(\d+)(?:\[([^\]]+)\])?\}/g, (_whole, index: string, key: string | undefined) => {
    const value = args[Number(index)];
    const picked = key === undefined ? value : (value as Record<string, unknown> | null)?.[key];
    return typeof picked === 'string' ? picked : JSON.stringify(picked ?? null);
  });
}

/** Refuses a call the caller may not make, as the dispatcher would. */
function authorizeFor(method: AnyMethod, caller: Caller | null): void {
  if (method.public) return;
  if (!caller) throw new NotAuthenticatedError();
  if (!hasAnyRole(expandRoles(caller.roles), method.roles)) throw new NotAuthorizedError();
}

/**
 * Runs one call of a bulk run with the caller's credentials: the same checks, auditing and job
 * handling as a call over the wire. A job method's job is queued and waited for.
 */
async function callOnce(ctx: CallContext, source: AuditSource, method: AnyMethod, args: readonly unknown[], status: BulkStatus): Promise<void> {
  let authorized = true;
  try {
    try {
      authorizeFor(method, ctx.caller);
    } catch (error) {
      authorized = false;
      throw error;
    }
    screenParams(method, args);
    const params = parseParams(method, args);
    if (method.job) {
      if (method.precheck) await method.precheck({ ...ctx, job: null }, params);
      const record = await ctx.app.jobs.submit(method.name, [...args], ctx.caller);
      status.job_id = record.id;
      const done = await ctx.app.jobs.wait(record.id);
      if (done.state === 'SUCCESS') status.result = done.result;
      else status.error = done.error ?? (done.state === 'ABORTED' ? 'Job aborted' : 'Job failed');
    } else {
      status.result = await method.handler({ ...ctx, job: null }, params);
    }
  } catch (error) {
    status.error = describeJobFailure(error).error;
  }
  if (isAudited(method)) await auditMethodCall(ctx.app, source, method, authorized ? args : ['(not read)'], { success: status.error === null, authorized });
}

export const bulk = defineMethod({
  name: 'core.bulk',
  description:
    'A job that calls a method once for each argument list, in order, with the caller\'s roles. It ends SUCCESS with one ' +
    '{job_id, error, result} per call: check each for errors.',
  params: {
    method: z.string().min(1).max(1024).describe('The method to call, for example certificate.delete.'),
    params: z.array(z.array(z.unknown())).describe('One argument list per call.'),
    description: z.string().max(1024).nullable().default(null).describe('Progress description for each call; "{0}" is its first argument.'),
  },
  result: z.array(
    z.object({
      job_id: z.number().nullable().describe('The job the call started, for a job method; else null.'),
      error: z.string().nullable().describe('Why the call failed, as a job error reads; null when it succeeded.'),
      result: z.unknown().describe('What the call returned; null when it failed.'),
    }),
  ),
  roles: [],
  // It queues and waits for jobs of the methods it calls, which needs the daemon's job feed.
  job: { inDaemon: true },
  handler: async (ctx, { method: name, params, description }) => {
    const method = ctx.app.registry.method(name);
    if (!method) throw new CallError(`Method ${name} does not exist`, 'ENOMETHOD');
    // Recorded against the job, which is what ran the calls.
    const source: AuditSource = { sessionId: `job ${ctx.job!.id}`, address: '', caller: ctx.caller };
    const statuses: BulkStatus[] = [];
    for (const [index, args] of params.entries()) {
      ctx.job!.progress((index / params.length) * 100, description ? describe(description, args) : null);
      const status: BulkStatus = { job_id: null, error: null, result: null };
      await callOnce(ctx, source, method, args, status);
      statuses.push(status);
    }
    return statuses;
  },
});
