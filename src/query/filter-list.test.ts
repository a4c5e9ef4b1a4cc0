import { describe, expect, it } from 'vitest';
import { CallError, MatchNotFoundError } from '../errors/call-error.js';
import { ValidationErrors } from '../errors/validation-errors.js';
import { compileQuery, parsePath } from './compile.js';
import { executeQuery, filterList, filterListAsync } from './filter-list.js';
import { casefoldString, parseIsoTimestamp, pyRepr } from './python.js';
import { QueryOptions } from './schemas.js';

const ROWS = [
  {
    id: 1,
    name: 'Straße',
    size: 5,
    enabled: true,
    tags: ['a', 'B'],
    owner: { id: 10, name: 'root', 'a.b': 'dotted' },
    ports: [{ port: 80, proto: 'tcp' }, { port: 53, proto: 'udp' }],
    created: new Date('2024-01-01T00:00:00Z'),
    note: null,
  },
  {
    id: 2,
    name: 'strasse',
    size: null,
    enabled: false,
    tags: [],
    owner: { id: 11, name: 'admin' },
    ports: [],
    created: new Date('2025-06-01T12:30:00.500Z'),
    note: 'hello\n',
  },
  {
    id: 3,
    name: null,
    size: 1,
    enabled: null,
    tags: ['c'],
    owner: null,
    ports: [{ port: 443, proto: 'tcp' }],
    created: null,
    note: '',
  },
  {
    id: 4,
    name: 'ÉCOLE',
    size: 5,
    enabled: true,
    tags: ['A', 'b'],
    owner: { id: 10, name: 'root' },
    ports: [{ port: 22 }],
    created: new Date('2023-03-03T03:03:03.003Z'),
    note: 'x',
  },
];

type Row = (typeof ROWS)[number];

/** Ids of the rows a query returns. */
function ids(filters: unknown, options: Record<string, unknown> = {}): unknown {
  const result = filterList(ROWS, filters, options);
  return Array.isArray(result) ? result.map((row) => (row as Row).id) : result;
}

/** The error a call throws, as [class name, TrueNAS reason]. */
function failure(run: () => unknown): [string, string] {
  try {
    run();
  } catch (error) {
    if (error instanceof ValidationErrors || error instanceof CallError) return [error.name, error.reason];
    throw error;
  }
  throw new Error('expected the call to fail');
}

describe('filterList operators', () => {
  it.each([
    [['size', '=', 5], [1, 4]],
    [['size', '!=', 5], [2, 3]],
    [['size', '>', 1], [1, 4]],
    [['size', '>=', 1], [1, 3, 4]],
    [['size', '<', 5], [3]],
    [['size', '<=', 5], [1, 3, 4]],
    [['name', '~', 'S.r'], [1]],
    [['size', 'in', [1, null]], [2, 3]],
    [['size', 'nin', [1]], [1, 4]],
    [['size', 'in', new Set([1, null])], [2, 3]],
    [['size', 'nin', new Set([1])], [1, 4]],
    [['tags', 'rin', 'a'], [1]],
    [['tags', 'rnin', 'a'], [2, 3, 4]],
    [['name', '^', 'Str'], [1]],
    [['name', '!^', 'Str'], [2, 4]],
    [['name', '$', 'se'], [2]],
    [['name', '!$', 'se'], [1, 4]],
  ])('%j selects %j', (filter, expected) => {
    expect(ids([filter])).toEqual(expected);
  });

  it('compares with null the way Python does', () => {
    expect(ids([['name', '=', null]])).toEqual([3]);
    expect(ids([['name', '!=', null]])).toEqual([1, 2, 4]);
    expect(ids([['name', '!=', 'strasse']])).toEqual([1, 3, 4]);
    expect(ids([['name', 'in', ['strasse', null]]])).toEqual([2, 3]);
    expect(ids([['name', 'nin', ['strasse']]])).toEqual([1, 4]);
    expect(ids([['name', '^', '']])).toEqual([1, 2, 4]);
    expect(ids([['note', '~', '^$']])).toEqual([1, 3]);
  });

  it('treats ordering comparisons with null as false, as SQL does', () => {
    expect(ids([['size', '<', 100]])).toEqual([1, 3, 4]);
    expect(ids([['size', '>', null]])).toEqual([]);
  });

  it('uses Python equality: True == 1, deep lists and dicts', () => {
    expect(ids([['enabled', '=', 1]])).toEqual([1, 4]);
    expect(ids([['size', '=', 5.0]])).toEqual([1, 4]);
    expect(ids([['tags', '=', ['a', 'B']]])).toEqual([1]);
    expect(ids([['owner', '=', { name: 'root', id: 10 }]])).toEqual([4]);
    expect(ids([['created', '=', '2024-01-01T00:00:00Z']])).toEqual([]);
  });

  it('tests substrings for `in` with a string and keys for `in` with an object', () => {
    expect(ids([['name', '!=', null], ['name', 'in', 'xxstrassexx']])).toEqual([2]);
    expect(ids([['owner', 'rin', 'a.b']])).toEqual([1]);
  });

  it('compares strings by code point, like Python', () => {
    const rows = [{ s: '\uffff' }, { s: '😀' }, { s: 'z' }];
    expect(filterList(rows, [['s', '>', '\uffff']])).toEqual([{ s: '😀' }]);
    expect(filterList(rows, [], { order_by: ['s'] })).toEqual([{ s: 'z' }, { s: '\uffff' }, { s: '😀' }]);
  });
});

