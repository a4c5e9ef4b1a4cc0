import { TERMINAL_STATES, type JobEvent, type JobRecord, type JobSchedule } from '../api/jobs.js';
import type { App } from '../app.js';
import { nextRetryAfter } from './renewal.js';

/** The periodic job, as TrueNAS names it (`@periodic(86400)`, lock `acme_cert_renewal`). */
export const RENEWAL_METHOD = 'certificate.renew_certs';

/**
 * Daemons that start within this long of each other share one renewal run at start (BullMQ): a
 * deployment's daemons start together, and a run queued so recently covers a restart too.
 */
export const START_WINDOW_MS = 60_000;

/** Node's timers fire at once beyond this (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** How renewal runs come about with one job backend. */
interface RenewalRuns {
  /** Queues the run at start and sets up the regular ones. */
  start(): Promise<void>;
  /** One more run at `at` (at once when it has passed). */
  runAt(at: Date): Promise<void>;
  /** Stops this daemon's part. */
  stop(): void;
}

/**
 * Runs `certificate.renew_certs` at start, then every RENEWAL_INTERVAL_SECONDS (a day by default),
 * and again when a failed renewal's backoff ends, as a job like any other. In-process: timers in
 * this daemon. BullMQ: a job scheduler in Redis that every daemon upserts, plus one-off delayed
 * jobs that daemons asking for the same run queue once, so one run at a time however many daemons
 * and workers there are (the job's lock keeps runs from overlapping). Resolves with a function that
 * stops this daemon's part of the schedule.
 */
export async function scheduleRenewals(app: App): Promise<() => void> {
  const runs = app.jobs.schedule ? sharedRuns(app, app.jobs.schedule) : inProcessRuns(app);
  // Listening before the first run is queued, so that run's end is not missed.
  const stopRetries = retryWhenDue(app, runs);
  await runs.start();
  return () => {
    stopRetries();
    runs.stop();
  };
}

/**
 * After each renewal run, arranges one more at the earliest retry it left: the regular run is a day
 * apart, a failed renewal's backoff starts at an hour.
 */
function retryWhenDue(app: App, runs: RenewalRuns): () => void {
  let stopped = false;
  const listener = ({ msg, record }: JobEvent): void => {
    if (msg !== 'changed' || record.method !== RENEWAL_METHOD || !TERMINAL_STATES.has(record.state)) return;
    nextRetryAfter(app, record.time_started)
      .then((at) => (at && !stopped ? runs.runAt(at) : undefined))
      .catch((error: unknown) => {
        if (!stopped) app.logger.error({ err: error }, 'certificate renewal retry could not be arranged');
      });
  };
  app.jobs.onEvent(listener);
  return () => {
    stopped = true;
    app.jobs.offEvent(listener);
  };
}

/** A timer for the interval and one for the next retry, both submitting to this daemon's jobs. */
function inProcessRuns(app: App): RenewalRuns {
  let lastId: number | undefined;
  let interval: NodeJS.Timeout | undefined;
  let retry: NodeJS.Timeout | undefined;
  const submitUnlessRunning = async (): Promise<void> => {
    // A run still going (or waiting for its lock) covers this turn; runs must not pile up behind the lock.
    // Its end arranges any retry it leaves behind.
    const last: JobRecord | undefined = lastId === undefined ? undefined : await app.jobs.get(lastId);
    if (last && !TERMINAL_STATES.has(last.state)) return;
    lastId = (await app.jobs.submit(RENEWAL_METHOD, [], null)).id;
  };
  const submit = (): void => {
    submitUnlessRunning().catch((error: unknown) => app.logger.error({ err: error }, 'certificate renewal could not be queued'));
  };
  return {
    async start() {
      submit();
      interval = setInterval(submit, app.config.renewalIntervalSeconds * 1000);
    },
    async runAt(at) {
      // Each run's end names the earliest retry still ahead, so the newest answer replaces the last.
      clearTimeout(retry);
      retry = setTimeout(submit, Math.min(MAX_TIMER_MS, Math.max(0, at.getTime() - Date.now())));
    },
    stop() {
      clearInterval(interval);
      clearTimeout(retry);
    },
  };
}

/** The shared job scheduler, a run at start shared by daemons starting together, and delayed retries. */
function sharedRuns(app: App, schedule: JobSchedule): RenewalRuns {
  return {
    async start() {
      await schedule.every(RENEWAL_METHOD, app.config.renewalIntervalSeconds * 1000);
      // An existing scheduler keeps its next slot, up to a day away: the run at start is queued here.
      await schedule.runOnStart(RENEWAL_METHOD, START_WINDOW_MS);
    },
    runAt: (at) => schedule.runAt(RENEWAL_METHOD, at),
    // Shared by every daemon: stopping one daemon leaves the others' schedule in place.
    stop: () => undefined,
  };
}
