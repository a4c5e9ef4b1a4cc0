import type { EntityManager, QueryRunner } from 'typeorm';
import type { App } from '../app.js';
import { transaction } from '../db/transaction.js';
import { BACKUP_FORMAT, BACKUP_VERSION, type BackupDocument } from './archive.js';
import { currentMasterKey, masterKeyId } from './master-key.js';
import { readTable, type TableRows } from './rows.js';
import { BACKUP_TABLES } from './tables.js';

/** TypeORM's record of applied migrations (its default table name). */
const MIGRATIONS_TABLE = '"migrations"';

/** The migrations applied to the database, oldest first: the schema its rows have. */
export async function appliedMigrations(runner: QueryRunner): Promise<string[]> {
  const rows = (await runner.query(`SELECT "name" FROM ${MIGRATIONS_TABLE} ORDER BY "id"`)) as Array<{ name: string }>;
  return rows.map((row) => row.name);
}

interface Snapshot {
  migrations: string[];
  tables: Record<string, TableRows>;
}

async function readSnapshot(manager: EntityManager): Promise<Snapshot> {
  const runner = manager.queryRunner!;
  const tables: Record<string, TableRows> = {};
  for (const table of BACKUP_TABLES) tables[table.name] = await readTable(runner, table.name);
  return { migrations: await appliedMigrations(runner), tables };
}

/**
 * Every table a backup holds, read in one transaction so that the rows agree with each other
 * (PostgreSQL: one REPEATABLE READ snapshot while other daemons keep writing).
 */
function snapshot(app: App): Promise<Snapshot> {
  if (app.db.options.type === 'postgres') return app.db.transaction('REPEATABLE READ', readSnapshot);
  return transaction(app.db, readSnapshot);
}

/** The backup of this daemon's data; with `includeMasterKey`, its master key too. */
export async function exportBackup(app: App, options: { includeMasterKey: boolean }): Promise<BackupDocument> {
  const { migrations, tables } = await snapshot(app);
  const key = currentMasterKey(app.config);
  return {
    format: BACKUP_FORMAT,
    version: BACKUP_VERSION,
    created_at: new Date().toISOString(),
    source: { database: app.db.options.type === 'postgres' ? 'postgres' : 'sqlite' },
    migrations,
    master_key_id: masterKeyId(key),
    ...(options.includeMasterKey ? { master_key: key.toString('base64') } : {}),
    tables,
  };
}
