import type { QueryRunner } from 'typeorm';

/** A stored value as a backup carries it: the same whichever database it came from. */
export type Cell = string | number | boolean | null;

/** One table's rows, each a list of values in the order of `columns`. */
export interface TableRows {
  columns: string[];
  rows: Cell[][];
}

/** What the two databases return differently: booleans (0/1 on SQLite) and bigints (strings on PostgreSQL). */
type Kind = 'boolean' | 'number' | 'text';

/** Table and column names are spliced into SQL, so only plain ones are accepted (a backup is untrusted input). */
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
/** Parameters per INSERT, under both databases' limits (PostgreSQL: 65535, SQLite: 32766). */
const MAX_PARAMETERS = 10_000;

export function quoteIdentifier(name: string): string {
  if (!IDENTIFIER.test(name)) throw new Error(`not a plain identifier: ${name.slice(0, 80)}`);
  return `"${name}"`;
}

function kindOf(type: string): Kind {
  if (/bool/i.test(type)) return 'boolean';
  if (/int|numeric|decimal|real|double|float/i.test(type)) return 'number';
  return 'text';
}

/** The columns of `table` in table order with their kinds, or null when the table does not exist. */
export async function columnKinds(runner: QueryRunner, table: string): Promise<Map<string, Kind> | null> {
  const found = await runner.getTable(table);
  if (!found) return null;
  return new Map(found.columns.map((column) => [column.name, kindOf(column.type)]));
}

/** A stored value in its portable form. */
function portable(value: unknown, kind: Kind): Cell {
  if (value === null || value === undefined) return null;
  if (kind === 'boolean') return value === true || value === 1 || value === '1' || value === 't' || value === 'true';
  if (kind === 'number') {
    const number = typeof value === 'number' ? value : Number(value);
    if (!Number.isFinite(number)) throw new Error(`not a number: ${String(value).slice(0, 40)}`);
    return number;
  }
  return typeof value === 'string' ? value : String(value);
}

/** A portable value as the database driver takes it: better-sqlite3 binds no booleans. */
function bindable(value: Cell, kind: Kind, sqlite: boolean): Cell {
  if (value === null) return null;
  if (kind === 'boolean') {
    const flag = value === true || value === 1 || value === '1' || value === 'true';
    return sqlite ? (flag ? 1 : 0) : flag;
  }
  return value;
}

/** Every row of `table`, in primary-key order, with portable values. */
export async function readTable(runner: QueryRunner, table: string): Promise<TableRows> {
  const found = await runner.getTable(table);
  if (!found) throw new Error(`table ${table} does not exist`);
  const columns = found.columns.map((column) => column.name);
  const kinds = found.columns.map((column) => kindOf(column.type));
  const order = found.primaryColumns.map((column) => quoteIdentifier(column.name)).join(', ');
  const records = (await runner.query(`SELECT * FROM ${quoteIdentifier(table)}${order ? ` ORDER BY ${order}` : ''}`)) as Array<Record<string, unknown>>;
  return { columns, rows: records.map((record) => columns.map((column, index) => portable(record[column], kinds[index]!))) };
}

/** Inserts rows into `table`, in batches, with the values bound as parameters. */
export async function insertRows(runner: QueryRunner, table: string, data: TableRows, kinds: ReadonlyMap<string, Kind>): Promise<void> {
  if (data.rows.length === 0 || data.columns.length === 0) return;
  const sqlite = runner.connection.options.type !== 'postgres';
  const columnKinds = data.columns.map((column) => kinds.get(column) ?? 'text');
  const head = `INSERT INTO ${quoteIdentifier(table)} (${data.columns.map(quoteIdentifier).join(', ')}) VALUES `;
  const perBatch = Math.max(1, Math.floor(MAX_PARAMETERS / data.columns.length));
  for (let start = 0; start < data.rows.length; start += perBatch) {
    const batch = data.rows.slice(start, start + perBatch);
    const parameters: Cell[] = [];
    const tuples = batch.map((row) => {
      const marks = row.map((value, index) => {
        parameters.push(bindable(value, columnKinds[index]!, sqlite));
        return sqlite ? '?' : `$${parameters.length}`;
      });
      return `(${marks.join(', ')})`;
    });
    await runner.query(head + tuples.join(', '), parameters);
  }
}
