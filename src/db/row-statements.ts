import type { ColumnMetadata } from 'typeorm/metadata/ColumnMetadata.js';
import type { EntityManager, EntityTarget, ObjectLiteral } from 'typeorm';

/**
 * Inserts and updates of hot paths (a job's steps, a certificate stored, an audit entry) written as
 * fixed SQL with every value a parameter. TypeORM's query builder makes the text anew for each call
 * and, on SQLite, writes numbers into it, so no two texts match and each one is prepared again;
 * these texts depend only on the columns given, so the statement cache keeps them prepared.
 * Values go through the entity's own column conversions (transformers, booleans), as TypeORM's do.
 */

/** The columns of `entity` that `values` sets (undefined ones are left out) and their stored values. */
function columnValues(manager: EntityManager, entity: EntityTarget<ObjectLiteral>, values: Record<string, unknown>) {
  const metadata = manager.connection.getMetadata(entity);
  const driver = manager.connection.driver;
  const columns: ColumnMetadata[] = metadata.columns.filter((column) => values[column.propertyName] !== undefined);
  return {
    table: driver.escape(metadata.tableName),
    names: columns.map((column) => driver.escape(column.databaseName)),
    parameters: columns.map((column) => driver.preparePersistentValue(values[column.propertyName], column) as unknown),
  };
}

/** `?` placeholders as the database wants them: PostgreSQL numbers them from `first`. */
export function placeholders(manager: EntityManager, text: string, first = 1): string {
  if (manager.connection.options.type !== 'postgres') return text;
  let n = first;
  return text.replace(/\?/g, () => `$${n++}`);
}

/**
 * Inserts one row and returns the id the database gave it. TypeORM's own insert also reads the new
 * row back for its columns with defaults (a second statement); the caller has every value already.
 */
export async function insertRow<Row extends ObjectLiteral>(manager: EntityManager, entity: EntityTarget<Row>, values: Partial<Row>): Promise<number> {
  const { table, names, parameters } = columnValues(manager, entity, values);
  const postgres = manager.connection.options.type === 'postgres';
  const sql = placeholders(manager, `INSERT INTO ${table}(${names.join(', ')}) VALUES (${names.map(() => '?').join(', ')})${postgres ? ' RETURNING "id"' : ''}`);
  // better-sqlite3 answers an INSERT with the row id it gave; PostgreSQL with the rows it returned.
  const raw = (await manager.query(sql, parameters)) as number | bigint | Array<{ id: number | string }>;
  return Number(Array.isArray(raw) ? raw[0]!.id : raw);
}

/**
 * Sets `values` on the rows of `entity` that `where` (SQL with `?` placeholders for `whereParameters`)
 * selects, inside the transaction `manager` belongs to; how many rows it changed.
 */
export async function updateWhere<Row extends ObjectLiteral>(
  manager: EntityManager,
  entity: EntityTarget<Row>,
  values: Partial<Row>,
  where: string,
  whereParameters: readonly unknown[],
): Promise<number> {
  const runner = manager.queryRunner;
  if (!runner) throw new Error('updateWhere needs a transaction');
  const { table, names, parameters } = columnValues(manager, entity, values);
  const sql = placeholders(manager, `UPDATE ${table} SET ${names.map((name) => `${name} = ?`).join(', ')} WHERE ${where}`);
  const result = await runner.query(sql, [...parameters, ...whereParameters], true);
  return result.affected ?? 0;
}

/**
 * The rows of `entity` that `where` (SQL with `?` placeholders) selects, with the columns `columns`
 * (every column when omitted), converted as TypeORM reads them; through `manager`'s transaction
 * when it has one.
 */
export async function selectRows<Row extends ObjectLiteral, Column extends keyof Row & string = keyof Row & string>(
  manager: EntityManager,
  entity: EntityTarget<Row>,
  where: string,
  parameters: readonly unknown[],
  columns?: readonly Column[],
): Promise<Array<Pick<Row, Column>>> {
  const metadata = manager.connection.getMetadata(entity);
  const driver = manager.connection.driver;
  const read = columns ? metadata.columns.filter((column) => columns.includes(column.propertyName as Column)) : metadata.columns;
  const list = read.map((column) => driver.escape(column.databaseName)).join(', ');
  const sql = placeholders(manager, `SELECT ${list} FROM ${driver.escape(metadata.tableName)} WHERE ${where}`);
  const rows = (await manager.query(sql, [...parameters])) as Array<Record<string, unknown>>;
  return rows.map((row) => Object.fromEntries(read.map((column) => [column.propertyName, driver.prepareHydratedValue(row[column.databaseName], column)])) as Pick<Row, Column>);
}
