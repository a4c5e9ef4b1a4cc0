import { ERRNO, errnameOf, type Errname } from './codes.js';

/** One `[attribute, message, errno]` triple, the shape TrueNAS clients read from `data.extra`. */
export type ValidationTriple = [attribute: string | null, message: string, errno: number];

/**
 * Invalid input, reported per attribute path (`certificate_create.san`).
 * Collect with `add`, then `check()` throws when anything was added.
 */
export class ValidationErrors extends Error {
  readonly errors: ValidationTriple[] = [];

  constructor(errors: ValidationTriple[] = []) {
    // Most collections are checked and found empty, several per call: the stack is taken when one
    // is thrown (`check`), not each time one is made.
    const stackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    // No message argument: Error would define an own `message` that hides the getter below.
    super();
    Error.stackTraceLimit = stackTraceLimit;
    this.name = 'ValidationErrors';
    this.errors.push(...errors);
  }

  add(attribute: string | null, message: string, errname: Errname = 'EINVAL'): this {
    this.errors.push([attribute, message, ERRNO[errname]]);
    return this;
  }

  /** Adds every error of another collection, optionally re-rooting its attributes. */
  extend(other: ValidationErrors): this {
    this.errors.push(...other.errors);
    return this;
  }

  get isEmpty(): boolean {
    return this.errors.length === 0;
  }

  has(attribute: string): boolean {
    return this.errors.some(([attr]) => attr === attribute);
  }

  check(): void {
    if (this.isEmpty) return;
    Error.captureStackTrace(this, this.check);
    throw this;
  }

  override get message(): string {
    return this.reason;
  }

  override set message(_ignored: string) {
    // Error's constructor assigns message; the text is always derived from the errors.
  }

  /** TrueNAS's text: one "[ERRNAME] attribute: message" line per error. */
  get reason(): string {
    return this.errors
      .map(([attr, msg, errno]) => `[${errnameOf(errno)}] ${attr ?? 'None'}: ${msg}\n`)
      .join('');
  }
}

/** `get_instance` of an id that does not exist (TrueNAS's InstanceNotFound, errno ENOENT). */
export class InstanceNotFoundError extends ValidationErrors {
  constructor(message: string) {
    super([[null, message, ERRNO.ENOENT]]);
    this.name = 'InstanceNotFoundError';
  }
}
