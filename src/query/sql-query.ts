/**
 * Query pushdown: the parts of a query that SQL can answer exactly as `filterList` would run in
 * the database (SQLite or PostgreSQL, same results); the rest runs in memory with `filterList`
 * semantics on the entries of the rows SQL returned.
 */
import type {
  DataSource,
  EntityMetadata,
  EntityTarget,
  FindOptionsWhere,
  ObjectLiteral,
  SelectQueryBuilder,
} from 'typeorm';
import { selectRows } from '../db/row-statements.js';
import { MatchNotFoundError } from '../errors/call-error.js';
import { InstanceNotFoundError } from '../errors/validation-errors.js';
import {
  compileQuery,
  type CompiledFilter,
  type CompiledQuery,
  type Condition,
  type Operator,
  type OrderKey,
} from './compile.js';
import { executeQueryAsync, resultKind, type QueryResult, type ResultKind } from './filter-list.js';
import { ASCII_BEARING_FOLDS, casefold, isAscii, isNone } from './python.js';

/** How a column's values compare, and so which operators SQL may answer for it. */
export type QueryColumnKind = 'string' | 'number' | 'boolean' | 'date' | 'json';

/** A query field stored in one column, holding exactly the value the entry shows. */
export interface QueryColumn {
  /** The entity property (TypeORM property path). */
  column: string;
  /**
   * `date` columns may store `Date`s in any order-preserving way (native or milliseconds);
   * `json` columns are never pushed down.
   */
  kind: QueryColumnKind;
}

/** What `runQuery` needs to query one entity. */
export interface SqlQuerySpec<Row extends ObjectLiteral, Entry> {
  dataSource: DataSource;
  entity: EntityTarget<Row>;
  /** Alias of the entity in the generated SQL (default `entry`). */
  alias?: string;
  /**
   * API field name → the column that holds exactly that value. Other fields are computed. A name
   * may be a dotted path (`attributes.authenticator`) for a nested field kept in its own column.
   */
  columns: Readonly<Record<string, QueryColumn>>;
  /** Builds the API entry from a row (may add computed fields). */
  toEntry: (row: Row) => Entry | Promise<Entry>;
  /** Reads what the entries of just these rows need (e.g. their related rows), before `toEntry` runs. */
  beforeEntries?: (rows: readonly Row[]) => Promise<void>;
  /**
   * Starts reading what the entry of the row `id` needs that its id alone tells, before the row is
   * read (see `getById`): on PostgreSQL each read is a round trip, and these need not wait for it.
   */
  prefetchEntry?: (id: number) => void;
  /** A fixed condition every row must meet (e.g. only CSRs), in TypeORM's `where` form. */
  baseWhere?: FindOptionsWhere<Row>;
}

/** Where each part of a query ran; see `explainQuery`. */
export interface QueryExplanation {
  /** The SELECT statement and its bound parameters. */
  sql: string;
  parameters: unknown[];
  /** Top-level filters answered by SQL, and those evaluated in memory. */
  pushedFilters: number;
  residualFilters: number;
  /** `order_by` entries sorted by SQL, and those sorted in memory. */
  sqlOrder: string[];
  memoryOrder: string[];
  /** Whether SQL counted, or applied offset/limit (or `get`'s single row). */
  sqlCount: boolean;
  sqlPaging: boolean;
}

/**
 * Runs a TrueNAS query (`<namespace>.query(filters, options)`) against one entity. Results equal
 * `filterList` over all entries in primary-key order. Throws as `filterList` does.
 */
export async function runQuery<Row extends ObjectLiteral, Entry>(
  spec: SqlQuerySpec<Row, Entry>,
  filters?: unknown,
  options?: unknown,
): Promise<QueryResult<Entry>> {
  const { plan, builder } = prepare(spec, compileQuery(filters, options));
  if (plan.sqlCount) return builder.getCount();
  const rows = await readRows(spec, builder);
  await spec.beforeEntries?.(rows);
  const entries = await Promise.all(rows.map((row) => spec.toEntry(row)));
  return executeQueryAsync(entries, plan.residual);
}

