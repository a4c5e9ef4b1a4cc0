/**
 * Python regular expressions (`re.match`, as TrueNAS's `~` filter runs them) on RE2, which matches
 * in time linear in the subject: no pattern can make a match backtrack. Python syntax is
 * translated where RE2 differs; what RE2 cannot run in linear time (backreferences, lookaround)
 * is refused, and so is a pattern whose compiled program would be large, since RE2's time per
 * character and its compile time grow with the program.
 */
import RE2 from 're2';
import { CallError } from '../errors/call-error.js';
import { pyTruthy, pyTypeName } from './python.js';

/**
 * The most a pattern may cost, in estimated RE2 instructions (about one per literal character,
 * about 240 per Unicode `\w`, multiplied by counted repetition). Matching costs at most a few
 * nanoseconds per instruction and subject character, compiling a few microseconds per instruction.
 */
export const MAX_PATTERN_COST = 5000;

/** The most all patterns of one query may cost together (they are all matched against each row). */
export const MAX_QUERY_PATTERN_COST = 10_000;

/** A pattern Python or RE2 rejects; the message is the reason shown to the caller. */
export class RegexSyntaxError extends Error {}

/** A compiled pattern and its estimated program size. */
export interface PythonRegex {
  readonly re2: RE2;
  readonly cost: number;
}

interface Flags {
  readonly ignoreCase: boolean;
  readonly multiline: boolean;
  readonly dotAll: boolean;
  readonly ascii: boolean;
  readonly verbose: boolean;
}

const DEFAULT_FLAGS: Flags = { ignoreCase: false, multiline: false, dotAll: false, ascii: false, verbose: false };

/** What a quantifier would repeat: nothing, an assertion, a repetition, or an atom of some cost. */
type Repeatable = { kind: 'none' } | { kind: 'assertion' } | { kind: 'repeat' } | { kind: 'atom'; cost: number };

/** An open group: its flags and the estimated cost of what it holds so far. */
interface Frame {
  readonly flags: Flags;
  /** Where it opened, for the error when it is never closed. */
  readonly start: number;
  finishedBranches: number;
  branch: number;
  last: Repeatable;
}

/** Python's `\s` in Unicode mode (`str.isspace()`), as inclusive code point ranges. */
const UNICODE_SPACE: ReadonlyArray<readonly [number, number]> = [
  [0x09, 0x0d], [0x1c, 0x20], [0x85, 0x85], [0xa0, 0xa0], [0x1680, 0x1680], [0x2000, 0x200a],
  [0x2028, 0x2029], [0x202f, 0x202f], [0x205f, 0x205f], [0x3000, 0x3000],
];
const ASCII_SPACE: ReadonlyArray<readonly [number, number]> = [[0x09, 0x0d], [0x20, 0x20]];
const ASCII_DIGIT: ReadonlyArray<readonly [number, number]> = [[0x30, 0x39]];
const ASCII_WORD: ReadonlyArray<readonly [number, number]> = [[0x30, 0x39], [0x41, 0x5a], [0x5f, 0x5f], [0x61, 0x7a]];
const MAX_CODE_POINT = 0x10ffff;

/** Estimated RE2 instructions of the Unicode classes (measured, rounded up). */
const UNICODE_DIGIT_COST = 24;
const UNICODE_NOT_DIGIT_COST = 48;
const UNICODE_WORD_COST = 240;

/** Python's escapes of one character, outside and inside sets. */
const CHARACTER_ESCAPES: Readonly<Record<string, number>> = { a: 7, f: 12, n: 10, r: 13, t: 9, v: 11 };

const COMPILED = new Map<string, PythonRegex>();
const CACHE_SIZE = 256;

/**
 * Compiles a Python pattern for `re.match` (anchored at the start of the subject). Throws
 * RegexSyntaxError with Python's or RE2's reason, or when the pattern costs more than
 * MAX_PATTERN_COST or than `allowance` (what the query's other patterns left of
 * MAX_QUERY_PATTERN_COST). Compiled patterns are kept (a few hundred) so that repeated queries do
 * not compile again.
 */
