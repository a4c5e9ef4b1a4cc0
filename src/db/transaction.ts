import type { DataSource, EntityManager } from 'typeorm';
import { KeptFileSync, WalSync } from './wal-sync.js';

/** The tail of each SQLite data source's transaction queue. */
const queues = new WeakMap<DataSource, Promise<unknown>>();
/** Each SQLite data source's log syncer; null when the database is not in WAL mode. */
const walSyncs = new WeakMap<DataSource, WalSync | null>();

/**
 * Runs `work` in a transaction and resolves once its commit is on the disk. SQLite has one
 * connection per process and cannot nest or interleave transactions on it, so there they run one
 * after another; PostgreSQL's pool runs them side by side. Never call this from inside another
 * transaction's work.
 *
 * SQLite in WAL mode commits without syncing and then waits for a shared sync of the log off the
 * event loop (`WalSync`): the next transaction may run meanwhile, and commits made together share
 * one sync. Writes outside a transaction keep `synchronous = FULL` and sync as they commit.
 */
export async function transaction<T>(dataSource: DataSource, work: (manager: EntityManager) => Promise<T>): Promise<T> {
  if (dataSource.options.type === 'postgres') return dataSource.transaction(work);
  const wal = walSyncOf(dataSource);
  if (!wal) return queued(dataSource, () => dataSource.transaction(work));
  const result = await queued(dataSource, () => withoutSync(dataSource, () => dataSource.transaction(work)));
  await wal.flush();
  return result;
}

/**
 * Runs `work` in a transaction whose commit does not wait for the disk: bookkeeping (a job's
 * state and progress) that is worth less than the sync it would cost. Both databases write the log
 * in order, so such a commit becomes durable with the next commit that does wait (the effect a job
 * records, an audit entry) or at the next checkpoint; an OS crash or power loss may drop only the
 * latest of them, never one that an acknowledged durable commit followed.
 */
export function bookkeepingTransaction<T>(dataSource: DataSource, work: (manager: EntityManager) => Promise<T>): Promise<T> {
  if (dataSource.options.type === 'postgres') {
    return dataSource.transaction(async (manager) => {
      await manager.query('SET LOCAL synchronous_commit = off');
      return work(manager);
    });
  }
  return queued(dataSource, () => withoutSync(dataSource, () => dataSource.transaction(work)));
}

/** The log syncer of a SQLite data source in WAL mode (for tests); null otherwise. */
export function walSyncOf(dataSource: DataSource): WalSync | null {
  let wal = walSyncs.get(dataSource);
  if (wal === undefined) {
    const inWal = sqliteConnection(dataSource).pragma('journal_mode', { simple: true }) === 'wal';
    const file = `${String(dataSource.options.database)}-wal`;
    wal = inWal ? new WalSync(new KeptFileSync(file).sync) : null;
    walSyncs.set(dataSource, wal);
  }
  return wal;
}

function queued<T>(dataSource: DataSource, run: () => Promise<T>): Promise<T> {
  const previous = queues.get(dataSource) ?? Promise.resolve();
  const next = previous.catch(() => undefined).then(run);
  queues.set(dataSource, next);
  return next;
}

/**
 * Runs `commit` with SQLite's commits not syncing. SQLite sets the level per connection and refuses
 * to change it inside a transaction; the queue makes sure no other queued transaction commits while
 * it is lowered.
 */
async function withoutSync<T>(dataSource: DataSource, commit: () => Promise<T>): Promise<T> {
  const connection = sqliteConnection(dataSource);
  connection.pragma('synchronous = NORMAL');
  try {
    return await commit();
  } finally {
    connection.pragma('synchronous = FULL');
  }
}

interface SqliteHandle {
  pragma(source: string, options?: { simple: boolean }): unknown;
}

/** The better-sqlite3 handle under a SQLite data source. */
function sqliteConnection(dataSource: DataSource): SqliteHandle {
  return (dataSource.driver as unknown as { databaseConnection: SqliteHandle }).databaseConnection;
}
