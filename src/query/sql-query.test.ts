import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource, EntitySchema } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POSTGRES_URL, postgresAvailable } from '../../test/helpers/services.js';
import { jsonColumn, timestampColumn } from '../db/columns.js';
import { CallError } from '../errors/call-error.js';
import { InstanceNotFoundError, ValidationErrors } from '../errors/validation-errors.js';
import { filterList } from './filter-list.js';
import { ASCII_BEARING_FOLDS, casefoldString } from './python.js';
import { explainQuery, getInstance, runQuery, type SqlQuerySpec } from './sql-query.js';

interface ItemRow {
  id: number;
  name: string | null;
  label: string;
  score: number | null;
  enabled: boolean | null;
  created: Date | null;
  seen: Date | null;
  tags: string[] | null;
}

interface ItemEntry extends ItemRow {
  name_upper: string | null;
  meta: { label: string; score: number | null };
}

/**
 * The same entity on both databases: `created` uses the project's millisecond column, `seen`
 * the driver's native timestamp type.
 */
function itemEntity(tableName: string, postgres: boolean): EntitySchema<ItemRow> {
  return new EntitySchema<ItemRow>({
    name: 'query_test_item',
    tableName,
    columns: {
      id: { type: 'integer', primary: true },
      name: { type: 'varchar', length: 64, nullable: true },
      label: { type: 'varchar', length: 64 },
      score: { type: 'integer', nullable: true },
      enabled: { type: 'boolean', nullable: true },
      created: timestampColumn(true),
      seen: { type: postgres ? 'timestamptz' : 'datetime', nullable: true },
      tags: jsonColumn(true),
    },
  });
}

const at = (iso: string) => new Date(iso);

/** Unicode that tells code-point order, case folding and LIKE wildcards apart. */
const ROWS: ItemRow[] = [
  { id: 1, name: 'Straße', label: 'b', score: 5, enabled: true, created: at('2024-01-01T00:00:00Z'), seen: at('2024-01-01T00:00:00Z'), tags: ['a'] },
  { id: 2, name: 'strasse', label: 'a', score: null, enabled: false, created: at('2025-06-01T12:30:00.500Z'), seen: null, tags: [] },
  { id: 3, name: null, label: 'c', score: 1, enabled: null, created: null, seen: at('2023-03-03T03:03:03.003Z'), tags: null },
  { id: 4, name: 'ÉCOLE', label: 'b', score: 5, enabled: true, created: at('2023-03-03T03:03:03.003Z'), seen: at('2030-01-01T00:00:00Z'), tags: ['b', 'a'] },
  { id: 5, name: 'école', label: 'A', score: -7, enabled: false, created: at('1999-12-31T23:59:59.999Z'), seen: null, tags: ['c'] },
  { id: 6, name: '', label: 'é', score: 0, enabled: true, created: at('2024-01-01T00:00:00Z'), seen: at('2024-06-01T00:00:00Z'), tags: [] },
  { id: 7, name: 'Kelvin', label: '\u212a', score: 2, enabled: false, created: at('2030-01-01T00:00:00Z'), seen: null, tags: ['k'] },
  { id: 8, name: '\ufb01le', label: 'ß', score: 3, enabled: true, created: null, seen: at('2024-01-01T00:00:00.001Z'), tags: ['a'] },
  { id: 9, name: '\u0130stanbul', label: '😀', score: 10, enabled: null, created: at('2024-02-29T12:00:00Z'), seen: null, tags: null },
  { id: 10, name: 'x\uffffy', label: 'Z', score: 4, enabled: false, created: at('2024-01-01T00:00:00.001Z'), seen: at('2001-01-01T00:00:00Z'), tags: [] },
  { id: 11, name: 'abc', label: 'abc', score: 100, enabled: true, created: at('2010-10-10T10:10:10Z'), seen: null, tags: ['x'] },
  { id: 12, name: "O'Brien", label: 'a%b_', score: 7, enabled: true, created: at('2020-02-02T02:02:02Z'), seen: null, tags: ['a'] },
  { id: 13, name: '😀smile', label: '\uffff', score: 8, enabled: false, created: at('2015-05-05T05:05:05Z'), seen: at('2015-05-05T05:05:05Z'), tags: ['b'] },
  { id: 14, name: 'ABC', label: 'abc', score: 9, enabled: true, created: at('2024-01-01T00:00:00Z'), seen: at('2024-01-01T00:00:00Z'), tags: ['c', 'a'] },
];

