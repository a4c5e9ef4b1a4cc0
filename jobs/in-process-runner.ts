import type { JobMethods, JobRecord } from '../src/api/jobs.js';
import { isExpectedError } from '../src/errors/to-rpc-error.js';
import type { JobRequest } from './environment.js';
import { abortedPatch, failurePatch, successPatch } from './job-outcome.js';
import { JobRun, type RunnerContext } from './job-run.js';

/** Runs jobs in this process (the embedded default, and `inDaemon` jobs), one lock at a time. */
export class InProcessRunner {
  /** The tail of each lock's queue: the next job with that lock starts when it settles. */
  private readonly lockTails = new Map<string, Promise<void>>();
  private readonly controllers = new Map<number, AbortController>();
  private readonly running = new Set<Promise<void>>();
  private closing = false;

  constructor(
    private readonly context: RunnerContext,
    private readonly methods: JobMethods,
  ) {}

  /** Queues a job recorded as WAITING (`queued`) with this process as its runner. */
  enqueue(request: JobRequest, queued?: JobRecord): void {
    const controller = new AbortController();
    this.controllers.set(request.id, controller);
    const previous = request.lock ? this.lockTails.get(request.lock) : undefined;
    const run = (previous ?? Promise.resolve()).then(() => this.run(request, controller, queued));
    if (request.lock) {
      const tail = run.then(() => undefined);
      this.lockTails.set(request.lock, tail);
      void tail.then(() => {
        if (this.lockTails.get(request.lock!) === tail) this.lockTails.delete(request.lock!);
      });
    }
    this.running.add(run);
    void run.finally(() => this.running.delete(run));
  }

  /** Signals job `id` to stop; false when this process does not hold it. */
  abort(id: number): boolean {
    const controller = this.controllers.get(id);
    controller?.abort();
    return controller !== undefined;
  }

  /** Stops taking jobs: running ones get `graceMs` to finish, then are aborted; one that ignores that is ended ABORTED after another `graceMs`. */
  async close(graceMs = 10_000): Promise<void> {
    this.closing = true;
    const timer = setTimeout(() => this.controllers.forEach((controller) => controller.abort()), graceMs);
    const settled = (async () => {
      while (this.running.size > 0) await Promise.allSettled([...this.running]);
    })();
    let giveUp: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => (giveUp = setTimeout(resolve, 2 * graceMs)));
    await Promise.race([settled, deadline]);
    clearTimeout(timer);
    clearTimeout(giveUp);
    for (const id of this.controllers.keys()) {
      const ended = await this.context.store.abandon(id, abortedPatch()).catch(() => null);
      if (ended) this.context.feed.publish({ msg: 'changed', record: ended });
    }
  }

  private async run(request: JobRequest, controller: AbortController, queued: JobRecord | undefined): Promise<void> {
    try {
      await this.runOnce(request, controller, queued);
    } catch (error) {
      // The database went away (shutdown) or refused the record; the sweep after a restart ends the job.
      this.context.logger.error({ err: error, job: request.id, method: request.method }, 'job record could not be written');
    } finally {
      this.controllers.delete(request.id);
    }
  }

  private async runOnce(request: JobRequest, controller: AbortController, queued: JobRecord | undefined): Promise<void> {
    const { store, feed } = this.context;
    if (controller.signal.aborted || this.closing) {
      const ended = await store.finish(request.id, abortedPatch(), ['WAITING']);
      if (ended) feed.publish({ msg: 'changed', record: ended });
      return;
    }
    const run = await JobRun.begin(this.context, request.id, queued);
    if (!run) return; // aborted while it waited for its lock
    try {
      const result = await this.methods.run(request.method, request.args, request.caller, run.reporter(controller.signal));
      await run.end(controller.signal.aborted ? abortedPatch() : successPatch(result));
    } catch (error) {
      if (controller.signal.aborted) {
        await run.end(abortedPatch());
        return;
      }
      if (!isExpectedError(error)) this.context.logger.error({ err: error, job: request.id, method: request.method }, 'job failed unexpectedly');
      await run.end(failurePatch(error));
    }
  }
}
