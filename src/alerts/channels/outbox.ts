/**
 * Queues alerts for sending, in the transaction that raised or cleared them: one outbox row per
 * alert and channel whose level it reaches, due at once or at the next full hour or day as the
 * class's policy says (NEVER: nothing).
 */
import type { EntityManager } from 'typeorm';
import { ALERT_LEVELS, alertClass, formatAlertText } from '../classes.js';
import { levelOf, policyOf, type ClassSettings } from '../class-settings.js';
import type { AlertRow } from '../entities.js';
import { AlertOutboxEntity, AlertServiceEntity } from './entities.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** The class certmid raises when a channel's sends fail; never sent through that channel itself. */
export const CHANNEL_FAILED_CLASS = 'AlertServiceFailed';

function dueAt(policy: string, now: Date): Date {
  if (policy === 'HOURLY') return new Date(Math.floor(now.getTime() / HOUR_MS) * HOUR_MS + HOUR_MS);
  if (policy === 'DAILY') return new Date(Math.floor(now.getTime() / DAY_MS) * DAY_MS + DAY_MS);
  return now;
}

export async function queueAlertNotices(
  manager: EntityManager,
  settings: ClassSettings,
  changes: { added: readonly AlertRow[]; removed: readonly AlertRow[] },
  now: Date,
): Promise<void> {
  if (changes.added.length === 0 && changes.removed.length === 0) return;
  const services = await manager.getRepository(AlertServiceEntity).find({ select: { id: true, level: true }, where: { enabled: true } });
  if (services.length === 0) return;
  const rows = [];
  for (const [event, alerts] of [['new', changes.added], ['gone', changes.removed]] as const) {
    for (const alert of alerts) {
      const klass = alertClass(alert.klass);
      if (!klass) continue;
      const policy = policyOf(settings, klass);
      if (policy === 'NEVER') continue;
      const level = levelOf(settings, klass);
      for (const service of services) {
        if (ALERT_LEVELS.indexOf(level) < ALERT_LEVELS.indexOf(service.level as (typeof ALERT_LEVELS)[number])) continue;
        if (alert.klass === CHANNEL_FAILED_CLASS && alert.args.id === service.id) continue;
        rows.push({
          service_id: service.id,
          event,
          alert_uuid: alert.uuid,
          klass: alert.klass,
          level,
          formatted: formatAlertText(klass.text, alert.args),
          raised_at: alert.datetime,
          due_at: dueAt(policy, now),
          next_attempt_at: now,
          attempts: 0,
          lease_until: null,
        });
      }
    }
  }
  if (rows.length > 0) await manager.getRepository(AlertOutboxEntity).insert(rows);
}