function toEntry(row: ItemRow): ItemEntry {
  return {
    ...row,
    name_upper: row.name === null ? null : row.name.toUpperCase(),
    meta: { label: row.label, score: row.score },
  };
}

/** Entries as filterList sees them: every row, in primary-key order. */
const ENTRIES = ROWS.map(toEntry);

type Case = { name: string; filters: unknown; options?: Record<string, unknown> };

const CASES: Case[] = [
  // Strings: equality, None rules, code-point order, membership, affixes.
  { name: 'string =', filters: [['name', '=', 'abc']] },
  { name: 'string != keeps nulls', filters: [['name', '!=', 'abc']] },
  { name: 'string = null', filters: [['name', '=', null]] },
  { name: 'string != null', filters: [['name', '!=', null]] },
  { name: 'string > by code point', filters: [['name', '>', 'b']] },
  { name: 'string < non-ASCII', filters: [['name', '<', 'é']] },
  { name: 'string >= astral above U+FFFF', filters: [['label', '>=', '\uffff']] },
  { name: 'string <= empty', filters: [['name', '<=', '']] },
  { name: 'string in with null', filters: [['name', 'in', ['abc', null, 'ABC']]] },
  { name: 'string in empty list', filters: [['name', 'in', []]] },
  { name: 'string nin with null', filters: [['name', 'nin', ['abc', null]]] },
  { name: 'string nin empty list', filters: [['name', 'nin', []]] },
  { name: 'string in a set (ejson $set)', filters: [['name', 'in', new Set(['abc', null])]] },
  { name: 'string nin a set (ejson $set)', filters: [['name', 'nin', new Set(['abc'])]] },
  { name: 'string in substring (memory)', filters: [['name', 'in', 'xabcx']] },
  { name: 'starts with', filters: [['name', '^', 'St']] },
  { name: 'not starts with', filters: [['name', '!^', 'St']] },
  { name: 'ends with', filters: [['name', '$', 'e']] },
  { name: 'not ends with', filters: [['name', '!$', 'e']] },
  { name: 'starts with empty', filters: [['name', '^', '']] },
  { name: 'ends with whole astral value', filters: [['name', '$', '😀smile']] },
  { name: 'starts with astral', filters: [['name', '^', '😀']] },
  { name: 'LIKE wildcards are literal', filters: [['label', '^', 'a%']] },
  { name: 'quote in value', filters: [['name', '=', "O'Brien"]] },
  // Case-insensitive operators, including characters that fold to ASCII.
  { name: 'C= folds ß', filters: [['name', 'C=', 'STRASSE']] },
  { name: 'C= folds ligature', filters: [['name', 'C=', 'FILE']] },
  { name: 'C= folds Kelvin sign', filters: [['label', 'C=', 'k']] },
  { name: 'C= folds label ß', filters: [['label', 'C=', 'SS']] },
  { name: 'C^ dotted capital I', filters: [['name', 'C^', 'i']] },
  { name: 'C$', filters: [['name', 'C$', 'LE']] },
  { name: 'C!= keeps nulls', filters: [['name', 'C!=', 'abc']] },
  { name: 'Cin', filters: [['name', 'Cin', ['ABC', 'kelvin']]] },
  { name: 'Cnin', filters: [['name', 'Cnin', ['abc']]] },
  { name: 'C< ASCII', filters: [['name', 'C<', 'b']] },
  { name: 'C!^', filters: [['name', 'C!^', 's']] },
  { name: 'C!$', filters: [['name', 'C!$', 'E']] },
  { name: 'C= non-ASCII value (memory)', filters: [['name', 'C=', 'ÉCOLE']] },
  { name: 'Crin on list (memory)', filters: [['tags', 'Crin', 'A']] },
  // Numbers and Python's bool-is-int.
  { name: 'number >', filters: [['score', '>', 4]] },
  { name: 'number <= 0', filters: [['score', '<=', 0]] },
  { name: 'number = null', filters: [['score', '=', null]] },
  { name: 'number != keeps nulls', filters: [['score', '!=', 5]] },
  { name: 'number in with null', filters: [['score', 'in', [5, null]]] },
  { name: 'number nin', filters: [['score', 'nin', [5, 1]]] },
  { name: 'number > fraction (memory)', filters: [['score', '>', 4.5]] },
  { name: 'number = True (memory)', filters: [['score', '=', true]] },
  { name: 'number = string (memory)', filters: [['score', '=', 'abc']] },
  { name: 'number > string raises', filters: [['score', '>', 'abc']] },
  // Booleans.
  { name: 'boolean = true', filters: [['enabled', '=', true]] },
  { name: 'boolean != true keeps nulls', filters: [['enabled', '!=', true]] },
  { name: 'boolean = null', filters: [['enabled', '=', null]] },
  { name: 'boolean in', filters: [['enabled', 'in', [false, null]]] },
  { name: 'boolean = 1 (memory)', filters: [['enabled', '=', 1]] },
  { name: 'boolean > false', filters: [['enabled', '>', false]] },
  // Timestamps in both storages.
  { name: '$date >', filters: [['created.$date', '>', '2024-01-01']] },
  { name: '$date <= with Z', filters: [['created.$date', '<=', '2024-01-01T00:00:00Z']] },
  { name: '$date = with milliseconds', filters: [['created.$date', '=', '2025-06-01T12:30:00.500Z']] },
  { name: '$date != keeps nulls', filters: [['created.$date', '!=', '2024-01-01T00:00:00+00:00']] },
  { name: 'native $date >= with offset', filters: [['seen.$date', '>=', '2024-06-01T02:00:00+02:00']] },
  { name: 'native $date < millisecond', filters: [['seen.$date', '<', '2024-01-01T00:00:00.001']] },
  { name: 'date = null', filters: [['created', '=', null]] },
  { name: 'date != null', filters: [['seen', '!=', null]] },
  { name: 'date compared with a string raises', filters: [['seen', '>', '2024']] },
  // JSON, computed and nested fields stay in memory.
  { name: 'json rin', filters: [['tags', 'rin', 'a']] },
  { name: 'json = null', filters: [['tags', '=', null]] },
  { name: 'json = list', filters: [['tags', '=', ['a']]] },
  { name: 'wildcard over json list', filters: [['tags.*', '=', 'b']] },
  { name: 'computed field', filters: [['name_upper', '^', 'ST']] },
  { name: 'nested field', filters: [['meta.score', '>', 3]] },
  { name: 'regex', filters: [['name', '~', '[a-z]']] },
  // OR groups, pushable or not.
  { name: 'OR pushed', filters: [['OR', [['name', '=', 'abc'], ['score', '>', 8]]]] },
  { name: 'OR with a regex branch', filters: [['OR', [['name', '~', 'S'], ['score', '=', 1]]]] },
  {
    name: 'OR of a conjunction and a condition',
    filters: [['OR', [[['enabled', '=', true], ['score', '>', 4]], ['name', '=', null]]]],
  },
  {
    name: 'nested OR three deep',
    filters: [['OR', [['OR', [['OR', [['id', '=', 1], ['id', '=', 2]]], ['id', '=', 3]]], ['label', '=', 'Z']]]],
  },
  {
    name: 'pushed and residual filters with memory order and limit',
    filters: [['enabled', '=', true], ['name', '~', '[A-Z]']],
    options: { order_by: ['-score'], limit: 2 },
  },
  // Ordering: SQL where the column allows, memory otherwise, and TrueNAS's null rule.
  { name: 'order by label (code points)', filters: [], options: { order_by: ['label'] } },
  { name: 'order by -label then id', filters: [], options: { order_by: ['-label', 'id'] } },
  { name: 'order nulls first', filters: [], options: { order_by: ['nulls_first:score'] } },
  { name: 'order nulls last descending then label', filters: [], options: { order_by: ['nulls_last:-score', 'label'] } },
  { name: 'order nullable without prefix raises', filters: [], options: { order_by: ['name'] } },
  { name: 'order nullable without nulls present', filters: [['name', '!=', null]], options: { order_by: ['name'] } },
  { name: 'order by dates, nulls last', filters: [], options: { order_by: ['nulls_last:created'] } },
  { name: 'order by native dates descending', filters: [], options: { order_by: ['nulls_first:-seen'] } },
  { name: 'order by boolean', filters: [], options: { order_by: ['nulls_first:enabled'] } },
  { name: 'order by computed', filters: [], options: { order_by: ['nulls_last:name_upper'] } },
  { name: 'SQL order prefix then memory key', filters: [], options: { order_by: ['label', 'nulls_first:meta.score'] } },
  // Pagination, count, get, select.
  { name: 'offset and limit', filters: [], options: { order_by: ['label'], offset: 2, limit: 3 } },
  { name: 'offset only', filters: [['score', '>', 0]], options: { offset: 3 } },
  { name: 'negative offset', filters: [], options: { offset: -2 } },
  { name: 'negative limit', filters: [['enabled', '=', true]], options: { limit: -1 } },
  { name: 'limit with residual filter', filters: [['name', '~', '[a-z]']], options: { limit: 2, offset: 1 } },
  { name: 'count', filters: [['enabled', '=', false]], options: { count: true } },
  { name: 'count with residual filter', filters: [['name_upper', '$', 'E']], options: { count: true } },
  { name: 'count ignores order', filters: [], options: { count: true, order_by: ['name'] } },
  { name: 'get first by order', filters: [], options: { get: true, order_by: ['-label'] } },
  { name: 'get first match', filters: [['score', '>', 5]], options: { get: true } },
  { name: 'get with count returns the match', filters: [['score', '>', 5]], options: { get: true, count: true } },
  { name: 'get without match', filters: [['score', '>', 500]], options: { get: true } },
  { name: 'select with alias and nested', filters: [['id', '<', 4]], options: { select: ['id', ['name', 'n'], 'meta.score'] } },
  // Values SQL would treat differently stay in memory.
  { name: 'string longer than the column', filters: [['name', '=', 'x'.repeat(100)], ['label', '^', 'y'.repeat(100)]] },
  { name: 'string with NUL', filters: [['name', '!=', 'a\0b']] },
  { name: 'lone surrogate', filters: [['name', '<', '\ud83d']] },
  { name: 'integer beyond the column type', filters: [['score', '<', 10_000_000_000], ['id', 'nin', [2 ** 40]]] },
  // Invalid input fails the same way.
  { name: 'unknown operator', filters: [['name', 'like', 'a']] },
  { name: 'get with limit', filters: [], options: { get: true, limit: 2 } },
  { name: 'filters not a list', filters: 'name' },
];