describe('filterList case-insensitive operators', () => {
  it('casefolds both sides, as str.casefold does', () => {
    expect(ids([['name', 'C=', 'STRASSE']])).toEqual([1, 2]);
    expect(ids([['name', 'C!=', 'strasse']])).toEqual([3, 4]);
    expect(ids([['name', 'C^', 'é']])).toEqual([4]);
    expect(ids([['name', 'C$', 'SSE']])).toEqual([1, 2]);
    expect(ids([['name', 'Cin', ['école', 'X']]])).toEqual([4]);
    expect(ids([['tags', 'Crin', 'b']])).toEqual([1, 4]);
    expect(ids([['tags', 'Crnin', 'b']])).toEqual([2, 3]);
    expect(ids([['name', 'C>', 'STRASSE']])).toEqual([4]);
  });

  it('fails like TrueNAS on values it cannot casefold', () => {
    expect(failure(() => filterList(ROWS, [['size', 'C=', 5]]))).toEqual([
      'CallError',
      "[EINVAL] <class 'int'>: support for casefolding object type not implemented.",
    ]);
    expect(failure(() => filterList([{ list: [1] }], [['list', 'Crin', 'a']]))).toEqual([
      'CallError',
      "[EINVAL] 'int' object has no attribute 'casefold'",
    ]);
  });
});

describe('filterList paths', () => {
  it('follows dots, escaped dots, list indexes and `*`', () => {
    expect(ids([['owner.name', '=', 'root']])).toEqual([1, 4]);
    expect(ids([['owner.a\\.b', '=', 'dotted']])).toEqual([1]);
    expect(ids([['ports.0.port', '=', 443]])).toEqual([3]);
    expect(ids([['ports.*.proto', '=', 'udp']])).toEqual([1]);
    expect(ids([['tags.*', 'C=', 'a']])).toEqual([1, 4]);
  });

  it('reads an index past the end of a list as null', () => {
    expect(ids([['ports.1.port', '=', null]])).toEqual([2, 3, 4]);
  });

  it('never matches a missing key, whatever the operator', () => {
    for (const op of ['=', '!=', 'nin', '!^', 'rnin']) {
      expect(ids([['ports.*.proto', op, 'x'], ['id', '=', 4]])).toEqual([]);
      expect(ids([['nothing', op, null]])).toEqual([]);
    }
  });

  it('reads through scalars and ignores a trailing dot, as TrueNAS does', () => {
    expect(ids([['size.anything', '=', 1]])).toEqual([3]);
    expect(ids([['name.', '=', 'strasse']])).toEqual([2]);
  });

  it('treats a property holding undefined as missing', () => {
    expect(filterList([{ a: undefined }, { a: null }], [['a', '=', null]])).toEqual([{ a: null }]);
  });

  it('rejects a name where a list needs an index', () => {
    expect(failure(() => filterList(ROWS, [['ports.port', '=', 80]]))).toEqual([
      'CallError',
      '[EINVAL] port: must be array index or wildcard character',
    ]);
  });

  it('splits paths exactly as TrueNAS partition() does', () => {
    expect(parsePath('a.b\\.c.d')).toEqual(['a', 'b.c', 'd']);
    expect(parsePath('a.')).toEqual(['a']);
    expect(parsePath('')).toEqual([]);
    expect(parsePath('a\\.')).toEqual(['a.']);
  });
});