/** A spec whose entries are built at once, without waiting on anything. */
export type SyncEntrySpec<Row extends ObjectLiteral, Entry> = SqlQuerySpec<Row, Entry> & { toEntry: (row: Row) => Entry };

/**
 * The entries of a query read `pageRows` rows at a time, in primary-key order, when SQL answers the
 * whole query (all filters pushed down, no order but the natural one, a plain list); null when it
 * does not, and `runQuery` must see every row at once. Validates the query before returning. Pages
 * after the first continue after the last id read rather than at an offset, so a row added or
 * removed meanwhile neither repeats nor shifts another row out of the list.
 *
 * Without `select`, a page's entries are built one by one as it is iterated, so that each can be
 * written and dropped before the next is built: iterate a page before asking for the next one,
 * which reads what its own entries need in place of this page's.
 */
export function queryPages<Row extends ObjectLiteral, Entry>(
  spec: SyncEntrySpec<Row, Entry>,
  filters: unknown,
  options: unknown,
  pageRows: number,
): AsyncGenerator<Iterable<Entry>> | null {
  const { plan, builder } = prepare(spec, compileQuery(filters, options));
  const metadata = spec.dataSource.getMetadata(spec.entity);
  const [key, ...otherKeys] = metadata.primaryColumns;
  const exact = plan.residual.filters.length === 0 && plan.residual.order.length === 0 && plan.sqlOrder.length === 0;
  if (!exact || !plan.paging || plan.sqlCount || resultKind(plan.residual) !== 'list' || !key || otherKeys.length > 0) return null;
  const { driver } = spec.dataSource;
  return readPages(spec, builder, plan, key.propertyName, `${driver.escape(builder.alias)}.${driver.escape(key.databaseName)}`, pageRows);
}

async function* readPages<Row extends ObjectLiteral, Entry>(
  spec: SyncEntrySpec<Row, Entry>,
  builder: SelectQueryBuilder<Row>,
  plan: Plan,
  keyProperty: string,
  keyExpression: string,
  pageRows: number,
): AsyncGenerator<Iterable<Entry>> {
  const { offset, limit } = plan.paging!;
  let remaining = limit > 0 ? limit : Infinity;
  let after: unknown = undefined;
  while (remaining > 0) {
    const page = builder.clone().limit(Math.min(pageRows, remaining));
    if (after === undefined) page.offset(offset || undefined);
    else page.offset(undefined).andWhere(`${keyExpression} > :pageAfter`, { pageAfter: boundKey(after) });
    const rows = await readRows(spec, page);
    if (rows.length === 0) return;
    await spec.beforeEntries?.(rows);
    // A plain list: what is left is only `select`, applied entry by entry.
    yield plan.residual.select.length === 0 ? entriesOf(rows, spec.toEntry) : ((await executeQueryAsync(rows.map((row) => spec.toEntry(row)), plan.residual)) as Entry[]);
    if (rows.length < pageRows) return;
    remaining -= rows.length;
    after = rows[rows.length - 1]![keyProperty];
  }
}

/** The entries of `rows`, each built as it is reached. */
function* entriesOf<Row, Entry>(rows: readonly Row[], toEntry: (row: Row) => Entry): Generator<Entry> {
  for (const row of rows) yield toEntry(row);
}

/**
 * A key value for the query builder to bind as a parameter. It writes plain numbers into the SQL
 * text on SQLite, which would make each page a statement prepared anew (and push other statements
 * out of the driver's cache); a BigInt it binds, and both drivers read it as the integer it is.
 */
function boundKey(key: unknown): unknown {
  return typeof key === 'number' && Number.isSafeInteger(key) ? BigInt(key) : key;
}