/** mulberry32: a small seeded generator, so every run checks the same queries. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TEXTS = ['Straße', 'STRASSE', 'école', 'ÉCOLE', '', 'k', 'FILE', 'İ', 'abc', 'ABC', 'a%', 'b', 'z', '😀', '\uffff'];
/** Operators and values that make sense for each field, so most queries return data. */
const TYPED: Record<string, { ops: string[]; values: unknown[] }> = {
  id: { ops: ['=', '!=', '>', '<=', 'in', 'nin'], values: [1, 7, 14, [2, 3], [], [null, 9]] },
  score: { ops: ['=', '!=', '>', '>=', '<', 'in', 'nin'], values: [0, 1, 5, -7, null, [5, null], [100]] },
  enabled: { ops: ['=', '!=', 'in', 'nin'], values: [true, false, null, [true], [false, null]] },
  name: {
    ops: ['=', '!=', '<', '>=', 'in', 'nin', '^', '!^', '$', '!$', 'C=', 'C!=', 'C^', 'C$', 'C!^', 'C<', 'Cin', '~'],
    values: [...TEXTS, 'st', 'S', 'e', 'fi', 'LE'],
  },
  label: { ops: ['=', '>', '<=', '^', '$', 'C=', 'C>='], values: [...TEXTS, 'a', 'SS'] },
  name_upper: { ops: ['=', '^', 'C='], values: ['ABC', 'ST', 'É'] },
  'meta.score': { ops: ['>', '<'], values: [0, 5] },
  'created.$date': { ops: ['=', '!=', '>', '<='], values: ['2024-01-01', '2024-01-01T00:00:00.001Z'] },
  'seen.$date': { ops: ['>=', '<', '!='], values: ['2024-01-01T01:00:00+01:00', '2015-05-05T05:05:05Z'] },
};
const ORDER_FIELDS = ['id', 'label', 'score', 'enabled', 'created', 'seen', 'name', 'name_upper', 'meta.score'];
const ORDER_PREFIXES = ['', '-', 'nulls_first:', 'nulls_last:-'];

