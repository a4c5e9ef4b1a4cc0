import { EventEmitter } from 'node:events';
import type { JobEvent } from '../src/api/jobs.js';

/**
 * Live news of jobs between the processes of a deployment: every change a runner makes (after it
 * is in the database) and abort requests for running jobs. Listeners in the publishing process hear
 * a message before `publish` returns. Nothing here is needed for correctness: the database is the
 * record, and whoever waits for a job also reads it there.
 */
export interface JobFeed {
  publish(event: JobEvent): void;
  onEvent(listener: (event: JobEvent) => void): void;
  /** Asks whichever process runs job `id` to abort it. */
  requestAbort(id: number): void;
  onAbortRequest(listener: (id: number) => void): void;
  /** Whether other processes hear this one (false without Redis: only this process does). */
  readonly shared: boolean;
  close(): Promise<void>;
}

/** The feed of a process on its own: no Redis, so only this process hears it. */
export class LocalJobFeed implements JobFeed {
  readonly shared: boolean = false;
  protected readonly emitter = new EventEmitter();

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  publish(event: JobEvent): void {
    this.emitter.emit('event', event);
  }

  onEvent(listener: (event: JobEvent) => void): void {
    this.emitter.on('event', listener);
  }

  requestAbort(id: number): void {
    this.emitter.emit('abort', id);
  }

  onAbortRequest(listener: (id: number) => void): void {
    this.emitter.on('abort', listener);
  }

  async close(): Promise<void> {
    this.emitter.removeAllListeners();
  }
}