/**
 * The rows of `builder` as `getMany` gives them, hydrated column by column by the driver (types and
 * transformers) without TypeORM's entity transformer, which costs several times the read itself on
 * long lists. The entities queried here are single tables without relations.
 */
async function readRows<Row extends ObjectLiteral>(spec: SqlQuerySpec<Row, unknown>, builder: SelectQueryBuilder<Row>): Promise<Row[]> {
  const metadata = spec.dataSource.getMetadata(spec.entity);
  if (metadata.relations.length > 0) return builder.getMany();
  const alias = builder.alias;
  const driver = spec.dataSource.driver;
  const columns = metadata.columns.map((column) => ({ column, key: `${alias}_${column.databaseName}` }));
  const raw = (await builder.getRawMany()) as Array<Record<string, unknown>>;
  return raw.map((record) => {
    const row = metadata.create() as Row;
    for (const { column, key } of columns) column.setEntityValue(row, driver.prepareHydratedValue(record[key], column));
    return row;
  });
}

/**
 * TrueNAS's `get_instance`: the entry whose `id` is `id`, or InstanceNotFoundError with the
 * caller's text (`"Certificate 7 does not exist"`). `options` are query options (e.g. `select`).
 */
export async function getInstance<Row extends ObjectLiteral, Entry>(
  spec: SqlQuerySpec<Row, Entry>,
  id: unknown,
  notFoundMessage: string,
  options: object = {},
): Promise<Entry> {
  try {
    return (await runQuery(spec, [['id', '=', id]], { ...options, get: true })) as Entry;
  } catch (error) {
    if (error instanceof MatchNotFoundError) throw new InstanceNotFoundError(notFoundMessage);
    throw error;
  }
}

/**
 * The entry whose primary key `id` is `id`, as `getInstance` gives it without options, but with no
 * query language to compile: one read by key.
 */
export async function getById<Row extends ObjectLiteral, Entry>(spec: SqlQuerySpec<Row, Entry>, id: number, notFoundMessage: string): Promise<Entry> {
  const [key] = spec.dataSource.getMetadata(spec.entity).primaryColumns;
  // An id the key column cannot hold names no row (PostgreSQL would refuse it as a parameter).
  if (!key || !Number.isInteger(id) || Math.abs(id) > integerLimit(key)) throw new InstanceNotFoundError(notFoundMessage);
  spec.prefetchEntry?.(id);
  // Fixed SQL with the id a parameter, so that its statement stays prepared from one call to the next.
  const [row] = spec.baseWhere
    ? await readRows(spec, byIdBuilder(spec, key.propertyPath, id))
    : ((await selectRows(spec.dataSource.manager, spec.entity, `${spec.dataSource.driver.escape(key.databaseName)} = ?`, [id])) as Row[]);
  if (!row) throw new InstanceNotFoundError(notFoundMessage);
  await spec.beforeEntries?.([row]);
  return spec.toEntry(row);
}

/** The query builder's read of the row `id` that also meets `spec.baseWhere`. */
function byIdBuilder<Row extends ObjectLiteral>(spec: SqlQuerySpec<Row, unknown>, keyPath: string, id: number): SelectQueryBuilder<Row> {
  const alias = spec.alias ?? 'entry';
  return spec.dataSource.createQueryBuilder(spec.entity, alias).where(`${alias}.${keyPath} = :id`, { id }).andWhere(spec.baseWhere!);
}

/** Shows how `runQuery` would split a query between SQL and memory, without running it. */
export function explainQuery<Row extends ObjectLiteral, Entry>(
  spec: SqlQuerySpec<Row, Entry>,
  filters?: unknown,
  options?: unknown,
): QueryExplanation {
  const query = compileQuery(filters, options);
  const { plan, builder } = prepare(spec, query);
  const [sql, parameters] = builder.getQueryAndParameters();
  return {
    sql,
    parameters,
    pushedFilters: query.filters.length - plan.residual.filters.length,
    residualFilters: plan.residual.filters.length,
    sqlOrder: plan.sqlOrder.map(({ key }) => key.text),
    memoryOrder: plan.residual.order.map((key) => key.text),
    sqlCount: plan.sqlCount,
    sqlPaging: plan.paging !== null,
  };
}

