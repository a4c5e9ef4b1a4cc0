/**
 * The in-memory query evaluator: TrueNAS's `filter_list` for every namespace. Evaluation order:
 * filters → count → order_by → get → offset → limit, and `select` last.
 */
import { CallError, MatchNotFoundError } from '../errors/call-error.js';
import { ValidationErrors } from '../errors/validation-errors.js';
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
 * The CPU time one query may spend in memory: far above what a real query over the daemon's
 * data needs. A query that gets there stops with a validation error instead of running on.
 */
export const QUERY_TIME_BUDGET_MS = 10_000;
/** How long evaluation runs before it lets the event loop serve other callers. */
const SLICE_MS = 10;

/**
 * Filters, orders, paginates and projects `rows` as TrueNAS's `filter_list` does.
 * `filters` and `options` are raw wire values; invalid ones throw ValidationErrors, evaluation
 * problems (e.g. comparing a number with a string) throw CallError, and `get` without a match
 * throws MatchNotFoundError. It holds the event loop while it runs (within the time budget);
 * request handlers use `filterListAsync`.
 */
export function filterList<T>(
  rows: readonly T[],
  filters?: unknown,
  options?: unknown,
): QueryResult<T> {
  return executeQuery(rows, compileQuery(filters, options));
}

/** `filterList` in slices that let other callers in between. */
export function filterListAsync<T>(
  rows: readonly T[],
  filters?: unknown,
  options?: unknown,
): Promise<QueryResult<T>> {
  return executeQueryAsync(rows, compileQuery(filters, options));
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

/** Runs a compiled query over rows given in their natural (primary key) order, in one go. */
export function executeQuery<T>(
  rows: readonly T[],
  query: CompiledQuery,
  budgetMs = QUERY_TIME_BUDGET_MS,
): QueryResult<T> {
  const steps = new Evaluation(query).run(rows);
  const clock = new WorkClock(budgetMs);
  for (let step = steps.next(); ; step = steps.next()) {
    if (step.done) return step.value;
    clock.check(step.value);
  }
}

/**
 * `executeQuery` that hands the event loop back every few milliseconds, so that a long
 * evaluation delays other callers by one slice at most.
 */
export async function executeQueryAsync<T>(
  rows: readonly T[],
  query: CompiledQuery,
  budgetMs = QUERY_TIME_BUDGET_MS,
): Promise<QueryResult<T>> {
  const steps = new Evaluation(query).run(rows);
  const clock = new WorkClock(budgetMs);
  for (let step = steps.next(); ; step = steps.next()) {
    if (step.done) return step.value;
    clock.check(step.value);
    if (clock.sliceIsOver()) {
      clock.endSlice();
      await new Promise((resolve) => setImmediate(resolve));
      clock.startSlice();
    }
  }
}

/** The query argument a stage of evaluation works for: the budget error names it. */
type Stage = 'filters' | 'options';

/** Evaluation as steps: each `yield` (one row, one sort key) is a point where it may pause. */
type Steps<R> = Generator<Stage, R, void>;

/** The time evaluation has run, not counting the waits between its slices. */
class WorkClock {
  private spent = 0;
  private sliceStart = performance.now();

  constructor(private readonly budgetMs: number) {}

  check(stage: Stage): void {
    if (this.spent + (performance.now() - this.sliceStart) < this.budgetMs) return;
    throw new ValidationErrors().add(
      stage,
      `Query needs more than ${this.budgetMs / 1000} seconds of evaluation; narrow the filters or options`,
    );
  }

  sliceIsOver(): boolean {
    return performance.now() - this.sliceStart >= SLICE_MS;
  }

  startSlice(): void {
    this.sliceStart = performance.now();
  }

  /** Called before a pause, so that the wait is not counted. */
  endSlice(): void {
    this.spent += performance.now() - this.sliceStart;
  }
}

/** One query's evaluation, with what it prepares once for all rows. */
class Evaluation {
  /** Casefolded operands of `C` conditions, or the error folding raised. */
  private readonly foldedValues = new Map<Condition, Folded>();
  /** Hash sets for `in`/`nin` lists, so that a long list is not walked for every row. */
  private readonly memberships = new Map<Condition, Membership>();
  /** The row value folded last: consecutive conditions often read the same field. */
  private lastFold: { source: unknown; folded: unknown } | null = null;

  constructor(private readonly query: CompiledQuery) {}

  *run<T>(rows: readonly T[]): Steps<QueryResult<T>> {
    const { query } = this;
    const kind = resultKind(query);
    if (kind === 'get' && query.order.length === 0) {
      return project(yield* this.firstMatch(rows, query.filters), query.select);
    }
    const matched = yield* this.matching(rows);
    if (kind === 'count') return matched.length;
    const ordered = yield* orderRows(matched, query.order);
    if (kind === 'get') return project(yield* this.firstMatch(ordered, []), query.select);
    const { offset, limit } = query.options;
    const page = paginate(ordered, offset, limit);
    if (query.select.length === 0) return page;
    const projected: T[] = [];
    for (const row of page) {
      projected.push(project(row, query.select));
      yield 'options';
    }
    return projected;
  }

  private *matching<T>(rows: readonly T[]): Steps<T[]> {
    const matched: T[] = [];
    for (const row of rows) {
      if (this.matchesAll(row, this.query.filters)) matched.push(row);
      yield 'filters';
    }
    return matched;
  }

  /** Stops at the first match, so later rows are never evaluated (as in TrueNAS). */
  private *firstMatch<T>(rows: readonly T[], filters: readonly CompiledFilter[]): Steps<T> {
    for (const row of rows) {
      if (this.matchesAll(row, filters)) return row;
      yield 'filters';
    }
    throw new MatchNotFoundError();
  }

  private matchesAll(row: unknown, filters: readonly CompiledFilter[]): boolean {
    return filters.every((filter) =>
      filter.kind === 'or'
        ? filter.branches.some((branch) => this.matchesAll(row, branch))
        : this.matchesCondition(row, filter.path, filter),
    );
  }

  private matchesCondition(row: unknown, path: readonly string[], condition: Condition): boolean {
    const found = lookup(row, path);
    if (found.kind === 'missing') return false;
    if (found.kind === 'each') {
      return found.items.some((item) => this.matchesCondition(item, found.rest, condition));
    }
    return this.apply(condition, found.value);
  }

  private apply(condition: Condition, source: unknown): boolean {
    if (condition.regex) return pyRegexMatch(condition.regex, source);
    if (!condition.caseInsensitive) return this.operate(condition, source, condition.value);
    // Python folds the row's value first, so its error wins.
    const folded = this.casefoldSource(source);
    return this.operate(condition, folded, this.foldedValue(condition));
  }

  private operate(condition: Condition, source: unknown, value: unknown): boolean {
    const { operator } = condition;
    const membership = operator === 'in' || operator === 'nin' ? this.membership(condition, value) : null;
    if (!membership) return OPERATIONS[operator as Exclude<Operator, '~'>](source, value);
    if (operator === 'nin') return !isNone(source) && !membership.has(source);
    return membership.has(source);
  }

  private casefoldSource(source: unknown): unknown {
    const last = this.lastFold;
    if (last && last.source === source) return last.folded;
    const folded = casefold(source);
    this.lastFold = { source, folded };
    return folded;
  }

  private foldedValue(condition: Condition): unknown {
    let folded = this.foldedValues.get(condition);
    if (!folded) {
      try {
        folded = { value: casefold(condition.value) };
      } catch (error) {
        folded = { error };
      }
      this.foldedValues.set(condition, folded);
    }
    if ('error' in folded) throw folded.error;
    return folded.value;
  }

  /** A hash set for a list operand; null for operands `in` reads another way (strings, dicts). */
  private membership(condition: Condition, value: unknown): Membership | null {
    if (!Array.isArray(value) && !(value instanceof Set)) return null;
    let membership = this.memberships.get(condition);
    if (!membership) {
      membership = new Membership(value);
      this.memberships.set(condition, membership);
    }
    return membership;
  }
}

type Folded = { value: unknown } | { error: unknown };

/**
 * Python's `item in elements` for a fixed list: strings, numbers (with booleans: Python's
 * `True == 1`) and None in hash sets; other elements, the only ones that can equal a list, dict
 * or datetime, compared one by one with `pyEquals`.
 */
class Membership {
  private readonly strings = new Set<string>();
  private readonly numbers = new Set<number>();
  private readonly others: unknown[] = [];
  private hasNone = false;

  constructor(elements: Iterable<unknown>) {
    for (const element of elements) {
      if (isNone(element)) this.hasNone = true;
      else if (typeof element === 'string') this.strings.add(element);
      else if (typeof element === 'number' || typeof element === 'boolean') this.numbers.add(Number(element));
      else this.others.push(element);
    }
  }

  has(item: unknown): boolean {
    if (isNone(item)) return this.hasNone;
    if (typeof item === 'string') return this.strings.has(item);
    if (typeof item === 'number' || typeof item === 'boolean') {
      // A Set finds NaN; Python's NaN equals nothing.
      return !Number.isNaN(Number(item)) && this.numbers.has(Number(item));
    }
    return this.others.some((element) => pyEquals(element, item));
  }
}

/** Python's `rows[offset:][:limit]`: a limit of 0 means none, negatives count from the end. */
function paginate<T>(rows: readonly T[], offset: number, limit: number): T[] {
  const skipped = rows.slice(offset);
  return limit ? skipped.slice(0, limit) : skipped;
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

/** Applies each `order_by` key in turn as a stable sort, as TrueNAS's `do_order` does. */
function* orderRows<T>(rows: readonly T[], order: readonly OrderKey[]): Steps<T[]> {
  let sorted = [...rows];
  for (const key of order) {
    sorted = orderBy(sorted, key);
    yield 'options';
  }
  return sorted;
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
