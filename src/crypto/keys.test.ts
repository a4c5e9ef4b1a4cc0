import { createPublicKey } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { KEY_PASSPHRASE, genKey, opensslOk, pkeyCheck, withFiles, type KeyShape } from '../../test/helpers/openssl.js';
import {
  KeyLoadError,
  describeKey,
  exportPrivateKeyPem,
  generatePrivateKey,
  loadPrivateKey,
  publicKeysEqual,
  type KeyInfo,
  type KeySpec,
} from './keys.js';

// RSA-8192 takes 5-40 s; it starts now and is checked by the last test, overlapping the others.
const rsa8192 = generatePrivateKey({ keyType: 'RSA', keyLength: 8192 });
rsa8192.catch(() => undefined);

describe('generatePrivateKey', () => {
  const SPECS: Array<[KeySpec, KeyInfo]> = [
    [{ keyType: 'RSA', keyLength: 1024 }, { keyType: 'RSA', keyLength: 1024 }],
    [{ keyType: 'RSA', keyLength: 2048 }, { keyType: 'RSA', keyLength: 2048 }],
    [{ keyType: 'RSA', keyLength: 3072 }, { keyType: 'RSA', keyLength: 3072 }],
    [{ keyType: 'EC', curve: 'SECP256R1' }, { keyType: 'EC', keyLength: 256 }],
    [{ keyType: 'EC', curve: 'SECP384R1' }, { keyType: 'EC', keyLength: 384 }],
    [{ keyType: 'EC', curve: 'SECP521R1' }, { keyType: 'EC', keyLength: 521 }],
    [{ keyType: 'EC', curve: 'ed25519' }, { keyType: 'EC', keyLength: 32 }],
  ];

  it.each(SPECS)('generates %j as a key openssl accepts', async (spec, info) => {
    const key = await generatePrivateKey(spec);
    expect(describeKey(key)).toEqual(info);
    const pem = exportPrivateKeyPem(key);
    expect(pem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(await pkeyCheck(pem)).toBe(true);
  });

  it('generates RSA-4096 without blocking the event loop', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const started = Date.now();
    try {
      const key = await generatePrivateKey({ keyType: 'RSA', keyLength: 4096 });
      expect(describeKey(key)).toEqual({ keyType: 'RSA', keyLength: 4096 });
    } finally {
      clearInterval(timer);
    }
    // A blocked loop would tick at most once; a free one ticks about every 5 ms.
    expect(ticks).toBeGreaterThan(Math.min(10, (Date.now() - started) / 20));
  });

});

describe('loadPrivateKey', () => {
  const SHAPES: KeyShape[] = [
    'pkcs8-rsa',
    'pkcs8-ec',
    'pkcs8-ed25519',
    'pkcs1-rsa',
    'sec1-ec-with-params',
    'pkcs8-encrypted',
    'legacy-encrypted-rsa',
    'legacy-encrypted-ec',
    'der-pkcs8',
    'der-pkcs1',
    'der-sec1',
    'der-pkcs8-encrypted',
  ];

  it.each(SHAPES)('loads an openssl %s key', async (shape) => {
    const { key, passphrase, pkcs8 } = await genKey(shape);
    const loaded = loadPrivateKey(key, passphrase);
    expect(publicKeysEqual(loaded, loadPrivateKey(pkcs8))).toBe(true);
    expect(exportPrivateKeyPem(loaded)).toBe(loadPrivateKey(pkcs8).export({ type: 'pkcs8', format: 'pem' }));
  });

  it.each(['pkcs8-encrypted', 'legacy-encrypted-rsa', 'der-pkcs8-encrypted'] as const)('tells a missing from a wrong passphrase for %s', async (shape) => {
    const { key } = await genKey(shape);
    expect(() => loadPrivateKey(key)).toThrow(expect.objectContaining({ name: 'KeyLoadError', reason: 'passphrase-required' }));
    expect(() => loadPrivateKey(key, '')).toThrow(expect.objectContaining({ reason: 'passphrase-required' }));
    expect(() => loadPrivateKey(key, `${KEY_PASSPHRASE}!`)).toThrow(expect.objectContaining({ reason: 'wrong-passphrase' }));
  });

  it('reports unparseable input', () => {
    const cases: Array<string | Buffer> = [
      'garbage',
      '-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n',
      '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n',
      Buffer.from([0x30, 0x03, 0x02, 0x01, 0x00]),
    ];
    for (const input of cases) {
      expect(() => loadPrivateKey(input)).toThrow(KeyLoadError);
      expect(() => loadPrivateKey(input)).toThrow(expect.objectContaining({ reason: 'unparseable' }));
    }
  });

  it('ignores a passphrase given for an unencrypted key', async () => {
    const { key, pkcs8 } = await genKey('pkcs8-ec');
    expect(publicKeysEqual(loadPrivateKey(key, 'unused'), loadPrivateKey(pkcs8))).toBe(true);
  });
});

describe('describeKey', () => {
  it('reports DSA keys with their size', async () => {
    const params = (await opensslOk(['genpkey', '-genparam', '-algorithm', 'DSA', '-pkeyopt', 'dsa_paramgen_bits:1024'])).stdout;
    const key = await withFiles({ 'dsa.param': params }, async (paths) => (await opensslOk(['genpkey', '-paramfile', paths['dsa.param']!])).stdout);
    expect(describeKey(loadPrivateKey(key))).toEqual({ keyType: 'DSA', keyLength: 1024 });
  });
});

describe('publicKeysEqual', () => {
  it('compares private and public keys by their public half', async () => {
    const a = await generatePrivateKey({ keyType: 'EC', curve: 'SECP256R1' });
    const b = await generatePrivateKey({ keyType: 'EC', curve: 'SECP256R1' });
    expect(publicKeysEqual(a, createPublicKey(a))).toBe(true);
    expect(publicKeysEqual(a, b)).toBe(false);
  });
});

describe('generatePrivateKey with RSA-8192', () => {
  it('generates an 8192-bit key with public exponent 65537', { timeout: 180_000 }, async () => {
    const key = await rsa8192;
    expect(describeKey(key)).toEqual({ keyType: 'RSA', keyLength: 8192 });
    expect(key.asymmetricKeyDetails?.publicExponent).toBe(65537n);
    const { stdout } = await opensslOk(['pkey', '-noout', '-text_pub'], exportPrivateKeyPem(key));
    expect(stdout).toContain('Public-Key: (8192 bit)');
  });
});
