import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import 'reflect-metadata';
import { afterAll, describe, expect, it } from 'vitest';
import { openDataSource } from './data-source.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certmid-ds-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** SQLite's `synchronous` of a daemon's database on its first start and on a restart (2 is FULL). */
async function synchronousSetting(): Promise<number> {
  const dataSource = await openDataSource({ dataDir: dir, databaseUrl: undefined }, [], []);
  try {
    const [row] = (await dataSource.query('PRAGMA synchronous')) as Array<{ synchronous: number }>;
    return row!.synchronous;
  } finally {
    await dataSource.destroy();
  }
}

describe('the SQLite data source', () => {
  it('waits for the disk on every commit in WAL mode, on a first start and on a restart', async () => {
    expect(await synchronousSetting()).toBe(2);
    expect(await synchronousSetting()).toBe(2);
  });
});
