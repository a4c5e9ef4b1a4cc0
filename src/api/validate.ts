import { z } from 'zod';
import { ValidationErrors } from '../errors/validation-errors.js';
import { pyRepr } from '../query/python.js';

/**
 * How a method words argument errors. TrueNAS 25.04 validates some namespaces with its legacy
 * schema layer (`middlewared.schema`: certificate, certificateauthority) and the rest with pydantic
 * models (acme.dns.authenticator, …); each says things its own way, and clients match on
 * the text.
 *
 * - `legacy` (the default): "attribute required", "Field was not expected", "Not a string", …;
 *   attribute `<param>.<field>`.
 * - `pydantic`: "Field required", "Extra inputs are not permitted", "Input should be a valid
 *   string", …; attribute pydantic's dotted `loc`, which names the member of a discriminated union
 *   by its tag (`dns_authenticator_create.attributes.route53.access_key_id`).
 *
 * Either way a schema that sets its own message keeps it.
 */
export type ValidationStyle = 'legacy' | 'pydantic';

/**
 * Zod issues phrased as TrueNAS's schema layer phrases them, so existing clients and scripts that
 * match on message text keep working. A schema that sets its own message keeps it.
 */
function truenasMessage(issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'attribute required';
      if (issue.input === null) return 'null not allowed';
      return TYPE_MESSAGES[issue.expected] ?? `Expected ${issue.expected}`;
    case 'invalid_value':
      // An enum reports a missing or null value as a bad choice; TrueNAS does not.
      if (issue.input === undefined) return 'attribute required';
      if (issue.input === null) return 'null not allowed';
      return `Invalid choice: ${describeValue(issue.input)}`;
    case 'too_big':
      if (issue.origin === 'string') return `The value may not be longer than ${issue.maximum} characters`;
      if (issue.origin === 'array') return `Should contain at most ${issue.maximum} items`;
      return `Should be ${issue.inclusive === false ? 'less than' : 'less than or equal to'} ${issue.maximum}`;
    case 'too_small':
      if (issue.origin === 'string') return issue.minimum === 1 ? 'Empty value not allowed' : `The value must be at least ${issue.minimum} characters long`;
      if (issue.origin === 'array') return `Should contain at least ${issue.minimum} items`;
      return `Should be ${issue.inclusive === false ? 'greater than' : 'greater than or equal to'} ${issue.minimum}`;
    case 'unrecognized_keys':
      return 'Field was not expected';
    case 'invalid_union':
      if (issue.discriminator && issue.options) return `Invalid choice: expected one of ${(issue.options as unknown[]).map(String).join(', ')}`;
      return 'Value does not match any of the accepted forms';
    default:
      return undefined;
  }
}

const TYPE_MESSAGES: Record<string, string> = {
  string: 'Not a string',
  number: 'Not a number',
  int: 'Not an integer',
  boolean: 'Not a boolean',
  array: 'Not a list',
  tuple: 'Not a list',
  object: 'A dict was expected',
  record: 'A dict was expected',
  date: 'Not a date',
};

function describeValue(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value) ?? String(value);
}

z.config({ customError: truenasMessage });

// ---------------------------------------------------------------------------------------------
// pydantic wording

/** Integer formats of `z.int()` and friends, which report a non-number as `expected: 'number'`. */
const INTEGER_FORMATS = new Set(['safeint', 'int32', 'uint32', 'int64', 'uint64']);

const PYDANTIC_TYPE_MESSAGES: Record<string, string> = {
  string: 'Input should be a valid string',
  number: 'Input should be a valid number',
  int: 'Input should be a valid integer',
  bigint: 'Input should be a valid integer',
  boolean: 'Input should be a valid boolean',
  array: 'Input should be a valid list',
  tuple: 'Input should be a valid list',
  set: 'Input should be a valid set',
  object: 'Input should be a valid dictionary',
  record: 'Input should be a valid dictionary',
  map: 'Input should be a valid dictionary',
  null: 'Input should be None',
  date: 'Input should be a valid datetime',
};

/** `'a'`, `'a' or 'b'`, `'a', 'b' or 'c'`: pydantic's list of expected literals. */
function orList(values: readonly unknown[]): string {
  const shown = values.map(pyRepr);
  return shown.length <= 1 ? (shown[0] ?? '') : `${shown.slice(0, -1).join(', ')} or ${shown.at(-1)}`;
}

const plural = (count: number | bigint, word: string) => `${String(count)} ${word}${Number(count) === 1 ? '' : 's'}`;

/** A regular expression as pydantic shows its `pattern` (the source, no slashes). */
function patternSource(pattern: unknown): string {
  if (pattern instanceof RegExp) return pattern.source;
  return /^\/(.*)\/[a-z]*$/s.exec(String(pattern))?.[1] ?? String(pattern);
}

