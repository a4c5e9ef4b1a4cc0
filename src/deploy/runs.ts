/**
 * Running deploy targets: the `certificate.deploy_target.run` job, and the sweep that finds due
 * targets and starts exactly one run per target and serial however many daemons sweep.
 *
 * A target is due when it is enabled, its certificate's serial differs from `last_serial`, and
 * its backoff (`next_attempt_at`) has passed. A sweeping daemon claims a due target with one
 * conditional UPDATE that sets `lease_until` only while the target is still due and unleased: of
 * several daemons sharing the database, one UPDATE changes the row and only its daemon queues the
 * job. The job keeps the lease while it runs and clears it in the UPDATE that records the result,
 * so once `last_serial` is the current serial no sweep claims the target again.
 */
import { In } from 'typeorm';
import type { CallContext } from '../api/call-context.js';
import type { App } from '../app.js';
import { renewalBackoffMs } from '../acme/renewal.js';
import { CertificateEntity } from '../certs/entities.js';
import { transaction } from '../db/transaction.js';
import { CallError } from '../errors/call-error.js';
import { DeployTargetEntity, type DeployTargetRow } from './entities.js';
import { DeployError } from './kind.js';
import { deployKindFor } from './kinds/index.js';
import { currentSerial, loadMaterial } from './material.js';
import { fetchTarget, getTarget, NAMESPACE, openAttributes, type TargetEntry } from './targets.js';
import { refreshSuperseded } from '../certs/versions.js';

export const RUN_METHOD = 'certificate.deploy_target.run';

/** How long a claim holds without news from its run; a running job renews it every LEASE_RENEW_MS. */
const LEASE_MS = 10 * 60_000;
const LEASE_RENEW_MS = 60_000;
/** Each daemon sweeps this often besides on events, so nothing waits for an event that was lost. */
const SWEEP_INTERVAL_MS = 5 * 60_000;
/** Node's timers fire at once beyond this (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The text a failure that is no DeployError leaves on the target; the details go to the log only. */
const UNEXPECTED = 'The deploy failed unexpectedly; the daemon log has the details';

const publishChanged = (app: App, id: number) => app.events.publish({ collection: `${NAMESPACE}.query`, msg: 'changed', id });

/**
 * Changes one target in a transaction of its own: on SQLite a statement outside one would join
 * whatever transaction the process has open on its single connection, and roll back with it.
 */
function updateTarget(app: App, id: number, changes: Partial<DeployTargetRow>): Promise<unknown> {
  return transaction(app.db, (manager) => manager.getRepository(DeployTargetEntity).update({ id }, changes));
}

function setLease(app: App, id: number): Promise<unknown> {
  return updateTarget(app, id, { lease_until: new Date(Date.now() + LEASE_MS) });
}

/**
 * `certificate.deploy_target.run`: deploys the certificate's current version to the target now.
 * A run the sweep queued (no caller) first checks that the target still wants this serial; a run
 * asked for by hand deploys whatever the serial. Success and failure are both recorded on the target;
 * a failure also fails the job with the same text.
 */
export async function runTarget(ctx: CallContext, id: number): Promise<TargetEntry> {
  const { app } = ctx;
  const job = ctx.job!;
  const row = await fetchTarget(app, id);
  const automatic = ctx.caller === null;
  if (automatic && (await alreadyDeployed(app, row))) {
    job.progress(100, 'Already deployed: nothing to do');
    await updateTarget(app, id, { lease_until: null });
    await publishChanged(app, id);
    return getTarget(app, id);
  }
  const startedAt = new Date();
  await setLease(app, id);
  await publishChanged(app, id);
  const keeper = setInterval(() => void setLease(app, id).catch(() => undefined), LEASE_RENEW_MS);
  try {
    const kind = deployKindFor(row.kind);
    if (!kind) throw new DeployError(`Kind ${row.kind} is not available in this version`);
    job.progress(2, 'Reading the certificate');
    const material = await loadMaterial(app, row.certificate_id);
    // Parsed again: defaults added since the target was saved apply.
    const attributes = kind.schema.parse(openAttributes(app, row)) as Record<string, unknown>;
    job.progress(5, `Deploying serial ${material.serial} to ${kind.label.toLowerCase()}`);
    await kind.deploy({
      app,
      attributes,
      material,
      signal: job.signal,
      progress: (percent, description) => job.progress(5 + Math.round((Math.min(100, Math.max(0, percent)) * 90) / 100), description),
    });
    job.signal.throwIfAborted();
    clearInterval(keeper);
    await updateTarget(app, id, {
      last_serial: material.serial,
      last_deployed_at: new Date(),
      last_attempt_at: startedAt,
      last_error: null,
      attempts: 0,
      next_attempt_at: null,
      lease_until: null,
    });
    await publishChanged(app, id);
    // The version this deploy replaced may now be held nowhere: then it is superseded.
    await refreshSuperseded(app, row.certificate_id);
    app.logger.info({ target: id, certificate: row.certificate_id, serial: material.serial }, 'certificate deployed');
    job.progress(100, `Deployed serial ${material.serial}`);
    return getTarget(app, id);
  } catch (error) {
    clearInterval(keeper);
    const text = job.signal.aborted ? 'The deploy was aborted' : error instanceof DeployError ? error.message : UNEXPECTED;
    if (!(error instanceof DeployError) && !job.signal.aborted) {
      // The message and stack only: an error object may carry a request with secrets in it.
      app.logger.error({ target: id, error: (error as Error)?.message, stack: (error as Error)?.stack }, 'deploy failed unexpectedly');
    }
    await recordFailure(app, id, text, startedAt).catch((recordError: unknown) =>
      app.logger.error({ target: id, error: (recordError as Error).message }, 'deploy failure could not be recorded'),
    );
    throw new CallError(text, job.signal.aborted ? 'ECANCELED' : 'EFAULT');
  } finally {
    clearInterval(keeper);
  }
}

