import type { EntityManager } from 'typeorm';
import type { JobProgress, JobRecord, JobReporter } from '../src/api/jobs.js';
import { CallError } from '../src/errors/call-error.js';
import type { Logger } from '../src/logger.js';
import type { JobFeed } from './job-feed.js';
import { successPatch, type FinalPatch } from './job-outcome.js';
import { INITIAL_PROGRESS, type JobStore } from './job-store.js';
import { progressReporter } from './progress-reporter.js';

/** Progress reaches the database at most this often per job; live events carry every step. */
export const PROGRESS_WRITE_MS = 1000;

/** What a process that runs jobs (daemon or worker) runs them with. */
export interface RunnerContext {
  store: JobStore;
  feed: JobFeed;
  /** This process's runner id, recorded on the jobs it runs. */
  runnerId: string;
  logger: Logger;
}

/**
 * One run of a job by this process: the move to RUNNING, progress (live at once, stored at most
 * once a second) and the end, each in the database first and then on the feed.
 */
export class JobRun {
  private stored: JobProgress;
  private pendingWrite: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private ended = false;

  private constructor(
    private readonly context: RunnerContext,
    private record: JobRecord,
  ) {
    this.stored = record.progress;
  }

  /**
   * Moves job `id` from WAITING to RUNNING here; null when it is no longer waiting (aborted, failed
   * or lost), so it must not run. `queued` is its record as queued, when this process queued it.
   */
  static async begin(context: RunnerContext, id: number, queued?: JobRecord): Promise<JobRun | null> {
    const record = await context.store.start(id, context.runnerId, queued);
    if (!record) return null;
    context.feed.publish({ msg: 'changed', record });
    return new JobRun(context, record);
  }

  /** `begin` for a job stored RUNNING as it was queued (`JobStore.insert` with `startsNow`): only told. */
  static started(context: RunnerContext, queued: JobRecord): JobRun {
    const record: JobRecord = { ...queued, state: 'RUNNING', progress: INITIAL_PROGRESS };
    context.feed.publish({ msg: 'changed', record });
    return new JobRun(context, record);
  }

  get id(): number {
    return this.record.id;
  }

  get method(): string {
    return this.record.method;
  }

  /** The reporter the handler gets. */
  reporter(signal: AbortSignal): JobReporter {
    return progressReporter(this.record.id, signal, (progress) => this.progress(progress), (manager) => this.commitEffect(manager));
  }

  /**
   * Ends the job with `patch`, unless it ended meanwhile (aborted while waiting, or found
   * interrupted): then the record shows what the database holds. Returns the final record.
   */
  async end(patch: FinalPatch): Promise<JobRecord> {
    this.ended = true;
    clearTimeout(this.pendingWrite);
    await this.writing;
    const { store, logger } = this.context;
    let ended = await store.finishHeld(this.record, { ...patch, progress: this.record.progress });
    if (!ended && patch.state !== 'SUCCESS') {
      // Still running yet refused: its effect committed, so whatever went wrong after, the job succeeded.
      ended = await store.finishHeld(this.record, { ...successPatch(null), progress: this.record.progress });
      if (ended) logger.warn({ job: this.record.id, method: this.record.method, error: patch.error }, 'job failed after its change was saved; it ends SUCCESS without a result');
    }
    if (ended) {
      this.record = ended;
    } else {
      const current = await this.context.store.get(this.record.id);
      this.context.logger.warn({ job: this.record.id, method: this.record.method, state: current?.state }, 'job had already ended elsewhere; its outcome here is dropped');
      if (!current) return { ...this.record, ...patch };
      this.record = current;
    }
    this.context.feed.publish({ msg: 'changed', record: this.record });
    return this.record;
  }

  private async commitEffect(manager: EntityManager): Promise<void> {
    if (!(await this.context.store.commitEffect(manager, this.record.id, this.context.runnerId))) {
      throw new CallError('The job ended before its change was saved (aborted, or its process taken for stopped); nothing was changed', 'ECANCELED');
    }
  }

  private progress(progress: JobProgress): void {
    if (this.ended) return;
    this.record = { ...this.record, progress };
    this.context.feed.publish({ msg: 'changed', record: this.record });
    this.pendingWrite ??= setTimeout(() => this.writeProgress(), PROGRESS_WRITE_MS);
  }

  private writeProgress(): void {
    this.pendingWrite = undefined;
    if (this.ended || this.record.progress === this.stored) return;
    const progress = this.record.progress;
    this.writing = this.writing
      .then(() => this.context.store.saveProgress(this.record.id, progress))
      .then(() => void (this.stored = progress))
      .catch((error: unknown) => this.context.logger.warn({ err: error, job: this.record.id }, 'job progress not stored'));
  }
}