const NULLS_PLACEMENT = { first: 'NULLS FIRST', last: 'NULLS LAST' } as const;

interface Plan {
  readonly where: readonly string[];
  readonly sqlOrder: ReadonlyArray<{ key: OrderKey; column: SqlColumn }>;
  readonly sqlCount: boolean;
  readonly paging: { offset: number; limit: number } | null;
  /** What is left for `executeQuery` on the entries of the returned rows. */
  readonly residual: CompiledQuery;
}

function prepare<Row extends ObjectLiteral, Entry>(
  spec: SqlQuerySpec<Row, Entry>,
  query: CompiledQuery,
): { plan: Plan; builder: SelectQueryBuilder<Row> } {
  const alias = spec.alias ?? 'entry';
  const metadata = spec.dataSource.getMetadata(spec.entity);
  const writer = new SqlWriter(spec.dataSource, metadata, alias, spec.columns);
  const plan = planQuery(writer, query);
  const builder = spec.dataSource.createQueryBuilder(spec.entity, alias);
  if (spec.baseWhere) builder.andWhere(spec.baseWhere);
  for (const condition of plan.where) builder.andWhere(condition);
  builder.setParameters(writer.parameters);
  // Stable sorts applied in turn make the last key the most significant; the primary key stands
  // for the natural order that breaks the remaining ties. TypeORM keys ORDER BY terms by their
  // expression, and a repeated column could not change the order anyway, so repeats are skipped.
  const sorted = new Set<string>();
  const sortBy = (expression: string, order: 'ASC' | 'DESC', nulls?: OrderKey['nulls']) => {
    if (sorted.has(expression)) return;
    sorted.add(expression);
    builder.addOrderBy(expression, order, nulls ? NULLS_PLACEMENT[nulls] : undefined);
  };
  for (const { key, column } of [...plan.sqlOrder].reverse()) {
    sortBy(writer.collate(column.expression, column), key.descending ? 'DESC' : 'ASC', key.nulls);
  }
  for (const column of metadata.primaryColumns) {
    sortBy(writer.expression(column.databaseName), 'ASC');
  }
  if (plan.paging?.offset) builder.offset(plan.paging.offset);
  if (plan.paging?.limit) builder.limit(plan.paging.limit);
  return { plan, builder };
}

/**
 * How much of one query goes to SQL. SQLite refuses expressions nested deeper than 1000 (each
 * AND or OR adds a level) and more than 32766 parameters, and both databases take time to parse
 * a long WHERE; filters beyond these bounds run in memory, with the same result.
 */
const MAX_PUSHED_CONDITIONS = 100;
const MAX_PUSHED_PARAMETERS = 5000;

function planQuery(writer: SqlWriter, query: CompiledQuery): Plan {
  const where: string[] = [];
  const residualFilters: CompiledFilter[] = [];
  let pushedConditions = 0;
  for (const filter of query.filters) {
    const conditions = conditionCount(filter);
    const boundBefore = writer.boundValues;
    const sql = pushedConditions + conditions <= MAX_PUSHED_CONDITIONS ? filterSql(writer, filter) : null;
    if (sql === null || writer.boundValues > MAX_PUSHED_PARAMETERS) {
      // Parameters bound for SQL that is not used are never sent; TypeORM sends what SQL names.
      writer.boundValues = boundBefore;
      residualFilters.push(filter);
    } else {
      where.push(sql);
      pushedConditions += conditions;
    }
  }
  const sqlOrder: Array<{ key: OrderKey; column: SqlColumn }> = [];
  for (const key of query.order) {
    const column = writer.sortColumn(key);
    if (!column) break;
    sqlOrder.push({ key, column });
  }
  const memoryOrder = query.order.slice(sqlOrder.length);
  const kind = resultKind(query);
  const exact = residualFilters.length === 0;
  const paging = exact && memoryOrder.length === 0 ? sqlPaging(kind, query.options) : null;
  return {
    where,
    sqlOrder,
    sqlCount: exact && kind === 'count',
    paging,
    residual: {
      filters: residualFilters,
      order: memoryOrder,
      select: query.select,
      options: {
        ...query.options,
        count: kind === 'count',
        get: kind === 'get',
        ...(paging && { offset: 0, limit: 0 }),
      },
    },
  };
}

