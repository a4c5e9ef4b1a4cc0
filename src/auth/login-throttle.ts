import net from 'node:net';
import { CallError } from '../errors/call-error.js';

/** Failed logins allowed per remote address in one window before further attempts are refused. */
export const ADDRESS_LIMIT = 10;
/**
 * Failed password logins allowed per account in one window, from all addresses together. Higher
 * than one address's limit, so that a single address cannot reach it; it never blocks API-key or
 * token logins.
 */
export const ACCOUNT_LIMIT = 30;
const WINDOW_MS = 60_000;
/** Beyond this many keys, stale ones are swept before a new one is added. */
const PRUNE_ABOVE = 10_000;

interface Bucket {
  failures: number;
  /** When the first failure of the current window happened. */
  windowStart: number;
  /** Attempts being checked right now; they may still fail, so they count against the limit. */
  pending: number;
  /** Attempts waiting for a pending one to settle before they may start. */
  waiters: Array<() => void>;
}

/** An attempt admitted by `LoginThrottle.admit`; settle it exactly once. */
export interface Admission {
  succeeded(): void;
  failed(): void;
  /** Neither: the attempt never ran (another bucket refused it). */
  cancel(): void;
}

/**
 * Counts failed logins per key (an address, an account) in a fixed window and refuses attempts past
 * the limit. Admission is atomic: an attempt that is being checked counts as a possible failure,
 * so however many arrive at once, no more than the limit are ever checked; the others wait for a
 * result (a success clears the count) or are refused before any password is hashed.
 */
export class LoginThrottle {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly limit = ADDRESS_LIMIT,
    private readonly windowMs = WINDOW_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Admits one attempt for `key`, or throws "Rate Limit Exceeded" (EBUSY) with how long to wait. */
  async admit(key: string): Promise<Admission> {
    for (;;) {
      // Looked up afresh after every wait: an idle bucket may have been swept meanwhile.
      const bucket = this.bucketOf(key);
      if (bucket.failures + bucket.pending < this.limit) return this.start(bucket);
      if (bucket.failures >= this.limit || bucket.pending === 0) throw this.refusal(bucket);
      await new Promise<void>((resolve) => bucket.waiters.push(resolve));
    }
  }

  private start(bucket: Bucket): Admission {
    bucket.pending++;
    let settled = false;
    const settle = (outcome: 'success' | 'failure' | 'none') => {
      if (settled) return;
      settled = true;
      bucket.pending--;
      if (outcome === 'success') bucket.failures = 0;
      if (outcome === 'failure') this.recordFailure(bucket);
      for (const wake of bucket.waiters.splice(0)) wake();
    };
    return { succeeded: () => settle('success'), failed: () => settle('failure'), cancel: () => settle('none') };
  }

  private recordFailure(bucket: Bucket): void {
    this.expire(bucket);
    if (bucket.failures === 0) bucket.windowStart = this.now();
    bucket.failures++;
  }

  private refusal(bucket: Bucket): CallError {
    const seconds = Math.max(1, Math.ceil((bucket.windowStart + this.windowMs - this.now()) / 1000));
    return new CallError(`Rate Limit Exceeded; try again in ${seconds} second${seconds === 1 ? '' : 's'}`, 'EBUSY', { retry_after: seconds });
  }

  /** Forgets the failures of a window that has passed. */
  private expire(bucket: Bucket): void {
    if (bucket.failures > 0 && this.now() - bucket.windowStart >= this.windowMs) bucket.failures = 0;
  }

  private bucketOf(key: string): Bucket {
    let bucket = this.buckets.get(key);
    if (bucket) {
      this.expire(bucket);
      return bucket;
    }
    if (this.buckets.size >= PRUNE_ABOVE) this.prune();
    bucket = { failures: 0, windowStart: 0, pending: 0, waiters: [] };
    this.buckets.set(key, bucket);
    return bucket;
  }

  private prune(): void {
    for (const [key, bucket] of this.buckets) {
      this.expire(bucket);
      if (bucket.failures === 0 && bucket.pending === 0) this.buckets.delete(key);
    }
  }
}

/**
 * The throttling key of a remote address: IPv4 as is (also when mapped into IPv6), IPv6 by its
 * /64, the block one host usually holds, so that walking through it gains nothing.
 */
export function addressKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  const bare = address.replace(/%.*$/, '');
  if (!net.isIPv6(bare)) return address;
  const [head = '', tail] = bare.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((group) => parseInt(group, 16).toString(16))
    .join(':')}::/64`;
}