/** `z.int()`, `z.number().int()` and bigints: pydantic's `int`. */
function isIntegerSchema(inst: unknown): boolean {
  type Def = { type?: string; format?: string; check?: string; checks?: Array<{ _zod: { def: Def } }> };
  const def = (inst as { _zod?: { def?: Def } } | undefined)?._zod?.def;
  if (def?.type === 'bigint') return true;
  if (def?.type !== 'number') return false;
  return INTEGER_FORMATS.has(def.format ?? '') || (def.checks ?? []).some(({ _zod }) => _zod.def.check === 'number_format' && INTEGER_FORMATS.has(_zod.def.format ?? ''));
}

/**
 * Zod issues phrased as pydantic 2 phrases its errors (`msg` of `ValidationError.errors()`). The
 * discriminated-union issue gets its wording and place in `addPydanticIssues`, which has the input.
 */
function pydanticMessage(issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'Field required';
      if (issue.expected === 'number' && isIntegerSchema(issue.inst)) return PYDANTIC_TYPE_MESSAGES.int;
      return PYDANTIC_TYPE_MESSAGES[issue.expected] ?? `Input should be a valid ${issue.expected}`;
    case 'invalid_value':
      if (issue.input === undefined) return 'Field required';
      return `Input should be ${orList(issue.values)}`;
    case 'too_small': {
      const length = (issue.input as { length?: number } | undefined)?.length ?? 0;
      if (issue.origin === 'string') return `String should have at least ${plural(issue.minimum, 'character')}`;
      if (issue.origin === 'array' || issue.origin === 'set') return `List should have at least ${plural(issue.minimum, 'item')} after validation, not ${length}`;
      return `Input should be greater than ${issue.inclusive === false ? '' : 'or equal to '}${String(issue.minimum)}`;
    }
    case 'too_big': {
      const length = (issue.input as { length?: number } | undefined)?.length ?? 0;
      if (issue.origin === 'string') return `String should have at most ${plural(issue.maximum, 'character')}`;
      if (issue.origin === 'array' || issue.origin === 'set') return `List should have at most ${plural(issue.maximum, 'item')} after validation, not ${length}`;
      return `Input should be less than ${issue.inclusive === false ? '' : 'or equal to '}${String(issue.maximum)}`;
    }
    case 'not_multiple_of':
      return `Input should be a multiple of ${String(issue.divisor)}`;
    case 'invalid_format':
      if (issue.format === 'regex' && issue.pattern) return `String should match pattern '${patternSource(issue.pattern)}'`;
      return `Input should be a valid ${issue.format === 'url' ? 'URL' : issue.format}`;
    case 'unrecognized_keys':
      return 'Extra inputs are not permitted';
    case 'invalid_union':
      // Worded with the input in hand by addPydanticIssues; this is only a fallback.
      return 'Input does not match any of the accepted forms';
    default:
      return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Attribute paths

/** Joins a parameter name and a zod path into TrueNAS's dotted attribute (`certificate_create.san.0`). */
export function attributePath(root: string, path: readonly PropertyKey[]): string {
  return [root, ...path.map(String)].filter((part) => part !== '').join('.');
}

/** Adds every zod issue to `errors`, rooted at `root`, worded as the legacy schema layer words them. Unknown keys become one error each. */
export function addZodIssues(errors: ValidationErrors, root: string, issues: readonly z.core.$ZodIssue[]): void {
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) errors.add(attributePath(root, [...issue.path, key]), issue.message);
    } else if (issue.code === 'invalid_union' && issue.errors.length > 0 && !issue.discriminator) {
      // Report the branch that came closest: the one with the fewest problems.
      const closest = closestBranch(issue.errors);
      addZodIssues(errors, root, closest);
    } else {
      errors.add(attributePath(root, issue.path), issue.message);
    }
  }
}

function closestBranch(branches: readonly (readonly z.core.$ZodIssue[])[]): readonly z.core.$ZodIssue[] {
  return [...branches].sort((a, b) => a.length - b.length)[0] ?? [];
}

type Def = { type: string } & Record<string, unknown>;
const defOf = (schema: unknown): Def | undefined => (schema as { _zod?: { def?: Def } } | undefined)?._zod?.def;

