import type { App } from '../app.js';

/** How long a file a job wrote waits for its one download (then it is dropped). */
export const OUTPUT_TTL_MS = 10 * 60_000;
/** Files kept at once; a new one pushes out the oldest, so callers who never download cannot fill memory. */
const MAX_OUTPUTS = 8;

/** An upload on its way to its job: its job id is known only once the job is queued. */
export interface InputTicket {
  /** Hands the file to the job `jobId`. */
  bind(jobId: number, data: Buffer): void;
  /** The job could not be queued: nobody will take the file. */
  cancel(): void;
}

interface Output {
  data: Buffer;
  timer: NodeJS.Timeout;
}

/**
 * The files jobs exchange with HTTP callers, TrueNAS's job pipes: what an `output` job wrote,
 * kept in the daemon's memory until it is downloaded once or expires, and what `/_upload`
 * received for an `input` job, kept until that job takes it or ends.
 */
export class JobFiles {
  private readonly outputs = new Map<number, Output>();
  private readonly inputs = new Map<number, Buffer>();
  /** Uploads received whose job is being queued (its id not known yet). */
  private pendingUploads = 0;
  private readonly waiters = new Set<() => void>();

  /** Keeps what job `jobId` produced for its download. */
  writeOutput(jobId: number, data: Buffer): void {
    this.takeOutput(jobId);
    const timer = setTimeout(() => this.outputs.delete(jobId), OUTPUT_TTL_MS).unref();
    this.outputs.set(jobId, { data, timer });
    for (const oldest of [...this.outputs.keys()].slice(0, Math.max(0, this.outputs.size - MAX_OUTPUTS))) this.takeOutput(oldest);
  }

  /** The file job `jobId` produced, once: a second call (or one after it expired) gets undefined. */
  takeOutput(jobId: number): Buffer | undefined {
    const output = this.outputs.get(jobId);
    if (!output) return undefined;
    clearTimeout(output.timer);
    this.outputs.delete(jobId);
    return output.data;
  }

  /** Called by `/_upload` before it queues a job, so that the job waits for its file instead of failing. */
  announceInput(): InputTicket {
    this.pendingUploads++;
    let open = true;
    const close = () => {
      if (!open) return false;
      open = false;
      this.pendingUploads--;
      return true;
    };
    return {
      bind: (jobId, data) => {
        if (!close()) return;
        this.inputs.set(jobId, data);
        this.wake();
      },
      cancel: () => {
        if (close()) this.wake();
      },
    };
  }

  /**
   * The file uploaded for job `jobId`, or null when none was: the job was called directly, not
   * through `/_upload`. While an upload is being queued its job id is not known yet, so the job
   * waits for that to settle rather than guessing.
   */
  async takeInput(jobId: number): Promise<Buffer | null> {
    for (;;) {
      const input = this.inputs.get(jobId);
      if (input) {
        this.inputs.delete(jobId);
        return input;
      }
      if (this.pendingUploads === 0) return null;
      await new Promise<void>((resolve) => this.waiters.add(resolve));
    }
  }

  /** Drops a file its job never took (it was aborted or failed first). */
  dropInput(jobId: number): void {
    this.inputs.delete(jobId);
  }

  private wake(): void {
    const waiting = [...this.waiters];
    this.waiters.clear();
    for (const resolve of waiting) resolve();
  }
}

const perApp = new WeakMap<App, JobFiles>();

/** The daemon's one store of job files, made on first use. */
export function jobFiles(app: App): JobFiles {
  let files = perApp.get(app);
  if (!files) perApp.set(app, (files = new JobFiles()));
  return files;
}
