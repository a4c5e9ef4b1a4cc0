import { DataSource, QueryFailedError, type QueryRunner } from 'typeorm';
import { MIGRATIONS } from '../../migrations/index.js';
import type { App } from '../app.js';
import { transaction } from '../db/transaction.js';
import { ValidationErrors } from '../errors/validation-errors.js';
import type { CollectionUpdate } from '../events/event-bus.js';
import { SecretBox } from '../secrets.js';
import { FILE_ATTRIBUTE, type BackupDocument } from './archive.js';
import { currentMasterKey, masterKeyId } from './master-key.js';
import { columnKinds, insertRows, quoteIdentifier, readTable, type Cell, type TableRows } from './rows.js';
import { BACKUP_TABLES, LOCAL_SETTINGS } from './tables.js';

export interface RestoreOutcome {
  /** Rows restored, per table. */
  counts: Record<string, number>;
  /** The entity events that announce the change, to send once the restore has been reported. */
  changes: CollectionUpdate[];
}

type Progress = (percent: number, description: string) => void;

function damaged(why: string): ValidationErrors {
  return new ValidationErrors().add(FILE_ATTRIBUTE, `The backup is damaged: ${why}`);
}

/** What a database error says, bounded (it may quote the backup's own names). */
function reasonOf(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).slice(0, 300);
}

/**
 * Replaces every backed-up table with the backup's rows, all or nothing: the backup is checked,
 * brought to this version's schema and re-sealed under this daemon's master key before the one
 * transaction that swaps the rows starts.
 * @throws ValidationErrors at `file` for a backup that is damaged, from a newer schema, or sealed
 *   with a master key it does not hold and this daemon does not have.
 */
export async function restoreBackup(app: App, document: BackupDocument, progress: Progress): Promise<RestoreOutcome> {
  progress(10, 'Checking the backup');
  checkSchema(document.migrations);
  const sealedWith = backupSecrets(app, document);
  progress(25, 'Bringing the backup to this schema');
  const tables = await upgradedRows(document);
  progress(50, 'Sealing secrets with this daemon\'s master key');
  for (const table of BACKUP_TABLES) reseal(tables.get(table.name)!, table.sealed, sealedWith, app.secrets);
  progress(70, 'Replacing the data');
  const before = await replaceTables(app, tables);
  const counts = Object.fromEntries(BACKUP_TABLES.map((table) => [table.name, tables.get(table.name)!.rows.length]));
  return { counts, changes: changesOf(before, tables) };
}

let migrationNames: string[] | undefined;
/** The migrations this version knows, oldest first. */
function knownMigrations(): string[] {
  return (migrationNames ??= MIGRATIONS.map((Migration) => new Migration().name));
}

/** A backup's schema must be this version's or an older one (its migrations a prefix of ours). */
function checkSchema(migrations: readonly string[]): void {
  const known = knownMigrations();
  const unknown = migrations.find((name) => !known.includes(name));
  if (unknown !== undefined) {
    throw new ValidationErrors().add(
      FILE_ATTRIBUTE,
      `The backup comes from a newer schema (its migration ${unknown.slice(0, 100)} is unknown to this version of certmid): upgrade certmid first`,
    );
  }
  if (migrations.length === 0 || migrations.some((name, index) => known[index] !== name)) {
    throw damaged('its schema history does not match this version of certmid');
  }
}

/** The box that opens the backup's sealed values: its own master key, or this daemon's when that is the same. */
function backupSecrets(app: App, document: BackupDocument): SecretBox {
  if (document.master_key !== undefined) {
    const key = Buffer.from(document.master_key, 'base64');
    if (key.length !== 32 || masterKeyId(key) !== document.master_key_id) throw damaged('its master key is not the one it names');
    return SecretBox.fromKey(key);
  }
  if (masterKeyId(currentMasterKey(app.config)) !== document.master_key_id) {
    throw new ValidationErrors().add(
      FILE_ATTRIBUTE,
      'The backup does not hold the master key its private keys are sealed with (it was made without secretseed), and this ' +
        'daemon has another master key: restore it on a daemon started with the original MASTER_KEY, or use a backup made with secretseed',
    );
  }
  return app.secrets;
}

