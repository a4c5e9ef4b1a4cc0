import { randomBytes, type KeyObject } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { hasLegacyProvider, makePkcs12, openssl, opensslOk, pkcs12Info, withFiles } from '../../test/helpers/openssl.js';
import { issueCertificate } from './certificates.js';
import { caDefaultExtensions, defaultExtensions } from './extensions.js';
import { exportPrivateKeyPem, generatePrivateKey, loadPrivateKey, publicKeysEqual, readPrivateKey } from './keys.js';
import { ContentInfo, EncryptedContent, id_data, id_encryptedData } from '@peculiar/asn1-cms';
import { AuthenticatedSafe, PFX } from '@peculiar/asn1-pfx';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import { EncryptedData, Pkcs12Error, Pkcs12PasswordError, exportPkcs12, importPkcs12 } from './pkcs12.js';
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

  describe('PKCS#12 made by openssl, imported, exported and read back by openssl', () => {
    /** openssl's file with `options` imports with its chain, leaf first, and exports to a file openssl reads the same. */
    async function roundTrip(options: readonly string[]): Promise<void> {
      const made = await opensslPkcs12(leafPem, exportPrivateKeyPem(leafKey), caPem, 'made', options);
      const imported = await importPkcs12(made, 'made');
      expect(imported.certificates).toEqual([leafPem, caPem]);
      expect(imported.privateKey && publicKeysEqual(imported.privateKey, leafKey)).toBe(true);
      const exported = await exportPkcs12({ certificates: imported.certificates, privateKey: imported.privateKey, password: 'again' });
      const reading = await opensslReading(exported, 'again');
      expect(reading.certificates).toEqual([leafPem, caPem]);
      expect(publicKeysEqual(reading.key, leafKey)).toBe(true);
    }

    it.each([
      ['default: PBES2 AES-256-CBC, SHA-256 MAC', []],
      ['PBES2 AES-128-CBC, SHA-512 MAC', ['-certpbe', 'AES-128-CBC', '-keypbe', 'AES-128-CBC', '-macalg', 'sha512']],
      ['PBES2 3DES (DES-EDE3-CBC)', ['-certpbe', 'DES-EDE3-CBC', '-keypbe', 'DES-EDE3-CBC']],
      ['PKCS#12 PBE SHA-1 3DES, SHA-1 MAC', ['-certpbe', 'PBE-SHA1-3DES', '-keypbe', 'PBE-SHA1-3DES', '-macalg', 'sha1']],
      ['no encryption: plain certificates and key bag', ['-certpbe', 'NONE', '-keypbe', 'NONE']],
      ['no MAC', ['-nomac']],
    ])('%s', async (_name, options) => {
      await roundTrip(options);
    });

    it('reads BER: contents in OCTET STRING segments, indefinite lengths (as some tools write)', async () => {
      const made = await opensslPkcs12(leafPem, exportPrivateKeyPem(leafKey), caPem, 'ber', ['-nomac']);
      const authSafe = AsnConvert.parse(AsnConvert.parse(AsnConvert.parse(made, PFX).authSafe.content, OctetString), AuthenticatedSafe);
      const segmented = authSafe.map((info) => {
        if (info.contentType === id_data) return new ContentInfo({ contentType: id_data, content: inSegments(AsnConvert.parse(info.content, OctetString)) });
        expect(info.contentType).toBe(id_encryptedData);
        const encrypted = AsnConvert.parse(info.content, EncryptedData);
        const ciphertext = Buffer.from(encrypted.encryptedContentInfo.encryptedContent!.value!.buffer);
        const halves = [ciphertext.subarray(0, 16), ciphertext.subarray(16)].map((half) => new OctetString(half));
        encrypted.encryptedContentInfo.encryptedContent = new EncryptedContent({ constructedValue: halves });
        return new ContentInfo({ contentType: id_encryptedData, content: AsnConvert.serialize(encrypted) });
      });
      const pfx = new PFX({ version: 3, authSafe: new ContentInfo({ contentType: id_data, content: inSegments(AsnConvert.serialize(new AuthenticatedSafe(segmented))) }) });
      pfx.macData = undefined!;
      const ber = Buffer.from(AsnConvert.serialize(pfx));
      expect(ber.includes(Buffer.from([0x24, 0x80]))).toBe(true);
      const imported = await importPkcs12(ber, 'ber');
      expect(imported.certificates).toEqual([leafPem, caPem]);
      expect(imported.privateKey && publicKeysEqual(imported.privateKey, leafKey)).toBe(true);
    });

    it.runIf(legacy)('legacy: PKCS#12 PBE RC2-40 certificates, 3DES key, SHA-1 MAC', async () => {
      await roundTrip(['-legacy']);
    });

    it.each([
      ['pkcs8 -v2 aes-256-cbc', ['pkcs8', '-topk8', '-v2', 'aes-256-cbc']],
      ['pkcs8 -v2 des3 -v2prf hmacWithSHA1', ['pkcs8', '-topk8', '-v2', 'des3', '-v2prf', 'hmacWithSHA1']],
      ['pkcs8 -scrypt', ['pkcs8', '-topk8', '-scrypt']],
      ['pkcs8 -v1 PBE-SHA1-3DES', ['pkcs8', '-topk8', '-v1', 'PBE-SHA1-3DES']],
      ['rsa -aes256 -traditional (Proc-Type PEM)', ['rsa', '-aes256', '-traditional']],
    ])('a key from openssl %s goes into a PKCS#12 file openssl reads', async (_name, command) => {
      const encrypted = (await opensslOk([...command, '-passout', 'pass:key pass'], exportPrivateKeyPem(leafKey))).stdout;
      const privateKey = await readPrivateKey(encrypted, 'key pass');
      const exported = await exportPkcs12({ certificates: [leafPem, caPem], privateKey, password: 'bundle' });
      const reading = await opensslReading(exported, 'bundle');
      expect(reading.certificates).toEqual([leafPem, caPem]);
      expect(publicKeysEqual(reading.key, leafKey)).toBe(true);
      expect(await importPkcs12(exported, 'bundle')).toMatchObject({ certificates: [leafPem, caPem] });
    });
  });
});

