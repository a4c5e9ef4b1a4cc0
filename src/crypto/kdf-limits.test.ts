import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { KEY_PASSPHRASE, genKey, hasLegacyProvider, opensslOk, withFiles } from '../../test/helpers/openssl.js';
import { PFX } from '@peculiar/asn1-pfx';
import { EncryptedData, EncryptedPrivateKeyInfo } from '@peculiar/asn1-pkcs8';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import { exportPrivateKeyPem, generatePrivateKey, loadPrivateKey, publicKeysEqual, readPrivateKey } from './keys.js';
import {
  AES_256_CBC,
  HMAC_SHA256,
  KdfBudget,
  KdfLimitError,
  MAX_KDF_ITERATIONS,
  MAX_KDF_WORK,
  PBES2,
  PBKDF2,
  Pbes2Params,
  PbeParameter,
  Pbkdf2Params,
  SCRYPT,
  ScryptParams,
  bmpPassword,
  pkcs12Kdf,
  pkcs12KdfAsync,
} from './pbe.js';
import { exportPkcs12, importPkcs12 } from './pkcs12.js';
import { toPem } from './pem.js';

const PBE_MD5_DES = '1.2.840.113549.1.5.3';
const PBE_SHA1_3DES = '1.2.840.113549.1.12.1.3';
const HUGE = 2n ** 32n - 1n;
const legacy = await hasLegacyProvider();

/** An ENCRYPTED PRIVATE KEY whose algorithm asks for `parameters`; the ciphertext is noise, never reached. */
function encryptedKey(algorithm: string, parameters: object): string {
  const encryptionAlgorithm = new AlgorithmIdentifier({ algorithm, parameters: AsnConvert.serialize(parameters) });
  const info = new EncryptedPrivateKeyInfo({ encryptionAlgorithm, encryptedData: new EncryptedData(randomBytes(1232)) });
  return toPem('ENCRYPTED PRIVATE KEY', Buffer.from(AsnConvert.serialize(info)));
}

/** PBES2 with `kdf` and AES-256-CBC. */
function pbes2Key(kdf: string, kdfParameters: object): string {
  const parameters = new Pbes2Params({
    keyDerivationFunc: new AlgorithmIdentifier({ algorithm: kdf, parameters: AsnConvert.serialize(kdfParameters) }),
    encryptionScheme: new AlgorithmIdentifier({ algorithm: AES_256_CBC, parameters: AsnConvert.serialize(new OctetString(randomBytes(16))) }),
  });
  return encryptedKey(PBES2, parameters);
}

const pbkdf2Key = (iterationCount: bigint) =>
  pbes2Key(PBKDF2, new Pbkdf2Params({ salt: new OctetString(randomBytes(16)), iterationCount, prf: new AlgorithmIdentifier({ algorithm: HMAC_SHA256, parameters: null }) }));

const pbeKey = (algorithm: string, iterationCount: bigint) => encryptedKey(algorithm, new PbeParameter({ salt: new OctetString(randomBytes(8)), iterationCount }));