describe('filterList timestamps', () => {
  it('compares `.$date` fields with ISO-8601 strings', () => {
    expect(ids([['created.$date', '>', '2024-01-01T00:00:00Z']])).toEqual([2]);
    expect(ids([['created.$date', '>=', '2024-01-01']])).toEqual([1, 2]);
    expect(ids([['created.$date', '=', '2025-06-01T14:30:00.5+02:00']])).toEqual([2]);
    expect(ids([['created.$date', '!=', '2024-01-01T00:00:00+00:00']])).toEqual([2, 3, 4]);
    expect(ids([['created.$date', '<', '2030-01-01']])).toEqual([1, 2, 4]);
  });

  it('accepts only comparisons and ISO-8601 values', () => {
    expect(failure(() => filterList(ROWS, [['created.$date', 'in', ['2024-01-01']]]))).toEqual([
      'ValidationErrors',
      '[EINVAL] filters: in: invalid timestamp operation.\n',
    ]);
    expect(failure(() => filterList(ROWS, [['created.$date', '>', 'yesterday']]))).toEqual([
      'ValidationErrors',
      '[EINVAL] filters: yesterday: must be an ISO-8601 formatted timestamp string\n',
    ]);
    expect(failure(() => filterList(ROWS, [['created.$date', '>', 1700000000]]))).toEqual([
      'ValidationErrors',
      '[EINVAL] filters: 1700000000: must be an ISO-8601 formatted timestamp string\n',
    ]);
  });

  it('parses what datetime.fromisoformat parses, naive times as UTC', () => {
    const iso = (text: string) => parseIsoTimestamp(text)?.toISOString() ?? null;
    expect(iso('2023-12-18')).toBe('2023-12-18T00:00:00.000Z');
    expect(iso('20231218T161535')).toBe('2023-12-18T16:15:35.000Z');
    expect(iso('2023-12-18 16:15:35,123456')).toBe('2023-12-18T16:15:35.123Z');
    expect(iso('2023-12-18T16:15:35-05:00')).toBe('2023-12-18T21:15:35.000Z');
    expect(iso('2023-12-18T16Z')).toBe('2023-12-18T16:00:00.000Z');
    expect(iso('0001-01-01')).toBe('0001-01-01T00:00:00.000Z');
    for (const bad of ['2023-12', '2023-02-29', '2023-12-18T24:00', '2023-12-18T16:15:35z', ' 2023-12-18', '0000-01-01', '2023-12-18T10:00+24:00']) {
      expect(iso(bad)).toBeNull();
    }
  });
});

describe('filterList OR', () => {
  it('matches any branch; a branch of lists is a conjunction', () => {
    expect(ids([['OR', [['size', '=', 1], ['name', '=', 'strasse']]]])).toEqual([2, 3]);
    expect(ids([['OR', [[['size', '=', 5], ['name', '^', 'É']], ['id', '=', 2]]]])).toEqual([2, 4]);
    expect(ids([['OR', [['id', '=', 1], ['id', '=', 4]]], ['enabled', '=', true]])).toEqual([1, 4]);
  });

  it('allows three levels of nesting and rejects a fourth', () => {
    const nest = (depth: number): unknown[] => (depth === 0 ? ['id', '=', 1] : ['OR', [nest(depth - 1)]]);
    expect(ids([nest(3)])).toEqual([1]);
    expect(failure(() => filterList(ROWS, [nest(4)]))).toEqual([
      'ValidationErrors',
      '[EINVAL] filters: query-filters max recursion depth exceeded\n',
    ]);
  });

  it('requires at least one branch', () => {
    expect(failure(() => filterList(ROWS, [['OR', []]]))[1]).toBe(
      '[EINVAL] filters: OR filter requires at least one branch.\n',
    );
  });
});

