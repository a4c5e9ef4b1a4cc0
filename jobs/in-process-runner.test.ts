import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { DataSource } from 'typeorm';
import { afterAll, describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../migrations/index.js';
import type { JobEvent, JobMethods } from '../src/api/jobs.js';
import { openDataSource } from '../src/db/data-source.js';
import { createLogger } from '../src/logger.js';
import { SecretBox } from '../src/secrets.js';
import { InProcessRunner } from './in-process-runner.js';
import { JOB_ENTITIES } from './job-entity.js';
import { LocalJobFeed } from './job-feed.js';
import { JobStore } from './job-store.js';

describe('InProcessRunner, a job that starts at once', () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'certmid-runner-'));
  let db: DataSource | undefined;
  afterAll(async () => {
    await db?.destroy();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('is stored RUNNING by its insert, announced WAITING then RUNNING, and holds its lock: another job with it waits', async () => {
    db = await openDataSource({ dataDir, databaseUrl: undefined }, JOB_ENTITIES, MIGRATIONS);
    const store = new JobStore(db, SecretBox.open(dataDir, undefined), createLogger('silent'));
    const feed = new LocalJobFeed();
    const events: JobEvent[] = [];
    feed.onEvent((event) => events.push(event));
    const finish: Array<() => void> = [];
    const methods: JobMethods = {
      options: () => ({ abortable: false, inDaemon: false, lock: 'L' }),
      run: () => new Promise((resolve) => finish.push(() => resolve('done'))),
    };
    const runner = new InProcessRunner({ store, feed, runnerId: 'here', logger: createLogger('silent') }, methods);
    const draft = { method: 'test.job', redactedArguments: [], abortable: false, caller: null, backend: 'in-process' as const, runner: 'here' };

    const claim = runner.claimStart('L');
    expect(claim).not.toBeNull();
    // Its lock is taken before its record is written: a job with the same lock would wait.
    expect(runner.claimStart('L')).toBeNull();
    const first = await store.insert(draft, true);
    expect(first.state).toBe('WAITING');
    expect((await store.get(first.id))!.state).toBe('RUNNING');
    feed.publish({ msg: 'added', record: first });
    runner.enqueue({ id: first.id, method: 'test.job', args: [], caller: null, lock: 'L' }, first, claim!);

    const second = await store.insert(draft);
    runner.enqueue({ id: second.id, method: 'test.job', args: [], caller: null, lock: 'L' }, second);
    await expect.poll(() => finish.length).toBe(1);
    expect((await store.get(second.id))!.state).toBe('WAITING');
    finish.shift()!();
    await expect.poll(() => finish.length).toBe(1);
    finish.shift()!();
    await expect.poll(async () => [(await store.get(first.id))!.state, (await store.get(second.id))!.state]).toEqual(['SUCCESS', 'SUCCESS']);
    expect(events.filter((event) => event.record.id === first.id).map((event) => [event.msg, event.record.state])).toEqual([
      ['added', 'WAITING'],
      ['changed', 'RUNNING'],
      ['changed', 'SUCCESS'],
    ]);
    // Both ran: the lock is free again.
    await expect.poll(() => runner.claimStart('L')).not.toBeNull();
  });

  it('gives up its lock when its record could not be written', async () => {
    const runner = new InProcessRunner({ store: undefined as never, feed: new LocalJobFeed(), runnerId: 'here', logger: createLogger('silent') }, { options: () => undefined, run: async () => null });
    runner.claimStart('M')!.release();
    await expect.poll(() => runner.claimStart('M')).not.toBeNull();
  });
});