export function compilePythonRegex(pattern: string, allowance = MAX_PATTERN_COST): PythonRegex {
  const cached = COMPILED.get(pattern);
  if (cached) {
    checkCost(cached.cost, allowance);
    // Refresh its place: the map iterates oldest first.
    COMPILED.delete(pattern);
    COMPILED.set(pattern, cached);
    return cached;
  }
  const { source, flags, cost } = translatePythonRegex(pattern);
  checkCost(cost, allowance);
  let re2: RE2;
  try {
    re2 = new RE2(source, `${flags}uy`);
  } catch (error) {
    throw new RegexSyntaxError((error as Error).message);
  }
  const compiled = { re2, cost };
  COMPILED.set(pattern, compiled);
  if (COMPILED.size > CACHE_SIZE) COMPILED.delete(COMPILED.keys().next().value as string);
  return compiled;
}

function checkCost(cost: number, allowance: number): void {
  if (cost > MAX_PATTERN_COST) {
    throw new RegexSyntaxError(`pattern too complex (about ${cost} RE2 instructions, at most ${MAX_PATTERN_COST})`);
  }
  if (cost > allowance) {
    throw new RegexSyntaxError(`the query's patterns are too complex together (at most ${MAX_QUERY_PATTERN_COST} RE2 instructions in all)`);
  }
}

/** TrueNAS's `re.match(pattern, value or '')`: a non-string value is Python's TypeError. */
export function pyRegexMatch({ re2 }: PythonRegex, value: unknown): boolean {
  const subject = pyTruthy(value) ? value : '';
  if (typeof subject !== 'string') {
    throw new CallError(`expected string or bytes-like object, got '${pyTypeName(subject)}'`, 'EINVAL');
  }
  re2.lastIndex = 0;
  return re2.test(subject);
}

/**
 * The RE2 source and flags (`i`, `m`, `s`) of a Python pattern, with its estimated cost in RE2
 * instructions. Throws RegexSyntaxError for what Python rejects or RE2 cannot do.
 */
export function translatePythonRegex(pattern: string): { source: string; flags: string; cost: number } {
  return new Translator(pattern).translate();
}

class Translator {
  private pos = 0;
  private readonly frames: Frame[] = [];
  private globalFlags: Flags = DEFAULT_FLAGS;

  constructor(private readonly pattern: string) {}

  translate(): { source: string; flags: string; cost: number } {
    this.readGlobalFlags();
    this.frames.push({ flags: this.globalFlags, start: 0, finishedBranches: 0, branch: 0, last: { kind: 'none' } });
    let source = '';
    while (this.skipVerbose() < this.pattern.length) source += this.next();
    if (this.frames.length > 1) throw new RegexSyntaxError(`missing ), unterminated subpattern at position ${this.frame.start}`);
    const top = this.frames[0] as Frame;
    const { ignoreCase, multiline, dotAll } = this.globalFlags;
    const flags = `${ignoreCase ? 'i' : ''}${multiline ? 'm' : ''}${dotAll ? 's' : ''}`;
    return { source, flags, cost: top.finishedBranches + top.branch };
  }

  /** Python 3.11 takes global flags only at the start: `(?i)`, `(?ms)`, `(?i)(?m)`. */
  private readGlobalFlags(): void {
    for (let match = /^\(\?([a-zA-Z]+)\)/.exec(this.pattern.slice(this.pos)); match; match = /^\(\?([a-zA-Z]+)\)/.exec(this.pattern.slice(this.pos))) {
      this.globalFlags = applyFlags(this.globalFlags, match[1] as string, '');
      this.pos += match[0].length;
    }
  }

  private get frame(): Frame {
    return this.frames[this.frames.length - 1] as Frame;
  }

  /** In verbose mode (`(?x)`), whitespace and `#` comments between tokens are not part of the pattern. */
  private skipVerbose(): number {
    while (this.frame.flags.verbose) {
      const char = this.peek();
      if (/^[ \t\n\r\f\v]$/.test(char)) {
        this.pos++;
      } else if (char === '#') {
        const end = this.pattern.indexOf('\n', this.pos);
        this.pos = end === -1 ? this.pattern.length : end + 1;
      } else {
        break;
      }
    }
    return this.pos;
  }

  private peek(offset = 0): string {
    return this.pattern[this.pos + offset] ?? '';
  }

