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

/** A kept file is closed after this long without a sync. */
export const KEEP_OPEN_MS = 1000;

/**
 * Syncs the data of the file at `file` (its size included) to the disk, through a handle kept open
 * while syncs keep coming: a burst of commits would otherwise pay an open and a close (two trips
 * to libuv's threads) for every sync. The handle closes once KEEP_OPEN_MS pass without a sync, so
 * a data source that is gone leaves no descriptor behind for long. SQLite keeps the same log file
 * while a connection is open (it only rewrites it from the start), so the handle stays on it.
 */
export class KeptFileSync {
  /** Opens done, for tests and the curious. */
  opens = 0;
  private handle: Promise<fs.FileHandle> | null = null;
  private idle: NodeJS.Timeout | undefined;

  constructor(private readonly file: string) {}

  readonly sync = async (): Promise<void> => {
    clearTimeout(this.idle);
    const opened = (this.handle ??= this.open());
    try {
      await (await opened).datasync();
    } catch (error) {
      // Opened afresh next time: the file may have gone (and a new one come) meanwhile.
      if (this.handle === opened) this.handle = null;
      void opened.then((handle) => handle.close()).catch(() => undefined);
      throw error;
    } finally {
      this.closeWhenIdle();
    }
  };

  private open(): Promise<fs.FileHandle> {
    this.opens++;
    return fs.open(this.file, 'r+');
  }

  private closeWhenIdle(): void {
    clearTimeout(this.idle);
    this.idle = setTimeout(() => {
      const opened = this.handle;
      this.handle = null;
      void opened?.then((handle) => handle.close()).catch(() => undefined);
    }, KEEP_OPEN_MS);
    this.idle.unref();
  }
}