describe('filterList regular expressions', () => {
  it('anchors at the start like re.match', () => {
    expect(ids([['name', '~', 'tr']])).toEqual([]);
    expect(ids([['name', '~', '.*tr']])).toEqual([1, 2]);
  });

  it('understands Python-only syntax', () => {
    expect(ids([['name', '~', '(?i)STR']])).toEqual([1, 2]);
    expect(ids([['name', '~', '(?P<x>s)tr(?:a)sse\\Z']])).toEqual([2]);
    expect(ids([['name', '~', '\\AÉ']])).toEqual([4]);
    expect(ids([['note', '~', 'hello$']])).toEqual([2]);
    expect(filterList([{ s: ']' }, { s: 'a' }], [['s', '~', '[]]']])).toEqual([{ s: ']' }]);
    expect(filterList([{ s: 'a-b' }], [['s', '~', 'a\\-b']])).toEqual([{ s: 'a-b' }]);
  });

  it('matches null as the empty string and fails on other non-strings', () => {
    expect(ids([['name', '~', '$']])).toEqual([3]);
    expect(failure(() => filterList(ROWS, [['size', '~', '5']]))).toEqual([
      'CallError',
      "[EINVAL] expected string or bytes-like object, got 'int'",
    ]);
  });

  it('rejects what RE2 cannot match in linear time, at filters', () => {
    expect(failure(() => filterList(ROWS, [['name', '~', '(?P<x>s)tra(?P=x)se']]))).toEqual([
      'ValidationErrors',
      "[EINVAL] filters: '(?P<x>s)tra(?P=x)se': invalid regular expression: backreferences are not supported\n",
    ]);
    expect(failure(() => filterList(ROWS, [['name', '~', '(s)\\1']]))[1]).toBe(
      "[EINVAL] filters: '(s)\\\\1': invalid regular expression: backreferences are not supported\n",
    );
    expect(failure(() => filterList(ROWS, [['name', '~', 'S(?=t)']]))[1]).toBe(
      "[EINVAL] filters: 'S(?=t)': invalid regular expression: lookahead and lookbehind assertions are not supported\n",
    );
  });

  it('rejects patterns that do not compile before reading any row', () => {
    expect(failure(() => filterList([], [['name', '~', '(']]))[1]).toMatch(
      /^\[EINVAL\] filters: '\(': invalid regular expression: /,
    );
    expect(failure(() => filterList([], [['name', '~', 5]]))[1]).toBe(
      '[EINVAL] filters: 5: first argument must be string or compiled pattern\n',
    );
  });
});

