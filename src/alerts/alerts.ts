/**
 * Alerts in force: each check's findings are reconciled with the `alert` table (new ones added,
 * gone ones cleared, changed ones updated) and announced on `alert.list`. Several daemons may check
 * at once: the table's unique class-and-key pair lets one of them add each alert, and only the one
 * whose write took effect announces it.
 */
import { randomUUID } from 'node:crypto';
import { In } from 'typeorm';
import type { App } from '../app.js';
import { placeholders } from '../db/row-statements.js';
import { transaction } from '../db/transaction.js';
import { runOnChanges } from '../events/run-on-changes.js';
import type { CollectionUpdate } from '../events/event-bus.js';
import { ALERT_CLASSES, ALERT_LEVELS, alertClass, formatAlertText } from './classes.js';
import { levelOf, policyOf, readClassSettings, type ClassSettings } from './class-settings.js';
import { queueAlertNotices } from './channels/outbox.js';
import { AlertEntity, type AlertArgs, type AlertRow } from './entities.js';
import type { AlertSource, RaisedAlert } from './sources.js';

export const ALERT_EVENT = 'alert.list';
/** Sent on the event bus when alertclasses.update changed the settings; no client can subscribe to it. */
export const ALERT_CLASSES_EVENT = 'alertclasses.config';

/** An alert as `alert.list` shows it, in TrueNAS's shape. */
export type AlertEntry = ReturnType<typeof alertEntry>;

export function alertEntry(row: AlertRow, settings: ClassSettings) {
  const klass = alertClass(row.klass);
  const text = klass?.text ?? row.klass;
  return {
    uuid: row.uuid,
    source: row.source,
    klass: row.klass,
    args: row.args,
    node: 'Controller A',
    key: row.key,
    datetime: row.datetime,
    last_occurrence: row.last_occurrence,
    dismissed: row.dismissed,
    mail: null,
    text,
    id: row.uuid,
    level: klass ? levelOf(settings, klass) : 'WARNING',
    formatted: formatAlertText(text, row.args),
    one_shot: false,
  };
}

/** Alerts of an unknown class, or of one whose policy is NEVER, are neither listed nor announced. */
function shown(klassName: string, settings: ClassSettings): boolean {
  const klass = alertClass(klassName);
  return klass !== undefined && policyOf(settings, klass) !== 'NEVER';
}

/** Every alert shown, most severe first, then by title and age, as TrueNAS orders them. */
export async function listAlerts(app: App): Promise<AlertEntry[]> {
  const settings = await readClassSettings(app);
  const rank = (entry: AlertEntry) => ALERT_LEVELS.indexOf(entry.level);
  const title = (entry: AlertEntry) => alertClass(entry.klass)?.title ?? entry.klass;
  return (await app.db.getRepository(AlertEntity).find())
    .filter((row) => shown(row.klass, settings))
    .map((row) => alertEntry(row, settings))
    .sort((a, b) => rank(b) - rank(a) || title(a).localeCompare(title(b)) || a.datetime.getTime() - b.datetime.getTime());
}

/** Sets an alert's dismissal; false when there is no such alert (TrueNAS then does nothing either). */
export async function setDismissed(app: App, uuid: string, dismissed: boolean): Promise<boolean> {
  const alerts = app.db.getRepository(AlertEntity);
  const result = await alerts.update({ uuid }, { dismissed });
  if (!result.affected) return false;
  const row = await alerts.findOneBy({ uuid });
  if (row) await announce(app, [changedUpdate('changed', row, await readClassSettings(app))]);
  return true;
}

function changedUpdate(msg: 'added' | 'changed', row: AlertRow, settings: ClassSettings): CollectionUpdate {
  return { collection: ALERT_EVENT, msg, id: row.uuid, fields: alertEntry(row, settings) };
}

async function announce(app: App, updates: readonly CollectionUpdate[]): Promise<void> {
  for (const update of updates) await app.events.publish(update);
}

const keyText = (key: readonly unknown[]) => JSON.stringify(key);
const sameArgs = (a: AlertArgs, b: AlertArgs) => JSON.stringify(a) === JSON.stringify(b);

