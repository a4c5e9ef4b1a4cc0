/**
 * The Python value semantics that TrueNAS's filter language inherits (`==`, `<`, `in`,
 * `str.casefold`, `str.startswith`, `re.match`, `datetime.fromisoformat`), so that filters give
 * the same answers as on TrueNAS. Values are JSON values plus `Date` (Python's `datetime`).
 * Where Python raises a TypeError these functions throw a CallError with Python's text.
 */
import { CallError } from '../errors/call-error.js';

/** A JSON object (Python `dict`). */
export type PyDict = Record<string, unknown>;

/** The comparison operators whose TypeError texts Python reports. */
export type PyComparison = '<' | '<=' | '>' | '>=';

export function isDict(value: unknown): value is PyDict {
  return (
    typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date)
  );
}

/** `null` and `undefined` both play Python's `None`. */
export function isNone(value: unknown): value is null | undefined {
  return value === null || value === undefined;
}

/** Python's type name, as it appears in TypeError texts. */
export function pyTypeName(value: unknown): string {
  if (isNone(value)) return 'NoneType';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'float';
  if (typeof value === 'string') return 'str';
  if (Array.isArray(value)) return 'list';
  if (value instanceof Set) return 'set';
  if (value instanceof Date) return 'datetime.datetime';
  return isDict(value) ? 'dict' : typeof value;
}

/** How deep `pyRepr` writes nested lists and dicts; deeper ones show as `[...]` and `{...}`. */
const REPR_DEPTH = 100;

/** Python's `repr()`, used where TrueNAS formats a value into an error text. */
export function pyRepr(value: unknown): string {
  return reprAt(value, 0);
}

function reprAt(value: unknown, depth: number): string {
  if (isNone(value)) return 'None';
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'string') return reprString(value);
  if (Array.isArray(value)) {
    if (depth >= REPR_DEPTH) return '[...]';
    return `[${value.map((item) => reprAt(item, depth + 1)).join(', ')}]`;
  }
  if (value instanceof Date) return reprString(value.toISOString());
  if (isDict(value)) {
    if (depth >= REPR_DEPTH) return '{...}';
    const items = Object.entries(value).map(([key, item]) => `${reprString(key)}: ${reprAt(item, depth + 1)}`);
    return `{${items.join(', ')}}`;
  }
  return String(value);
}

/** Python's `str()`: strings as they are, anything else as `repr()`. */
export function pyStr(value: unknown): string {
  return typeof value === 'string' ? value : pyRepr(value);
}

function reprString(text: string): string {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  const escaped = [...text].map((char) => {
    if (char === '\\' || char === quote) return `\\${char}`;
    const special = { '\n': '\\n', '\r': '\\r', '\t': '\\t' }[char];
    if (special) return special;
    const code = char.charCodeAt(0);
    return code < 0x20 || code === 0x7f ? `\\x${code.toString(16).padStart(2, '0')}` : char;
  });
  return `${quote}${escaped.join('')}${quote}`;
}

/** Python truthiness (`x or ''`). */
export function pyTruthy(value: unknown): boolean {
  if (isNone(value)) return false;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') return value !== 0;
  if (typeof value === 'string' || Array.isArray(value)) return value.length > 0;
  return isDict(value) ? Object.keys(value).length > 0 : true;
}

function typeError(message: string): CallError {
  return new CallError(message, 'EINVAL');
}

/** `bool` is a subclass of `int` in Python, so `True == 1` and `False < 1`. */
function isNumeric(value: unknown): value is number | boolean {
  return typeof value === 'number' || typeof value === 'boolean';
}

/** Python `a == b`. */
export function pyEquals(a: unknown, b: unknown): boolean {
  if (isNone(a) || isNone(b)) return isNone(a) && isNone(b);
  if (isNumeric(a) && isNumeric(b)) return Number(a) === Number(b);
  if (a instanceof Date && b instanceof Date) return a.getTime() === b.getTime();
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((item, index) => pyEquals(item, b[index]));
  }
  if (isDict(a) && isDict(b)) {
    const keys = Object.keys(a);
    return (
      keys.length === Object.keys(b).length &&
      keys.every((key) => Object.hasOwn(b, key) && pyEquals(a[key], b[key]))
    );
  }
  return a === b;
}

/**
 * Three-way comparison with Python's ordering rules: numbers (and booleans) with each other,
 * strings by code point, datetimes, and lists element by element. Other pairs raise Python's
 * TypeError text for `op`.
 */
