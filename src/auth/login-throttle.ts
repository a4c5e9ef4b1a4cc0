import { CallError } from '../errors/call-error.js';

/** Failed logins allowed per remote address in one window before further attempts are refused. */
const MAX_FAILURES = 10;
const WINDOW_MS = 60_000;

/** Counts failed logins per remote address and refuses attempts past the limit until the window passes. */
export class LoginThrottle {
  private readonly failures = new Map<string, { count: number; windowStart: number }>();

  constructor(
    private readonly maxFailures = MAX_FAILURES,
    private readonly windowMs = WINDOW_MS,
  ) {}

  /** Throws "Rate Limit Exceeded" (EBUSY) while `address` is over the limit. */
  check(address: string): void {
    const entry = this.current(address);
    if (entry && entry.count >= this.maxFailures) throw new CallError('Rate Limit Exceeded', 'EBUSY');
  }

  recordFailure(address: string): void {
    const entry = this.current(address) ?? { count: 0, windowStart: Date.now() };
    entry.count++;
    this.failures.set(address, entry);
  }

  recordSuccess(address: string): void {
    this.failures.delete(address);
  }

  private current(address: string) {
    const entry = this.failures.get(address);
    if (entry && Date.now() - entry.windowStart > this.windowMs) {
      this.failures.delete(address);
      return undefined;
    }
    return entry;
  }
}
