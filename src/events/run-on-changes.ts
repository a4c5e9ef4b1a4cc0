import type { App } from '../app.js';

/** What `runOnChanges` runs, and when. */
export interface ChangeRunner {
  /** Whether an event of this collection calls for a run. */
  wants(collection: string): boolean;
  /** Runs also this often. */
  intervalMs: number;
  work(): Promise<void>;
  /** Logged when a run fails (the next one still comes). */
  failure: string;
  /**
   * How long a wanted event waits before it starts a run, so that a burst of changes (each create
   * announces a certificate and its CA) makes one run rather than one per event. 0 runs at once.
   */
  settleMs?: number;
  /**
   * At least this long between the starts of runs that events ask for: under a steady stream of
   * changes (creates in flight one after another) runs come this often rather than back to back.
   * The first event after a quiet spell still waits only `settleMs`.
   */
  spacingMs?: number;
}

/**
 * Runs `work` now, every `intervalMs`, and after every event it wants (here or, with Redis, on any
 * daemon), `settleMs` later (and no sooner than `spacingMs` after the previous run started). Runs
 * never overlap: events during a run ask for one more after it, however many came.
 * Returns what stops it.
 */
export function runOnChanges(app: App, runner: ChangeRunner): () => void {
  let running: Promise<void> | null = null;
  let again = false;
  let stopped = false;
  let settling: NodeJS.Timeout | undefined;
  let lastStarted = -Infinity;
  const run = (): void => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    lastStarted = Date.now();
    running = runner
      .work()
      .catch((error: unknown) => app.logger.error({ err: error }, runner.failure))
      .finally(() => {
        running = null;
        if (again) {
          again = false;
          run();
        }
      });
  };
  const runSettled = (): void => {
    if (stopped || settling) return;
    const wait = Math.max(runner.settleMs ?? 0, lastStarted + (runner.spacingMs ?? 0) - Date.now());
    settling = setTimeout(() => {
      settling = undefined;
      run();
    }, wait);
  };
  app.events.onUpdate((update) => {
    if (!runner.wants(update.collection)) return;
    if (runner.settleMs || runner.spacingMs) runSettled();
    else run();
  });
  const timer = setInterval(run, runner.intervalMs);
  timer.unref();
  run();
  return () => {
    stopped = true;
    clearInterval(timer);
    clearTimeout(settling);
  };
}
