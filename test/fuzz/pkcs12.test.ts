/**
 * PKCS#12 import (src/crypto/pkcs12.ts) on damaged files: with a MAC and encryption (OpenSSL's
 * default and its legacy RC2/3DES form), without a MAC, and without any encryption, so that the
 * damage reaches every layer down to the bags. Each import returns the bundle or throws
 * Pkcs12Error (Pkcs12PasswordError among them) or KdfLimitError.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ContentInfo, id_data } from '@peculiar/asn1-cms';
import { AuthenticatedSafe, PFX, id_keyBag } from '@peculiar/asn1-pfx';
import { AsnArray, AsnConvert, AsnPropTypes, AsnType, AsnTypeTypes, OctetString } from '@peculiar/asn1-schema';
import { KdfBudget, KdfLimitError, sequenceSchema } from '../../src/crypto/pbe.js';
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

/** A PFX without MAC whose `data` content is `safeContents`, encoded as given. */
function pfxOf(safeContents: Buffer | ArrayBuffer, macData?: ArrayBuffer): Buffer {
  const dataContentInfo = (content: Buffer | ArrayBuffer) => new ContentInfo({ contentType: id_data, content: AsnConvert.serialize(new OctetString(content)) });
  const authSafe = AsnConvert.serialize(new AuthenticatedSafe([dataContentInfo(safeContents)]));
  const pfx = AsnConvert.serialize(new LoosePfx({ version: 3, authSafe: dataContentInfo(authSafe), macData }));
  return Buffer.from(pfx);
}

/** PFX whose MacData may be anything. */
class LoosePfx {
  version = 3;
  authSafe = new ContentInfo();
  macData?: ArrayBuffer;

  constructor(params: Partial<LoosePfx> = {}) {
    Object.assign(this, params);
  }
}
sequenceSchema(LoosePfx, { version: { type: AsnPropTypes.Integer }, authSafe: { type: ContentInfo }, macData: { type: AsnPropTypes.Any, optional: true } });

/** An empty SEQUENCE, to stand where a structure is required. */
class Empty {}
sequenceSchema(Empty, {});

/** SafeBag whose value may be missing or empty. */
class LooseBag {
  bagId = id_keyBag;
  bagValue?: Empty;

  constructor(params: Partial<LooseBag> = {}) {
    Object.assign(this, params);
  }
}
sequenceSchema(LooseBag, { bagId: { type: AsnPropTypes.ObjectIdentifier }, bagValue: { type: Empty, context: 0, implicit: true, optional: true } });

/** MacData whose DigestInfo is empty. */
class LooseMacData {
  mac = new Empty();
  macSalt = new OctetString(8);
  iterations = 1;
}
sequenceSchema(LooseMacData, { mac: { type: Empty }, macSalt: { type: OctetString }, iterations: { type: AsnPropTypes.Integer } });

/** SafeContents holding one bag of any shape. */
class OneBag extends AsnArray<LooseBag> {}
AsnType({ type: AsnTypeTypes.Sequence, itemType: LooseBag })(OneBag);

const oneBag = (bag: LooseBag, macData?: object) => pfxOf(AsnConvert.serialize(new OneBag([bag])), macData && AsnConvert.serialize(macData));

/**
 * SafeContents whose one bag is a safeContentsBag holding another, `depth` deep, in BER with
 * indefinite lengths as some tools write: SafeContents and SafeBag SEQUENCEs and the bag's [0],
 * each opened with its tag and 0x80 and closed by an end-of-contents (two zero bytes).
 * (The schema encoder re-encodes nested values at every level, which takes exponential time.)
 */
function nestedSafeContents(depth: number): Buffer {
  const safeContentsBagId = '060b2a864886f70d010c0a0106'; // OBJECT IDENTIFIER 1.2.840.113549.1.12.10.1.6
  const open = `3080${safeContentsBagId}a0803080`; // SafeBag { bagId, [0] { SafeContents {
  const close = '000000000000';
  return Buffer.from(`3080${open.repeat(depth + 1)}${close.repeat(depth + 1)}0000`, 'hex');
}

describe('minimal counterexamples', () => {
  it.each([
    ['a MAC whose DigestInfo is empty', oneBag(new LooseBag({ bagValue: new Empty() }), new LooseMacData())],
    ['a SafeBag without its value', oneBag(new LooseBag())],
    ['a keyBag whose value is empty', oneBag(new LooseBag({ bagValue: new Empty() }))],
  ])('%s is a Pkcs12Error, not a TypeError', async (_what, der) => {
    const error = await importPkcs12(der, '').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Pkcs12Error);
    expect((error as Error).cause).not.toBeInstanceOf(TypeError);
  });

  it('SafeContents nested 2,500 deep (62 KB) is refused with Pkcs12Error, not a stack overflow', async () => {
    const error = await importPkcs12(pfxOf(nestedSafeContents(2500)), '').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Pkcs12Error);
    expect((error as Error).cause).toBeUndefined();
  });

  it('SafeContents nested a few levels deep still imports', async () => {
    expect(await importPkcs12(pfxOf(nestedSafeContents(4)), '')).toEqual({ certificates: [], privateKey: null });
  });
});
