import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { KEEP_OPEN_MS, KeptFileSync, WalSync } from './wal-sync.js';

/** A sync the test ends by hand, counting how many started. */
function manualSync() {
  const pending: Array<{ resolve(): void; reject(error: Error): void }> = [];
  const sync = () => new Promise<void>((resolve, reject) => pending.push({ resolve, reject }));
  return { sync, pending };
}

const settled = async (promise: Promise<unknown>) => {
  let done = false;
  void promise.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((resolve) => setImmediate(resolve));
  return done;
};

describe('WalSync', () => {
  it('starts a sync at once when none runs', async () => {
    const { sync, pending } = manualSync();
    const wal = new WalSync(sync);
    const first = wal.flush();
    expect(pending).toHaveLength(1);
    pending[0]!.resolve();
    await first;
    expect(wal.syncs).toBe(1);
  });

  it('makes callers who come while a sync runs wait for one more sync, which they share', async () => {
    const { sync, pending } = manualSync();
    const wal = new WalSync(sync);
    const first = wal.flush();
    const second = wal.flush();
    const third = wal.flush();
    expect(pending).toHaveLength(1);
    pending[0]!.resolve();
    await first;
    // The running sync may have started before their commits: it does not answer them.
    expect(await settled(second)).toBe(false);
    expect(pending).toHaveLength(2);
    pending[1]!.resolve();
    await Promise.all([second, third]);
    expect(wal.syncs).toBe(2);
    // Nothing runs now: the next caller starts its own.
    const fourth = wal.flush();
    expect(pending).toHaveLength(3);
    pending[2]!.resolve();
    await fourth;
  });

  it('passes a failed sync to the callers who waited for it, and the next caller tries again', async () => {
    const { sync, pending } = manualSync();
    const wal = new WalSync(sync);
    const failing = wal.flush();
    const waiting = wal.flush();
    pending[0]!.reject(new Error('EIO'));
    await expect(failing).rejects.toThrow('EIO');
    await new Promise((resolve) => setImmediate(resolve));
    // The queued sync still runs after a failed one.
    expect(pending).toHaveLength(2);
    pending[1]!.resolve();
    await waiting;
    const later = wal.flush();
    expect(pending).toHaveLength(3);
    pending[2]!.resolve();
    await later;
    expect(wal.syncs).toBe(2);
  });
});

describe('KeptFileSync', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certmid-kept-sync-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** The descriptors this process has open on `file`. */
  const openOn = (file: string) => fs.readdirSync('/proc/self/fd').filter((fd) => linkOf(`/proc/self/fd/${fd}`) === file).length;
  /** Where a descriptor's link points; null for one closed since the listing. */
  const linkOf = (link: string) => {
    try {
      return fs.readlinkSync(link, { encoding: 'utf8' });
    } catch {
      return null;
    }
  };

  it('opens the file once for a run of syncs, and closes it once they stop', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const file = path.join(dir, 'run.db-wal');
      fs.writeFileSync(file, 'log');
      const kept = new KeptFileSync(file);
      for (let i = 0; i < 5; i++) await kept.sync();
      expect(kept.opens).toBe(1);
      expect(openOn(file)).toBe(1);
      vi.advanceTimersByTime(KEEP_OPEN_MS);
      await vi.waitUntil(() => openOn(file) === 0);
      await kept.sync();
      expect(kept.opens).toBe(2);
      vi.advanceTimersByTime(KEEP_OPEN_MS);
      await vi.waitUntil(() => openOn(file) === 0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('fails while the file cannot be opened and opens it again on the next sync', async () => {
    const file = path.join(dir, 'late.db-wal');
    const kept = new KeptFileSync(file);
    await expect(kept.sync()).rejects.toThrow('ENOENT');
    fs.writeFileSync(file, 'log');
    await kept.sync();
    expect(kept.opens).toBe(2);
  });
});
