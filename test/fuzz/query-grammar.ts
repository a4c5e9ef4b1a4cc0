/** A grammar of TrueNAS's query language (filters and options) with mistakes mixed in, for the fuzz suite. */
import fc from 'fast-check';

/** Fields of the rows the in-memory test uses and columns the API stores (so that filters reach SQL too). */
const FIELDS = [
  'id', 'name', 'san', 'san.0', 'san.*', 'nested.deep.value', 'list.*.x', 'list.1.x', 'created.$date', 'x\\.y', 'flag', 'none', 'missing', '', '.', '*', '-name', 'nulls_last:name',
  'username', 'full_name', 'locked', 'roles', 'roles.0', 'created_at', 'created_at.$date', 'expires_at', 'expires_at.$date', 'revoked', 'key_length', 'key_type', 'signedby', 'signedby.id',
  'common', 'not_after', 'not_before.$date', 'expired', 'serial', 'cert_type', 'attributes.authenticator', 'builtin', 'uid', 'digest_algorithm', 'lifetime',
];
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
export const queryFilters = fc.letrec<{ list: unknown[]; filter: unknown; branch: unknown }>((tie) => ({
  list: fc.array(tie('filter'), { maxLength: 4 }),
  filter: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    condition,
    fc.tuple(fc.constantFrom<unknown>('OR', 'AND', 'or', null), fc.array(tie('branch'), { maxLength: 3 })),
    fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 5 })),
  ),
  branch: fc.oneof(condition, tie('list'), fc.constantFrom<unknown>([], null, 'x')),
})).list;

export const queryOptions = fc.oneof(
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