/** `openssl pkcs8 -topk8` of a fresh EC key with extra options; returns the encrypted PEM and the plain key. */
async function opensslPkcs8(options: string[]): Promise<{ encrypted: string; plain: string }> {
  const plain = (await opensslOk(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'])).stdout;
  const encrypted = (await opensslOk(['pkcs8', '-topk8', ...options, '-passout', `pass:${KEY_PASSPHRASE}`], plain)).stdout;
  return { encrypted, plain };
}

/** `openssl pkcs8 -topk8 <options>` loads with its passphrase, and tells a wrong or missing one. */
async function loadsOpensslPkcs8(options: string[]): Promise<void> {
  const { encrypted, plain } = await opensslPkcs8(options);
  expect(publicKeysEqual(await readPrivateKey(encrypted, KEY_PASSPHRASE), loadPrivateKey(plain))).toBe(true);
  await expect(readPrivateKey(encrypted, 'wrong')).rejects.toMatchObject({ name: 'KeyLoadError', reason: 'wrong-passphrase' });
  await expect(readPrivateKey(encrypted)).rejects.toMatchObject({ reason: 'passphrase-required' });
}

/** Re-encodes a PFX with its MacData's iteration count replaced. */
function withMacIterations(der: Buffer, iterations: bigint): Buffer {
  const pfx = AsnConvert.parse(der, PFX);
  pfx.macData.iterations = Number(iterations);
  return Buffer.from(AsnConvert.serialize(pfx));
}

describe('key-derivation limits', () => {
  it('accepts 1,000,000 iterations, more than any common tool writes', () => {
    expect(MAX_KDF_ITERATIONS).toBe(1_000_000);
    const budget = new KdfBudget();
    expect(budget.charge(600_000n)).toBe(600_000);
    expect(() => new KdfBudget().charge(1_000_001n)).toThrow(KdfLimitError);
    expect(() => new KdfBudget().charge(HUGE)).toThrow(/asks for 4294967295 key-derivation iterations; at most 1000000 are accepted/);
  });

  it('bounds the work of one input in all', () => {
    const budget = new KdfBudget();
    for (let i = 0; i < MAX_KDF_WORK / MAX_KDF_ITERATIONS; i++) budget.charge(BigInt(MAX_KDF_ITERATIONS));
    expect(() => budget.charge(1n)).toThrow(KdfLimitError);
  });

  it('derives PKCS#12 keys on the crypto pool as OpenSSL does, the event loop running meanwhile', async () => {
    const salt = Buffer.from('5a17c0ffee5a17ed', 'hex');
    let turns = 0;
    const ticker = setInterval(() => turns++, 0);
    try {
      // 24 bytes of SHA-1 take two output blocks, so the update between blocks is checked too.
      for (const [hash, length, id] of [['sha256', 32, 3], ['sha1', 24, 1]] as const) {
        const derived = await pkcs12KdfAsync(bmpPassword('pw'), salt, 200_000n, id, length, hash, new KdfBudget());
        const expected = await opensslOk([
          'kdf', '-keylen', String(length), '-kdfopt', `digest:${hash.toUpperCase()}`, '-kdfopt', `hexpass:${bmpPassword('pw').toString('hex')}`,
          '-kdfopt', `hexsalt:${salt.toString('hex')}`, '-kdfopt', 'iter:200000', '-kdfopt', `id:${id}`, 'PKCS12KDF',
        ]);
        expect(derived.toString('hex').toUpperCase()).toBe(expected.stdout.trim().replaceAll(':', ''));
      }
      expect(await pkcs12Kdf(bmpPassword('pw'), salt, 200_000, 3, 32, 'sha256')).toEqual(await pkcs12KdfAsync(bmpPassword('pw'), salt, 200_000n, 3, 32, 'sha256', new KdfBudget()));
    } finally {
      clearInterval(ticker);
    }
    expect(turns).toBeGreaterThan(1);
  });
});

describe('readPrivateKey', () => {
  it.each(['pkcs8-encrypted', 'der-pkcs8-encrypted', 'legacy-encrypted-rsa', 'pkcs8-ec'] as const)('loads an openssl %s key as loadPrivateKey does', async (shape) => {
    const { key, passphrase, pkcs8 } = await genKey(shape);
    expect(publicKeysEqual(await readPrivateKey(key, passphrase), loadPrivateKey(pkcs8))).toBe(true);
  });

  it.each([
    ['-v2 aes-256-cbc -iter 600000 (OWASP)', ['-v2', 'aes-256-cbc', '-iter', '600000']],
    ['-v2 aes-128-cbc -v2prf hmacWithSHA512 -iter 1000000 (the cap)', ['-v2', 'aes-128-cbc', '-v2prf', 'hmacWithSHA512', '-iter', '1000000']],
    ['-v2 des3', ['-v2', 'des3']],
    ['-scrypt', ['-scrypt']],
    ['-v1 PBE-SHA1-3DES', ['-v1', 'PBE-SHA1-3DES']],
    // A cipher certmid does not decrypt itself: OpenSSL does, on the crypto pool.
    ['-v2 camellia-256-cbc', ['-v2', 'camellia-256-cbc']],
  ])('loads openssl pkcs8 %s', async (_name, options) => {
    await loadsOpensslPkcs8(options);
  });

  // RC2 needs OpenSSL's legacy provider to write, and is decrypted here (Node's OpenSSL has no RC2).
  it.runIf(legacy).each([
    ['-v2 rc2-cbc (128-bit)', ['-v2', 'rc2-cbc']],
    ['-v2 rc2-40-cbc', ['-v2', 'rc2-40-cbc']],
  ])('loads openssl pkcs8 %s', async (_name, options) => {
    await loadsOpensslPkcs8([...options, '-provider', 'legacy', '-provider', 'default']);
  });

  it.each([
    ['PBES2/PBKDF2', pbkdf2Key(HUGE)],
    ['PBES2/PBKDF2 one past the cap', pbkdf2Key(BigInt(MAX_KDF_ITERATIONS) + 1n)],
    [
      'PBES2/scrypt with a huge p',
      pbes2Key(SCRYPT, new ScryptParams({ salt: new OctetString(randomBytes(16)), costParameter: 16384n, blockSize: 8n, parallelizationParameter: HUGE })),
    ],
    ['PKCS#12 PBE', pbeKey(PBE_SHA1_3DES, HUGE)],
    ['PBES1', pbeKey(PBE_MD5_DES, HUGE)],
  ])('refuses %s asking for too much work before deriving anything', async (_name, pem) => {
    const started = Date.now();
    await expect(readPrivateKey(pem, 'pw')).rejects.toMatchObject({ name: 'KeyLoadError', reason: 'too-costly', message: expect.stringMatching(/^The private key's encryption asks for /) });
    // The synchronous loader checks too, before OpenSSL would spend the time.
    expect(() => loadPrivateKey(pem, 'pw')).toThrow(expect.objectContaining({ reason: 'too-costly' }));
    // Hours at 2^32 iterations; refused at once.
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

describe('importPkcs12 limits', () => {
  it('reads an openssl file written with 1,000,000 iterations (the cap)', async () => {
    const key = await generatePrivateKey({ keyType: 'EC', curve: 'SECP256R1' });
    const keyPem = exportPrivateKeyPem(key);
    const pfx = await withFiles({ 'key.pem': keyPem }, async (paths, dir) => {
      const certificate = (await opensslOk(['req', '-x509', '-key', paths['key.pem']!, '-subj', '/CN=iter', '-days', '2'])).stdout;
      const out = `${dir}/out.p12`;
      await withFiles({ 'cert.pem': certificate }, (certPaths) =>
        opensslOk(['pkcs12', '-export', '-in', certPaths['cert.pem']!, '-inkey', paths['key.pem']!, '-iter', '1000000', '-out', out, '-passout', 'pass:pw']),
      );
      const { readFile } = await import('node:fs/promises');
      return readFile(out);
    });
    const bundle = await importPkcs12(pfx, 'pw');
    expect(bundle.privateKey && publicKeysEqual(bundle.privateKey, key)).toBe(true);
  }, 30_000);

  it('refuses a MAC asking for too many iterations before deriving anything', async () => {
    const key = await generatePrivateKey({ keyType: 'EC', curve: 'SECP256R1' });
    const pfx = withMacIterations(await exportPkcs12({ certificates: [], privateKey: key, password: 'pw' }), HUGE);
    const started = Date.now();
    await expect(importPkcs12(pfx, 'pw')).rejects.toThrow(KdfLimitError);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('still reads its own export (2048 iterations) with the MAC re-encoded', async () => {
    const key = await generatePrivateKey({ keyType: 'EC', curve: 'SECP256R1' });
    const pfx = withMacIterations(await exportPkcs12({ certificates: [], privateKey: key, password: 'pw' }), 2048n);
    const bundle = await importPkcs12(pfx, 'pw');
    expect(bundle.privateKey && publicKeysEqual(bundle.privateKey, key)).toBe(true);
  });
});
