/**
 * The in-memory query evaluator: TrueNAS's `filter_list` for every namespace. Evaluation order:
 * filters → count → order_by → get → offset → limit, and `select` last.
 */
import { CallError, MatchNotFoundError } from '../errors/call-error.js';
import {
  compileQuery,
  type CompiledFilter,
  type CompiledQuery,
  type Condition,
  type Operator,
  type OrderKey,
  type Selection,
} from './compile.js';
import {
  casefold,
  isDict,
  isNone,
  pyAffix,
  pyCompare,
  pyContains,
  pyEquals,
  pyRepr,
  type PyComparison,
  type PyDict,
} from './python.js';
import { pyRegexMatch } from './python-regex.js';

/**
 * A query's result: the matching entries, one entry (`get`), or their number (`count`).
 * With `select`, entries hold only the selected fields.
 */
export type QueryResult<T> = T[] | T | number;

/** Which shape a query returns. */
export type ResultKind = 'list' | 'get' | 'count';

/**
 * Filters, orders, paginates and projects `rows` as TrueNAS's `filter_list` does.
 * `filters` and `options` are raw wire values; invalid ones throw ValidationErrors, evaluation
 * problems (e.g. comparing a number with a string) throw CallError, and `get` without a match
 * throws MatchNotFoundError.
 */
export function filterList<T>(
  rows: readonly T[],
  filters?: unknown,
  options?: unknown,
): QueryResult<T> {
  return executeQuery(rows, compileQuery(filters, options));
}

/**
 * TrueNAS returns the first match of a `get` before looking at `count`, unless it has to order
 * first or has no filters.
 */
export function resultKind({ options, order, filters }: CompiledQuery): ResultKind {
  if (options.get && order.length === 0 && filters.length > 0) return 'get';
  if (options.count) return 'count';
  return options.get ? 'get' : 'list';
}

/** Runs a compiled query over rows given in their natural (primary key) order. */
export function executeQuery<T>(rows: readonly T[], query: CompiledQuery): QueryResult<T> {
  const kind = resultKind(query);
  if (kind === 'get' && query.order.length === 0) {
    return project(firstMatch(rows, query.filters), query.select);
  }
  const matched = rows.filter((row) => matchesAll(row, query.filters));
  if (kind === 'count') return matched.length;
  const ordered = orderRows(matched, query.order);
  if (kind === 'get') return project(firstMatch(ordered, []), query.select);
  const { offset, limit } = query.options;
  return paginate(ordered, offset, limit).map((row) => project(row, query.select));
}

/** Stops at the first match, so later rows are never evaluated (as in TrueNAS). */
function firstMatch<T>(rows: readonly T[], filters: readonly CompiledFilter[]): T {
  for (const row of rows) if (matchesAll(row, filters)) return row;
  throw new MatchNotFoundError();
}

/** Python's `rows[offset:][:limit]`: a limit of 0 means none, negatives count from the end. */
function paginate<T>(rows: readonly T[], offset: number, limit: number): T[] {
  const skipped = rows.slice(offset);
  return limit ? skipped.slice(0, limit) : skipped;
}

function matchesAll(row: unknown, filters: readonly CompiledFilter[]): boolean {
  return filters.every((filter) =>
    filter.kind === 'or'
      ? filter.branches.some((branch) => matchesAll(row, branch))
      : matchesCondition(row, filter.path, filter),
  );
}

function matchesCondition(row: unknown, path: readonly string[], condition: Condition): boolean {
  const found = lookup(row, path);
  if (found.kind === 'missing') return false;
  if (found.kind === 'each') {
    return found.items.some((item) => matchesCondition(item, found.rest, condition));
  }
  return applyOperator(condition, found.value);
}

type Lookup =
  | { kind: 'value'; value: unknown }
  | { kind: 'missing' }
  | { kind: 'each'; items: readonly unknown[]; rest: readonly string[] };

const MISSING: Lookup = { kind: 'missing' };

/**
 * TrueNAS's `get_impl`: walks objects by key and lists by index (an index past the end gives
 * null) or `*` (every element, with the rest of the path). Past a scalar the path is ignored, so
 * `created.$date` reads the `Date` in `created`.
 */
function lookup(row: unknown, path: readonly string[]): Lookup {
  let current: unknown = row;
  for (const [index, segment] of path.entries()) {
    if (isDict(current)) {
      // An own property holding undefined is absent on the wire, so it counts as missing.
      current = Object.hasOwn(current, segment) ? current[segment] : undefined;
      if (current === undefined) return MISSING;
    } else if (Array.isArray(current)) {
      if (segment === '*') return { kind: 'each', items: current, rest: path.slice(index + 1) };
      if (!/^[0-9]+$/.test(segment)) {
        throw new CallError(`${segment}: must be array index or wildcard character`, 'EINVAL');
      }
      current = current[Number(segment)] ?? null;
    }
  }
  return { kind: 'value', value: current };
}

type Operation = (source: unknown, value: unknown) => boolean;

