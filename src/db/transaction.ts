import type { DataSource, EntityManager } from 'typeorm';

/** The tail of each SQLite data source's transaction queue. */
const queues = new WeakMap<DataSource, Promise<unknown>>();

/**
 * Runs `work` in a transaction. SQLite has one connection per process and cannot nest or
 * interleave transactions on it, so there they run one after another; PostgreSQL's pool runs
 * them side by side. Never call this from inside another transaction's work.
 */
export function transaction<T>(dataSource: DataSource, work: (manager: EntityManager) => Promise<T>): Promise<T> {
  if (dataSource.options.type === 'postgres') return dataSource.transaction(work);
  return queued(dataSource, () => dataSource.transaction(work));
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
  // SQLite sets the level per connection and refuses to change it inside a transaction; the queue
  // makes sure no other queued transaction commits while it is lowered.
  return queued(dataSource, async () => {
    const connection = sqliteConnection(dataSource);
    connection.pragma('synchronous = NORMAL');
    try {
      return await dataSource.transaction(work);
    } finally {
      connection.pragma('synchronous = FULL');
    }
  });
}

function queued<T>(dataSource: DataSource, run: () => Promise<T>): Promise<T> {
  const previous = queues.get(dataSource) ?? Promise.resolve();
  const next = previous.catch(() => undefined).then(run);
  queues.set(dataSource, next);
  return next;
}

/** The better-sqlite3 handle under a SQLite data source. */
function sqliteConnection(dataSource: DataSource): { pragma(source: string): unknown } {
  return (dataSource.driver as unknown as { databaseConnection: { pragma(source: string): unknown } }).databaseConnection;
}
