/**
 * Query filters and options (src/query/compile.ts, run in memory by src/query/filter-list.ts) from
 * a grammar of TrueNAS's query language with mistakes mixed in: compiling returns a query or throws
 * ValidationErrors; running it returns rows or throws CallError (a comparison Python refuses, a
 * `get` without a match).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CallError } from '../../src/errors/call-error.js';
import { ValidationErrors } from '../../src/errors/validation-errors.js';
import { compileQuery } from '../../src/query/compile.js';
import { executeQuery } from '../../src/query/filter-list.js';
import { parsesOrRefuses, runs } from './fuzz.js';

const FIELDS = ['id', 'name', 'san', 'san.0', 'san.*', 'nested.deep.value', 'list.*.x', 'list.1.x', 'created.$date', 'x\\.y', 'flag', 'none', 'missing', '', '.', '*', '-name', 'nulls_last:name'];
const OPERATORS = ['=', '!=', '>', '>=', '<', '<=', '~', 'in', 'nin', 'rin', 'rnin', '^', '!^', '$', '!$'];
const REGEXES = ['^a', '.*', '(a|b)+', '[', '(?i)A', '(?P<n>a)', '\\d{2,}', 'a{3', '(?x) a # comment', '\\', '(?=a)', '\\Z'];
const TIMESTAMPS = ['2025-01-01T00:00:00', '2025-01-01T00:00:00Z', '2025-13-45', 'yesterday', '2025-01-01T00:00:00+25:00'];

const field = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...FIELDS) }, { weight: 1, arbitrary: fc.string({ maxLength: 12 }) });
const operator = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...OPERATORS) },
  { weight: 2, arbitrary: fc.constantFrom(...OPERATORS).map((op) => `C${op}`) },
  { weight: 1, arbitrary: fc.oneof(fc.string({ maxLength: 3 }), fc.constantFrom<unknown>(null, 1, [], 'OR')) },
);
const value = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(...REGEXES, ...TIMESTAMPS),
  fc.array(fc.oneof(fc.string({ maxLength: 4 }), fc.integer()), { maxLength: 3 }),
);
const condition = fc.tuple(field, operator, value);

/** A filter list: conditions, `["OR", branches]` up to past the depth limit, and shapes that are wrong. */
const filters = fc.letrec<{ list: unknown[]; filter: unknown; branch: unknown }>((tie) => ({
  list: fc.array(tie('filter'), { maxLength: 4 }),
  filter: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    condition,
    fc.tuple(fc.constantFrom<unknown>('OR', 'AND', 'or', null), fc.array(tie('branch'), { maxLength: 3 })),
    fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 5 })),
  ),
  branch: fc.oneof(condition, tie('list'), fc.constantFrom<unknown>([], null, 'x')),
})).list;

const options = fc.oneof(
  fc.record(
    {
      order_by: fc.array(fc.oneof(fc.constantFrom(...FIELDS), fc.string({ maxLength: 8 })), { maxLength: 3 }),
      select: fc.array(fc.oneof(fc.constantFrom(...FIELDS), fc.tuple(fc.constantFrom(...FIELDS), fc.string({ maxLength: 4 })), fc.jsonValue({ maxDepth: 1 })), { maxLength: 3 }),
      count: fc.oneof(fc.boolean(), fc.jsonValue({ maxDepth: 0 })),
      get: fc.boolean(),
      offset: fc.oneof(fc.integer({ min: -2, max: 5 }), fc.double()),
      limit: fc.oneof(fc.integer({ min: -2, max: 20_000 }), fc.constant(1.5)),
      extra: fc.jsonValue({ maxDepth: 1 }),
      relationships: fc.boolean(),
    },
    { requiredKeys: [] },
  ),
  fc.jsonValue({ maxDepth: 2 }),
  fc.constant(undefined),
);

/** Rows with every kind of value the evaluators meet: strings, numbers, lists, nested objects, dates, null. */
const ROWS = [
  { id: 1, name: 'alpha', san: ['DNS:a.example', 'IP:192.0.2.1'], nested: { deep: { value: 3 } }, list: [{ x: 1 }, { x: 'b' }], created: new Date(Date.UTC(2025, 0, 1)), flag: true, none: null, 'x.y': 'dot' },
  { id: 2, name: 'Beta', san: [], nested: { deep: { value: 'three' } }, list: [], created: new Date(Date.UTC(2026, 5, 1)), flag: false, none: null },
  { id: 3, name: '', san: ['DNS:ß.example'], nested: { deep: null }, list: [{ x: null }], created: null, flag: null, none: 0 },
  { id: 4, name: null, nested: {}, list: 'not a list', flag: 1, none: '' },
];

describe('queries', () => {
  it('compile or throw ValidationErrors, then run or throw CallError', () => {
    fc.assert(
      fc.property(filters, options, (rawFilters, rawOptions) => {
        const query = parsesOrRefuses([ValidationErrors], () => compileQuery(rawFilters, rawOptions));
        if (query) parsesOrRefuses([CallError], () => executeQuery(ROWS, query));
      }),
      { numRuns: runs(1500) },
    );
  });

  it('compile arbitrary JSON as filters and options or throw ValidationErrors', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), fc.jsonValue({ maxDepth: 3 }), (rawFilters, rawOptions) => {
        const query = parsesOrRefuses([ValidationErrors], () => compileQuery(rawFilters, rawOptions));
        if (query) parsesOrRefuses([CallError], () => executeQuery(ROWS, query));
      }),
    );
  });

  it('the grammar reaches valid queries often enough to test the evaluator', () => {
    let compiled = 0;
    fc.assert(
      fc.property(filters, options, (rawFilters, rawOptions) => {
        if (parsesOrRefuses([ValidationErrors], () => compileQuery(rawFilters, rawOptions))) compiled++;
      }),
      { numRuns: 300 },
    );
    expect(compiled).toBeGreaterThan(30);
  });
});