/**
 * The backup's rows as this version stores them: loaded into a scratch in-memory SQLite database
 * at the backup's schema, which this version's own migrations then bring up to date. Rows that
 * do not fit their table are found here, before the live database is touched.
 */
async function upgradedRows(document: BackupDocument): Promise<Map<string, TableRows>> {
  const scratch = new DataSource({ type: 'better-sqlite3', database: ':memory:' });
  await scratch.initialize();
  const runner = scratch.createQueryRunner();
  try {
    const migrations = MIGRATIONS.map((Migration) => new Migration());
    const applied = document.migrations.length;
    for (const migration of migrations.slice(0, applied)) await migration.up(runner);
    await loadBackupRows(runner, document);
    for (const migration of migrations.slice(applied)) await migration.up(runner);
    const tables = new Map<string, TableRows>();
    for (const table of BACKUP_TABLES) tables.set(table.name, await readTable(runner, table.name));
    return tables;
  } finally {
    await runner.release();
    await scratch.destroy();
  }
}

async function loadBackupRows(runner: QueryRunner, document: BackupDocument): Promise<void> {
  const foreign = Object.keys(document.tables).find((name) => !BACKUP_TABLES.some((table) => table.name === name));
  if (foreign !== undefined) throw damaged(`it holds a table certmid does not back up: ${foreign.slice(0, 100)}`);
  for (const table of BACKUP_TABLES) {
    const kinds = await columnKinds(runner, table.name);
    const data = document.tables[table.name];
    if (!kinds) {
      if (data) throw damaged(`table ${table.name} did not exist at its schema`);
      continue;
    }
    if (!data) throw damaged(`table ${table.name} is missing`);
    const unknown = data.columns.find((column) => !kinds.has(column));
    if (unknown !== undefined) throw damaged(`table ${table.name} has no column ${unknown.slice(0, 100)} at its schema`);
    try {
      await insertRows(runner, table.name, parentsFirst(table.name, data), kinds);
    } catch (error) {
      throw damaged(`its ${table.name} rows do not fit their table: ${reasonOf(error)}`);
    }
  }
}

/** CA rows ordered so that each comes after the CA that signed it (the table refers to itself). */
function parentsFirst(table: string, data: TableRows): TableRows {
  const idAt = data.columns.indexOf('id');
  const parentAt = data.columns.indexOf('signedby_id');
  if (table !== 'certificate_authority' || idAt < 0 || parentAt < 0) return data;
  const byId = new Map<Cell, Cell[]>(data.rows.map((row) => [row[idAt]!, row]));
  const placed = new Set<Cell[]>();
  const ordered: Cell[][] = [];
  for (const row of data.rows) {
    // Walk up to the first ancestor already placed (or outside the table), then place the walk top-down.
    const chain: Cell[][] = [];
    const onChain = new Set<Cell[]>();
    for (let current: Cell[] | undefined = row; current && !placed.has(current) && !onChain.has(current); current = byId.get(current[parentAt]!)) {
      chain.push(current);
      onChain.add(current);
    }
    for (const link of chain.reverse()) {
      placed.add(link);
      ordered.push(link);
    }
  }
  return { columns: data.columns, rows: ordered };
}

/** Re-seals a table's sealed columns from the backup's master key to this daemon's. */
function reseal(data: TableRows, sealed: readonly string[], from: SecretBox, to: SecretBox): void {
  if (from === to) return;
  for (const column of sealed) {
    const at = data.columns.indexOf(column);
    if (at < 0) continue;
    for (const row of data.rows) {
      const value = row[at];
      if (typeof value !== 'string') continue;
      let plain: string;
      try {
        plain = from.decrypt(value);
      } catch {
        throw damaged(`a sealed ${column} cannot be opened with its master key`);
      }
      row[at] = to.encrypt(plain);
    }
  }
}

