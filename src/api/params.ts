import type { z } from 'zod';
import { ValidationErrors } from '../errors/validation-errors.js';
import type { AnyMethod, ParamsOf, ParamsShape } from './define-method.js';
import { checkArity } from './screen.js';
import { addIssues, safeParseIn, type ValidationStyle } from './validate.js';

/**
 * Validates positional params against a method's declaration, reporting every problem at once in
 * the method's validation style.
 */
export function parseParams<P extends ParamsShape>(method: { params: P; validation?: ValidationStyle }, raw: readonly unknown[]): ParamsOf<P> {
  checkArity(method.params, raw);
  const declared = Object.entries(method.params) as Array<[string, z.ZodType]>;
  const errors = new ValidationErrors();
  const result: Record<string, unknown> = {};
  declared.forEach(([name, schema], index) => {
    const parsed = safeParseIn(schema, raw[index], method.validation);
    if (parsed.success) result[name] = parsed.data;
    else addIssues(errors, name, schema, raw[index], parsed.error.issues, method.validation);
  });
  errors.check();
  return result as ParamsOf<P>;
}

/**
 * Params validated for a job's lock, by the arguments array they came from: a job queued and run
 * in the same process is then validated once. Only read, never changed, by the lock and the run.
 */
const parsedForLock = new WeakMap<readonly unknown[], unknown>();

/** The lock a job takes, or null. A lock computed from params that do not validate is null. */
export function jobLock(method: AnyMethod, raw: readonly unknown[]): string | null {
  const lock = method.job?.lock;
  if (lock === undefined) return null;
  if (typeof lock === 'string') return lock;
  try {
    const params = parseParams(method, raw);
    parsedForLock.set(raw, params);
    return lock(params);
  } catch {
    return null;
  }
}

/** `parseParams` for a job's run, reusing what its lock validated from the same arguments. */
export function parseJobParams<P extends ParamsShape>(method: { params: P; validation?: ValidationStyle }, raw: readonly unknown[]): ParamsOf<P> {
  const known = parsedForLock.get(raw);
  if (known === undefined) return parseParams(method, raw);
  parsedForLock.delete(raw);
  return known as ParamsOf<P>;
}
