/**
 * Private-key loading (src/crypto/keys.ts) on damaged keys of every shape callers may send:
 * PKCS#8, encrypted PKCS#8 (PBES2 with PBKDF2 or scrypt, PKCS#12 PBE), legacy `Proc-Type:
 * 4,ENCRYPTED` PEM and PKCS#1, as PEM or DER, with the right, a wrong or no passphrase. Each load
 * returns a key or throws KeyLoadError (reported as "A valid private key is required…").
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KeyLoadError, loadPrivateKey, readPrivateKey } from '../../src/crypto/keys.js';
import { KdfBudget } from '../../src/crypto/pbe.js';
import { toPem } from '../../src/crypto/pem.js';
import {
  damagedBytes,
  damagedPem,
  damagedPemText,
  damagedTree,
  FIXTURE_PASSPHRASE,
  fixture,
  fixtureDer,
  parsesOrRefuses,
  parsesOrRefusesAsync,
  randomDer,
  runs,
} from './fuzz.js';

const PEM_SEEDS = ['ec-key.pem', 'ec-key-pbes2.pem', 'ec-key-scrypt.pem', 'ec-key-pkcs12pbe.pem', 'ec-key-legacy.pem', 'rsa-key-legacy.pem', 'rsa-key-pkcs1.pem'];
const ENCRYPTED_PKCS8 = ['ec-key-pbes2.pem', 'ec-key-scrypt.pem', 'ec-key-pkcs12pbe.pem'];

/** A key input as callers send it: damaged PEM text, PEM around damaged DER, or damaged DER alone. */
const damagedKey: fc.Arbitrary<string | Buffer> = fc.oneof(
  ...PEM_SEEDS.map((name) => damagedPem(fixture(name).toString())),
  ...PEM_SEEDS.map((name) => damagedPemText(fixture(name).toString())),
  ...ENCRYPTED_PKCS8.map((name) => damagedTree(fixtureDer(name)).map((der) => toPem('ENCRYPTED PRIVATE KEY', der))),
  damagedTree(fixtureDer('ec-key.pem')).map((der) => toPem('PRIVATE KEY', der)),
  ...['ec-key.pem', 'ec-key-pbes2.pem', 'rsa-key-pkcs1.pem'].map((name) => damagedBytes(fixtureDer(name))),
  randomDer.map((der) => toPem('ENCRYPTED PRIVATE KEY', der)),
);

const passphrase = fc.constantFrom<string | null>(FIXTURE_PASSPHRASE, 'wrong', '', null);

/** Key derivation a fuzz case may spend: a few times the seeds' 2048 iterations, so damaged counts end as KdfLimitError quickly. */
const smallBudget = () => new KdfBudget(50_000);

describe('private keys', () => {
  it.each(PEM_SEEDS)('loads the seed %s', async (name) => {
    expect((await readPrivateKey(fixture(name).toString(), FIXTURE_PASSPHRASE)).type).toBe('private');
  });

  it('readPrivateKey loads damaged keys or throws KeyLoadError', async () => {
    await fc.assert(
      fc.asyncProperty(damagedKey, passphrase, async (key, secret) => {
        await parsesOrRefusesAsync([KeyLoadError], () => readPrivateKey(key, secret, smallBudget()));
      }),
      { numRuns: runs(600) },
    );
  });

  it('loadPrivateKey (synchronous, for stored keys) loads damaged keys or throws KeyLoadError', () => {
    fc.assert(
      fc.property(damagedKey, passphrase, (key, secret) => {
        parsesOrRefuses([KeyLoadError], () => loadPrivateKey(key, secret));
      }),
      { numRuns: runs(400) },
    );
  });
});