function conditionCount(filter: CompiledFilter): number {
  if (filter.kind === 'condition') return 1;
  return filter.branches.reduce((sum, branch) => sum + branch.reduce((inner, item) => inner + conditionCount(item), 0), 0);
}

/** Negative offsets and limits slice from the end (Python), which only memory can do. */
function sqlPaging(kind: ResultKind, options: CompiledQuery['options']): Plan['paging'] {
  if (kind === 'get') return { offset: 0, limit: 1 };
  if (kind === 'count' || options.offset < 0 || options.limit < 0) return null;
  return { offset: options.offset, limit: options.limit };
}

function filterSql(writer: SqlWriter, filter: CompiledFilter): string | null {
  if (filter.kind === 'condition') return conditionSql(writer, filter);
  // Parameters bound for a branch that then cannot be pushed stay unused; TypeORM binds only
  // the parameters the final SQL names.
  const branches = filter.branches.map((branch) => {
    const parts = branch.map((item) => filterSql(writer, item));
    return parts.every((part) => part !== null) ? `(${parts.join(' AND ')})` : null;
  });
  return branches.every((branch) => branch !== null) ? `(${branches.join(' OR ')})` : null;
}

/** Longer `in` lists stay in memory rather than approach the databases' parameter limits. */
const MAX_PUSHED_LIST = 1000;

/** Values SQL compares as Python does in this column; others (e.g. `True == 1`) stay in memory. */
function accepts(column: SqlColumn, value: unknown): boolean {
  switch (column.kind) {
    case 'string':
      return isSqlText(value);
    case 'number':
      return Number.isInteger(value) && Math.abs(value as number) <= integerLimit(column.metadata);
    case 'boolean':
      return typeof value === 'boolean';
    case 'date':
      return value instanceof Date;
    case 'json':
      return false;
  }
}

/** PostgreSQL cannot store NUL, and a lone surrogate would reach it as U+FFFD. */
function isSqlText(value: unknown): value is string {
  return typeof value === 'string' && !/[\0\p{Cs}]/u.test(value);
}

/** PostgreSQL gives a parameter its column's type, so the value must fit that integer type. */
function integerLimit(column: EntityMetadata['columns'][number]): number {
  const type = String(column.type).toLowerCase();
  if (type === 'bigint' || type === 'int8') return Number.MAX_SAFE_INTEGER;
  return type === 'smallint' || type === 'int2' ? 0x7fff : 0x7fffffff;
}

function conditionSql(writer: SqlWriter, condition: Condition): string | null {
  const located = writer.locate(condition.path);
  const [suffix, ...rest] = located?.rest ?? [];
  const column = located && rest.length === 0 ? located.column : undefined;
  if (!column || column.kind === 'json') return null;
  // `created.$date` compares the Date itself; other suffixes read through scalars in memory.
  if (suffix !== undefined && !(suffix === '$date' && condition.value instanceof Date)) return null;
  if (column.kind === 'date' && suffix === undefined && !isNone(condition.value)) return null;
  if (!condition.caseInsensitive) {
    return valueSql(writer, column.expression, column, condition.operator, condition.value);
  }
  // SQL folds ASCII only; with an ASCII operand the fold below agrees with Python's casefold.
  const operands = Array.isArray(condition.value) ? condition.value : [condition.value];
  if (column.kind !== 'string' || !operands.every((item) => isSqlText(item) && isAscii(item))) {
    return null;
  }
  const folded = writer.fold(column.expression);
  return valueSql(writer, folded, column, condition.operator, casefold(condition.value));
}