/** Whether the target already holds its certificate's current serial (a queued run found nothing to do). */
async function alreadyDeployed(app: App, row: DeployTargetRow): Promise<boolean> {
  const certificate = await app.db.getRepository(CertificateEntity).findOne({ where: { id: row.certificate_id }, select: { id: true, serial: true, certificate: true, type: true } });
  return !row.enabled || (certificate !== null && row.last_serial !== null && row.last_serial === currentSerial(certificate));
}

/** One more failure in a row: the text, and no automatic run before the backoff has passed. */
async function recordFailure(app: App, id: number, text: string, startedAt: Date): Promise<void> {
  const recorded = await transaction(app.db, async (manager) => {
    const repository = manager.getRepository(DeployTargetEntity);
    const current = await repository.findOneBy({ id });
    if (!current) return false;
    const attempts = current.attempts + 1;
    // No jitter: one target retries on its own schedule, and its next attempt is shown as is.
    const wait = renewalBackoffMs(attempts, app.config.deployRetrySeconds * 1000, () => 0);
    await repository.update({ id }, { last_error: text, attempts, last_attempt_at: startedAt, next_attempt_at: new Date(Date.now() + wait), lease_until: null });
    return true;
  });
  if (recorded) await publishChanged(app, id);
}

// ---------------------------------------------------------------------------------------------
// The sweep

/**
 * Claims target `id` for serial `serial` if it is still due and unleased; true when this daemon won.
 * One statement: the database decides between daemons claiming at once.
 */
async function claim(app: App, id: number, serial: string, now: Date): Promise<boolean> {
  const result = await transaction(app.db, (manager) =>
    manager
      .createQueryBuilder()
      .update(DeployTargetEntity)
      .set({ lease_until: new Date(now.getTime() + LEASE_MS) })
      .where('id = :id', { id })
      .andWhere('enabled = :enabled', { enabled: true })
      .andWhere('(lease_until IS NULL OR lease_until <= :now)', { now: now.getTime() })
      .andWhere('(next_attempt_at IS NULL OR next_attempt_at <= :now)', { now: now.getTime() })
      .andWhere('(last_serial IS NULL OR last_serial <> :serial)', { serial })
      .execute(),
  );
  return result.affected === 1;
}

/** Queues a run of every due target this daemon claims; returns when the next target falls due, if any. */
export async function sweepOnce(app: App): Promise<Date | null> {
  const now = new Date();
  const targets = await app.db.getRepository(DeployTargetEntity).find({ where: { enabled: true }, order: { id: 'ASC' } });
  if (targets.length === 0) return null;
  // Only the targets' certificates: a sweep follows every certificate change, whatever the table's size.
  const certificates = await app.db.getRepository(CertificateEntity).find({
    select: { id: true, serial: true, certificate: true, type: true },
    where: { id: In([...new Set(targets.map((target) => target.certificate_id))]) },
  });
  const serials = new Map(certificates.map((row) => [row.id, currentSerial(row)]));
  let next: Date | null = null;
  const later = (at: Date) => (next = next === null || at < next ? at : next);
  for (const target of targets) {
    const serial = serials.get(target.certificate_id) ?? null;
    if (serial === null || target.last_serial === serial) continue;
    if (target.next_attempt_at && target.next_attempt_at > now) {
      later(target.next_attempt_at);
      continue;
    }
    if (target.lease_until && target.lease_until > now) {
      later(target.lease_until);
      continue;
    }
    if (!(await claim(app, target.id, serial, now))) continue;
    try {
      await app.jobs.submit(RUN_METHOD, [target.id], null);
    } catch (error) {
      // Nothing will run: the claim goes, and the next sweep tries again.
      await updateTarget(app, target.id, { lease_until: null });
      app.logger.error({ target: target.id, error: (error as Error).message }, 'deploy run could not be queued');
      continue;
    }
    await publishChanged(app, target.id);
  }
  return next;
}

/**
 * Sweeps at start, after every certificate or deploy target change (from any daemon, through the
 * event bus: an ACME renewal changes its row in place, with a new serial), every SWEEP_INTERVAL_MS,
 * and when the earliest backoff or lease ends. Sweeps never overlap in one daemon; one asked for
 * while another runs follows it. Returns what stops them.
 */
export function startSweeps(app: App): () => void {
  let stopped = false;
  let running = false;
  let again = false;
  let wake: NodeJS.Timeout | undefined;
  const sweep = async (): Promise<void> => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      do {
        again = false;
        const next = await sweepOnce(app);
        clearTimeout(wake);
        if (next && !stopped) wake = setTimeout(kick, Math.min(MAX_TIMER_MS, Math.max(0, next.getTime() - Date.now()) + 50));
      } while (again && !stopped);
    } finally {
      running = false;
    }
  };
  function kick(): void {
    if (stopped) return;
    sweep().catch((error: unknown) => {
      if (!stopped) app.logger.error({ error: (error as Error).message }, 'deploy sweep failed');
    });
  }
  app.events.onUpdate((update) => {
    // A certificate just added has no deploy targets yet: a target made for it says so itself.
    if ((update.collection === 'certificate.query' && update.msg !== 'added') || update.collection === `${NAMESPACE}.query`) kick();
  });
  const interval = setInterval(kick, SWEEP_INTERVAL_MS);
  kick();
  return () => {
    stopped = true;
    clearInterval(interval);
    clearTimeout(wake);
  };
}