export function pyCompare(a: unknown, b: unknown, op: PyComparison): number {
  if (isNumeric(a) && isNumeric(b)) return Math.sign(Number(a) - Number(b));
  if (typeof a === 'string' && typeof b === 'string') return compareCodePoints(a, b);
  if (a instanceof Date && b instanceof Date) return Math.sign(a.getTime() - b.getTime());
  if (Array.isArray(a) && Array.isArray(b)) return compareLists(a, b, op);
  throw typeError(
    `'${op}' not supported between instances of '${pyTypeName(a)}' and '${pyTypeName(b)}'`,
  );
}

function compareLists(a: readonly unknown[], b: readonly unknown[], op: PyComparison): number {
  const index = a.findIndex((item, i) => i >= b.length || !pyEquals(item, b[i]));
  if (index === -1 || index >= b.length) return Math.sign(a.length - b.length);
  return pyCompare(a[index], b[index], op);
}

/** Python compares code points; UTF-16 puts astral characters (surrogates) below U+E000..U+FFFF. */
function compareCodePoints(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return Math.sign(codePointRank(x) - codePointRank(y));
  }
  return Math.sign(a.length - b.length);
}

function codePointRank(unit: number): number {
  if (unit >= 0xd800 && unit <= 0xdfff) return unit + 0x2000;
  return unit >= 0xe000 ? unit - 0x800 : unit;
}

/** Python `item in container`. */
export function pyContains(container: unknown, item: unknown): boolean {
  if (Array.isArray(container)) return container.some((element) => pyEquals(element, item));
  // ejson's {"$set": [...]} arrives as a Set.
  if (container instanceof Set) return [...container].some((element) => pyEquals(element, item));
  if (typeof container === 'string') {
    if (typeof item !== 'string') {
      throw typeError(`'in <string>' requires string as left operand, not ${pyTypeName(item)}`);
    }
    return container.includes(item);
  }
  if (isDict(container)) {
    if (Array.isArray(item) || isDict(item)) {
      throw typeError(`unhashable type: '${pyTypeName(item)}'`);
    }
    return typeof item === 'string' && Object.hasOwn(container, item);
  }
  throw typeError(`argument of type '${pyTypeName(container)}' is not iterable`);
}

/** Python `text.startswith(affix)` / `text.endswith(affix)`. */
export function pyAffix(text: unknown, affix: unknown, method: 'startswith' | 'endswith'): boolean {
  if (typeof text !== 'string') {
    throw typeError(`'${pyTypeName(text)}' object has no attribute '${method}'`);
  }
  if (typeof affix !== 'string') {
    throw typeError(`${method} first arg must be str or a tuple of str, not ${pyTypeName(affix)}`);
  }
  return method === 'startswith' ? text.startsWith(affix) : text.endsWith(affix);
}

/** TrueNAS's `casefold()`: `None`, a string, or a list of strings; anything else is an error. */
export function casefold(value: unknown): unknown {
  if (isNone(value)) return null;
  if (typeof value === 'string') return casefoldString(value);
  if (Array.isArray(value)) {
    return value.map((item) => {
      if (typeof item !== 'string') {
        throw typeError(`'${pyTypeName(item)}' object has no attribute 'casefold'`);
      }
      return casefoldString(item);
    });
  }
  throw typeError(
    `<class '${pyTypeName(value)}'>: support for casefolding object type not implemented.`,
  );
}

/**
 * Python's `str.casefold()` (full Unicode case folding). JavaScript only has `toLowerCase`,
 * which agrees except for the characters below and Cherokee, which folds to upper case.
 * Generated from Python 3.11 (Unicode 14); applied per character so that `Σ` never becomes a
 * final sigma.
 */
