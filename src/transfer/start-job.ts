import type { Caller } from '../api/call-context.js';
import type { AnyMethod } from '../api/define-method.js';
import { parseParams } from '../api/params.js';
import { screenParams } from '../api/screen.js';
import type { App } from '../app.js';
import { expandRoles, hasAnyRole } from '../auth/roles.js';
import { CallError, NotAuthorizedError } from '../errors/call-error.js';

/** A job method that exchanges a file of the given direction, or a CallError saying why `name` is not one. */
export function pipedJobMethod(app: App, name: string, pipe: 'input' | 'output'): AnyMethod {
  const method = app.registry.method(name);
  if (!method) throw new CallError(`Method ${name} does not exist`, 'ENOMETHOD');
  if (!method.job?.pipes?.includes(pipe)) {
    throw new CallError(pipe === 'output' ? `${name} does not produce a file to download` : `${name} does not take an uploaded file`, 'EINVAL');
  }
  return method;
}

/**
 * Queues a job for `caller` as a WebSocket call would (roles, params screen, precheck) and returns
 * its id; for the file routes and `core.download`, which start jobs outside the dispatcher.
 */
export async function startJobAs(app: App, caller: Caller, method: AnyMethod, args: unknown[]): Promise<number> {
  if (!method.public && !hasAnyRole(expandRoles(caller.roles), method.roles)) throw new NotAuthorizedError();
  screenParams(method, args);
  if (method.precheck) await method.precheck({ app, caller, sessionId: null, job: null }, parseParams(method, args));
  return (await app.jobs.submit(method.name, args, caller)).id;
}
