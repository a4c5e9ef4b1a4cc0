/**
 * Sends what the outbox holds. Any daemon may: it claims due rows with a conditional update (the
 * row's lease is free or expired), so each is sent by one of them, sends each channel's rows as one
 * message, and deletes them. A failed send is tried again after a growing wait, and the channel's
 * error becomes an `AlertServiceFailed` alert, cleared by its next success.
 */
import { In, IsNull, LessThan, LessThanOrEqual, Or } from 'typeorm';
import type { App } from '../../app.js';
import { ALERT_EVENT, runAlertChecks } from '../alerts.js';
import { channelChecks } from '../sources.js';
import { AlertOutboxEntity, AlertServiceEntity, type AlertOutboxRow, type AlertServiceRow } from './entities.js';
import { channelKind } from './kinds.js';
import type { AlertBatch, AlertNotice } from './message.js';
import { channelAttributes, NAMESPACE } from './store.js';
import { runOnChanges } from '../../events/run-on-changes.js';

/** Sent on the event bus when mail.update changed the settings; no client can subscribe to it. */
export const MAIL_EVENT = 'mail.config';

/** How long a claim holds rows; a daemon that dies while sending leaves them to others after it. */
const LEASE_MS = 120_000;
/** After this many failed tries in a row an alert is dropped (its channel's failure alert stays). */
const MAX_ATTEMPTS = 24;
const MAX_RETRY_MS = 3_600_000;
const ERROR_TEXT_LIMIT = 500;

function notice(row: AlertOutboxRow): AlertNotice {
  return { uuid: row.alert_uuid, klass: row.klass, level: row.level, formatted: row.formatted, datetime: row.raised_at };
}

/** Sends a batch through a channel; the error's text (without secrets) when it fails. */
export async function sendThrough(app: App, service: AlertServiceRow, batch: AlertBatch): Promise<string | null> {
  const kind = channelKind(service.type);
  if (!kind) return `unknown channel type ${service.type}`;
  try {
    await kind.send(app, channelAttributes(app, service), batch);
    return null;
  } catch (error) {
    return scrubbed(error instanceof Error ? error.message : String(error), app, service);
  }
}

/** An error text with every secret attribute of the channel masked, shortened. */
function scrubbed(text: string, app: App, service: AlertServiceRow): string {
  let result = text;
  const attributes = channelAttributes(app, service);
  for (const key of channelKind(service.type)?.secrets ?? []) {
    const value = attributes[key];
    if (typeof value === 'string' && value.length >= 4) result = result.replaceAll(value, '********');
  }
  return result.length > ERROR_TEXT_LIMIT ? `${result.slice(0, ERROR_TEXT_LIMIT)}…` : result;
}

/** Claims due rows: each one only if no other daemon holds it. */
async function claimDue(app: App, now: Date): Promise<AlertOutboxRow[]> {
  const outbox = app.db.getRepository(AlertOutboxEntity);
  const due = await outbox.find({
    where: { due_at: LessThanOrEqual(now), next_attempt_at: LessThanOrEqual(now), lease_until: Or(IsNull(), LessThan(now)) },
    order: { id: 'ASC' },
    take: 500,
  });
  const claimed: AlertOutboxRow[] = [];
  const until = new Date(now.getTime() + LEASE_MS);
  for (const row of due) {
    const result = await app.db
      .createQueryBuilder()
      .update(AlertOutboxEntity)
      .set({ lease_until: until })
      .where('id = :id', { id: row.id })
      .andWhere('(lease_until IS NULL OR lease_until < :now)', { now: now.getTime() })
      .execute();
    if (result.affected) claimed.push({ ...row, lease_until: until });
  }
  return claimed;
}

/** Records a channel's outcome; true when its error changed (raised, cleared or reworded). */
async function recordOutcome(app: App, service: AlertServiceRow, error: string | null): Promise<boolean> {
  if (service.last_error === error) return false;
  await app.db.getRepository(AlertServiceEntity).update({ id: service.id }, { last_error: error });
  // Subscribers of alertservice.query see `last_error` change.
  await app.events.publish({ collection: `${NAMESPACE}.query`, msg: 'changed', id: service.id });
  return true;
}

function retryDelay(app: App, attempts: number): number {
  return Math.min(app.config.alertRetrySeconds * 1000 * 2 ** Math.max(0, attempts - 1), MAX_RETRY_MS);
}

/** One pass: sends everything due, channel by channel. */
export async function deliverDue(app: App, now = new Date()): Promise<void> {
  const claimed = await claimDue(app, now);
  if (claimed.length === 0) return;
  const outbox = app.db.getRepository(AlertOutboxEntity);
  const byService = new Map<number, AlertOutboxRow[]>();
  for (const row of claimed) {
    const rows = byService.get(row.service_id) ?? [];
    rows.push(row);
    byService.set(row.service_id, rows);
  }
  let failuresChanged = false;
  for (const [serviceId, rows] of byService) {
    const ids = rows.map((row) => row.id);
    const service = await app.db.getRepository(AlertServiceEntity).findOneBy({ id: serviceId });
    if (!service || !service.enabled) {
      await outbox.delete({ id: In(ids) });
      continue;
    }
    const batch: AlertBatch = { new: rows.filter((row) => row.event === 'new').map(notice), gone: rows.filter((row) => row.event === 'gone').map(notice), test: false };
    const error = await sendThrough(app, service, batch);
    if (error === null) {
      await outbox.delete({ id: In(ids) });
      app.logger.info({ channel: service.id, new: batch.new.length, gone: batch.gone.length }, 'alerts sent');
    } else {
      app.logger.warn({ channel: service.id, error }, 'sending alerts failed');
      const attempts = Math.max(...rows.map((row) => row.attempts)) + 1;
      if (attempts >= MAX_ATTEMPTS) await outbox.delete({ id: In(ids) });
      else await outbox.update({ id: In(ids) }, { attempts, next_attempt_at: new Date(Date.now() + retryDelay(app, attempts)), lease_until: null });
    }
    if (await recordOutcome(app, service, error)) failuresChanged = true;
  }
  // Raises or clears the channels' failure alerts now rather than at the next periodic check.
  if (failuresChanged) await runAlertChecks(app, [channelChecks]);
}

/**
 * Sends on every daemon: after each alert raised or cleared (here or, with Redis, anywhere), after
 * a channel or the mail settings change, and every few seconds for retries and hourly/daily batches.
 * Passes never overlap. Returns what stops it.
 */
export function startAlertDelivery(app: App): () => void {
  return runOnChanges(app, {
    wants: (collection) => collection === ALERT_EVENT || collection === `${NAMESPACE}.query` || collection === MAIL_EVENT,
    intervalMs: Math.min(app.config.alertRetrySeconds, 10) * 1000,
    work: () => deliverDue(app),
    failure: 'alert delivery failed',
  });
}