async function idsOf(runner: QueryRunner, table: string): Promise<number[]> {
  const rows = (await runner.query(`SELECT "id" FROM ${quoteIdentifier(table)}`)) as Array<{ id: number | string }>;
  return rows.map((row) => Number(row.id));
}

/** Every row goes, except the settings that describe this daemon rather than its data. */
async function clearTable(runner: QueryRunner, table: string): Promise<void> {
  const keep = table === 'setting' ? [...LOCAL_SETTINGS].map((key) => `'${key.replace(/'/g, "''")}'`) : [];
  await runner.query(`DELETE FROM ${quoteIdentifier(table)}${keep.length ? ` WHERE "key" NOT IN (${keep.join(', ')})` : ''}`);
}

function withoutLocalSettings(data: TableRows): TableRows {
  const keyAt = data.columns.indexOf('key');
  return { columns: data.columns, rows: data.rows.filter((row) => !LOCAL_SETTINGS.has(String(row[keyAt]))) };
}

/** PostgreSQL's id sequence moves past the restored ids (never back), so new rows do not collide with them. */
async function advanceSequence(runner: QueryRunner, table: string): Promise<void> {
  const quoted = quoteIdentifier(table);
  const [found] = (await runner.query('SELECT pg_get_serial_sequence($1, \'id\') AS sequence', [quoted])) as Array<{ sequence: string | null }>;
  if (!found?.sequence) return;
  await runner.query(
    `SELECT setval($1::regclass, GREATEST((SELECT COALESCE(MAX("id"), 0) FROM ${quoted}), COALESCE(pg_sequence_last_value($1::regclass), 0), 1))`,
    [found.sequence],
  );
}

/**
 * Swaps the rows in one transaction; on PostgreSQL the tables are locked first, so other daemons
 * and workers neither write between the delete and the inserts nor read a half-restored state.
 * @returns the ids each announced table held before.
 */
async function replaceTables(app: App, tables: ReadonlyMap<string, TableRows>): Promise<Map<string, number[]>> {
  const postgres = app.db.options.type === 'postgres';
  return transaction(app.db, async (manager) => {
    const runner = manager.queryRunner!;
    if (postgres) await runner.query(`LOCK TABLE ${BACKUP_TABLES.map((table) => quoteIdentifier(table.name)).join(', ')} IN ACCESS EXCLUSIVE MODE`);
    const before = new Map<string, number[]>();
    for (const table of BACKUP_TABLES) if (table.namespace) before.set(table.name, await idsOf(runner, table.name));
    for (const table of [...BACKUP_TABLES].reverse()) await clearTable(runner, table.name);
    for (const table of BACKUP_TABLES) {
      const kinds = (await columnKinds(runner, table.name))!;
      const data = tables.get(table.name)!;
      try {
        await insertRows(runner, table.name, parentsFirst(table.name, table.name === 'setting' ? withoutLocalSettings(data) : data), kinds);
      } catch (error) {
        if (error instanceof QueryFailedError) throw damaged(`its ${table.name} rows do not fit this database: ${reasonOf(error)}`);
        throw error;
      }
      if (postgres && kinds.has('id')) await advanceSequence(runner, table.name);
    }
    return before;
  });
}

/** `changed` for every restored row (clients reread it), `removed` for rows the backup does not have. */
function changesOf(before: ReadonlyMap<string, number[]>, tables: ReadonlyMap<string, TableRows>): CollectionUpdate[] {
  const changes: CollectionUpdate[] = [];
  for (const table of BACKUP_TABLES) {
    if (!table.namespace) continue;
    const data = tables.get(table.name)!;
    const idAt = data.columns.indexOf('id');
    const after = new Set(data.rows.map((row) => Number(row[idAt])));
    const collection = `${table.namespace}.query`;
    for (const id of before.get(table.name) ?? []) if (!after.has(id)) changes.push({ collection, msg: 'removed', id });
    for (const id of after) changes.push({ collection, msg: 'changed', id });
  }
  return changes;
}