/** The schema under wrappers that do not change the value's shape (optional, default, pipe, …). */
function unwrap(schema: z.core.$ZodType | undefined): z.core.$ZodType | undefined {
  for (let depth = 0; schema && depth < 32; depth++) {
    const def = defOf(schema)!;
    if (['optional', 'nullable', 'default', 'prefault', 'nonoptional', 'readonly', 'catch', 'success'].includes(def.type)) {
      schema = def.innerType as z.core.$ZodType;
    } else if (def.type === 'pipe') {
      schema = def.in as z.core.$ZodType;
    } else if (def.type === 'lazy') {
      schema = (def.getter as () => z.core.$ZodType)();
    } else {
      return schema;
    }
  }
  return schema;
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The member of discriminated union `union` that `value`'s tag selects, or undefined. */
function taggedMember(union: Def, value: unknown): z.core.$ZodType | undefined {
  const discriminator = union.discriminator as string;
  if (!isRecord(value) || !(discriminator in value)) return undefined;
  const tag = value[discriminator];
  return (union.options as z.core.$ZodType[]).find((option) => {
    const values = (unwrap(option) as { _zod: { propValues?: Record<string, Set<unknown>> } } | undefined)?._zod.propValues?.[discriminator];
    return values?.has(tag as never) ?? false;
  });
}

/**
 * pydantic's `loc` for a zod path: the same keys, with the tag of every discriminated union on the
 * way inserted after the union's own key (`attributes.route53.access_key_id`). Also returns the
 * input found at the end of the path.
 */
function pydanticLoc(schema: z.core.$ZodType, input: unknown, path: readonly PropertyKey[]): { loc: PropertyKey[]; value: unknown } {
  const loc: PropertyKey[] = [];
  let current: z.core.$ZodType | undefined = schema;
  let value = input;
  let index = 0;
  for (let steps = 0; steps < 256; steps++) {
    current = unwrap(current);
    const def = defOf(current);
    if (def?.type === 'union' && typeof def.discriminator === 'string') {
      const member = taggedMember(def, value);
      if (!member) break;
      loc.push(String((value as Record<string, unknown>)[def.discriminator]));
      current = member;
      continue;
    }
    if (index >= path.length) break;
    const key = path[index++]!;
    loc.push(key);
    value = (isRecord(value) || Array.isArray(value)) && Object.hasOwn(value, key) ? (value as Record<PropertyKey, unknown>)[key] : undefined;
    switch (def?.type) {
      case 'object':
        // Own keys only: `constructor` or `__proto__` must not find Object.prototype's members.
        current = Object.hasOwn(def.shape as object, key) ? (def.shape as Record<PropertyKey, z.core.$ZodType>)[key] : (def.catchall as z.core.$ZodType | undefined);
        break;
      case 'array':
        current = def.element as z.core.$ZodType;
        break;
      case 'tuple':
        current = (def.items as z.core.$ZodType[])[Number(key)] ?? (def.rest as z.core.$ZodType | undefined);
        break;
      case 'record':
        current = def.valueType as z.core.$ZodType;
        break;
      default:
        current = undefined;
    }
  }
  return { loc: [...loc, ...path.slice(index)], value };
}

/**
 * Adds every zod issue of parsing `input` with `schema` to `errors`, rooted at `root`, as pydantic
 * reports them: one error per unknown key, a discriminated union's member named by its tag, a
 * missing tag as "Field required" on the discriminator and an unknown one as pydantic's
 * `union_tag_invalid` on the union.
 */
export function addPydanticIssues(
  errors: ValidationErrors,
  root: string,
  schema: z.core.$ZodType,
  input: unknown,
  issues: readonly z.core.$ZodIssue[],
): void {
  const at = (path: readonly PropertyKey[]) => pydanticLoc(schema, input, path);
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) errors.add(attributePath(root, at([...issue.path, key]).loc), issue.message);
    } else if (issue.code === 'invalid_union' && issue.discriminator) {
      // zod's path ends with the discriminator; pydantic's names the union, or the missing tag.
      const { loc, value } = at(issue.path.slice(0, -1));
      const tag = isRecord(value) ? value[issue.discriminator] : undefined;
      if (tag === undefined) {
        errors.add(attributePath(root, [...loc, issue.discriminator]), 'Field required');
      } else {
        const expected = (((issue as { options?: unknown[] }).options) ?? []).map(pyRepr).join(', ');
        errors.add(
          attributePath(root, loc),
          `Input tag '${tag === null ? 'None' : String(tag)}' found using ${pyRepr(issue.discriminator)} does not match any of the expected tags: ${expected}`,
        );
      }
    } else if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      addPydanticIssues(errors, root, schema, input, closestBranch(issue.errors));
    } else {
      errors.add(attributePath(root, at(issue.path).loc), issue.message);
    }
  }
}

/** Parses `value` with `schema`, wording any issue in `style`. */
export function safeParseIn<S extends z.ZodType>(schema: S, value: unknown, style: ValidationStyle = 'legacy') {
  return style === 'pydantic' ? schema.safeParse(value, { error: pydanticMessage }) : schema.safeParse(value);
}

/** Adds the issues of a failed `safeParseIn` to `errors`, rooted at `root`, in `style`. */
export function addIssues(
  errors: ValidationErrors,
  root: string,
  schema: z.ZodType,
  value: unknown,
  issues: readonly z.core.$ZodIssue[],
  style: ValidationStyle = 'legacy',
): void {
  if (style === 'pydantic') addPydanticIssues(errors, root, schema, value, issues);
  else addZodIssues(errors, root, issues);
}

/** Parses one value against a schema, throwing ValidationErrors rooted at `root` on failure. */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, root: string, style: ValidationStyle = 'legacy'): z.output<S> {
  const parsed = safeParseIn(schema, value, style);
  if (parsed.success) return parsed.data;
  const errors = new ValidationErrors();
  addIssues(errors, root, schema, value, parsed.error.issues, style);
  throw errors;
}
