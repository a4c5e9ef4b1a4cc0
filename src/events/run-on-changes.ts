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
}

/**
 * Runs `work` now, every `intervalMs`, and after every event it wants (here or, with Redis, on any
 * daemon). Runs never overlap: events during a run ask for one more after it, however many came.
 * Returns what stops it.
 */
export function runOnChanges(app: App, runner: ChangeRunner): () => void {
  let running: Promise<void> | null = null;
  let again = false;
  let stopped = false;
  const run = (): void => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
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
  app.events.onUpdate((update) => {
    if (runner.wants(update.collection)) run();
  });
  const timer = setInterval(run, runner.intervalMs);
  timer.unref();
  run();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
