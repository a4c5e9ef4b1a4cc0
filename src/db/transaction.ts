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
  const previous = queues.get(dataSource) ?? Promise.resolve();
  const run = previous.catch(() => undefined).then(() => dataSource.transaction(work));
  queues.set(dataSource, run);
  return run;
}