  /** Reads one token and returns its RE2 text. */
  private next(): string {
    const char = this.peek();
    switch (char) {
      case '\\':
        return this.escape();
      case '[':
        return this.set();
      case '(':
        return this.openGroup();
      case ')':
        return this.closeGroup();
      case '|':
        this.pos++;
        this.frame.finishedBranches += this.frame.branch + 1;
        this.frame.branch = 0;
        this.frame.last = { kind: 'none' };
        return '|';
      case '*':
      case '+':
      case '?':
        return this.quantifier();
      case '{':
        return this.braces();
      case '.':
        this.pos++;
        return this.atom('.', 8);
      case '^':
        this.pos++;
        return this.assertion('^');
      case '$':
        this.pos++;
        // Without MULTILINE, Python's `$` also holds before a newline that ends the subject.
        return this.assertion(this.frame.flags.multiline ? '$' : '(?:\\n?\\z)', 3);
      default:
        return this.literal(this.readCodePoint());
    }
  }

  private readCodePoint(): number {
    const code = this.pattern.codePointAt(this.pos) as number;
    this.pos += code > 0xffff ? 2 : 1;
    return code;
  }

  private atom(text: string, cost: number): string {
    this.frame.branch += cost;
    this.frame.last = { kind: 'atom', cost };
    return text;
  }

  private assertion(text: string, cost = 1): string {
    this.frame.branch += cost;
    this.frame.last = { kind: 'assertion' };
    return text;
  }

  private literal(code: number): string {
    const folds = this.frame.flags.ignoreCase ? 2 : 1;
    return this.atom(literalText(code, false), (code < 0x80 ? 1 : 4) * folds);
  }

  private escape(): string {
    const char = this.pattern[this.pos + 1];
    if (char === undefined) throw new RegexSyntaxError('bad escape (end of pattern)');
    const { ascii } = this.frame.flags;
    switch (char) {
      case 'A':
        this.pos += 2;
        return this.assertion('\\A');
      case 'Z':
        this.pos += 2;
        return this.assertion('\\z');
      case 'b':
      case 'B':
        this.pos += 2;
        return this.assertion(`\\${char}`);
      case 'd':
        this.pos += 2;
        return ascii ? this.atom('[0-9]', 2) : this.atom('\\p{Nd}', UNICODE_DIGIT_COST);
      case 'D':
        this.pos += 2;
        return ascii ? this.atom('[^0-9]', 8) : this.atom('\\P{Nd}', UNICODE_NOT_DIGIT_COST);
      case 'w':
        this.pos += 2;
        return ascii ? this.atom('[0-9A-Za-z_]', 5) : this.atom('[\\p{L}\\p{N}_]', UNICODE_WORD_COST);
      case 'W':
        this.pos += 2;
        return ascii ? this.atom('[^0-9A-Za-z_]', 12) : this.atom('[^\\p{L}\\p{N}_]', UNICODE_WORD_COST);
      case 's':
      case 'S':
        this.pos += 2;
        return this.atom(`[${char === 'S' ? '^' : ''}${rangesText(ascii ? ASCII_SPACE : UNICODE_SPACE)}]`, 16);
      default: {
        const code = this.characterEscape(false);
        if (code === 'backreference') throw new RegexSyntaxError('backreferences are not supported');
        return this.literal(code);
      }
    }
  }

  /**
   * An escape that stands for one character (`\n`, `\x41`, `\u00e9`, `\101`, `\.`), with the
   * reader past it. Outside sets, `\1`…`\99` are backreferences.
   */
  private characterEscape(inSet: boolean): number | 'backreference' {
    const char = this.pattern[this.pos + 1] as string;
    const start = this.pos;
    this.pos += 2;
    const known = CHARACTER_ESCAPES[char];
    if (known !== undefined) return known;
    if (char === 'b' && inSet) return 8;
    if (char === 'x' || char === 'u' || char === 'U') return this.hexEscape(char, start);
    if (char === 'N') throw new RegexSyntaxError('named Unicode escapes (\\N{...}) are not supported');
    if (/[0-9]/.test(char)) return this.digitEscape(char, inSet, start);
    // Letters with a meaning were handled by the caller; Python refuses the others.
    if (/[A-Za-z]/.test(char)) {
      throw new RegexSyntaxError(`bad escape \\${char} at position ${start}`);
    }
    this.pos = start + 1;
    return this.readCodePoint();
  }

  private hexEscape(kind: 'x' | 'u' | 'U', start: number): number {
    const digits = { x: 2, u: 4, U: 8 }[kind];
    const hex = this.pattern.slice(this.pos, this.pos + digits);
    if (!new RegExp(`^[0-9a-fA-F]{${digits}}$`).test(hex)) {
      throw new RegexSyntaxError(`incomplete escape \\${kind}${hex} at position ${start}`);
    }
    this.pos += digits;
    const code = parseInt(hex, 16);
    if (code > MAX_CODE_POINT) throw new RegexSyntaxError(`bad escape \\${kind}${hex} at position ${start}`);
    return code;
  }

