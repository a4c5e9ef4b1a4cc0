/**
 * The BER/DER reader (src/crypto/der.ts) on damaged certificates, CSRs, CRLs, keys and PKCS#12
 * files, random TLV trees and random bytes: every read returns a value or throws DerError.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  childrenOf,
  decodeString,
  DerError,
  MAX_BER_NESTING,
  parseDer,
  readBitString,
  readBoolean,
  readInteger,
  readNamedBits,
  readNode,
  readOctets,
  readOid,
  readTime,
  type DerNode,
} from '../../src/crypto/der.js';
import { damagedOf, fixture, fixtureDer, nestedDer, parsesOrRefuses, randomDer, runs } from './fuzz.js';

const SEEDS = [
  fixtureDer('ec-cert.pem'),
  fixtureDer('csr.pem'),
  fixtureDer('crl.pem'),
  fixtureDer('ec-key.pem'),
  fixtureDer('ec-key-pbes2.pem'),
  fixture('bundle.p12'),
  fixture('bundle-legacy.p12'),
];

const READERS: ReadonlyArray<(node: DerNode) => unknown> = [readInteger, readOid, readBoolean, readBitString, readNamedBits, readTime, decodeString];

/** Parses `bytes` and reads every node of the tree with every reader; only DerError may come out. */
function readEverything(bytes: Buffer): void {
  const root = parsesOrRefuses([DerError], () => parseDer(bytes));
  if (!root) return;
  const pending: DerNode[] = [root];
  for (let visited = 0; pending.length > 0 && visited < 2000; visited++) {
    const node = pending.pop()!;
    parsesOrRefuses([DerError], () => readOctets(node));
    if (node.constructed) pending.push(...(parsesOrRefuses([DerError], () => childrenOf(node)) ?? []));
    else for (const read of READERS) parsesOrRefuses([DerError], () => read(node));
  }
}

/** Follows the first child down as far as it goes, as a parser looking for one field does. */
function descend(bytes: Buffer): number {
  let node: DerNode | undefined = parsesOrRefuses([DerError], () => readNode(bytes));
  if (node) parsesOrRefuses([DerError], () => readOctets(node));
  let depth = 0;
  while (node?.constructed) {
    const current: DerNode = node;
    node = parsesOrRefuses([DerError], () => childrenOf(current))?.[0];
    depth++;
  }
  return depth;
}

describe('DER reader', () => {
  it('reads damaged certificates, CSRs, CRLs, keys and PKCS#12 files or throws DerError', () => {
    fc.assert(fc.property(damagedOf(SEEDS), readEverything), { numRuns: runs(600) });
  });

  it('reads random TLV trees or throws DerError', () => {
    fc.assert(fc.property(randomDer, readEverything), { numRuns: runs(400) });
  });

  it('reads random bytes or throws DerError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }).map(Buffer.from), readEverything));
  });

  it.each([
    ['SEQUENCE, indefinite', 0x30, true],
    ['constructed OCTET STRING, indefinite', 0x24, true],
  ] as const)('refuses %s lengths nested 20,000 deep with DerError, not a stack overflow', (_what, tag, indefinite) => {
    const bytes = nestedDer(20_000, tag, indefinite);
    expect(() => parseDer(bytes)).toThrow(DerError);
    expect(descend(bytes)).toBe(0);
  });

  it.each([
    ['SEQUENCE', 0x30],
    ['constructed OCTET STRING', 0x24],
  ] as const)('reads %s with definite lengths nested 20,000 deep without overflowing the stack', (_what, tag) => {
    const bytes = nestedDer(20_000, tag, false);
    expect(bytes.length).toBeLessThan(100_000);
    expect(descend(bytes)).toBe(20_000);
    expect(() => readOctets(parseDer(bytes))).toThrow(DerError);
  });

  it(`still reads indefinite lengths and OCTET STRING segments nested ${MAX_BER_NESTING} deep`, () => {
    const octets = Buffer.from([0x04, 0x02, 0xca, 0xfe]);
    expect(readOctets(parseDer(nestedDer(MAX_BER_NESTING, 0x24, true, octets)))).toEqual(Buffer.from([0xca, 0xfe]));
    expect(readOctets(parseDer(nestedDer(MAX_BER_NESTING, 0x24, false, octets)))).toEqual(Buffer.from([0xca, 0xfe]));
    expect(() => parseDer(nestedDer(MAX_BER_NESTING + 1, 0x24, true, octets))).toThrow(DerError);
    expect(() => readOctets(parseDer(nestedDer(MAX_BER_NESTING + 1, 0x24, false, octets)))).toThrow(DerError);
  });

  it('refuses a UniversalString with a code point beyond Unicode (minimal counterexample)', () => {
    expect(() => decodeString(parseDer(Buffer.from([0x1c, 0x04, 0x30, 0x82, 0x02, 0x61])))).toThrow(DerError);
    expect(decodeString(parseDer(Buffer.from([0x1c, 0x04, 0x00, 0x01, 0xf6, 0x00])))).toBe('\u{1f600}');
  });
});