const FOLD_EXCEPTIONS: Readonly<Record<string, string>> = {
  '\u00b5': '\u03bc', '\u00df': 'ss', '\u0149': '\u02bcn',
  '\u017f': 's', '\u01f0': 'j\u030c', '\u0345': '\u03b9',
  '\u0390': '\u03b9\u0308\u0301', '\u03b0': '\u03c5\u0308\u0301', '\u03c2': '\u03c3',
  '\u03d0': '\u03b2', '\u03d1': '\u03b8', '\u03d5': '\u03c6',
  '\u03d6': '\u03c0', '\u03f0': '\u03ba', '\u03f1': '\u03c1',
  '\u03f5': '\u03b5', '\u0587': '\u0565\u0582', '\u1c80': '\u0432',
  '\u1c81': '\u0434', '\u1c82': '\u043e', '\u1c83': '\u0441',
  '\u1c84': '\u0442', '\u1c85': '\u0442', '\u1c86': '\u044a',
  '\u1c87': '\u0463', '\u1c88': '\ua64b', '\u1e96': 'h\u0331',
  '\u1e97': 't\u0308', '\u1e98': 'w\u030a', '\u1e99': 'y\u030a',
  '\u1e9a': 'a\u02be', '\u1e9b': '\u1e61', '\u1e9e': 'ss',
  '\u1f50': '\u03c5\u0313', '\u1f52': '\u03c5\u0313\u0300', '\u1f54': '\u03c5\u0313\u0301',
  '\u1f56': '\u03c5\u0313\u0342', '\u1f80': '\u1f00\u03b9', '\u1f81': '\u1f01\u03b9',
  '\u1f82': '\u1f02\u03b9', '\u1f83': '\u1f03\u03b9', '\u1f84': '\u1f04\u03b9',
  '\u1f85': '\u1f05\u03b9', '\u1f86': '\u1f06\u03b9', '\u1f87': '\u1f07\u03b9',
  '\u1f88': '\u1f00\u03b9', '\u1f89': '\u1f01\u03b9', '\u1f8a': '\u1f02\u03b9',
  '\u1f8b': '\u1f03\u03b9', '\u1f8c': '\u1f04\u03b9', '\u1f8d': '\u1f05\u03b9',
  '\u1f8e': '\u1f06\u03b9', '\u1f8f': '\u1f07\u03b9', '\u1f90': '\u1f20\u03b9',
  '\u1f91': '\u1f21\u03b9', '\u1f92': '\u1f22\u03b9', '\u1f93': '\u1f23\u03b9',
  '\u1f94': '\u1f24\u03b9', '\u1f95': '\u1f25\u03b9', '\u1f96': '\u1f26\u03b9',
  '\u1f97': '\u1f27\u03b9', '\u1f98': '\u1f20\u03b9', '\u1f99': '\u1f21\u03b9',
  '\u1f9a': '\u1f22\u03b9', '\u1f9b': '\u1f23\u03b9', '\u1f9c': '\u1f24\u03b9',
  '\u1f9d': '\u1f25\u03b9', '\u1f9e': '\u1f26\u03b9', '\u1f9f': '\u1f27\u03b9',
  '\u1fa0': '\u1f60\u03b9', '\u1fa1': '\u1f61\u03b9', '\u1fa2': '\u1f62\u03b9',
  '\u1fa3': '\u1f63\u03b9', '\u1fa4': '\u1f64\u03b9', '\u1fa5': '\u1f65\u03b9',
  '\u1fa6': '\u1f66\u03b9', '\u1fa7': '\u1f67\u03b9', '\u1fa8': '\u1f60\u03b9',
  '\u1fa9': '\u1f61\u03b9', '\u1faa': '\u1f62\u03b9', '\u1fab': '\u1f63\u03b9',
  '\u1fac': '\u1f64\u03b9', '\u1fad': '\u1f65\u03b9', '\u1fae': '\u1f66\u03b9',
  '\u1faf': '\u1f67\u03b9', '\u1fb2': '\u1f70\u03b9', '\u1fb3': '\u03b1\u03b9',
  '\u1fb4': '\u03ac\u03b9', '\u1fb6': '\u03b1\u0342', '\u1fb7': '\u03b1\u0342\u03b9',
  '\u1fbc': '\u03b1\u03b9', '\u1fbe': '\u03b9', '\u1fc2': '\u1f74\u03b9',
  '\u1fc3': '\u03b7\u03b9', '\u1fc4': '\u03ae\u03b9', '\u1fc6': '\u03b7\u0342',
  '\u1fc7': '\u03b7\u0342\u03b9', '\u1fcc': '\u03b7\u03b9', '\u1fd2': '\u03b9\u0308\u0300',
  '\u1fd3': '\u03b9\u0308\u0301', '\u1fd6': '\u03b9\u0342', '\u1fd7': '\u03b9\u0308\u0342',
  '\u1fe2': '\u03c5\u0308\u0300', '\u1fe3': '\u03c5\u0308\u0301', '\u1fe4': '\u03c1\u0313',
  '\u1fe6': '\u03c5\u0342', '\u1fe7': '\u03c5\u0308\u0342', '\u1ff2': '\u1f7c\u03b9',
  '\u1ff3': '\u03c9\u03b9', '\u1ff4': '\u03ce\u03b9', '\u1ff6': '\u03c9\u0342',
  '\u1ff7': '\u03c9\u0342\u03b9', '\u1ffc': '\u03c9\u03b9', '\ufb00': 'ff',
  '\ufb01': 'fi', '\ufb02': 'fl', '\ufb03': 'ffi',
  '\ufb04': 'ffl', '\ufb05': 'st', '\ufb06': 'st',
  '\ufb13': '\u0574\u0576', '\ufb14': '\u0574\u0565', '\ufb15': '\u0574\u056b',
  '\ufb16': '\u057e\u0576', '\ufb17': '\u0574\u056d',
};