/** Well-typed random queries: conditions, OR groups, ordering, pagination, count, get, select. */
function randomCases(count: number, seed: number): Case[] {
  const next = random(seed);
  const pick = <T,>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
  const condition = (): unknown[] => {
    const field = pick(Object.keys(TYPED));
    const { ops, values } = TYPED[field] as { ops: string[]; values: unknown[] };
    const op = pick(ops);
    const value = pick(values);
    const listOp = op === 'in' || op === 'nin' || op === 'Cin';
    if (listOp) return [field, op, Array.isArray(value) ? value : [value]];
    return [field, op, Array.isArray(value) ? (value[0] ?? null) : value];
  };
  const filter = (): unknown[] =>
    next() < 0.2 ? ['OR', [condition(), [condition(), condition()]]] : condition();
  return Array.from({ length: count }, (_, index) => {
    const options: Record<string, unknown> = {};
    if (next() < 0.6) options.order_by = [pick(ORDER_PREFIXES) + pick(ORDER_FIELDS), pick(ORDER_PREFIXES) + pick(ORDER_FIELDS)];
    if (next() < 0.3) options.offset = pick([1, 3, -2]);
    if (next() < 0.3) options.limit = pick([1, 4, -1]);
    if (next() < 0.1) Object.assign(options, { get: true, offset: 0, limit: 0 });
    if (next() < 0.1) options.count = true;
    if (next() < 0.2) options.select = ['id'];
    return { name: `random query ${index}`, filters: Array.from({ length: Math.floor(next() * 3) }, filter), options };
  });
}