describe('filterList options', () => {
  it('selects paths, nested paths and aliases, skipping missing fields', () => {
    expect(filterList(ROWS, [['id', '<', 3]], { select: ['id', 'owner.name', ['name', 'title'], 'missing'] })).toEqual([
      { id: 1, owner: { name: 'root' }, title: 'Straße' },
      { id: 2, owner: { name: 'admin' }, title: 'strasse' },
    ]);
    expect(filterList(ROWS, [['id', '=', 3]], { select: ['owner.name'] })).toEqual([{ owner: null }]);
  });

  it('does not change the rows it selects from', () => {
    const rows = [{ a: { b: 1, c: 2 } }];
    expect(filterList(rows, [], { select: ['a', 'a.b'] })).toEqual([{ a: { b: 1, c: 2 } }]);
    expect(rows).toEqual([{ a: { b: 1, c: 2 } }]);
  });

  it('cannot select through a list', () => {
    expect(failure(() => filterList(ROWS, [], { select: ['ports.0'] }))).toEqual([
      'CallError',
      '[EINVAL] Selecting by list index is not supported',
    ]);
  });

  it('counts matches before ordering and paging', () => {
    expect(filterList(ROWS, [['size', '=', 5]], { count: true, limit: 1, order_by: ['-id'] })).toBe(2);
    expect(filterList(ROWS, [], { count: true, order_by: ['name'] })).toBe(4);
  });

  it('returns the first match for get, or MatchNotFound', () => {
    expect(filterList(ROWS, [['size', '=', 5]], { get: true })).toBe(ROWS[0]);
    expect(filterList(ROWS, [], { get: true, order_by: ['-id'], select: ['id'] })).toEqual({ id: 4 });
    expect(() => filterList(ROWS, [['id', '=', 9]], { get: true })).toThrow(MatchNotFoundError);
  });

  it('lets get win over count when filtering without ordering, as TrueNAS does', () => {
    expect(filterList(ROWS, [['size', '=', 5]], { get: true, count: true })).toBe(ROWS[0]);
    expect(filterList(ROWS, [], { get: true, count: true })).toBe(4);
  });

  it('orders by successive stable sorts, the last key most significant', () => {
    expect(ids([], { order_by: ['nulls_last:name', '-id'] })).toEqual([4, 3, 2, 1]);
    expect(ids([], { order_by: ['-id', 'nulls_first:size'] })).toEqual([2, 3, 4, 1]);
    expect(ids([], { order_by: ['nulls_last:-size'] })).toEqual([1, 4, 3, 2]);
    expect(ids([['created', '!=', null]], { order_by: ['-created'] })).toEqual([2, 1, 4]);
    expect(ids([['enabled', '!=', null]], { order_by: ['enabled', 'owner.id'] })).toEqual([1, 4, 2]);
  });

  it('refuses to sort nulls without a nulls_first:/nulls_last: prefix', () => {
    expect(failure(() => filterList(ROWS, [], { order_by: ['-size'] }))).toEqual([
      'CallError',
      '[EINVAL] Cannot sort by \'-size\' because the field contains null values. Please use "nulls_first:-size" or "nulls_last:-size" to specify null placement.',
    ]);
    expect(ids([['id', '=', 2]], { order_by: ['size'] })).toEqual([2]);
  });

  it('refuses to sort values Python cannot compare', () => {
    expect(failure(() => filterList([{ v: 1 }, { v: 'a' }], [], { order_by: ['v'] }))[1]).toMatch(
      /^\[EINVAL\] '<' not supported between instances of '(int|str)' and '(int|str)'$/,
    );
  });

  it('orders by fields that select leaves out', () => {
    expect(filterList(ROWS, [], { order_by: ['-id'], select: ['name'], limit: 2 })).toEqual([
      { name: 'ÉCOLE' },
      { name: null },
    ]);
  });

  it('slices offset then limit like Python, negatives counting from the end', () => {
    expect(ids([], { offset: 1, limit: 2 })).toEqual([2, 3]);
    expect(ids([], { offset: -1 })).toEqual([4]);
    expect(ids([], { limit: -1 })).toEqual([1, 2, 3]);
    expect(ids([], { offset: 10 })).toEqual([]);
  });

  it('fills in TrueNAS defaults and rejects unknown keys', () => {
    expect(QueryOptions.parse(undefined)).toEqual({
      relationships: true,
      extend: null,
      extend_context: null,
      prefix: null,
      extra: {},
      order_by: [],
      select: [],
      count: false,
      get: false,
      offset: 0,
      limit: 0,
      force_sql_filters: false,
    });
    const [name, reason] = failure(() => filterList(ROWS, [], { bogus: 1 }));
    expect(name).toBe('ValidationErrors');
    expect(reason).toMatch(/^\[EINVAL\] options\.bogus: /);
  });

  it('accepts null and undefined as "no filters, default options"', () => {
    expect(filterList(ROWS, null, null)).toEqual(ROWS);
    expect(filterList(ROWS)).toEqual(ROWS);
  });
});

