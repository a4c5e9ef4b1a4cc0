import type { App } from '../app.js';
import { CallError } from '../errors/call-error.js';
import type { CallContext } from './call-context.js';
import type { JobMethods } from './jobs.js';
import { jobLock, parseJobParams } from './params.js';

/**
 * The registry's job methods as the job runners see them. A handler validates its arguments
 * inside the job (as TrueNAS does, so invalid input ends as a FAILED job with exc_info VALIDATION).
 */
export function jobMethodsOf(app: App, beforeEachRun: () => Promise<void> = async () => undefined): JobMethods {
  return {
    options(name, args) {
      const method = app.registry.method(name);
      if (!method?.job) return undefined;
      return { abortable: method.job.abortable ?? false, inDaemon: method.job.inDaemon ?? false, lock: jobLock(method, args) };
    },
    async run(name, args, caller, reporter) {
      const method = app.registry.method(name);
      if (!method?.job) throw new CallError(`${name} is not a job method`, 'ENOMETHOD');
      const params = parseJobParams(method, args);
      await beforeEachRun();
      const ctx: CallContext = { app, caller, sessionId: null, job: reporter };
      return await method.handler(ctx, params);
    },
  };
}