/**
 * SQL for `operand <operator> value` with Python's None rules: `=`/`!=` null test for NULL,
 * `!=` holds for NULL, `nin` and the affix operators never hold for NULL. NULL makes any other
 * test unknown, which WHERE treats as false, and no fragment is ever negated.
 */
function valueSql(
  writer: SqlWriter,
  operand: string,
  column: SqlColumn,
  operator: Operator,
  value: unknown,
): string | null {
  if (operator === 'in' || operator === 'nin') {
    return membershipSql(writer, operand, column, operator === 'nin', value);
  }
  if (isNone(value)) {
    if (operator === '=') return `${operand} IS NULL`;
    return operator === '!=' ? `${operand} IS NOT NULL` : null;
  }
  if (!accepts(column, value)) return null;
  switch (operator) {
    case '=':
      return `${operand} = ${writer.bind(value, column)}`;
    case '!=':
      return `(${operand} <> ${writer.bind(value, column)} OR ${operand} IS NULL)`;
    case '<':
    case '<=':
    case '>':
    case '>=':
      return `${writer.collate(operand, column)} ${operator} ${writer.bind(value, column)}`;
    default:
      return column.kind === 'string' ? affixSql(writer, operand, operator, value as string) : null;
  }
}

function membershipSql(
  writer: SqlWriter,
  operand: string,
  column: SqlColumn,
  negated: boolean,
  operandValue: unknown,
): string | null {
  const value = operandValue instanceof Set ? [...operandValue] : operandValue;
  if (!Array.isArray(value) || value.length > MAX_PUSHED_LIST) return null;
  if (!value.every((item) => isNone(item) || accepts(column, item))) return null;
  const present = value.filter((item) => !isNone(item));
  const list = present.length > 0 ? writer.bindList(present, column) : null;
  if (negated) return list ? `${operand} NOT IN (${list})` : `${operand} IS NOT NULL`;
  const alternatives = list ? [`${operand} IN (${list})`] : [];
  if (present.length < value.length) alternatives.push(`${operand} IS NULL`);
  return alternatives.length > 0 ? `(${alternatives.join(' OR ')})` : '1 = 0';
}

/** `^ !^ $ !$` by comparing substrings, which keeps LIKE's case and wildcard rules out. */
function affixSql(
  writer: SqlWriter,
  operand: string,
  operator: Operator,
  value: string,
): string | null {
  const length = writer.bindRaw([...value].length);
  const text = writer.bindRaw(value);
  const head = `substr(${operand}, 1, ${length})`;
  const tail = `substr(${operand}, length(${operand}) - ${length} + 1)`;
  switch (operator) {
    case '^':
      return `${head} = ${text}`;
    case '!^':
      return `${head} <> ${text}`;
    case '$':
      return `(length(${operand}) >= ${length} AND ${tail} = ${text})`;
    case '!$':
      return `(length(${operand}) < ${length} OR ${tail} <> ${text})`;
    default:
      return null;
  }
}

interface SqlColumn {
  readonly expression: string;
  readonly kind: QueryColumnKind;
  readonly metadata: EntityMetadata['columns'][number];
}

const ASCII_UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';

/** Per-query SQL state: the dialect, the mapped columns and the parameters bound so far. */
class SqlWriter {
  readonly parameters: Record<string, unknown> = {};
  /** Values bound so far (a list binds one per element). */
  boundValues = 0;
  private readonly postgres: boolean;
  private readonly columns = new Map<string, SqlColumn>();
  /** The most path segments a mapped field name has. */
  private readonly fieldDepth: number;
  private count = 0;

