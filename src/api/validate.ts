import { z } from 'zod';
import { ValidationErrors } from '../errors/validation-errors.js';

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

/** Joins a parameter name and a zod path into TrueNAS's dotted attribute (`certificate_create.san.0`). */
export function attributePath(root: string, path: readonly PropertyKey[]): string {
  return [root, ...path.map(String)].filter((part) => part !== '').join('.');
}

/** Adds every zod issue to `errors`, rooted at `root`. Unknown keys become one error each. */
export function addZodIssues(errors: ValidationErrors, root: string, issues: readonly z.core.$ZodIssue[]): void {
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) errors.add(attributePath(root, [...issue.path, key]), issue.message);
    } else if (issue.code === 'invalid_union' && issue.errors.length > 0 && !issue.discriminator) {
      // Report the branch that came closest: the one with the fewest problems.
      const closest = [...issue.errors].sort((a, b) => a.length - b.length)[0] ?? [];
      addZodIssues(errors, root, closest);
    } else {
      errors.add(attributePath(root, issue.path), issue.message);
    }
  }
}

/** Parses one value against a schema, throwing ValidationErrors rooted at `root` on failure. */
export function parseOrThrow<S extends z.ZodType>(schema: S, value: unknown, root: string): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const errors = new ValidationErrors();
  addZodIssues(errors, root, parsed.error.issues);
  throw errors;
}
