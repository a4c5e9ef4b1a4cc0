import path from 'node:path';
import { DataSource, type EntitySchema, type MixedList } from 'typeorm';
import type { Config } from '../config.js';
import { ensurePrivateDirectory, ensurePrivateFile, restrictFiles } from '../private-files.js';

/**
 * SQLite under DATA_DIR by default, PostgreSQL when DATABASE_URL is set; the same entities and
 * migrations serve both. Migrations run at start; the schema is never synchronized.
 */
export async function openDataSource(
  config: Pick<Config, 'dataDir' | 'databaseUrl'>,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  entities: readonly EntitySchema<any>[],
  // eslint-disable-next-line @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-function-type
  migrations: MixedList<Function>,
): Promise<DataSource> {
  const dataSource = config.databaseUrl
    ? new DataSource({
        type: 'postgres',
        url: config.databaseUrl,
        entities: [...entities],
        migrations,
        migrationsTransactionMode: 'each',
      })
    : sqliteDataSource(config.dataDir, entities, migrations);
  await dataSource.initialize();
  try {
    await migrate(dataSource);
  } catch (error) {
    await dataSource.destroy();
    throw error;
  }
  return dataSource;
}

/** An arbitrary constant naming the advisory lock that serialises migrations across processes. */
const MIGRATION_LOCK = 7_240_531;

/** Runs pending migrations; on PostgreSQL one process at a time, since daemons and workers may start together. */
async function migrate(dataSource: DataSource): Promise<void> {
  if (dataSource.options.type !== 'postgres') {
    await dataSource.runMigrations({ transaction: 'each' });
    return;
  }
  const runner = dataSource.createQueryRunner();
  try {
    await runner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await dataSource.runMigrations({ transaction: 'each' });
  } finally {
    await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    await runner.release();
  }
}

function sqliteDataSource(
  dataDir: string,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  entities: readonly EntitySchema<any>[],
  // eslint-disable-next-line @typescript-eslint/no-unsafe-function-type
  migrations: MixedList<Function>,
): DataSource {
  const database = path.join(dataDir, 'certmid.db');
  ensurePrivateDirectory(dataDir);
  // SQLite gives the -wal and -shm files it creates the database file's mode, so they stay private too.
  ensurePrivateFile(database);
  restrictFiles(`${database}-wal`, `${database}-shm`);
  return new DataSource({
    type: 'better-sqlite3',
    database,
    entities: [...entities],
    migrations,
    migrationsTransactionMode: 'each',
    enableWAL: true,
    prepareDatabase: (db: { pragma(source: string): unknown }) => {
      db.pragma('foreign_keys = ON');
      // Every commit reaches the disk before it is acknowledged: a CA must not lose a certificate it
      // answered with, nor hand out its serial again, after an OS crash or power loss. Said outright
      // because this SQLite build runs WAL databases with NORMAL (DEFAULT_WAL_SYNCHRONOUS=1), which
      // may drop the last commits.
      db.pragma('synchronous = FULL');
      // Several processes may open the file (daemon and tests); wait instead of failing on a lock.
      db.pragma('busy_timeout = 5000');
    },
  });
}
