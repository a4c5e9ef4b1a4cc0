/**
 * The checks that raise alerts. Each returns every alert its condition holds for now; what it no
 * longer returns is cleared. Each reads only the rows that can matter (by expiry, by error), so a
 * check costs the same however many certificates are stored.
 */
import { In, IsNull, LessThan, Not, Or } from 'typeorm';
import type { App } from '../app.js';
import { CertificateAuthorityEntity, CertificateEntity } from '../certs/entities.js';
import { certificateUses } from '../certs/usage.js';
import { DeployTargetEntity } from '../deploy/entities.js';
import { AlertServiceEntity } from './channels/entities.js';
import { CHANNEL_FAILED_CLASS } from './channels/outbox.js';
import { alertClass } from './classes.js';
import { thresholdOf, type ClassSettings } from './class-settings.js';
import type { AlertArgs } from './entities.js';

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

/** One alert a check finds in force. */
export interface RaisedAlert {
  klass: string;
  /** Within the class, what it is about; the same key is the same alert. */
  key: readonly unknown[];
  args: AlertArgs;
}

export interface AlertSource {
  name: string;
  check(app: App, settings: ClassSettings, now: Date): Promise<RaisedAlert[]>;
}

function threshold(settings: ClassSettings, name: string): number {
  return thresholdOf(settings, alertClass(name)!);
}

/** Whole days until `date`, rounded down as Python's `timedelta.days` (TrueNAS's figure). */
function daysUntil(date: Date, now: Date): number {
  return Math.floor((date.getTime() - now.getTime()) / DAY_MS);
}

/** TrueNAS's certificate checks: expiring, expiring soon, expired, unparsable, revoked while in use. */
const certificateChecks: AlertSource = {
  name: 'CertificateChecks',
  async check(app, settings, now) {
    const expiringDays = threshold(settings, 'CertificateIsExpiring');
    const soonDays = threshold(settings, 'CertificateIsExpiringSoon');
    const certificates = app.db.getRepository(CertificateEntity);
    // Unparsable certificates have no expiry; the rest matter only once near it.
    const near = await certificates.find({
      select: { id: true, name: true, not_after: true },
      where: { certificate: Not(IsNull()), not_after: Or(IsNull(), LessThan(new Date(now.getTime() + Math.max(expiringDays, soonDays + 1) * DAY_MS))) },
    });
    const alerts: RaisedAlert[] = [];
    for (const row of near) {
      if (!row.not_after) {
        alerts.push({ klass: 'CertificateParsingFailed', key: [row.name], args: { type: 'Certificate', name: row.name } });
        continue;
      }
      const days = daysUntil(row.not_after, now);
      if (days < 0) alerts.push({ klass: 'CertificateExpired', key: [row.name], args: { name: row.name } });
      else if (days <= soonDays) alerts.push({ klass: 'CertificateIsExpiringSoon', key: [row.name], args: { name: row.name, days } });
      else if (days < expiringDays) alerts.push({ klass: 'CertificateIsExpiring', key: [row.name], args: { name: row.name, days } });
    }
    // Revoked certificates pile up; those in use are few: look among the used ones.
    const uses = await certificateUses(app);
    if (uses.size > 0) {
      const revoked = await certificates.find({ select: { id: true, name: true }, where: { revoked_date: Not(IsNull()), id: In([...uses.keys()]) } });
      for (const row of revoked) {
        for (const use of uses.get(row.id) ?? []) {
          alerts.push({ klass: 'CertificateRevoked', key: [row.name, use.name], args: { service: use.name, type: 'certificate', name: row.name } });
        }
      }
    }
    const unparsedCas = await app.db.getRepository(CertificateAuthorityEntity).find({
      select: { id: true, name: true },
      where: { certificate: Not(IsNull()), not_after: IsNull() },
    });
    for (const row of unparsedCas) {
      alerts.push({ klass: 'CertificateParsingFailed', key: [row.name], args: { type: 'Certificate authority', name: row.name } });
    }
    return alerts;
  },
};

/** A CA nearing its end, with how many certificates it signed outlive it. */
const authorityChecks: AlertSource = {
  name: 'CertificateAuthorityChecks',
  async check(app, settings, now) {
    const days = threshold(settings, 'CertificateAuthorityIsExpiring');
    const authorities = await app.db.getRepository(CertificateAuthorityEntity).find({
      select: { id: true, name: true, not_after: true },
      where: { not_after: LessThan(new Date(now.getTime() + days * DAY_MS)) },
    });
    const alerts: RaisedAlert[] = [];
    for (const ca of authorities) {
      const left = daysUntil(ca.not_after!, now);
      if (left < 0) {
        alerts.push({ klass: 'CertificateAuthorityExpired', key: [ca.id], args: { name: ca.name } });
        continue;
      }
      const outliving = await app.db
        .getRepository(CertificateEntity)
        .count({ where: { signedby_id: ca.id, revoked_date: IsNull(), not_after: Not(LessThan(ca.not_after!)) } });
      alerts.push({ klass: 'CertificateAuthorityIsExpiring', key: [ca.id], args: { name: ca.name, days: left, outliving } });
    }
    return alerts;
  },
};

