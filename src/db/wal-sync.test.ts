import { describe, expect, it } from 'vitest';
import { WalSync } from './wal-sync.js';

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
