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
import { queryFilters as filters, queryOptions as options } from './query-grammar.js';

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
