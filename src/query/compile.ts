/**
 * Validation of query filters and options into a compiled form that both evaluators (in memory
 * and SQL) read. Rules and texts follow TrueNAS's `filters.validate_filters` / `validate_options`.
 */
import { addZodIssues } from '../api/validate.js';
import { ValidationErrors } from '../errors/validation-errors.js';
import { compilePythonRegex, MAX_QUERY_PATTERN_COST, RegexSyntaxError, type PythonRegex } from './python-regex.js';
import { parseIsoTimestamp, pyRepr, pyStr, pyTruthy } from './python.js';
import { QueryOptions } from './schemas.js';

/**
 * Attributes of errors in the two query arguments: their parameter names, as in TrueNAS 25.04's
 * `QueryArgs` (legacy TrueNAS methods said `query-filters` / `query-options`).
 */
const FILTERS_ATTRIBUTE = 'filters';
const OPTIONS_ATTRIBUTE = 'options';

const MAX_FILTERS_DEPTH = 3;
const MAX_LIMIT = 10_000;
const TIMESTAMP_DESIGNATOR = '.$date';
const NULLS_FIRST = 'nulls_first:';
const NULLS_LAST = 'nulls_last:';

const OPERATORS = [
  '=', '!=', '>', '>=', '<', '<=', '~', 'in', 'nin', 'rin', 'rnin', '^', '!^', '$', '!$',
] as const;
/** A filter operator without the case-insensitive `C` prefix. */
export type Operator = (typeof OPERATORS)[number];
const TIMESTAMP_OPERATORS: ReadonlySet<string> = new Set(['=', '!=', '>', '>=', '<', '<=']);

/** `[field, operator, value]`. */
export interface Condition {
  readonly kind: 'condition';
  readonly path: readonly string[];
  readonly operator: Operator;
  readonly caseInsensitive: boolean;
  /** A `Date` when the field ends in `.$date`. */
  readonly value: unknown;
  /** Set for `~`. */
  readonly regex: PythonRegex | null;
}

/** `["OR", [branch, ...]]`; each branch holds conditions that must all hold. */
export interface Disjunction {
  readonly kind: 'or';
  readonly branches: ReadonlyArray<readonly CompiledFilter[]>;
}

export type CompiledFilter = Condition | Disjunction;

/** One `order_by` entry. */
export interface OrderKey {
  /** The entry as given, e.g. `nulls_last:-expiretime`. */
  readonly text: string;
  readonly path: readonly string[];
  readonly descending: boolean;
  readonly nulls: 'first' | 'last' | null;
}

/** One `select` entry. */
export interface Selection {
  readonly path: readonly string[];
  readonly alias: string | null;
}

/** Filters and options after validation. */
export interface CompiledQuery {
  readonly filters: readonly CompiledFilter[];
  readonly options: QueryOptions;
  readonly order: readonly OrderKey[];
  readonly select: readonly Selection[];
}

/** A first invalid filter, reported as TrueNAS does (it stops at the first one). */
class InvalidFilter extends Error {}

/**
 * Validates raw `filters` and `options` (as received on the wire; `null`/`undefined` mean the
 * defaults) and compiles them. Throws ValidationErrors at `filters` / `options…`.
 */
export function compileQuery(filters: unknown, options: unknown): CompiledQuery {
  const errors = new ValidationErrors();
  const parsedOptions = parseOptions(options ?? {}, errors);
  const compiledFilters = parseFilters(filters ?? [], errors);
  if (!parsedOptions || !compiledFilters) throw errors;
  return {
    filters: compiledFilters,
    options: parsedOptions,
    order: parsedOptions.order_by.map(compileOrderKey),
    select: parsedOptions.select.map((item) =>
      typeof item === 'string'
        ? { path: parsePath(item), alias: null }
        : { path: parsePath(item[0]), alias: item[1] },
    ),
  };
}

/**
 * Splits a field path at unescaped dots, exactly as TrueNAS's `partition` does: `\.` is a
 * literal dot and a trailing dot is ignored.
 */
export function parsePath(path: string): string[] {
  const segments: string[] = [];
  let right = path;
  while (right) {
    let escaped = '';
    for (;;) {
      const dot = right.indexOf('.');
      if (dot === -1) {
        segments.push(escaped + right);
        right = '';
        break;
      }
      const left = right.slice(0, dot);
      right = right.slice(dot + 1);
      if (!left.endsWith('\\')) {
        segments.push(escaped + left);
        break;
      }
      escaped += `${left.slice(0, -1)}.`;
    }
  }
  return segments;
}

function parseOptions(raw: unknown, errors: ValidationErrors): QueryOptions | null {
  const result = QueryOptions.safeParse(raw);
  if (!result.success) {
    addZodIssues(errors, OPTIONS_ATTRIBUTE, result.error.issues);
    return null;
  }
  const problem = optionsProblem(result.data);
  if (problem) {
    errors.add(OPTIONS_ATTRIBUTE, problem);
    return null;
  }
  return result.data;
}

function optionsProblem({ get, limit, offset }: QueryOptions): string | null {
  if (get && (limit > 1 || offset)) {
    return 'Invalid options combination. `get` implies a single result.';
  }
  return limit > MAX_LIMIT ? `Options limit must be between 1 and ${MAX_LIMIT}` : null;
}

