import type { BullmqBackend } from '../../jobs/bullmq-backend.js';
import { TERMINAL_STATES, type JobRecord } from '../../jobs/job-record.js';
import type { App } from '../app.js';

/** The periodic job, as TrueNAS names it (`@periodic(86400)`, lock `acme_cert_renewal`). */
export const RENEWAL_METHOD = 'certificate.renew_certs';

/**
 * Runs `certificate.renew_certs` at start and then every RENEWAL_INTERVAL_SECONDS (a day by
 * default), as a job like any other. In-process: a timer in this daemon. BullMQ: a job scheduler
 * in Redis that every daemon upserts, so one run per interval however many daemons and workers
 * there are. Resolves with a function that stops this daemon's part of the schedule.
 */
export async function scheduleRenewals(app: App): Promise<() => void> {
  const everyMs = app.config.renewalIntervalSeconds * 1000;
  if (app.jobs.backend.name === 'bullmq') {
    // Shared by every daemon: stopping one daemon leaves the others' schedule in place.
    await (app.jobs.backend as BullmqBackend).schedule(RENEWAL_METHOD, everyMs);
    return () => undefined;
  }
  const method = app.registry.method(RENEWAL_METHOD)!;
  let last: JobRecord | undefined;
  const submit = (): void => {
    // A run still going (or waiting for its lock) covers this turn; runs must not pile up behind the lock.
    if (last && !TERMINAL_STATES.has(last.state)) return;
    app.jobs.submit(method, [], null).then(
      (record) => (last = record),
      (error: unknown) => app.logger.error({ err: error }, 'certificate renewal could not be queued'),
    );
  };
  submit();
  const timer = setInterval(submit, everyMs);
  return () => clearInterval(timer);
}