  /** Python: `\0`, and three octal digits, are octal escapes; other digits refer to groups. */
  private digitEscape(first: string, inSet: boolean, start: number): number | 'backreference' {
    const octal = /^[0-7]{1,3}/.exec(this.pattern.slice(start + 1))?.[0] ?? '';
    if (first === '0' || (octal.length === 3 && !inSet) || (inSet && octal.length > 0)) {
      const digits = first === '0' || inSet ? octal.slice(0, 3) : octal;
      const code = parseInt(digits, 8);
      if (code > 0o377) throw new RegexSyntaxError(`octal escape value \\${digits} outside of range 0-0o377 at position ${start}`);
      this.pos = start + 1 + digits.length;
      return code;
    }
    if (inSet) throw new RegexSyntaxError(`bad escape \\${first} at position ${start}`);
    return 'backreference';
  }

  private quantifier(): string {
    const char = this.peek();
    this.pos++;
    return this.repeat(char, this.pos - 1, char === '+' ? 1 : 0, char === '?' ? 1 : Infinity);
  }

  /** `{m,n}` repeats as in Python (`{,n}` from zero); any other brace is a literal. */
  private braces(): string {
    const match = /^\{([0-9]*)(?:(,)([0-9]*))?\}/.exec(this.pattern.slice(this.pos));
    if (!match || this.pattern[this.pos + 1] === '}') {
      this.pos++;
      return this.literal(0x7b);
    }
    const start = this.pos;
    this.pos += match[0].length;
    const min = match[1] ? Number(match[1]) : 0;
    const max = match[2] ? (match[3] ? Number(match[3]) : Infinity) : min;
    if (max < min) throw new RegexSyntaxError(`min repeat greater than max repeat at position ${start}`);
    const text = max === Infinity ? `{${min},}` : min === max ? `{${min}}` : `{${min},${max}}`;
    return this.repeat(text, start, min, max);
  }

  /** A quantifier (`*`, `{2,5}`) after an atom, with an optional lazy `?`; the atom's cost grows. */
  private repeat(text: string, at: number, min: number, max: number): string {
    const { last } = this.frame;
    if (last.kind === 'none' || last.kind === 'assertion') throw new RegexSyntaxError(`nothing to repeat at position ${at}`);
    if (last.kind === 'repeat') throw new RegexSyntaxError(`multiple repeat at position ${at}`);
    let suffix = '';
    if (this.peek() === '?') {
      this.pos++;
      suffix = '?';
    } else if (this.peek() === '+') {
      throw new RegexSyntaxError('possessive quantifiers are not supported');
    }
    // RE2 writes out each counted copy; an unbounded tail is one more copy in a loop.
    const copies = max === Infinity ? Math.max(min, 1) : max;
    this.frame.branch += last.cost * (copies - 1) + (max === Infinity ? 1 : max - min) + 1;
    this.frame.last = { kind: 'repeat' };
    return text + suffix;
  }