interface Outcome {
  result?: unknown;
  error?: { type: string; reason: string };
}

/** The result or the (expected) error; anything else fails the test. */
async function outcome(run: () => unknown): Promise<Outcome> {
  try {
    return { result: await run() };
  } catch (error) {
    if (!(error instanceof CallError) && !(error instanceof ValidationErrors)) throw error;
    return { error: { type: error.name, reason: error.reason } };
  }
}

interface Backend {
  dataSource: DataSource;
  spec: SqlQuerySpec<ItemRow, ItemEntry>;
  /** Rows turned into entries since the last reset, to see what SQL let through. */
  converted: number[];
}

function specFor(dataSource: DataSource, entity: EntitySchema<ItemRow>, converted: number[]): SqlQuerySpec<ItemRow, ItemEntry> {
  return {
    dataSource,
    entity,
    columns: {
      id: { column: 'id', kind: 'number' },
      name: { column: 'name', kind: 'string' },
      label: { column: 'label', kind: 'string' },
      score: { column: 'score', kind: 'number' },
      enabled: { column: 'enabled', kind: 'boolean' },
      created: { column: 'created', kind: 'date' },
      seen: { column: 'seen', kind: 'date' },
      tags: { column: 'tags', kind: 'json' },
    },
    toEntry: (row) => {
      converted.push(row.id);
      return toEntry(row);
    },
  };
}

async function openBackend(options: { postgres: boolean; tableName: string; connection: object }): Promise<Backend> {
  const entity = itemEntity(options.tableName, options.postgres);
  const dataSource = new DataSource({ ...options.connection, entities: [entity], synchronize: true } as never);
  await dataSource.initialize();
  await dataSource.getRepository(entity).insert(ROWS);
  const converted: number[] = [];
  return { dataSource, spec: specFor(dataSource, entity, converted), converted };
}

