import { z } from 'zod';

/**
 * Bounds on option lists: each `order_by` key sorts every matching entry again and each `select`
 * key is read from every entry, so a long list from one message would cost minutes.
 */
export const MAX_ORDER_BY_KEYS = 100;
export const MAX_SELECT_KEYS = 1000;

/**
 * The `filters` argument of every `<namespace>.query`. Only the outer list is checked here: each
 * condition is validated by `compileQuery` so that errors carry TrueNAS's texts.
 */
export const QueryFilters = z
  .array(
    z
      .unknown()
      .describe(
        'A condition `[field, operator, value]` or a disjunction `["OR", [branch, ...]]`, ' +
          'where a branch is a condition or a list of conditions that must all hold.',
      ),
  )
  .default(() => [])
  .describe(
    'Conditions an entry must all satisfy. `field` is a dot path (`signedby.id`; `\\.` ' +
      'escapes a dot, a number indexes a list, `*` matches any list element). Operators: `=`, ' +
      '`!=`, `>`, `>=`, `<`, `<=`, `~` (Python regular expression matched at the start, run by ' +
      'RE2: no backreferences or lookaround), `in`, `nin`, `rin`, `rnin`, `^` (starts with), `!^`, `$` (ends with), `!$`; prefix `C` for ' +
      'case-insensitive (`C=`, `C^`, ...). A field ending in `.$date` compares a timestamp ' +
      'with an ISO-8601 string.',
  );
export type QueryFilters = z.infer<typeof QueryFilters>;

/** The `options` argument of every `<namespace>.query`, with TrueNAS's defaults. */
export const QueryOptions = z
  .strictObject({
    relationships: z
      .boolean()
      .default(true)
      .describe('Resolve related entries. Accepted for compatibility; entries include them.'),
    extend: z
      .string()
      .nullable()
      .default(null)
      .describe('Internal TrueNAS option naming a method that extends each entry. Ignored.'),
    extend_context: z
      .string()
      .nullable()
      .default(null)
      .describe('Internal TrueNAS option naming a method that builds `extend` context. Ignored.'),
    prefix: z
      .string()
      .nullable()
      .default(null)
      .describe('Internal TrueNAS option naming a column prefix to strip. Ignored.'),
    extra: z
      .record(z.string(), z.unknown())
      .default(() => ({}))
      .describe('Method-specific options; each query method documents the keys it reads.'),
    order_by: z
      .array(
        z
          .string()
          .describe(
            'A field path, optionally prefixed by `-` (descending) and by `nulls_first:` or ' +
              '`nulls_last:`.',
          ),
      )
      .max(MAX_ORDER_BY_KEYS)
      .default(() => [])
      .describe(
        'Sort keys, applied one after another as stable sorts (so the last key is the most ' +
          'significant). Sorting a field that holds null fails unless it has a `nulls_first:` or ' +
          `\`nulls_last:\` prefix. At most ${MAX_ORDER_BY_KEYS} keys.`,
      ),
    select: z
      .array(
        z
          .union([
            z.string().describe('A field path; nested paths return nested objects.'),
            z
              .tuple([
                z.string().describe('The field path to read.'),
                z.string().describe('The key under which to return it.'),
              ])
              .describe('A `[field, alias]` pair, like SQL `SELECT field AS alias`.'),
          ])
          .describe('One field to return.'),
      )
      .max(MAX_SELECT_KEYS)
      .default(() => [])
      .describe(`Return only these fields of each entry. Missing fields are left out. At most ${MAX_SELECT_KEYS} fields.`),
    count: z
      .boolean()
      .default(false)
      .describe('Return the number of matching entries instead of the entries.'),
    get: z
      .boolean()
      .default(false)
      .describe('Return the first matching entry instead of a list; fails when nothing matches.'),
    offset: z
      .number()
      .int()
      .default(0)
      .describe('Skip this many entries (after ordering). Use with `limit` to paginate.'),
    limit: z
      .number()
      .int()
      .default(0)
      .describe('Return at most this many entries (at most 10000); 0 means no limit.'),
    force_sql_filters: z
      .boolean()
      .default(false)
      .describe('Accepted for compatibility; filters always run in SQL where they can.'),
  })
  .prefault({})
  .describe('How to shape the result: ordering, pagination, projection, count or single entry.');
export type QueryOptions = z.infer<typeof QueryOptions>;
