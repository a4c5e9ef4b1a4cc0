import type { CallContext, Caller, JobReporter } from '../src/api/call-context.js';
import { parseParams } from '../src/api/params.js';
import type { App } from '../src/app.js';
import { CallError } from '../src/errors/call-error.js';
import type { JobProgress } from './job-record.js';

/** Turns `progress(...)` calls into whole progress objects, dropping calls that change nothing. */
export function progressReporter(
  id: number,
  signal: AbortSignal,
  onChange: (progress: JobProgress) => void,
): JobReporter {
  let current: JobProgress = { percent: 0, description: '', extra: null };
  return {
    id,
    signal,
    progress(percent, description, extra) {
      const next: JobProgress = {
        percent: percent === null || percent === undefined ? current.percent : Math.max(current.percent, Math.min(100, Math.floor(percent))),
        description: description ?? current.description,
        extra: extra === undefined ? current.extra : extra,
      };
      if (next.percent === current.percent && next.description === current.description && next.extra === current.extra) return;
      current = next;
      onChange(current);
    },
  };
}

/**
 * Runs a job method's handler: validates the arguments inside the job (as TrueNAS does, so invalid
 * input ends as a FAILED job with exc_info VALIDATION) and returns its result.
 */
export async function executeJob(
  app: App,
  methodName: string,
  args: readonly unknown[],
  caller: Caller | null,
  reporter: JobReporter,
): Promise<unknown> {
  const method = app.registry.method(methodName);
  if (!method?.job) throw new CallError(`${methodName} is not a job method`, 'ENOMETHOD');
  const params = parseParams(method, args);
  const ctx: CallContext = { app, caller, sessionId: null, job: reporter };
  return await method.handler(ctx, params);
}