/** `openssl pkcs12 -export` of a leaf, its key and its chain with extra `options`. */
function opensslPkcs12(leafPem: string, keyPem: string, chainPem: string, password: string, options: readonly string[]): Promise<Buffer> {
  return withFiles({ 'leaf.pem': leafPem, 'key.pem': keyPem, 'chain.pem': chainPem }, async (paths, dir) => {
    const out = `${dir}/out.p12`;
    const files = ['-in', paths['leaf.pem']!, '-inkey', paths['key.pem']!, '-certfile', paths['chain.pem']!, '-out', out];
    await opensslOk(['pkcs12', '-export', ...files, '-passout', `pass:${password}`, ...options]);
    return readFile(out);
  });
}

/**
 * `octets` as a BER constructed OCTET STRING of two segments with an indefinite length: the
 * constructed tag (0x24) and 0x80, the segments, then the two zero bytes of end-of-contents.
 */
function inSegments(octets: OctetString | ArrayBuffer): ArrayBuffer {
  const bytes = Buffer.from(octets instanceof OctetString ? octets.buffer : octets);
  const segments = [bytes.subarray(0, 10), bytes.subarray(10)].map((segment) => Buffer.from(AsnConvert.serialize(new OctetString(segment))));
  return new Uint8Array(Buffer.concat([Buffer.from([0x24, 0x80]), ...segments, Buffer.alloc(2)])).buffer;
}

/** What `openssl pkcs12 -info -nodes` finds in `der`: it must open it; its certificates' PEM blocks and its key. */
async function opensslReading(der: Buffer, password: string): Promise<{ certificates: string[]; key: KeyObject }> {
  const { ok, text } = await pkcs12Info(der, password);
  expect(ok, text).toBe(true);
  const certificates = text.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----\n/g) ?? [];
  const key = text.match(/-----BEGIN PRIVATE KEY-----[^-]+-----END PRIVATE KEY-----\n/)?.[0];
  expect(key, text).toBeDefined();
  return { certificates, key: loadPrivateKey(key!) };
}

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
