import { describe, expect, it } from 'vitest';
import { addressGroup } from './connection-guard.js';

describe('addressGroup', () => {
  it.each([
    ['127.0.0.1', '127.0.0.1'],
    ['::ffff:192.0.2.7', '192.0.2.7'],
    ['::FFFF:192.0.2.7', '192.0.2.7'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:0db8:0001:0002:ffff::1', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['64:ff9b::192.0.2.1', '64:ff9b:0:0::/64'],
    [undefined, 'unknown'],
  ])('counts %s against %s', (address, group) => {
    expect(addressGroup(address)).toBe(group);
  });

  it('puts every address of one /64 in one group and the next /64 in another', () => {
    expect(addressGroup('2001:db8:0:1::a')).toBe(addressGroup('2001:db8:0:1:ffff:ffff:ffff:ffff'));
    expect(addressGroup('2001:db8:0:1::a')).not.toBe(addressGroup('2001:db8:0:2::a'));
  });
});
