import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { DataSource } from 'typeorm';
import { afterAll, describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../migrations/index.js';
import { openDataSource } from '../src/db/data-source.js';
import { createLogger } from '../src/logger.js';
import { SecretBox } from '../src/secrets.js';
import { databaseBackends } from '../test/helpers/services.js';
import { JOB_ENTITIES, JobEntity } from './job-entity.js';
import { abortedPatch, successPatch } from './job-outcome.js';
import { JobStore } from './job-store.js';

const backends = await databaseBackends();

describe.each(backends)('the job table on %s', (_name, open, available) => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'certmid-job-store-'));
  let db: DataSource | undefined;
  let drop: (() => Promise<void>) | undefined;
  afterAll(async () => {
    await db?.destroy();
    await drop?.();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  let opened: JobStore | undefined;
  async function store(): Promise<JobStore> {
    if (opened) return opened;
    const database = await open();
    drop = database.drop;
    db = await openDataSource({ dataDir, databaseUrl: database.env.DATABASE_URL }, JOB_ENTITIES, MIGRATIONS);
    opened = new JobStore(db, SecretBox.open(dataDir, undefined), createLogger('silent'));
    return opened;
  }

  const draft = { method: 'test.job', redactedArguments: [], abortable: false, caller: null, backend: 'in-process' as const, runner: null };

  it.runIf(available)('keeps the newest 1000 finished jobs and every unfinished one, and never gives an id twice', async () => {
    const jobs = await store();
    const waiting = await jobs.insert(draft);
    const finished: number[] = [];
    // Rows straight into the table: a thousand jobs through the API would take far longer.
    const rows = Array.from({ length: 1004 }, (_, i) => ({
      ...draft,
      arguments: [],
      state: 'SUCCESS' as const,
      progress: { percent: 100, description: '', extra: null },
      result: null,
      error: null,
      exception: null,
      exc_info: null,
      time_started: new Date(1_700_000_000_000 + i),
      time_finished: new Date(1_700_000_000_000 + i),
      owner: null,
      credential_type: null,
      login_at: null,
    }));
    for (let i = 0; i < rows.length; i += 200) {
      const saved = await db!.getRepository(JobEntity).save(rows.slice(i, i + 200));
      finished.push(...saved.map((row) => row.id));
    }
    const last = await jobs.insert(draft);
    await jobs.finish(last.id, successPatch({ done: true }));

    expect(await jobs.prune(1000)).toBe(5);
    const left = await db!.getRepository(JobEntity).find({ select: { id: true }, order: { id: 'ASC' } });
    expect(left.map((row) => row.id)).toEqual([waiting.id, ...finished.slice(5), last.id]);
    await db!.getRepository(JobEntity).delete({ id: waiting.id });

    // The newest row goes too; its id is still never given again.
    await db!.getRepository(JobEntity).delete({ id: last.id });
    expect((await jobs.insert(draft)).id).toBeGreaterThan(last.id);
  });

  it.runIf(available)('ends a job once: the first final state wins, later ones are refused', async () => {
    const jobs = await store();
    const job = await jobs.insert(draft);
    expect(await jobs.finish(job.id, abortedPatch(), ['WAITING'])).toMatchObject({ state: 'ABORTED' });
    expect(await jobs.start(job.id, 'runner')).toBeNull();
    expect(await jobs.finish(job.id, successPatch(1))).toBeNull();
    expect(await jobs.get(job.id)).toMatchObject({ state: 'ABORTED', result: null });
  });
});