  constructor(
    private readonly dataSource: DataSource,
    metadata: EntityMetadata,
    private readonly alias: string,
    fields: Readonly<Record<string, QueryColumn>>,
  ) {
    const type = dataSource.options.type;
    if (type !== 'postgres' && type !== 'better-sqlite3') {
      throw new Error(`Query pushdown supports SQLite and PostgreSQL, not ${type}`);
    }
    this.postgres = type === 'postgres';
    for (const [field, { column, kind }] of Object.entries(fields)) {
      const columnMetadata = metadata.findColumnWithPropertyPath(column);
      if (!columnMetadata) {
        throw new Error(`${metadata.name} has no column ${column} (query field ${field})`);
      }
      const expression = this.expression(columnMetadata.databaseName);
      this.columns.set(field, { expression, kind, metadata: columnMetadata });
    }
    this.fieldDepth = Math.max(0, ...Object.keys(fields).map((field) => field.split('.').length));
  }

  /** The mapped field a path starts with (the longest match) and the rest of the path. */
  locate(path: readonly string[]): { column: SqlColumn; rest: readonly string[] } | undefined {
    // Only prefixes as long as a field name can match; a path may have thousands of segments.
    for (let length = Math.min(path.length, this.fieldDepth); length > 0; length -= 1) {
      const column = this.columns.get(path.slice(0, length).join('.'));
      if (column) return { column, rest: path.slice(length) };
    }
    return undefined;
  }

  expression(databaseName: string): string {
    const { driver } = this.dataSource;
    return `${driver.escape(this.alias)}.${driver.escape(databaseName)}`;
  }

  /** Binds `value` as the column stores it (transformers, booleans as 0/1 on SQLite, dates). */
  bind(value: unknown, column: SqlColumn): string {
    return this.bindRaw(this.dataSource.driver.preparePersistentValue(value, column.metadata));
  }

  bindList(values: readonly unknown[], column: SqlColumn): string {
    this.boundValues += values.length;
    const name = this.nextName();
    this.parameters[name] = values.map((value) =>
      this.bindable(this.dataSource.driver.preparePersistentValue(value, column.metadata)),
    );
    return `:...${name}`;
  }

  bindRaw(value: unknown): string {
    this.boundValues += 1;
    const name = this.nextName();
    this.parameters[name] = this.bindable(value);
    return `:${name}`;
  }

  /** PostgreSQL compares text by collation; "C" compares code points, as Python and SQLite do. */
  collate(operand: string, column: SqlColumn): string {
    return this.postgres && column.kind === 'string' ? `${operand} COLLATE "C"` : operand;
  }

  /**
   * Python's casefold as far as ASCII operands can tell: characters that fold to ASCII are
   * replaced first, then ASCII letters are lowered (SQLite's lower() and this translate() touch
   * nothing else). Other non-ASCII characters stay non-ASCII in both, so they never match.
   */
  fold(operand: string): string {
    const replaced = ASCII_BEARING_FOLDS.reduce(
      (sql, [char, folded]) => `replace(${sql}, ${sqlLiteral(char)}, ${sqlLiteral(folded)})`,
      operand,
    );
    return this.postgres
      ? `translate(${replaced}, '${ASCII_UPPER}', '${ASCII_UPPER.toLowerCase()}')`
      : `lower(${replaced})`;
  }

  /** Plain ordering needs a NOT NULL column: TrueNAS rejects sorting nulls without a prefix. */
  sortColumn(key: OrderKey): SqlColumn | undefined {
    const located = this.locate(key.path);
    const column = located?.rest.length === 0 ? located.column : undefined;
    if (!column || column.kind === 'json') return undefined;
    return key.nulls !== null || !column.metadata.isNullable ? column : undefined;
  }

  private nextName(): string {
    return `query_${this.count++}`;
  }

  /** TypeORM writes JS numbers into SQLite's SQL text; BigInts are bound as parameters. */
  private bindable(value: unknown): unknown {
    return !this.postgres && Number.isSafeInteger(value) ? BigInt(value as number) : value;
  }
}

/** Quotes one of this module's constant strings (never user input) as an SQL literal. */
function sqlLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}
