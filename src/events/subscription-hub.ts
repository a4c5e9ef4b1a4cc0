import type { App } from '../app.js';
import { expandRoles, hasAnyRole } from '../auth/roles.js';
import { resultTextOf, type JobEvent, type JobRecord } from '../api/jobs.js';
import { stringify } from '../client/ejson.js';
import { JSON_RPC_FORM, Notification, type Session } from '../rpc/session.js';
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

/** The texts of jobs' arguments, written at their first event: every event of a job repeats them. */
const argumentTexts = new WeakMap<object, string>();

/**
 * A job's `collection_update`. Its JSON-RPC frame is written field by field, to the text `stringify`
 * writes, reusing what the job's events repeat: its arguments, written at its first event, and its
 * result, whose text the job store parsed it from (a create's result is a whole certificate entry).
 */
export class JobNotification extends Notification {
  constructor(private readonly event: JobEvent) {
    super('collection_update', { msg: event.msg, collection: JOBS_EVENT, id: event.record.id, fields: event.record });
  }

  protected override text(form: string, shape: (notification: Notification) => object): string {
    if (form !== JSON_RPC_FORM) return super.text(form, shape);
    const { msg, record } = this.event;
    // The frame without its last field, closed by `}}`: `fields` goes before them.
    const head = stringify({ jsonrpc: '2.0', method: this.method, params: { msg, collection: JOBS_EVENT, id: record.id } });
    return `${head.slice(0, -2)},"fields":${jobRecordText(record)}}}`;
  }
}

/** `stringify(record)`, with the texts of its arguments and result reused when known. */
function jobRecordText(record: JobRecord): string {
  const fields: string[] = [];
  for (const [key, value] of Object.entries(record)) {
    // JSON leaves such fields out.
    if (value === undefined || typeof value === 'function' || typeof value === 'symbol') continue;
    fields.push(`${JSON.stringify(key)}:${jobFieldText(key, value)}`);
  }
  return `{${fields.join(',')}}`;
}

function jobFieldText(key: string, value: unknown): string {
  // A plain value has no ejson form: the native writer without a replacer writes it as `stringify` would.
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (key === 'result') return resultTextOf(value) ?? stringify(value);
  if (key !== 'arguments') return stringify(value);
  let text = argumentTexts.get(value);
  if (text === undefined) {
    text = stringify(value);
    argumentTexts.set(value, text);
  }
  return text;
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
    const notification = new JobNotification(event);
    for (const session of app.sessions.all()) {
      if (session.isSubscribedTo(JOBS_EVENT) && app.jobs.canAccess(session.caller, event.record)) session.deliver(notification);
    }
  });
}
