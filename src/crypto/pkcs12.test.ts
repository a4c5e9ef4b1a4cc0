import { randomBytes, type KeyObject } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { hasLegacyProvider, makePkcs12, openssl, pkcs12Info } from '../../test/helpers/openssl.js';
import { issueCertificate } from './certificates.js';
import { caDefaultExtensions, defaultExtensions } from './extensions.js';
import { exportPrivateKeyPem, generatePrivateKey, publicKeysEqual } from './keys.js';
import { Pkcs12Error, Pkcs12PasswordError, exportPkcs12, importPkcs12 } from './pkcs12.js';
import { rc2CbcDecrypt } from './rc2.js';

const NOW = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000);
const LATER = new Date(NOW.getTime() + 30 * 86_400_000);
const legacy = await hasLegacyProvider();

describe('PKCS#12', () => {
  let caPem: string;
  let leafPem: string;
  let leafKey: KeyObject;

  beforeAll(async () => {
    const caKey = await generatePrivateKey({ keyType: 'EC', curve: 'SECP384R1' });
    const common = { san: [], serial: 10n, notBefore: NOW, notAfter: LATER, digest: 'SHA256' as const };
    caPem = await issueCertificate({ ...common, subject: { common: 'P12 CA' }, publicKey: caKey, signer: { privateKey: caKey, certificatePem: null }, extensions: caDefaultExtensions() });
    leafKey = await generatePrivateKey({ keyType: 'RSA', keyLength: 2048 });
    leafPem = await issueCertificate({ ...common, subject: { common: 'p12 leaf' }, publicKey: leafKey, signer: { privateKey: caKey, certificatePem: caPem }, extensions: defaultExtensions() });
  });

  describe('exportPkcs12', () => {
    it('writes a file openssl opens without -legacy, with AES-256 PBES2 and a SHA-256 MAC', async () => {
      const der = await exportPkcs12({ certificates: [leafPem, caPem], privateKey: leafKey, password: 'sécret', friendlyName: 'web ui' });
      const { ok, text } = await pkcs12Info(der, 'sécret');
      expect(ok, text).toBe(true);
      expect(text).toContain('MAC: sha256, Iteration 2048');
      expect(text).toContain('PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256');
      expect(text).toContain('Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256');
      expect(text).toContain('friendlyName: web ui');
      expect(text.match(/subject=CN = p12 leaf/g)).toHaveLength(1);
      expect(text.match(/subject=CN = P12 CA/g)).toHaveLength(1);
      expect(text).toContain('-----BEGIN PRIVATE KEY-----');
    });

    it('writes certificates alone when there is no key', async () => {
      const der = await exportPkcs12({ certificates: [caPem], privateKey: null, password: 'x' });
      const { ok, text } = await pkcs12Info(der, 'x');
      expect(ok, text).toBe(true);
      expect(text).not.toContain('PRIVATE KEY');
    });

    it('is refused by openssl with a wrong password', async () => {
      const der = await exportPkcs12({ certificates: [leafPem], privateKey: leafKey, password: 'right' });
      expect((await pkcs12Info(der, 'wrong')).ok).toBe(false);
    });
  });

  describe('importPkcs12', () => {
    it('reads back its own export, leaf first', async () => {
      const der = await exportPkcs12({ certificates: [leafPem, caPem], privateKey: leafKey, password: 'pw' });
      const result = await importPkcs12(der, 'pw');
      expect(result.certificates).toEqual([leafPem, caPem]);
      expect(result.privateKey && publicKeysEqual(result.privateKey, leafKey)).toBe(true);
    });

    it('reads an openssl-made file (AES, default) with its chain, leaf first', async () => {
      const der = await makePkcs12({ certificatePem: leafPem, keyPem: exportPrivateKeyPem(leafKey), chainPem: caPem, password: 'open', name: 'x' });
      const result = await importPkcs12(der, 'open');
      expect(result.certificates).toEqual([leafPem, caPem]);
      expect(result.privateKey && publicKeysEqual(result.privateKey, leafKey)).toBe(true);
    });

    it.runIf(legacy)('reads an openssl -legacy file (RC2-40 certificates, 3DES key, SHA-1 MAC)', async () => {
      const der = await makePkcs12({ certificatePem: leafPem, keyPem: exportPrivateKeyPem(leafKey), chainPem: caPem, password: 'old', legacy: true });
      const result = await importPkcs12(der, 'old');
      expect(result.certificates).toEqual([leafPem, caPem]);
      expect(result.privateKey && publicKeysEqual(result.privateKey, leafKey)).toBe(true);
    });

    it('reports a wrong password as Pkcs12PasswordError', async () => {
      const der = await makePkcs12({ certificatePem: leafPem, keyPem: exportPrivateKeyPem(leafKey), password: 'open' });
      await expect(importPkcs12(der, 'shut')).rejects.toThrow(Pkcs12PasswordError);
      await expect(importPkcs12(der, '')).rejects.toThrow(Pkcs12PasswordError);
    });

    it('reports garbage as Pkcs12Error', async () => {
      await expect(importPkcs12(Buffer.from('not a pfx'), 'x')).rejects.toThrow(Pkcs12Error);
      await expect(importPkcs12(randomBytes(64), 'x')).rejects.toThrow(Pkcs12Error);
    });
  });
});

describe('rc2CbcDecrypt', () => {
  it.runIf(legacy).each([
    ['rc2-40-cbc', 5, 40],
    ['rc2-64-cbc', 8, 64],
    ['rc2-cbc', 16, 128],
  ])('decrypts what openssl %s encrypts', async (cipher, keyBytes, effectiveBits) => {
    const key = randomBytes(keyBytes);
    const iv = randomBytes(8);
    const plain = randomBytes(123);
    const args = ['enc', `-${cipher}`, '-provider', 'legacy', '-provider', 'default', '-K', key.toString('hex'), '-iv', iv.toString('hex')];
    const { stdoutBuffer, code, stderr } = await openssl(args, plain);
    expect(code, stderr).toBe(0);
    expect(rc2CbcDecrypt(key, effectiveBits, iv, stdoutBuffer)).toEqual(plain);
  });
});
