import type { z } from 'zod';
import { ValidationErrors } from '../errors/validation-errors.js';
import type { ParamsShape } from './define-method.js';
import { addIssues, type ValidationStyle } from './validate.js';

/**
 * Deepest nesting of lists and objects one parameter may have. TrueNAS calls stay far below it (a
 * query filter with a few levels of `OR` is about ten); it keeps every recursive reader after the
 * screen (ejson decoding, zod, error wording, job storage) far from the stack's limit.
 */
export const MAX_PARAM_DEPTH = 64;

/** Reports per call at most: a 64 KB message can hold thousands of bad strings, and one screenful tells enough. */
const MAX_REPORTS = 50;

const NESTED_TOO_DEEP = `Nested more than ${MAX_PARAM_DEPTH} levels deep`;
/** PostgreSQL cannot store U+0000 in text; refused everywhere so that both databases behave alike. */
const NUL_CHARACTER = 'Null characters are not allowed';
const UNKNOWN_KEY: Record<ValidationStyle, string> = { pydantic: 'Extra inputs are not permitted', legacy: 'Field was not expected' };

interface Finding {
  path: PropertyKey[];
  message: string;
}

/**
 * Checks raw (not yet ejson-decoded) params for what no method accepts, before any recursive code
 * reads them: more arguments than declared, nesting deeper than `MAX_PARAM_DEPTH`, a `__proto__`
 * key (JSON.parse makes it an own property; copied into a plain object it would set that object's
 * prototype), and NUL characters in strings or keys. Iterative, so any depth is safe to walk.
 *
 * @throws ValidationErrors naming each place, worded in the method's style.
 */
export function screenParams(method: { params: ParamsShape; validation?: ValidationStyle }, raw: readonly unknown[]): void {
  checkArity(method.params, raw);
  const style = method.validation ?? 'legacy';
  const errors = new ValidationErrors();
  Object.entries(method.params).forEach(([name, schema], index) => {
    if (errors.errors.length >= MAX_REPORTS) return;
    const findings = screenValue(raw[index], style, MAX_REPORTS - errors.errors.length);
    if (findings.length === 0) return;
    const issues = findings.map(({ path, message }) => ({ code: 'custom', path, message, input: undefined }) as z.core.$ZodIssue);
    addIssues(errors, name, schema as z.ZodType, raw[index], issues, style);
  });
  errors.check();
}

/** Whether `value` has lists or objects nested more than `limit` levels deep; iterative, so safe on any input. */
export function nestedDeeperThan(value: unknown, limit: number): boolean {
  const stack: Array<{ value: unknown; depth: number }> = [{ value, depth: 1 }];
  while (stack.length > 0) {
    const { value: current, depth } = stack.pop()!;
    if (typeof current !== 'object' || current === null) continue;
    if (depth > limit) return true;
    for (const child of Object.values(current)) stack.push({ value: child, depth: depth + 1 });
  }
  return false;
}

/** TrueNAS's error for a call with more positional arguments than the method takes. */
export function checkArity(params: ParamsShape, raw: readonly unknown[]): void {
  const declared = Object.keys(params).length;
  if (raw.length > declared) throw new ValidationErrors().add('', `Too many arguments (expected ${declared}, found ${raw.length})`);
}

/** What is wrong inside one parameter, in document order; a value nested too deeply is one finding at its root. */
function screenValue(root: unknown, style: ValidationStyle, limit: number): Finding[] {
  const findings: Finding[] = [];
  // A step either reads a value or reports a key found bad while reading its parent. Children are
  // pushed in reverse so that they come off the stack in document order.
  const stack: Array<{ path: PropertyKey[]; value?: unknown; badKey?: string }> = [{ path: [], value: root }];
  while (stack.length > 0 && findings.length < limit) {
    const { path, value, badKey } = stack.pop()!;
    if (badKey !== undefined) {
      findings.push({ path, message: badKey });
    } else if (typeof value === 'string') {
      if (value.includes('\u0000')) findings.push({ path, message: NUL_CHARACTER });
    } else if (typeof value === 'object' && value !== null) {
      if (path.length >= MAX_PARAM_DEPTH) return [{ path: [], message: NESTED_TOO_DEEP }];
      const entries: Array<[PropertyKey, unknown]> = Array.isArray(value) ? value.map((item, index) => [index, item]) : Object.entries(value);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [key, child] = entries[i]!;
        stack.push({ path: [...path, key], ...stepFor(key, child, style) });
      }
    }
  }
  return findings;
}

/** A key no method takes is reported without reading its value. */
function stepFor(key: PropertyKey, child: unknown, style: ValidationStyle): { value?: unknown; badKey?: string } {
  if (key === '__proto__') return { badKey: UNKNOWN_KEY[style] };
  if (typeof key === 'string' && key.includes('\u0000')) return { badKey: NUL_CHARACTER };
  return { value: child };
}