/** Certificates whose renewal failed and will be tried again: ACME ones, and those signed here with auto_renew. */
const renewalChecks: AlertSource = {
  name: 'AcmeRenewalChecks',
  async check(app) {
    // Written as the partial index's own condition: SQLite serves `NOT (… IS NULL)` by scanning the table.
    const failing = await app.db
      .getRepository(CertificateEntity)
      .createQueryBuilder('c')
      .select(['c.id', 'c.name', 'c.acme_id', 'c.renewal_error', 'c.renewal_attempts', 'c.renewal_next_attempt'])
      .where('c.renewal_error IS NOT NULL')
      .orderBy('c.id')
      .getMany();
    return failing.map((row) => ({
      klass: row.acme_id === null ? 'CertificateRenewalFailed' : 'AcmeCertificateRenewalFailed',
      key: [row.id],
      args: { name: row.name, error: row.renewal_error, attempts: row.renewal_attempts, next_attempt: row.renewal_next_attempt?.toISOString() ?? 'not scheduled' },
    }));
  },
};

/** Deploy targets whose last run failed; the alert clears with the next deploy that works. */
const deployChecks: AlertSource = {
  name: 'DeployTargetChecks',
  async check(app) {
    const failing = await app.db.getRepository(DeployTargetEntity).find({
      select: { id: true, name: true, certificate_id: true, last_error: true, attempts: true, next_attempt_at: true },
      where: { last_error: Not(IsNull()), enabled: true },
    });
    if (failing.length === 0) return [];
    const certificates = await app.db.getRepository(CertificateEntity).find({ select: { id: true, name: true }, where: { id: In(failing.map((target) => target.certificate_id)) } });
    const nameOf = new Map(certificates.map((row) => [row.id, row.name]));
    return failing.map((target) => ({
      klass: 'DeployTargetFailed',
      key: [target.id],
      args: {
        name: target.name,
        certificate: nameOf.get(target.certificate_id) ?? String(target.certificate_id),
        error: target.last_error,
        attempts: target.attempts,
        next_attempt: target.next_attempt_at?.toISOString() ?? 'not scheduled',
      },
    }));
  },
};

/** CRLs certmid signs that come close to their nextUpdate: their refresh keeps failing. */
const crlChecks: AlertSource = {
  name: 'CrlChecks',
  async check(app, settings, now) {
    const hours = threshold(settings, 'CrlIsStale');
    // Only CAs whose key is here have CRLs certmid renews.
    const stale = await app.db.getRepository(CertificateAuthorityEntity).find({
      select: { id: true, name: true, crl_next_update: true },
      where: { crl_next_update: LessThan(new Date(now.getTime() + hours * HOUR_MS)), privatekey: Not(IsNull()) },
    });
    return stale.map((ca) => ({ klass: 'CrlIsStale', key: [ca.id], args: { name: ca.name, next_update: ca.crl_next_update!.toISOString() } }));
  },
};

/** With BullMQ, jobs run only on workers: none alive means nothing runs. */
function workerCheck(startedAt: Date): AlertSource {
  return {
    name: 'JobWorkerChecks',
    async check(app, _settings, now) {
      if (app.jobs.backendName !== 'bullmq') return [];
      const grace = 3 * app.config.jobHeartbeatSeconds * 1000;
      const workers = (await app.jobs.runners()).filter((runner) => runner.kind === 'worker');
      if (workers.some((worker) => worker.alive)) return [];
      const since = Math.max(startedAt.getTime(), ...workers.map((worker) => worker.last_heartbeat.getTime()));
      if (now.getTime() - since < grace) return [];
      return [{ klass: 'NoJobWorker', key: [], args: { since: new Date(since).toISOString() } }];
    },
  };
}

/** Alert channels whose last send failed; the next success clears it (src/alerts/channels/delivery.ts). */
export const channelChecks: AlertSource = {
  name: 'AlertServiceChecks',
  async check(app) {
    const failing = await app.db.getRepository(AlertServiceEntity).find({ select: { id: true, name: true, last_error: true }, where: { last_error: Not(IsNull()) } });
    return failing.map((row) => ({ klass: CHANNEL_FAILED_CLASS, key: [row.id], args: { id: row.id, name: row.name, error: row.last_error } }));
  },
};

/** Every check, in the order they run. */
export function alertSources(startedAt: Date): AlertSource[] {
  return [certificateChecks, authorityChecks, renewalChecks, deployChecks, crlChecks, workerCheck(startedAt), channelChecks];
}