describe('filterList errors', () => {
  it.each([
    [[['name', 'like', 'x']], {}, 'filters: Invalid operation: like'],
    [[['name', 'C~', 'x']], {}, 'filters: Invalid case-insensitive operation: C~'],
    [[['name', 'C', 'x']], {}, 'filters: Invalid operation: C'],
    [[['name', '=']], {}, 'filters: Invalid operation: name'],
    [[['AND', []]], {}, 'filters: Invalid operation: AND'],
    [[['name']], {}, "filters: Invalid filter ['name']"],
    [[['a', '=', 1, 2]], {}, "filters: Invalid filter ['a', '=', 1, 2]"],
    [['name'], {}, "filters: Invalid filter 'name'"],
    [[[1, '=', 1]], {}, "filters: Invalid filter [1, '=', 1]"],
    [[['a', 5, 1]], {}, 'filters: Invalid operation: 5'],
    [[['OR', [[]]]], {}, 'filters: Invalid filter []'],
    [[['OR', 'x']], {}, "filters: Invalid filter ['OR', 'x']"],
    [{ name: 'x' }, {}, 'filters: Not a list'],
    [[], { get: true, limit: 2 }, 'options: Invalid options combination. `get` implies a single result.'],
    [[], { get: true, offset: 1 }, 'options: Invalid options combination. `get` implies a single result.'],
    [[], { limit: 10_001 }, 'options: Options limit must be between 1 and 10000'],
  ])('%j with %j fails with "%s"', (filters, options, text) => {
    expect(failure(() => filterList(ROWS, filters, options))).toEqual(['ValidationErrors', `[EINVAL] ${text}\n`]);
  });

  it('reports filter and option problems together', () => {
    expect(failure(() => filterList(ROWS, [['a', '?', 1]], { get: true, limit: 5 }))[1]).toBe(
      '[EINVAL] options: Invalid options combination. `get` implies a single result.\n' +
        '[EINVAL] filters: Invalid operation: ?\n',
    );
  });

  it.each([
    [[['size', '>', 'a']], "'>' not supported between instances of 'int' and 'str'"],
    [[['created', '<', '2024']], "'<' not supported between instances of 'datetime.datetime' and 'str'"],
    [[['size', 'in', 5]], "argument of type 'int' is not iterable"],
    [[['size', 'in', 'abc']], "'in <string>' requires string as left operand, not int"],
    [[['size', '^', '5']], "'int' object has no attribute 'startswith'"],
    [[['name', '$', 5]], 'endswith first arg must be str or a tuple of str, not int'],
    [[['owner', 'rin', ['id']]], "unhashable type: 'list'"],
  ])('%j fails during evaluation with "%s"', (filters, text) => {
    expect(failure(() => filterList(ROWS, filters))).toEqual(['CallError', `[EINVAL] ${text}`]);
  });

  it('never crashes on odd input', () => {
    const junk: unknown[] = [
      undefined, null, 0, 1.5, true, '', 'x', [], {}, [[]], [null], [1, 2, 3], ['OR'], ['OR', null],
      [['OR', {}]], [['OR', [null]]], [['OR', ['x']]], [[{}, '=', 1]], [[null, null, null]], [['', '=', 1]],
      [['.', '=', 1]], [['a..b', '=', 1]], [['\\', '=', 1]], [['a', '~', '[']], [['a', '~', '(?x)a']],
      [['a.$date', '=', null]], [['2024-01-01', '=', 'a.$date']], [['OR', [['OR', 1]]]], [[['a', '=', 1]]],
    ];
    const options: unknown[] = [
      undefined, null, [], 'x', 1, { limit: 'x' }, { order_by: [1] }, { order_by: 'x' }, { select: [1] },
      { select: [['a']] }, { select: [['a', 1]] }, { select: ['', ['', 'whole']] }, { extra: [] },
      { count: 'yes' }, { offset: 1.5 }, { order_by: ['nulls_first:'] }, { order_by: ['-'] },
    ];
    const rows: unknown[] = [...ROWS, 0, 'text', null, [], [1, [2]], { a: [1] }, { a: { $date: 1 } }];
    for (const filters of junk) {
      for (const option of options) {
        try {
          filterList(rows, filters, option);
        } catch (error) {
          expect(error instanceof ValidationErrors || error instanceof CallError).toBe(true);
        }
      }
    }
  });
});