function defineBattery(name: string, enabled: boolean, open: () => Promise<Backend>, close: (backend: Backend) => Promise<void>) {
  describe.runIf(enabled)(`runQuery on ${name}`, () => {
    let backend: Backend;
    beforeAll(async () => {
      backend = await open();
    });
    afterAll(async () => {
      if (backend) await close(backend);
    });

    it('stores and reads back every row unchanged', async () => {
      expect(await runQuery(backend.spec)).toEqual(ENTRIES);
    });

    it.each(CASES)('$name gives what filterList gives', async ({ filters, options }) => {
      const expected = await outcome(() => filterList(ENTRIES, filters, options));
      expect(await outcome(() => runQuery(backend.spec, filters, options))).toEqual(expected);
    });

    it('agrees with filterList on 400 random queries', async () => {
      for (const { name: label, filters, options } of randomCases(400, 20_240_101)) {
        const expected = await outcome(() => filterList(ENTRIES, filters, options));
        const actual = await outcome(() => runQuery(backend.spec, filters, options));
        // A filter that raises on some rows only raises if such a row passes the pushed filters.
        if (expected.error && !actual.error) continue;
        expect({ label, ...actual }).toEqual({ label, ...expected });
      }
    });

    it('returns [] where filterList fails only on rows that SQL excluded', async () => {
      const filters = [['score', 'C=', 'x'], ['id', '=', 0]];
      expect(() => filterList(ENTRIES, filters)).toThrow(CallError);
      expect(await runQuery(backend.spec, filters)).toEqual([]);
    });

    it('pushes pushable filters into WHERE with bound parameters', () => {
      const plan = explainQuery(backend.spec, [['name', '=', "O'Brien"], ['score', '>', 4], ['name', 'C^', 'ST']]);
      expect(plan).toMatchObject({ pushedFilters: 3, residualFilters: 0 });
      expect(plan.sql).toMatch(/WHERE/);
      expect(plan.sql).not.toContain('Brien');
      expect(plan.parameters).toContain("O'Brien");
    });

    it('reads only the matching rows when every filter is pushed', async () => {
      backend.converted.length = 0;
      await runQuery(backend.spec, [['OR', [['name', 'C=', 'strasse'], ['score', '>=', 10]]]]);
      expect(backend.converted).toEqual([1, 2, 9, 11]);
    });

    it('evaluates the rest in memory on what SQL returned', async () => {
      const plan = explainQuery(backend.spec, [['enabled', '=', true], ['name', '~', 'A']]);
      expect(plan).toMatchObject({ pushedFilters: 1, residualFilters: 1, sqlPaging: false });
      backend.converted.length = 0;
      expect(await runQuery(backend.spec, [['enabled', '=', true], ['name', '~', 'A']], { select: ['id'] })).toEqual([
        { id: 14 },
      ]);
      expect(backend.converted).toEqual([1, 4, 6, 8, 11, 12, 14]);
    });

    it('keeps values SQL would compare differently in memory', () => {
      for (const filter of [
        ['score', '=', true],
        ['score', '>', 1.5],
        ['name', 'C=', 'ÉCOLE'],
        ['tags', '=', null],
        ['meta.score', '=', 1],
        ['name', 'rin', 'a'],
      ]) {
        expect(explainQuery(backend.spec, [filter]).residualFilters).toBe(1);
      }
    });

    it('counts, orders and paginates in SQL when nothing is left for memory', () => {
      expect(explainQuery(backend.spec, [['enabled', '=', true]], { count: true }).sqlCount).toBe(true);
      const paged = explainQuery(backend.spec, [], { order_by: ['nulls_last:score', '-label'], offset: 1, limit: 2 });
      expect(paged).toMatchObject({ sqlOrder: ['nulls_last:score', '-label'], memoryOrder: [], sqlPaging: true });
      expect(paged.sql).toMatch(/ORDER BY .*label.* DESC.*score.* NULLS LAST/s);
      expect(paged.sql).toMatch(/LIMIT/);
    });

    it('orders in memory where SQL cannot reproduce TrueNAS', () => {
      const plan = explainQuery(backend.spec, [['name', '~', 'a']], { order_by: ['label', 'name'], limit: 1 });
      expect(plan).toMatchObject({ sqlOrder: ['label'], memoryOrder: ['name'], sqlPaging: false });
    });

    it('answers thousands of conditions as filterList does, giving SQL a bounded part', async () => {
      const many = Array.from({ length: 4000 }, (_, i) => ['name', i % 2 ? 'C!=' : '!^', `x${i}`]);
      const disjunction = [['OR', Array.from({ length: 4000 }, (_, i) => ['label', '=', `y${i}`])]];
      const lists = Array.from({ length: 30 }, () => ['id', 'in', Array.from({ length: 1000 }, (_, i) => i)]);
      for (const filters of [many, disjunction, lists, [...many, ['score', '>', 4]]]) {
        const expected = await outcome(() => filterList(ENTRIES, filters, { order_by: ['-id'] }));
        expect(await outcome(() => runQuery(backend.spec, filters, { order_by: ['-id'] }))).toEqual(expected);
      }
      expect(explainQuery(backend.spec, many)).toMatchObject({ pushedFilters: 100, residualFilters: 3900 });
      expect(explainQuery(backend.spec, disjunction)).toMatchObject({ pushedFilters: 0, residualFilters: 1 });
      const plan = explainQuery(backend.spec, lists);
      expect(plan).toMatchObject({ pushedFilters: 5, residualFilters: 25 });
      expect(plan.parameters.length).toBeLessThanOrEqual(5000);
    });

    it('locates a field of a path with thousands of segments without trying every prefix', () => {
      const path = `name${'.x'.repeat(30_000)}`;
      // Joining every prefix of this path takes many seconds; the budget of one evaluation is 2.
      const started = performance.now();
      expect(explainQuery(backend.spec, [[path, '=', 1], [`meta${'.*'.repeat(30_000)}`, '=', 1]])).toMatchObject({ residualFilters: 2 });
      expect(explainQuery(backend.spec, [], { order_by: [path] }).memoryOrder).toEqual([path]);
      expect(performance.now() - started).toBeLessThan(2000);
    });

    it('applies baseWhere to every query', async () => {
      const spec = { ...backend.spec, baseWhere: { enabled: true } };
      const filters = [['score', '>', 4]];
      expect(await runQuery(spec, filters, { count: true })).toBe(
        filterList(ENTRIES, [...filters, ['enabled', '=', true]], { count: true }),
      );
    });

    it('returns one instance by id', async () => {
      expect(await getInstance(backend.spec, 4, 'Item 4 does not exist')).toEqual(ENTRIES[3]);
    });

    it('reports a missing instance with the caller’s text', async () => {
      const failure = getInstance(backend.spec, 99, 'Item 99 does not exist');
      await expect(failure).rejects.toBeInstanceOf(InstanceNotFoundError);
      await expect(failure).rejects.toMatchObject({ errors: [[null, 'Item 99 does not exist', 2]] });
    });
  });
}

