/**
 * PKCS#12 import (src/crypto/pkcs12.ts) on damaged files: with a MAC and encryption (OpenSSL's
 * default and its legacy RC2/3DES form), without a MAC, and without any encryption, so that the
 * damage reaches every layer down to the bags. Each import returns the bundle or throws
 * Pkcs12Error (Pkcs12PasswordError among them) or KdfLimitError.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { explicit, integer, octetString, oid, sequence } from '../../src/crypto/der.js';
import { KdfBudget, KdfLimitError } from '../../src/crypto/pbe.js';
import { importPkcs12, Pkcs12Error } from '../../src/crypto/pkcs12.js';
import { damagedBytes, damagedTree, FIXTURE_PASSPHRASE, fixture, parsesOrRefusesAsync, randomDer, runs } from './fuzz.js';

const SEEDS: Array<[file: string, password: string]> = [
  ['bundle.p12', FIXTURE_PASSPHRASE],
  ['bundle-legacy.p12', FIXTURE_PASSPHRASE],
  ['bundle-nomac.p12', FIXTURE_PASSPHRASE],
  ['bundle-plain.p12', ''],
];

/** Key derivation a fuzz case may spend: a few times the seeds' 2048 iterations. */
const smallBudget = () => new KdfBudget(50_000);

const damagedBundle = fc.oneof(
  ...SEEDS.map(([file, password]) => fc.tuple(fc.oneof(damagedBytes(fixture(file)), damagedTree(fixture(file))), fc.constantFrom(password, 'wrong'))),
  fc.tuple(randomDer, fc.constant('')),
);

describe('importPkcs12', () => {
  it.each(SEEDS)('imports the seed %s', async (file, password) => {
    const bundle = await importPkcs12(fixture(file), password);
    expect(bundle.certificates).toHaveLength(1);
    expect(bundle.privateKey?.type).toBe('private');
  });

  it('imports damaged bundles or throws Pkcs12Error or KdfLimitError', async () => {
    await fc.assert(
      fc.asyncProperty(damagedBundle, async ([der, password]) => {
        await parsesOrRefusesAsync([Pkcs12Error, KdfLimitError], () => importPkcs12(der, password, smallBudget()));
      }),
      { numRuns: runs(800) },
    );
  });
});

/** A PFX without MAC whose one bag is a safeContentsBag holding another, `depth` deep. */
function nestedSafeContents(depth: number): Buffer {
  const SAFE_CONTENTS_BAG = '1.2.840.113549.1.12.10.1.6';
  const DATA = '1.2.840.113549.1.7.1';
  let bag = sequence(oid(SAFE_CONTENTS_BAG), explicit(0, sequence()));
  for (let level = 0; level < depth; level++) bag = sequence(oid(SAFE_CONTENTS_BAG), explicit(0, sequence(bag)));
  const authSafe = sequence(sequence(oid(DATA), explicit(0, octetString(sequence(bag)))));
  return sequence(integer(3), sequence(oid(DATA), explicit(0, octetString(authSafe))));
}

/** A PFX without MAC holding one SafeBag. */
function oneBag(bag: Buffer, macData?: Buffer): Buffer {
  const DATA = '1.2.840.113549.1.7.1';
  const authSafe = sequence(sequence(oid(DATA), explicit(0, octetString(sequence(bag)))));
  return sequence(integer(3), sequence(oid(DATA), explicit(0, octetString(authSafe))), ...(macData ? [macData] : []));
}

const KEY_BAG = '1.2.840.113549.1.12.10.1.1';

describe('minimal counterexamples', () => {
  it.each([
    ['a MAC whose DigestInfo is empty', oneBag(sequence(oid(KEY_BAG), explicit(0, sequence())), sequence(sequence(), octetString(Buffer.alloc(8)), integer(1)))],
    ['a SafeBag without its value', oneBag(sequence(oid(KEY_BAG)))],
    ['a keyBag whose value is empty', oneBag(sequence(oid(KEY_BAG), explicit(0, Buffer.alloc(0))))],
  ])('%s is a Pkcs12Error, not a TypeError', async (_what, der) => {
    const error = await importPkcs12(der, '').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Pkcs12Error);
    expect((error as Error).cause).not.toBeInstanceOf(TypeError);
  });

  it('SafeContents nested 2,500 deep (62 KB) is refused with Pkcs12Error, not a stack overflow', async () => {
    const error = await importPkcs12(nestedSafeContents(2500), '').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Pkcs12Error);
    expect((error as Error).cause).toBeUndefined();
  });

  it('SafeContents nested a few levels deep still imports', async () => {
    expect(await importPkcs12(nestedSafeContents(4), '')).toEqual({ certificates: [], privateKey: null });
  });
});
