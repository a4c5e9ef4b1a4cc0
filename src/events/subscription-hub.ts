import type { App } from '../app.js';
import { expandRoles, hasAnyRole } from '../auth/roles.js';
import type { JobEvent } from '../api/jobs.js';
import type { Session } from '../rpc/session.js';
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

/** Sends entity changes and job changes to the sessions that subscribed and may see them. */
export function startSubscriptionHub(app: App): void {
  app.events.onUpdate((update: CollectionUpdate) => {
    for (const session of app.sessions.all()) {
      if (session.isSubscribedTo(update.collection) && maySubscribe(app, session, update.collection)) {
        session.notify('collection_update', update);
      }
    }
  });
  app.jobs.onEvent((event: JobEvent) => {
    for (const session of app.sessions.all()) {
      if (session.isSubscribedTo(JOBS_EVENT) && app.jobs.canAccess(session.caller, event.record)) {
        session.notify('collection_update', {
          msg: event.msg,
          collection: JOBS_EVENT,
          id: event.record.id,
          fields: event.record,
        });
      }
    }
  });
}