function parseFilters(raw: unknown, errors: ValidationErrors): CompiledFilter[] | null {
  try {
    if (!Array.isArray(raw)) throw new InvalidFilter('Not a list');
    return new FilterCompiler().list(raw, 0);
  } catch (error) {
    if (!(error instanceof InvalidFilter)) throw error;
    errors.add(FILTERS_ATTRIBUTE, error.message);
    return null;
  }
}

/** Compiles one query's filters; its regular expressions share one budget, as each row meets them all. */
class FilterCompiler {
  private patternAllowance = MAX_QUERY_PATTERN_COST;

  list(filters: readonly unknown[], depth: number): CompiledFilter[] {
    if (depth > MAX_FILTERS_DEPTH) {
      throw new InvalidFilter('query-filters max recursion depth exceeded');
    }
    return filters.map((filter) => this.filter(filter, depth));
  }

  private filter(filter: unknown, depth: number): CompiledFilter {
    if (Array.isArray(filter) && filter.length === 2) {
      return this.disjunction(filter[0], filter[1], depth);
    }
    if (!Array.isArray(filter) || filter.length !== 3) {
      throw new InvalidFilter(`Invalid filter ${pyRepr(filter)}`);
    }
    return this.condition(filter);
  }

  private disjunction(op: unknown, branches: unknown, depth: number): Disjunction {
    if (op !== 'OR') throw new InvalidFilter(`Invalid operation: ${pyStr(op)}`);
    if (!pyTruthy(branches)) throw new InvalidFilter('OR filter requires at least one branch.');
    if (!Array.isArray(branches)) throw new InvalidFilter(`Invalid filter ${pyRepr([op, branches])}`);
    return { kind: 'or', branches: branches.map((branch) => this.branch(branch, depth + 1)) };
  }

  /** A branch is one condition, or a list of conditions when its first item is itself a list. */
  private branch(branch: unknown, depth: number): CompiledFilter[] {
    if (!Array.isArray(branch) || branch.length === 0) {
      throw new InvalidFilter(`Invalid filter ${pyRepr(branch)}`);
    }
    return this.list(Array.isArray(branch[0]) ? branch : [branch], depth);
  }

  private condition(filter: readonly unknown[]): Condition {
    const [field, op, rawValue] = filter;
    const { operator, caseInsensitive } = parseOperator(op);
    const value = timestampValue(field, operator, rawValue);
    if (typeof field !== 'string') throw new InvalidFilter(`Invalid filter ${pyRepr(filter)}`);
    return {
      kind: 'condition',
      path: parsePath(field),
      operator,
      caseInsensitive,
      value,
      regex: operator === '~' ? this.regex(value) : null,
    };
  }

  private regex(pattern: unknown): PythonRegex {
    if (typeof pattern !== 'string') {
      const text = `${pyRepr(pattern)}: first argument must be string or compiled pattern`;
      throw new InvalidFilter(text);
    }
    try {
      const regex = compilePythonRegex(pattern, this.patternAllowance);
      this.patternAllowance -= regex.cost;
      return regex;
    } catch (error) {
      if (!(error instanceof RegexSyntaxError)) throw error;
      throw new InvalidFilter(`${pyRepr(pattern)}: invalid regular expression: ${error.message}`);
    }
  }
}

function parseOperator(op: unknown): { operator: Operator; caseInsensitive: boolean } {
  if (typeof op !== 'string' || op === '') {
    throw new InvalidFilter(`Invalid operation: ${pyStr(op)}`);
  }
  const caseInsensitive = op.startsWith('C');
  const base = caseInsensitive ? op.slice(1) : op;
  if (caseInsensitive && base === '~') {
    throw new InvalidFilter(`Invalid case-insensitive operation: ${op}`);
  }
  const operator = OPERATORS.find((candidate) => candidate === base);
  if (!operator) throw new InvalidFilter(`Invalid operation: ${op}`);
  return { operator, caseInsensitive };
}

/**
 * An operand ending in `.$date` makes the other operand an ISO-8601 timestamp; the value is
 * then compared as a `Date` (the path walks through the row's `Date` and ignores `$date`).
 */
function timestampValue(field: unknown, operator: Operator, value: unknown): unknown {
  let result = value;
  for (const [operand, other] of [[field, value], [value, field]] as const) {
    if (typeof operand !== 'string' || !operand.endsWith(TIMESTAMP_DESIGNATOR)) continue;
    if (!TIMESTAMP_OPERATORS.has(operator)) {
      throw new InvalidFilter(`${operator}: invalid timestamp operation.`);
    }
    const timestamp = parseIsoTimestamp(other);
    if (!timestamp) {
      throw new InvalidFilter(`${pyStr(other)}: must be an ISO-8601 formatted timestamp string`);
    }
    if (operand === field) result = timestamp;
  }
  return result;
}

function compileOrderKey(text: string): OrderKey {
  let rest = text;
  let nulls: OrderKey['nulls'] = null;
  if (rest.startsWith(NULLS_FIRST)) {
    nulls = 'first';
    rest = rest.slice(NULLS_FIRST.length);
  } else if (rest.startsWith(NULLS_LAST)) {
    nulls = 'last';
    rest = rest.slice(NULLS_LAST.length);
  }
  const descending = rest.startsWith('-');
  const field = descending ? rest.slice(1) : rest;
  return { text, path: parsePath(field), descending, nulls };
}