/**
 * Ordering comparisons with null are false, as in SQL (and TrueNAS's datastore queries), where
 * Python's `filter_list` would raise a TypeError.
 */
function ordering(op: PyComparison, test: (sign: number) => boolean): Operation {
  return (source, value) => !isNone(source) && !isNone(value) && test(pyCompare(source, value, op));
}

/** TrueNAS's `opmap`; the regular expression operator is applied from the compiled condition. */
const OPERATIONS: Readonly<Record<Exclude<Operator, '~'>, Operation>> = {
  '=': pyEquals,
  '!=': (source, value) => !pyEquals(source, value),
  '>': ordering('>', (sign) => sign > 0),
  '>=': ordering('>=', (sign) => sign >= 0),
  '<': ordering('<', (sign) => sign < 0),
  '<=': ordering('<=', (sign) => sign <= 0),
  in: (source, value) => pyContains(value, source),
  nin: (source, value) => !isNone(source) && !pyContains(value, source),
  rin: (source, value) => !isNone(source) && pyContains(source, value),
  rnin: (source, value) => !isNone(source) && !pyContains(source, value),
  '^': (source, value) => !isNone(source) && pyAffix(source, value, 'startswith'),
  '!^': (source, value) => !isNone(source) && !pyAffix(source, value, 'startswith'),
  $: (source, value) => !isNone(source) && pyAffix(source, value, 'endswith'),
  '!$': (source, value) => !isNone(source) && !pyAffix(source, value, 'endswith'),
};

function applyOperator(condition: Condition, source: unknown): boolean {
  if (condition.regex) return pyRegexMatch(condition.regex, source);
  const operation = OPERATIONS[condition.operator as Exclude<Operator, '~'>];
  if (!condition.caseInsensitive) return operation(source, condition.value);
  return operation(casefold(source), casefold(condition.value));
}

/** Applies each `order_by` key in turn as a stable sort, as TrueNAS's `do_order` does. */
function orderRows<T>(rows: readonly T[], order: readonly OrderKey[]): T[] {
  return order.reduce<T[]>((sorted, key) => orderBy(sorted, key), [...rows]);
}

function orderBy<T>(rows: readonly T[], key: OrderKey): T[] {
  const keyed = rows.map((row) => ({ row, value: sortValue(row, key.path) }));
  const direction = key.descending ? -1 : 1;
  const compare = (a: { value: unknown }, b: { value: unknown }) =>
    direction * pyCompare(a.value, b.value, '<');
  if (key.nulls === null) {
    if (keyed.length > 1 && keyed.some(({ value }) => isNone(value))) {
      throw new CallError(
        `Cannot sort by ${pyRepr(key.text)} because the field contains null values. Please use ` +
          `"nulls_first:${key.text}" or "nulls_last:${key.text}" to specify null placement.`,
        'EINVAL',
      );
    }
    return keyed.sort(compare).map(({ row }) => row);
  }
  const nulls = keyed.filter(({ value }) => isNone(value));
  const values = keyed.filter(({ value }) => !isNone(value)).sort(compare);
  const placed = key.nulls === 'first' ? [...nulls, ...values] : [...values, ...nulls];
  return placed.map(({ row }) => row);
}

/** TrueNAS's `get()`: a missing field sorts as null, a `*` path as the whole list. */
function sortValue(row: unknown, path: readonly string[]): unknown {
  const found = lookup(row, path);
  if (found.kind === 'missing') return null;
  return found.kind === 'each' ? found.items : found.value;
}

/** TrueNAS's `do_select` for one entry; returns the entry itself when nothing is selected. */
function project<T>(row: T, select: readonly Selection[]): T {
  if (select.length === 0) return row;
  const entry: PyDict = {};
  for (const { path, alias } of select) {
    const found = selectPath(row, path);
    if (!found) continue;
    if (alias !== null) entry[alias] = found.value;
    else if (found.keys.length > 0) assignPath(entry, found.keys, found.value);
  }
  return entry as T;
}

interface Selected {
  keys: string[];
  value: unknown;
}

function selectPath(row: unknown, path: readonly string[]): Selected | null {
  const keys: string[] = [];
  let current = row;
  for (const segment of path) {
    if (Array.isArray(current)) {
      throw new CallError('Selecting by list index is not supported', 'EINVAL');
    }
    // Like lookup, a scalar ends the walk and keeps the keys read so far.
    if (!isDict(current)) break;
    current = Object.hasOwn(current, segment) ? current[segment] : undefined;
    if (current === undefined) return null;
    keys.push(segment);
  }
  return { keys, value: current };
}

function assignPath(entry: PyDict, keys: readonly string[], value: unknown): void {
  let target = entry;
  for (const key of keys.slice(0, -1)) {
    const existing = target[key];
    // Copy rather than write into an object another selection took from the row.
    const next: PyDict = isDict(existing) ? { ...existing } : {};
    target[key] = next;
    target = next;
  }
  target[keys[keys.length - 1] as string] = value;
}