describe('filterList on hostile input', () => {
  it('looks up in and nin lists by hash with Python equality', () => {
    const rows = [1, true, '1', null, [1], { a: 1 }, new Date(5), 2].map((v, id) => ({ id, v }));
    const list = [true, [1], { a: 1 }, new Date(5), null];
    const idsOf = (result: unknown) => (result as Array<{ id: number }>).map(({ id }) => id);
    expect(idsOf(filterList(rows, [['v', 'in', list]]))).toEqual([0, 1, 3, 4, 5, 6]);
    expect(idsOf(filterList(rows, [['v', 'nin', list]]))).toEqual([2, 7]);
    expect(idsOf(filterList(rows, [['v', 'in', new Set([2, '1'])]]))).toEqual([2, 7]);
    expect(ids([['name', 'Cin', ['STRASSE', 'école']]])).toEqual([1, 2, 4]);
    expect(ids([['name', 'Cnin', ['STRASSE']]])).toEqual([4]);
    expect(failure(() => filterList(ROWS, [['name', 'Cin', [1]]]))).toEqual(['CallError', "[EINVAL] 'int' object has no attribute 'casefold'"]);
  });

  it('walks a long list once, not once per row', () => {
    const rows = Array.from({ length: 10_000 }, (_, id) => ({ id, name: `n${id}` }));
    const names = Array.from({ length: 30_000 }, (_, i) => `N${i * 7}`);
    // Walking 30,000 names for each of 10,000 rows takes many seconds; the budget stops that.
    const query = compileQuery([['name', 'Cin', names], ['id', 'nin', names]], { count: true });
    expect(executeQuery(rows, query, 2000)).toBe(1429);
  });

  it('lets other callbacks run between slices of a long evaluation', async () => {
    const rows = Array.from({ length: 300_000 }, (_, id) => ({ id, name: `n${id}` }));
    let turns = 0;
    const timer = setInterval(() => turns++, 1);
    const count = await filterListAsync(rows, [['name', '^', 'n1'], ['id', '>', 5], ['name', '!$', 'x']], { count: true });
    clearInterval(timer);
    expect(count).toBe(111_110);
    expect(turns).toBeGreaterThan(0);
  });

  it('stops at its time budget with a validation error naming the argument at work', () => {
    const rows = Array.from({ length: 1000 }, (_, id) => ({ id }));
    expect(failure(() => executeQuery(rows, compileQuery([['id', '>', 0]], {}), 0))).toEqual([
      'ValidationErrors',
      '[EINVAL] filters: Query needs more than 0 seconds of evaluation; narrow the filters or options\n',
    ]);
    expect(failure(() => executeQuery([], compileQuery([], { order_by: ['id'] }), 0))[1]).toMatch(/^\[EINVAL\] options: Query needs more/);
  });

  it('bounds order_by and select lists', () => {
    expect(failure(() => filterList(ROWS, [], { order_by: Array.from({ length: 101 }, () => 'id') }))).toEqual([
      'ValidationErrors',
      '[EINVAL] options.order_by: Should contain at most 100 items\n',
    ]);
    expect(failure(() => filterList(ROWS, [], { select: Array.from({ length: 1001 }, () => 'id') }))[1]).toBe(
      '[EINVAL] options.select: Should contain at most 1000 items\n',
    );
  });

  it('reports a deeply nested invalid filter without exhausting the stack', () => {
    let deep: unknown = [];
    for (let i = 0; i < 50_000; i++) deep = [deep];
    expect(failure(() => filterList(ROWS, [deep]))[1]).toMatch(/^\[EINVAL\] filters: Invalid filter \[\[\[.*\.\.\..*\]\]\]\n$/s);
  });
});

describe('Python semantics', () => {
  it('casefolds like Python 3.11 str.casefold', () => {
    expect(casefoldString('Straße')).toBe('strasse');
    expect(casefoldString('ΣΑΣ')).toBe('σασ');
    expect(casefoldString('ﬁle')).toBe('file');
    expect(casefoldString('\u212a')).toBe('k');
    expect(casefoldString('\u0130')).toBe('i\u0307');
    expect(casefoldString('ꭰ\u13f8')).toBe('\u13a0\u13f0');
    expect(casefoldString('ᾈ')).toBe('ἀι');
  });

  it('formats values as Python repr() does', () => {
    expect(pyRepr(['a', 1, null, true, { k: "it's" }])).toBe('[\'a\', 1, None, True, {\'k\': "it\'s"}]');
    expect(pyRepr('tab\there')).toBe("'tab\\there'");
  });
});
