import { describe, expect, it } from 'vitest';
import { CallError } from '../errors/call-error.js';
import { addressKey, LoginThrottle } from './login-throttle.js';

/** A clock the test moves by hand, so windows pass without waiting. */
function clock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => void (now += ms) };
}

async function refusal(promise: Promise<unknown>): Promise<CallError> {
  const error = await promise.then(
    () => null,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(CallError);
  return error as CallError;
}

describe('LoginThrottle', () => {
  it('refuses after the limit of failures and says how long the window still runs', async () => {
    const time = clock();
    const throttle = new LoginThrottle(3, 60_000, time.now);
    for (let i = 0; i < 3; i++) (await throttle.admit('a')).failed();
    time.advance(15_500);
    const error = await refusal(throttle.admit('a'));
    expect(error.reason).toBe('[EBUSY] Rate Limit Exceeded; try again in 45 seconds');
    expect(error.extra).toEqual({ retry_after: 45 });
    time.advance(44_000);
    expect((await refusal(throttle.admit('a'))).message).toBe('Rate Limit Exceeded; try again in 1 second');
    time.advance(500);
    (await throttle.admit('a')).failed();
  });

  it('keeps keys apart', async () => {
    const throttle = new LoginThrottle(1, 60_000, clock().now);
    (await throttle.admit('a')).failed();
    await refusal(throttle.admit('a'));
    (await throttle.admit('b')).succeeded();
  });

  it('admits no more attempts at once than the limit; the rest wait and are refused if those fail', async () => {
    const throttle = new LoginThrottle(3, 60_000, clock().now);
    const admitted = await Promise.all([throttle.admit('a'), throttle.admit('a'), throttle.admit('a')]);
    const late = [throttle.admit('a'), throttle.admit('a')];
    const settled = late.map((promise) => promise.then(() => 'admitted', () => 'refused'));
    admitted.forEach((admission) => admission.failed());
    expect(await Promise.all(settled)).toEqual(['refused', 'refused']);
  });

  it('lets waiting attempts in when one in flight succeeds', async () => {
    const throttle = new LoginThrottle(2, 60_000, clock().now);
    const first = await throttle.admit('a');
    (await throttle.admit('a')).failed();
    const waiting = throttle.admit('a');
    first.succeeded();
    (await waiting).succeeded();
  });

  it('counts a cancelled attempt as nothing, and each attempt once', async () => {
    const throttle = new LoginThrottle(1, 60_000, clock().now);
    const admission = await throttle.admit('a');
    admission.cancel();
    admission.failed();
    (await throttle.admit('a')).succeeded();
  });
});

describe('addressKey', () => {
  it('keys IPv4 by address, IPv6 by its /64', () => {
    expect(addressKey('127.0.0.2')).toBe('127.0.0.2');
    expect(addressKey('::ffff:192.0.2.7')).toBe('192.0.2.7');
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8:1:2:bbbb:cccc:dddd:eeee')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(addressKey('unknown')).toBe('unknown');
  });
});
