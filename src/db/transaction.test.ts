import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import 'reflect-metadata';
import { DataSource, EntitySchema } from 'typeorm';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase, postgresAvailable } from '../../test/helpers/services.js';
import { bookkeepingTransaction, transaction, walSyncOf } from './transaction.js';

const Counter = new EntitySchema<{ id: number; n: number }>({
  name: 'counter',
  columns: { id: { type: 'integer', primary: true, generated: 'increment' }, n: { type: 'integer' } },
});
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certmid-tx-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('transaction on SQLite', () => {
  it('runs concurrent transactions one after another instead of failing', async () => {
    const dataSource = new DataSource({ type: 'better-sqlite3', database: path.join(dir, 'tx.db'), entities: [Counter], synchronize: true });
    await dataSource.initialize();
    const work = (i: number) =>
      transaction(dataSource, async (manager) => {
        await manager.getRepository(Counter).insert({ n: i });
        await new Promise((resolve) => setTimeout(resolve, 10));
        await manager.getRepository(Counter).insert({ n: i + 100 });
      });
    const failing = transaction(dataSource, async (manager) => {
      await manager.getRepository(Counter).insert({ n: -1 });
      throw new Error('roll back');
    });
    const results = await Promise.allSettled([work(1), failing, work(2), work(3)]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect((await dataSource.getRepository(Counter).find()).map((r) => r.n).sort((a, b) => a - b)).toEqual([1, 2, 3, 101, 102, 103]);
    await dataSource.destroy();
  });
});

/** What a statement inside a transaction reads back. */
async function readInside(run: typeof transaction, dataSource: DataSource, sql: string): Promise<unknown> {
  return run(dataSource, async (manager) => Object.values(((await manager.query(sql)) as Array<Record<string, unknown>>)[0]!)[0]);
}

const hasPostgres = await postgresAvailable();

describe('bookkeeping transactions', () => {
  it('on SQLite in WAL mode: no commit syncs on the event loop; a transaction resolves after a sync of the log, bookkeeping does not wait for one', async () => {
    const dataSource = new DataSource({ type: 'better-sqlite3', database: path.join(dir, 'bk.db'), entities: [Counter], synchronize: true, enableWAL: true, prepareDatabase: (db: { pragma(s: string): unknown }) => void db.pragma('synchronous = FULL') });
    await dataSource.initialize();
    try {
      const wal = walSyncOf(dataSource)!;
      expect(wal).not.toBeNull();
      const levels = await Promise.all([
        readInside(bookkeepingTransaction, dataSource, 'PRAGMA synchronous'),
        readInside(transaction, dataSource, 'PRAGMA synchronous'),
      ]);
      expect(levels).toEqual([1, 1]);
      // Outside transactions the connection still syncs each commit itself.
      expect(await dataSource.query('PRAGMA synchronous')).toEqual([{ synchronous: 2 }]);

      const before = wal.syncs;
      await transaction(dataSource, (manager) => manager.getRepository(Counter).insert({ n: 1 }));
      expect(wal.syncs).toBeGreaterThan(before);
      const afterDurable = wal.syncs;
      await bookkeepingTransaction(dataSource, (manager) => manager.getRepository(Counter).insert({ n: 2 }));
      expect(wal.syncs).toBe(afterDurable);

      await expect(bookkeepingTransaction(dataSource, async () => Promise.reject(new Error('roll back')))).rejects.toThrow('roll back');
      await expect(transaction(dataSource, async () => Promise.reject(new Error('roll back')))).rejects.toThrow('roll back');
      expect(await dataSource.query('PRAGMA synchronous')).toEqual([{ synchronous: 2 }]);
      expect((await dataSource.getRepository(Counter).find()).map((row) => row.n).sort()).toEqual([1, 2]);
    } finally {
      await dataSource.destroy();
    }
  });

  it.runIf(hasPostgres)('on PostgreSQL turn synchronous_commit off for themselves only', async () => {
    const database = await createTestDatabase();
    const dataSource = new DataSource({ type: 'postgres', url: database.url, entities: [Counter], synchronize: true, poolSize: 1 });
    await dataSource.initialize();
    try {
      expect(await readInside(bookkeepingTransaction, dataSource, 'SHOW synchronous_commit')).toBe('off');
      // The same pooled connection, next transaction: SET LOCAL ended with the commit.
      expect(await readInside(transaction, dataSource, 'SHOW synchronous_commit')).toBe('on');
      await bookkeepingTransaction(dataSource, (manager) => manager.getRepository(Counter).insert({ n: 7 }));
      expect(await dataSource.getRepository(Counter).countBy({ n: 7 })).toBe(1);
    } finally {
      await dataSource.destroy();
      await database.drop();
    }
  });
});
