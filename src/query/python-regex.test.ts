import fc from 'fast-check';
import RE2 from 're2';
import { describe, expect, it } from 'vitest';
import { ValidationErrors } from '../errors/validation-errors.js';
import { compileQuery } from './compile.js';
import {
  compilePythonRegex,
  MAX_PATTERN_COST,
  pyRegexMatch,
  RegexSyntaxError,
  translatePythonRegex,
} from './python-regex.js';

function matches(pattern: string, subject: string): boolean {
  return pyRegexMatch(compilePythonRegex(pattern), subject);
}

function reason(pattern: string): string {
  try {
    compilePythonRegex(pattern);
  } catch (error) {
    if (error instanceof RegexSyntaxError) return error.message;
    throw error;
  }
  throw new Error(`${pattern} compiled`);
}

describe('Python patterns on RE2', () => {
  // Each expectation is what Python 3.11's `re.match(pattern, subject) is not None` gives.
  it.each([
    ['abc', 'abcd', true],
    ['bc', 'abc', false],
    ['abc$', 'abc\n', true],
    ['abc$', 'abc\n\n', false],
    ['a|b$', 'b\n', true],
    ['$', '\n', true],
    ['^$', '', true],
    ['abc\\Z', 'abc\n', false],
    ['abc\\Z', 'abc', true],
    ['\\A\\Z', '', true],
    ['(?m)a$\\nb', 'a\nb', true],
    ['(?m)^b', 'a\nb', false],
    ['(?s)a.b', 'a\nb', true],
    ['a.b', 'a\nb', false],
    ['(?s:.)+$', 'a\nb', true],
    ['(?i)straSSE', 'strasse', true],
    ['(?i)\u00c9', '\u00e9', true],
    ['(?i)\u212a', 'k', true],
    ['(?i:A)b', 'ab', true],
    ['(?i:A)b', 'aB', false],
    ['(?-i:a)', 'a', true],
    ['(?x) a * b  # comment\n c', 'aaabc', true],
    ['(?x)[ ]a', '  a', false],
    ['(?x)a\\ b', 'a b', true],
    ['(?#comment)ab', 'ab', true],
    ['(?P<n>a)b', 'ab', true],
    ['(a|b|)c', 'c', true],
    ['a*?b', 'aab', true],
    ['\\w+$', 'Zo\u00eb', true],
    ['(?a)\\w+$', 'Zo\u00eb', false],
    ['\\d+$', '\u0661\u0662\u0663', true],
    ['(?a)\\d+$', '\u0661\u0662\u0663', false],
    ['\\s+x', '\u3000\u2028 x', true],
    ['\\S', '\u00a0', false],
    ['[\\s]', '\v', true],
    ['[^\\S\\n]', '\n', false],
    ['[^\\S\\n]', ' ', true],
    ['[a\\W]+$', 'a!?', true],
    ['[^\\W]+$', 'abc', true],
    ['[\\w.-]+@[\\w-]+\\.\\w+$', 'j\u00fcrgen.x@ex-ample.de', true],
    ['\\bfoo\\b', 'foo bar', true],
    ['[]a]+$', ']a]', true],
    ['[^]a]', ']', false],
    ['[[:alpha:]]', '[]', true],
    ['[[:alpha:]]', 'a]', true],
    ['[\\d-]+$', '12-3', true],
    ['[a-c\\d]+$', 'ab9', true],
    ['[\\b]', '\b', true],
    ['a{,2}b', 'aab', true],
    ['a{,2}b', 'aaab', false],
    ['a{,}b', 'aaaab', true],
    ['x{', 'x{', true],
    ['x{1,', 'x{1,', true],
    ['{}', '{}', true],
    ['\\x41\\u00e9\\U0001F600', 'A\u00e9\u{1f600}', true],
    ['\\101\\0', 'A\0', true],
    ['[\\101-\\103]+$', 'ABC', true],
    ['a\\-b\\!', 'a-b!', true],
    ['\u00e9+$', '\u00e9\u00e9\u00e9', true],
  ])('re.match(%j, %j) is %s', (pattern, subject, expected) => {
    expect(matches(pattern, subject)).toBe(expected);
  });

  it('matches the catastrophic-backtracking pattern of issue 8 in linear time', () => {
    const pem = `-----BEGIN CERTIFICATE-----\n${'MIIBkTCB+wIJAKHBfpegPjMCMA0GCSqGSIb3DQEBBQUAMBExDzANBgNVBAMMBnVu\n'.repeat(1000)}`;
    expect(matches('-----BEGIN CERTIFICATE-----\n([A-Za-z0-9+/]+)+!', pem)).toBe(false);
    expect(matches('(a+)+$', `${'a'.repeat(100_000)}!`)).toBe(false);
    expect(matches('(?:a|a)*b', 'a'.repeat(100_000))).toBe(false);
  });

  it.each([
    ['(a)\\1', 'backreferences are not supported'],
    ['(?P<x>a)(?P=x)', 'backreferences are not supported'],
    ['a(?=b)', 'lookahead and lookbehind assertions are not supported'],
    ['a(?!b)', 'lookahead and lookbehind assertions are not supported'],
    ['(?<=a)b', 'lookahead and lookbehind assertions are not supported'],
    ['(?<!a)b', 'lookahead and lookbehind assertions are not supported'],
    ['(a)?(?(1)b|c)', 'conditional groups are not supported'],
    ['(?>a)', 'atomic groups are not supported'],
    ['a*+', 'possessive quantifiers are not supported'],
    ['\\N{EM DASH}', 'named Unicode escapes (\\N{...}) are not supported'],
  ])('refuses %j, which RE2 cannot match in linear time or at all: %s', (pattern, text) => {
    expect(reason(pattern)).toBe(text);
  });

  it.each([
    ['(', 'missing ), unterminated subpattern at position 0'],
    [')', 'unbalanced parenthesis at position 0'],
    ['[a', 'unterminated character set at position 0'],
    ['*a', 'nothing to repeat at position 0'],
    ['a**', 'multiple repeat at position 2'],
    ['\\p{L}', 'bad escape \\p at position 0'],
    ['\\x4', 'incomplete escape \\x4 at position 0'],
    ['[\\A]', 'bad escape \\A at position 1'],
    ['[a-\\d]', 'bad character range a-\\d at position 1'],
    ['[z-a]', 'bad character range z-a at position 1'],
    ['a(?i)', 'global flags not at the start of the expression at position 1'],
    ['(?<n>a)', 'unknown extension ?< at position 0'],
    ['(?P<1>a)', "bad character in group name '1' at position 4"],
    ['(?L)a', "bad inline flag: cannot use 'L' flag with a str pattern"],
    ['a{1001}', 'invalid repetition size: {1001}'],
    ['(?P<a>x)(?P<a>y)', 'duplicate capture group name'],
  ])('rejects %j as Python (or RE2) does: %s', (pattern, text) => {
    expect(reason(pattern)).toBe(text);
  });

  it('refuses a pattern whose program would be large, however short', () => {
    expect(reason('.{999}')).toMatch(/^pattern too complex \(about \d+ RE2 instructions, at most 5000\)$/);
    expect(reason('(?:\\w{10}){10}')).toMatch(/^pattern too complex/);
    expect(reason('((a{100}){100}){100}')).toMatch(/^pattern too complex/);
    expect(translatePythonRegex('[0-9a-f]{64}').cost).toBeLessThan(MAX_PATTERN_COST);
    expect(translatePythonRegex('\\w+@\\w+\\.\\w+').cost).toBeLessThan(MAX_PATTERN_COST);
  });

  it('bounds the patterns of one query together, at filters', () => {
    const heavy = (n: number) => ['name', '~', `(?:.{500}x${n})`];
    expect(() => compileQuery([heavy(1), heavy(2)], {})).not.toThrow();
    let error: unknown;
    try {
      compileQuery([heavy(1), heavy(2), heavy(3)], {});
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ValidationErrors);
    expect((error as ValidationErrors).errors).toEqual([
      ['filters', "'(?:.{500}x3)': invalid regular expression: the query's patterns are too complex together (at most 10000 RE2 instructions in all)", 22],
    ]);
  });

  // RE2 refuses to build a program of more than 87381 instructions (its default 8 MiB budget), so
  // 87381 / estimate copies of a pattern compile only if the estimate is not below the real size.
  it.each(['a', '(?i)a', '\u00e9', '(?i)\u00e9', '.', '(?s).', '[^a]', '[a-z\u00e0-\u00ff]', '\\s', '\\S', '[^\\s]', 'a{10,20}', '(?:a|bc)*', '[0-9a-f]{8}', '(?a)\\w'])(
    'estimates at least the program RE2 builds for %j',
    (pattern) => {
      const { source, flags, cost } = translatePythonRegex(pattern);
      const copies = Math.floor(87_000 / cost);
      const group = flags ? `(?${flags}:${source})` : `(?:${source})`;
      expect(() => new RE2(group.repeat(copies), 'u')).not.toThrow();
    },
  );

  it('turns any pattern into RE2 or a syntax error, and any match into a boolean', () => {
    const token = fc.constantFrom(
      'a', 'b', '\u00e9', '.', '*', '+', '?', '*?', '{2}', '{,3}', '{1,', '|', '(', ')', '(?:', '(?P<g>', '(?P=g)', '(?i)', '(?s:',
      '(?=', '(?#x)', '[', ']', '[^', '-', '^', '$', '\\', '\\d', '\\W', '\\s', '\\b', '\\A', '\\Z', '\\x4', '\\u00e9', '\\1', '\\0', '\n', ' ',
    );
    fc.assert(
      fc.property(fc.array(token, { maxLength: 12 }), fc.string({ maxLength: 20 }), (tokens, subject) => {
        let regex;
        try {
          regex = compilePythonRegex(tokens.join(''));
        } catch (error) {
          expect(error).toBeInstanceOf(RegexSyntaxError);
          return;
        }
        expect(typeof pyRegexMatch(regex, subject)).toBe('boolean');
      }),
      { seed: 8, numRuns: 400 },
    );
  });
});