/** Makes the table hold exactly what `source` found now (under `settings`), and announces the difference. */
async function reconcile(app: App, settings: ClassSettings, source: string, raised: readonly RaisedAlert[], now: Date): Promise<void> {
  const updates = await transaction(app.db, async (manager) => {
    const alerts = manager.getRepository(AlertEntity);
    const existing = new Map((await alerts.findBy({ source })).map((row) => [`${row.klass}\n${row.key}`, row]));
    const found: CollectionUpdate[] = [];
    const added: AlertRow[] = [];
    const removed: AlertRow[] = [];
    const stillFound: number[] = [];
    for (const alert of raised) {
      const key = keyText(alert.key);
      const current = existing.get(`${alert.klass}\n${key}`);
      existing.delete(`${alert.klass}\n${key}`);
      if (current && sameArgs(current.args, alert.args)) {
        stillFound.push(current.id);
        continue;
      }
      if (current) {
        await alerts.update({ id: current.id }, { args: alert.args, last_occurrence: now });
        found.push(changedUpdate('changed', { ...current, args: alert.args, last_occurrence: now }, settings));
        continue;
      }
      const row: Omit<AlertRow, 'id'> = { uuid: randomUUID(), klass: alert.klass, key, source, args: alert.args, datetime: now, last_occurrence: now, dismissed: false };
      // Another daemon may have added it a moment ago: then its row stands and it announced it.
      await manager.createQueryBuilder().insert().into(AlertEntity).values(row).orIgnore().execute();
      const stored = await alerts.findOneBy({ klass: alert.klass, key });
      if (stored?.uuid === row.uuid) {
        found.push(changedUpdate('added', stored, settings));
        added.push(stored);
      }
    }
    // Alerts found again unchanged: one write for all of them.
    if (stillFound.length > 0) await alerts.update({ id: In(stillFound) }, { last_occurrence: now });
    for (const gone of existing.values()) {
      const deleted = await alerts.delete({ id: gone.id });
      if (deleted.affected) {
        found.push({ collection: ALERT_EVENT, msg: 'removed', id: gone.uuid });
        removed.push(gone);
      }
    }
    // Only the daemon whose write took effect queues the notices, in the same transaction.
    await queueAlertNotices(manager, settings, { added, removed }, now);
    return found;
  });
  await announce(app, updates.filter((update) => update.msg === 'removed' || shown(String(update.fields?.klass), settings)));
}

/** Runs every check and reconciles its findings; a check that fails leaves its alerts as they were. */
export async function runAlertChecks(app: App, sources: readonly AlertSource[], now = new Date()): Promise<void> {
  const settings = await readClassSettings(app);
  const holding = await sourcesWithAlerts(app, sources);
  for (const source of sources) {
    let raised: RaisedAlert[];
    try {
      raised = await source.check(app, settings, now);
    } catch (error) {
      app.logger.error({ err: error, source: source.name }, 'alert check failed');
      continue;
    }
    // Nothing found and nothing to clear, the usual case: no write transaction.
    if (raised.length === 0 && !holding.has(source.name)) continue;
    await reconcile(app, settings, source.name, raised, now);
  }
}

/**
 * Which of `sources` have alerts stored: one look-up by the source index each, so the cost does
 * not grow with the number of alerts (a DISTINCT would read the whole index), all in one statement
 * whose text depends only on how many sources there are, so it stays prepared.
 */
async function sourcesWithAlerts(app: App, sources: readonly AlertSource[]): Promise<Set<string>> {
  if (sources.length === 0) return new Set();
  const lookups = sources.map((_, i) => `SELECT * FROM (SELECT "source" FROM "alert" WHERE "source" = ? LIMIT 1) AS held${i}`);
  const rows = (await app.db.query(placeholders(app.db.manager, lookups.join(' UNION ALL ')), sources.map((source) => source.name))) as Array<{ source: string }>;
  return new Set(rows.map((row) => row.source));
}

/** The classes by category, as `alert.list_categories` shows them. */
export function alertCategories(categories: Record<string, string>) {
  return Object.entries(categories)
    .map(([id, title]) => ({
      id,
      title,
      classes: ALERT_CLASSES.filter((klass) => klass.category === id)
        .map((klass) => ({ id: klass.name, title: klass.title, level: klass.level, proactive_support: false }))
        .sort((a, b) => a.title.localeCompare(b.title)),
    }))
    .filter((category) => category.classes.length > 0);
}

/** Changes after which the checks run again soon. */
const WATCHED_COLLECTIONS = new Set(['certificate.query', 'certificateauthority.query', 'certificate.deploy_target.query', 'system.general.config', 'alertservice.query', ALERT_CLASSES_EVENT]);

/**
 * A change runs the checks this much later, with every change made meanwhile: a burst of creates
 * costs one run, not two per certificate, and an alert still shows a moment after its cause.
 */
const ALERT_SETTLE_MS = 100;

/**
 * While changes keep coming (creates in flight one after another), runs start at most this often:
 * each run reads what every check watches, whatever changed, so back-to-back runs cost a burst
 * more than its changes do. An alert still shows within this long of its cause.
 */
const ALERT_SPACING_MS = 300;

/**
 * Runs the checks now, periodically, and shortly after changes to what they watch (here or, with
 * Redis, on any daemon). Runs never overlap: a change during a run asks for one more after it.
 * Returns what stops it.
 */
export function startAlertChecks(app: App, sources: readonly AlertSource[]): () => void {
  return runOnChanges(app, {
    wants: (collection) => WATCHED_COLLECTIONS.has(collection),
    intervalMs: app.config.alertCheckIntervalSeconds * 1000,
    work: () => runAlertChecks(app, sources),
    failure: 'alert checks failed',
    settleMs: ALERT_SETTLE_MS,
    spacingMs: ALERT_SPACING_MS,
  });
}
