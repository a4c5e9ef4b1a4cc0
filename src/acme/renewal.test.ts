import { describe, expect, it } from 'vitest';
import { renewalBackoffMs } from './renewal.js';

const HOUR = 3_600_000;

describe('renewalBackoffMs', () => {
  it('doubles from an hour after each failure in a row, up to a day', () => {
    expect([1, 2, 3, 4, 5, 6, 12].map((attempts) => renewalBackoffMs(attempts, HOUR, () => 0))).toEqual([1, 2, 4, 8, 16, 24, 24].map((hours) => hours * HOUR));
  });

  it('takes off up to 20 % at random, so a capped wait never outlasts the daily run', () => {
    expect(renewalBackoffMs(1, HOUR, () => 0.5)).toBe(0.9 * HOUR);
    expect(renewalBackoffMs(12, HOUR, () => 0.999_999)).toBeGreaterThan(0.8 * 24 * HOUR);
  });

  it('starts from the configured first wait (RENEWAL_RETRY_SECONDS) and keeps the one-day cap', () => {
    expect([1, 2, 3].map((attempts) => renewalBackoffMs(attempts, 2000, () => 0))).toEqual([2000, 4000, 8000]);
    expect(renewalBackoffMs(40, 2000, () => 0)).toBe(24 * HOUR);
  });
});