export function casefoldString(text: string): string {
  if (isAscii(text)) return text.toLowerCase();
  let folded = '';
  for (const char of text) {
    folded += FOLD_EXCEPTIONS[char] ?? foldCherokee(char) ?? char.toLowerCase();
  }
  return folded;
}

function foldCherokee(char: string): string | undefined {
  const code = char.codePointAt(0) ?? 0;
  if (code >= 0x13a0 && code <= 0x13f5) return char;
  if (code >= 0x13f8 && code <= 0x13fd) return String.fromCodePoint(code - 8);
  if (code >= 0xab70 && code <= 0xabbf) return String.fromCodePoint(code - 0xab70 + 0x13a0);
  return undefined;
}

/**
 * The non-ASCII characters whose case folding contains ASCII letters (`ß` → `ss`, `K` → `k`).
 * SQL can only fold ASCII, so it must replace these first to agree with `casefold`.
 */
export const ASCII_BEARING_FOLDS: ReadonlyArray<readonly [char: string, folded: string]> = [
  '\u00df', '\u0130', '\u0149', '\u017f', '\u01f0', '\u1e96', '\u1e97', '\u1e98', '\u1e99',
  '\u1e9a', '\u1e9e', '\u212a', '\ufb00', '\ufb01', '\ufb02', '\ufb03', '\ufb04', '\ufb05',
  '\ufb06',
].map((char) => [char, casefoldString(char)] as const);

export function isAscii(text: string): boolean {
  return /^[\x00-\x7f]*$/.test(text);
}

const ISO_TIMESTAMP = new RegExp(
  '^(?<year>\\d{4})(?:-(?<month>\\d{2})-(?<day>\\d{2})|(?<month2>\\d{2})(?<day2>\\d{2}))' +
    '(?:.(?<hour>\\d{2})' +
    '(?::?(?<minute>\\d{2})(?::?(?<second>\\d{2})(?:[.,](?<fraction>\\d+))?)?)?' +
    '(?:Z|(?<sign>[+-])(?<zh>\\d{2})(?::?(?<zm>\\d{2})(?::?(?<zs>\\d{2})(?:\\.\\d+)?)?)?)?)?$',
  'u',
);

/**
 * Python 3.11 `datetime.fromisoformat` for calendar dates (ISO week dates are not accepted).
 * A timestamp without an offset is taken as UTC. Returns null for anything else.
 */
export function parseIsoTimestamp(text: unknown): Date | null {
  if (typeof text !== 'string') return null;
  const groups = ISO_TIMESTAMP.exec(text)?.groups;
  if (!groups) return null;
  const num = (value: string | undefined) => Number(value ?? 0);
  const year = num(groups.year);
  const month = num(groups.month ?? groups.month2);
  const day = num(groups.day ?? groups.day2);
  const [hour, minute, second] = [num(groups.hour), num(groups.minute), num(groups.second)];
  const offsetSeconds =
    (num(groups.zh) * 3600 + num(groups.zm) * 60 + num(groups.zs)) * (groups.sign === '-' ? -1 : 1);
  const valid =
    year >= 1 &&
    month >= 1 &&
    month <= 12 &&
    day >= 1 &&
    day <= daysInMonth(year, month) &&
    hour <= 23 &&
    minute <= 59 &&
    second <= 59 &&
    num(groups.zh) <= 23 &&
    num(groups.zm) <= 59 &&
    num(groups.zs) <= 59;
  if (!valid) return null;
  const millisecond = num((groups.fraction ?? '').slice(0, 3).padEnd(3, '0'));
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, millisecond);
  return new Date(date.getTime() - offsetSeconds * 1000);
}

function daysInMonth(year: number, month: number): number {
  const date = new Date(0);
  date.setUTCFullYear(year, month, 0);
  return date.getUTCDate();
}
