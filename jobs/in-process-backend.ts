import { progressReporter } from './progress-reporter.js';
import type { JobBackend, JobEnvironment, JobRequest, JobSink } from './job-backend.js';
import { abortedPatch, failurePatch, successPatch } from './job-outcome.js';
import { isExpectedError } from '../src/errors/to-rpc-error.js';

/** The embedded default: jobs run in the daemon's own process, one lock at a time. */
export class InProcessBackend implements JobBackend {
  readonly name = 'in-process' as const;
  private environment: JobEnvironment | undefined;
  private sink: JobSink | undefined;
  private lastId = 0;
  /** The tail of each lock's queue: the next job with that lock starts when it settles. */
  private readonly lockTails = new Map<string, Promise<void>>();
  private readonly controllers = new Map<number, AbortController>();
  /** Jobs whose handler has started (no longer waiting for their lock). */
  private readonly started = new Set<number>();
  private readonly running = new Set<Promise<void>>();
  private closing = false;

  async start(environment: JobEnvironment, sink: JobSink): Promise<void> {
    this.environment = environment;
    this.sink = sink;
  }

  async allocateId(): Promise<number> {
    return ++this.lastId;
  }

  async enqueue(request: JobRequest): Promise<void> {
    const controller = new AbortController();
    this.controllers.set(request.id, controller);
    const previous = request.lock ? this.lockTails.get(request.lock) : undefined;
    const run = (previous ?? Promise.resolve()).then(() => this.run(request, controller));
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

  private async run(request: JobRequest, controller: AbortController): Promise<void> {
    const sink = this.sink!;
    try {
      if (controller.signal.aborted || this.closing) {
        sink.update(request.id, abortedPatch());
        return;
      }
      this.started.add(request.id);
      sink.update(request.id, { state: 'RUNNING' });
      const reporter = progressReporter(request.id, controller.signal, (progress) => sink.update(request.id, { progress }));
      const result = await this.environment!.methods.run(request.method, request.args, request.caller, reporter);
      sink.update(request.id, controller.signal.aborted ? abortedPatch() : successPatch(result));
    } catch (error) {
      if (controller.signal.aborted) {
        sink.update(request.id, abortedPatch());
      } else {
        if (!isExpectedError(error)) this.environment!.logger.error({ err: error, job: request.id, method: request.method }, 'job failed unexpectedly');
        sink.update(request.id, failurePatch(error));
      }
    } finally {
      this.controllers.delete(request.id);
      this.started.delete(request.id);
    }
  }

  async abort(id: number): Promise<void> {
    const controller = this.controllers.get(id);
    if (!controller) return;
    controller.abort();
    // A job still waiting for its lock ends now, as on TrueNAS, not when its turn comes.
    if (!this.started.has(id)) this.sink!.update(id, abortedPatch());
  }

  async close(graceMs = 10_000): Promise<void> {
    this.closing = true;
    // Running jobs get `graceMs` to finish, then are aborted; waiting ones end ABORTED when their turn
    // comes. A handler that ignores the abort gets one more grace period, then is left behind (ABORTED).
    const timer = setTimeout(() => this.controllers.forEach((controller) => controller.abort()), graceMs);
    const settled = (async () => {
      while (this.running.size > 0) await Promise.allSettled([...this.running]);
    })();
    let giveUp: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => (giveUp = setTimeout(resolve, 2 * graceMs)));
    await Promise.race([settled, deadline]);
    clearTimeout(timer);
    clearTimeout(giveUp);
    for (const id of this.controllers.keys()) this.sink?.update(id, abortedPatch());
  }
}
