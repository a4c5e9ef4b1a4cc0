import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import 'reflect-metadata';
import { DataSource, EntitySchema } from 'typeorm';
import { afterAll, describe, expect, it } from 'vitest';
import { transaction } from './transaction.js';

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
