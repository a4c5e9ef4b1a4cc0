import fs from 'node:fs/promises';

/**
 * Group commit for a SQLite database in WAL mode. A commit made at `synchronous = NORMAL` is in the
 * log but not yet on the disk; `flush()` resolves once a sync of the log that started after the
 * call has ended, so it covers every commit made before it. Syncs run on libuv's threads, not the
 * event loop, and commits that wait together share one sync instead of blocking for one each.
 */
export class WalSync {
  /** Syncs done, for tests and the curious. */
  syncs = 0;
  private running: Promise<void> | null = null;
  /** The sync that starts when the running one ends, shared by every caller meanwhile. */
  private queued: Promise<void> | null = null;

  constructor(private readonly sync: () => Promise<void>) {}

  /** Resolves once every commit made before this call is on the disk. */
  flush(): Promise<void> {
    // A running sync may have started before the caller's commit: only the next one counts.
    if (this.running) return (this.queued ??= this.running.catch(() => undefined).then(() => this.start()));
    return this.start();
  }

  private start(): Promise<void> {
    this.queued = null;
    const run = this.sync().then(() => void this.syncs++);
    this.running = run;
    void run.catch(() => undefined).then(() => {
      if (this.running === run) this.running = null;
    });
    return run;
  }
}

/** Syncs the data of the file at `file` (its size included) to the disk. */
export async function syncFile(file: string): Promise<void> {
  const handle = await fs.open(file, 'r+');
  try {
    await handle.datasync();
  } finally {
    await handle.close();
  }
}