  private openGroup(): string {
    const rest = this.pattern.slice(this.pos);
    const start = this.pos;
    if (!rest.startsWith('(?')) return this.pushGroup(1, '(', this.frame.flags);
    const named = /^\(\?P<([^>]*)>/.exec(rest);
    if (named) {
      if (!/^[\p{L}\p{Nl}_][\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}]*$/u.test(named[1] as string)) {
        throw new RegexSyntaxError(`bad character in group name '${named[1]}' at position ${start + 4}`);
      }
      return this.pushGroup(named[0].length, named[0], this.frame.flags);
    }
    if (rest.startsWith('(?:')) return this.pushGroup(3, '(?:', this.frame.flags);
    if (rest.startsWith('(?P=')) throw new RegexSyntaxError('backreferences are not supported');
    if (/^\(\?(?:=|!|<=|<!)/.test(rest)) throw new RegexSyntaxError('lookahead and lookbehind assertions are not supported');
    if (rest.startsWith('(?(')) throw new RegexSyntaxError('conditional groups are not supported');
    if (rest.startsWith('(?>')) throw new RegexSyntaxError('atomic groups are not supported');
    if (rest.startsWith('(?#')) return this.comment(start);
    const scoped = /^\(\?([a-zA-Z]*)(?:-([a-zA-Z]*))?([:)])/.exec(rest);
    if (scoped && scoped[3] === ':' && (scoped[1] || scoped[2])) {
      const flags = applyFlags(this.frame.flags, scoped[1] ?? '', scoped[2] ?? '');
      return this.pushGroup(scoped[0].length, `(?${re2Flags(flags, this.frame.flags)}:`, flags);
    }
    if (scoped && scoped[3] === ')' && !scoped[2]) {
      throw new RegexSyntaxError(`global flags not at the start of the expression at position ${start}`);
    }
    throw new RegexSyntaxError(`unknown extension ${rest.slice(1, 3)} at position ${start}`);
  }

  private pushGroup(length: number, text: string, flags: Flags): string {
    this.frames.push({ flags, start: this.pos, finishedBranches: 0, branch: 0, last: { kind: 'none' } });
    this.pos += length;
    return text;
  }

  /** `(?#...)` is a comment up to the next `)`. */
  private comment(start: number): string {
    const end = this.pattern.indexOf(')', this.pos);
    if (end === -1) throw new RegexSyntaxError(`missing ), unterminated comment at position ${start}`);
    this.pos = end + 1;
    return '';
  }

  private closeGroup(): string {
    if (this.frames.length === 1) throw new RegexSyntaxError(`unbalanced parenthesis at position ${this.pos}`);
    this.pos++;
    const group = this.frames.pop() as Frame;
    const cost = group.finishedBranches + group.branch + 2;
    return this.atom(')', cost);
  }

  /** A Python set `[...]` as an RE2 class (or, for Unicode `\W` among other items, an alternation). */
  private set(): string {
    const start = this.pos;
    this.pos++;
    const negated = this.peek() === '^';
    if (negated) this.pos++;
    const items: SetItem[] = [];
    for (let first = true; ; first = false) {
      if (this.pos >= this.pattern.length) throw new RegexSyntaxError(`unterminated character set at position ${start}`);
      if (this.peek() === ']' && !first) {
        this.pos++;
        break;
      }
      items.push(this.setItem());
    }
    const { text, cost } = setText(items, negated, this.frame.flags);
    return this.atom(text, cost);
  }

  private setItem(): SetItem {
    const start = this.pos;
    const from = this.setAtom();
    if (this.peek() !== '-' || this.peek(1) === ']' || this.peek(1) === '') return from;
    this.pos++;
    const to = this.setAtom();
    if (from.kind !== 'range' || to.kind !== 'range' || to.from < from.from) {
      throw new RegexSyntaxError(`bad character range ${this.pattern.slice(start, this.pos)} at position ${start}`);
    }
    return { kind: 'range', from: from.from, to: to.to };
  }

  private setAtom(): SetItem {
    if (this.peek() !== '\\') {
      const code = this.readCodePoint();
      return { kind: 'range', from: code, to: code };
    }
    const char = this.peek(1);
    const { ascii } = this.frame.flags;
    const classes: Record<string, SetItem> = {
      d: ascii ? { kind: 'ranges', ranges: ASCII_DIGIT } : { kind: 'property', text: '\\p{Nd}', cost: UNICODE_DIGIT_COST },
      D: ascii ? { kind: 'ranges', ranges: complement(ASCII_DIGIT) } : { kind: 'property', text: '\\P{Nd}', cost: UNICODE_NOT_DIGIT_COST },
      s: { kind: 'ranges', ranges: ascii ? ASCII_SPACE : UNICODE_SPACE },
      S: { kind: 'ranges', ranges: complement(ascii ? ASCII_SPACE : UNICODE_SPACE) },
      w: ascii ? { kind: 'ranges', ranges: ASCII_WORD } : { kind: 'property', text: '\\p{L}\\p{N}_', cost: UNICODE_WORD_COST },
      W: ascii ? { kind: 'ranges', ranges: complement(ASCII_WORD) } : { kind: 'notWord' },
    };
    const shorthand = classes[char];
    if (shorthand) {
      this.pos += 2;
      return shorthand;
    }
    if (char === 'A' || char === 'Z' || char === 'B') throw new RegexSyntaxError(`bad escape \\${char} at position ${this.pos}`);
    const code = this.characterEscape(true) as number;
    return { kind: 'range', from: code, to: code };
  }
}

type SetItem =
  | { kind: 'range'; from: number; to: number }
  | { kind: 'ranges'; ranges: ReadonlyArray<readonly [number, number]> }
  | { kind: 'property'; text: string; cost: number }
  /** Unicode `\W`: no RE2 class item says "neither letter, digit nor underscore". */
  | { kind: 'notWord' };

function setText(items: readonly SetItem[], negated: boolean, flags: Flags): { text: string; cost: number } {
  const folds = flags.ignoreCase ? 2 : 1;
  const notWord = items.some((item) => item.kind === 'notWord');
  const others = items.filter((item) => item.kind !== 'notWord');
  let body = '';
  let cost = negated ? 16 : 1;
  for (const item of others) {
    if (item.kind === 'range') {
      body += item.from === item.to ? literalText(item.from, true) : `${literalText(item.from, true)}-${literalText(item.to, true)}`;
      cost += (item.to < 0x80 ? 1 : 8) * folds;
    } else if (item.kind === 'ranges') {
      body += rangesText(item.ranges);
      cost += item.ranges.length * 8 * folds;
    } else if (item.kind === 'property') {
      body += item.text;
      cost += item.cost;
    }
  }
  if (!notWord) return { text: `[${negated ? '^' : ''}${body}]`, cost };
  const notWordClass = '[^\\p{L}\\p{N}_]';
  if (negated) {
    if (others.length > 0) throw new RegexSyntaxError('\\W with other items in a negated set is not supported');
    return { text: '[\\p{L}\\p{N}_]', cost: UNICODE_WORD_COST };
  }
  if (others.length === 0) return { text: notWordClass, cost: UNICODE_WORD_COST };
  return { text: `(?:[${body}]|${notWordClass})`, cost: cost + UNICODE_WORD_COST + 1 };
}

/** One character as RE2 text: letters and digits as they are, punctuation escaped, the rest as `\x{…}`. */
function literalText(code: number, inSet: boolean): string {
  if (/[0-9A-Za-z]/.test(String.fromCharCode(code)) && code < 0x80) return String.fromCharCode(code);
  if (code > 0x20 && code < 0x7f) return `\\${String.fromCharCode(code)}`;
  if (code >= 0xa0 && !inSet && !(code >= 0xd800 && code <= 0xdfff)) return String.fromCodePoint(code);
  return `\\x{${code.toString(16)}}`;
}

function rangesText(ranges: ReadonlyArray<readonly [number, number]>): string {
  return ranges.map(([from, to]) => (from === to ? literalText(from, true) : `${literalText(from, true)}-${literalText(to, true)}`)).join('');
}

/** The code points not in `ranges` (sorted, disjoint). */
function complement(ranges: ReadonlyArray<readonly [number, number]>): Array<[number, number]> {
  const result: Array<[number, number]> = [];
  let next = 0;
  for (const [from, to] of ranges) {
    if (from > next) result.push([next, from - 1]);
    next = to + 1;
  }
  if (next <= MAX_CODE_POINT) result.push([next, MAX_CODE_POINT]);
  return result;
}

/**
 * Python's inline flags: `a` (ASCII classes), `i`, `m`, `s`, `u` (the default); `L` is for bytes
 * patterns and `x` (verbose) is not supported.
 */
function applyFlags(flags: Flags, on: string, off: string): Flags {
  const result = { ...flags };
  for (const [letters, value] of [[on, true], [off, false]] as const) {
    for (const flag of letters) {
      switch (flag) {
        case 'i':
          result.ignoreCase = value;
          break;
        case 'm':
          result.multiline = value;
          break;
        case 's':
          result.dotAll = value;
          break;
        case 'a':
        case 'u':
          if (!value) throw new RegexSyntaxError(`bad inline flag: cannot turn off flags 'a', 'u' and 'L'`);
          result.ascii = flag === 'a';
          break;
        case 'L':
          throw new RegexSyntaxError("bad inline flag: cannot use 'L' flag with a str pattern");
        case 'x':
          result.verbose = value;
          break;
        default:
          throw new RegexSyntaxError(`unknown flag ${flag}`);
      }
    }
  }
  return result;
}

/** RE2's scoped flags (`i-s`) that turn `outer` into `inner`. */
function re2Flags(inner: Flags, outer: Flags): string {
  const names = [['ignoreCase', 'i'], ['multiline', 'm'], ['dotAll', 's']] as const;
  const on = names.filter(([key]) => inner[key] && !outer[key]).map(([, letter]) => letter).join('');
  const off = names.filter(([key]) => !inner[key] && outer[key]).map(([, letter]) => letter).join('');
  return off ? `${on}-${off}` : on;
}