describe('ASCII_BEARING_FOLDS', () => {
  it('lists every non-ASCII character whose case folding contains ASCII', () => {
    const found: string[] = [];
    for (let code = 0x80; code <= 0x10ffff; code++) {
      if (code >= 0xd800 && code <= 0xdfff) continue;
      const char = String.fromCodePoint(code);
      if (/[\x00-\x7f]/.test(casefoldString(char))) found.push(char);
    }
    expect(ASCII_BEARING_FOLDS.map(([char]) => char)).toEqual(found);
  });
});

const sqliteDir = mkdtempSync(join(tmpdir(), 'certmid-query-'));
defineBattery(
  'SQLite',
  true,
  () =>
    openBackend({
      postgres: false,
      tableName: 'query_test_item',
      connection: { type: 'better-sqlite3', database: join(sqliteDir, 'query.sqlite') },
    }),
  async (backend) => {
    await backend.dataSource.destroy();
    rmSync(sqliteDir, { recursive: true, force: true });
  },
);

/** The `test` database on the test server; each run uses its own table and drops it. */
const postgresTestUrl = Object.assign(new URL(POSTGRES_URL), { pathname: '/test' }).toString();
const postgresTable = `query_test_${randomBytes(6).toString('hex')}`;
defineBattery(
  'PostgreSQL',
  await postgresAvailable(),
  () => openBackend({ postgres: true, tableName: postgresTable, connection: { type: 'postgres', url: postgresTestUrl } }),
  async (backend) => {
    await backend.dataSource.query(`DROP TABLE IF EXISTS "${postgresTable}"`);
    await backend.dataSource.destroy();
  },
);
