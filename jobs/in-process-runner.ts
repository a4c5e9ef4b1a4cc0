import type { JobMethods, JobRecord } from '../src/api/jobs.js';
import { isExpectedError } from '../src/errors/to-rpc-error.js';
import type { JobRequest } from './environment.js';
import { abortedPatch, failurePatch, successPatch } from './job-outcome.js';
import { JobRun, type RunnerContext } from './job-run.js';

/** How a claim hands its lock on to the run it was taken for. */
const SETTLE = Symbol('settle');

/** A job's lock taken before the job is recorded (`InProcessRunner.claimStart`). */
export interface StartClaim {
  /** Lets the lock go: the job was not recorded. */
  release(): void;
  [SETTLE](run: Promise<unknown>): void;
}

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

  /**
   * Takes `lock` for a job about to be recorded, when the job can start as soon as it is: nothing
   * holds its lock and the runner is not closing. The record may then say RUNNING from the start
   * (one write rather than WAITING and then RUNNING), since no job with its lock can come first
   * meanwhile. Null when the job would wait. The claim goes to `enqueue`, or is released if the
   * record could not be written.
   */
  claimStart(lock: string | null): StartClaim | null {
    if (this.closing || (lock !== null && this.lockTails.has(lock))) return null;
    let settle!: (run: Promise<unknown>) => void;
    const held = new Promise<unknown>((resolve) => (settle = resolve)).then(() => undefined);
    if (lock !== null) this.holdLock(lock, held);
    return { release: () => settle(Promise.resolve()), [SETTLE]: settle };
  }

  /**
   * Queues a job recorded as WAITING (`queued`) with this process as its runner; with `claim` (see
   * `claimStart`) one recorded RUNNING, whose lock the claim holds.
   */
  enqueue(request: JobRequest, queued?: JobRecord, claim?: StartClaim): void {
    const controller = new AbortController();
    this.controllers.set(request.id, controller);
    const previous = request.lock && !claim ? this.lockTails.get(request.lock) : undefined;
    const run = (previous ?? Promise.resolve()).then(() => this.run(request, controller, queued, claim !== undefined));
    if (claim) claim[SETTLE](run);
    else if (request.lock) this.holdLock(request.lock, run.then(() => undefined));
    this.running.add(run);
    void run.finally(() => this.running.delete(run));
  }

  /** Makes `tail` the end of `lock`'s queue until it settles. */
  private holdLock(lock: string, tail: Promise<void>): void {
    this.lockTails.set(lock, tail);
    void tail.then(() => {
      if (this.lockTails.get(lock) === tail) this.lockTails.delete(lock);
    });
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

  private async run(request: JobRequest, controller: AbortController, queued: JobRecord | undefined, startedAtOnce: boolean): Promise<void> {
    try {
      await this.runOnce(request, controller, queued, startedAtOnce);
    } catch (error) {
      // The database went away (shutdown) or refused the record; the sweep after a restart ends the job.
      this.context.logger.error({ err: error, job: request.id, method: request.method }, 'job record could not be written');
    } finally {
      this.controllers.delete(request.id);
    }
  }

  private async runOnce(request: JobRequest, controller: AbortController, queued: JobRecord | undefined, startedAtOnce: boolean): Promise<void> {
    const { store, feed } = this.context;
    if (controller.signal.aborted || this.closing) {
      const ended = await store.finish(request.id, abortedPatch(), [startedAtOnce ? 'RUNNING' : 'WAITING']);
      if (ended) feed.publish({ msg: 'changed', record: ended });
      return;
    }
    const run = startedAtOnce && queued ? JobRun.started(this.context, queued) : await JobRun.begin(this.context, request.id, queued);
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
