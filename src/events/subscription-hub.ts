import type { App } from '../app.js';
import { expandRoles, hasAnyRole } from '../auth/roles.js';
import type { JobEvent } from '../api/jobs.js';
import { Notification, type Session } from '../rpc/session.js';
import type { CollectionUpdate } from './event-bus.js';

export const JOBS_EVENT = 'core.get_jobs';

/** Whether a session's caller may receive an event (and so subscribe to it). */
export function maySubscribe(app: App, session: Session, name: string): boolean {
  if (!session.caller) return false;
  const roles = expandRoles(session.caller.roles);
  if (name === '*') return roles.has('FULL_ADMIN');
  if (name === JOBS_EVENT) return true;
  const event = app.registry.event(name);
  return event !== undefined && hasAnyRole(roles, event.roles);
}

/**
 * `maySubscribe` for one event over many sessions: decided once per distinct set of roles, since
 * expanding a caller's roles costs more than sending the frame.
 */
function mayReceive(app: App, name: string): (session: Session) => boolean {
  const decided = new Map<string, boolean>();
  return (session) => {
    if (!session.caller) return false;
    const roles = session.caller.roles.join(',');
    let allowed = decided.get(roles);
    if (allowed === undefined) {
      allowed = maySubscribe(app, session, name);
      decided.set(roles, allowed);
    }
    return allowed;
  };
}

/**
 * Sends entity changes and job changes to the sessions that subscribed and may see them. Each event
 * is serialised once per wire form, not once per session: with many watchers that is most of the cost.
 */
export function startSubscriptionHub(app: App): void {
  app.events.onUpdate(({ signedOnly: _internal, ...update }: CollectionUpdate) => {
    const notification = new Notification('collection_update', update);
    const allowed = mayReceive(app, update.collection);
    for (const session of app.sessions.all()) {
      if (session.isSubscribedTo(update.collection) && allowed(session)) session.deliver(notification);
    }
  });
  app.jobs.onEvent((event: JobEvent) => {
    // As TrueNAS sends it: the whole job, its result included, to the sessions that may read the job.
    const notification = new Notification('collection_update', { msg: event.msg, collection: JOBS_EVENT, id: event.record.id, fields: event.record });
    for (const session of app.sessions.all()) {
      if (session.isSubscribedTo(JOBS_EVENT) && app.jobs.canAccess(session.caller, event.record)) session.deliver(notification);
    }
  });
}
