import type { KeyObject } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { crlText, verifyChain } from '../../test/helpers/openssl.js';
import { issueCertificate, parseCertificate } from './certificates.js';
import { createCrl } from './crl.js';
import { caDefaultExtensions, defaultExtensions } from './extensions.js';
import { generatePrivateKey, type KeySpec } from './keys.js';
import { splitPem } from './pem.js';

const NOW = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000);
const LATER = new Date(NOW.getTime() + 86_400_000 + 300_000);

interface Ca {
  pem: string;
  key: KeyObject;
}

async function makeCa(spec: KeySpec): Promise<Ca> {
  const key = await generatePrivateKey(spec);
  const pem = await issueCertificate({
    subject: { common: 'CRL CA', organization: 'certmid' },
    san: [],
    publicKey: key,
    signer: { privateKey: key, certificatePem: null },
    serial: 1n,
    notBefore: NOW,
    notAfter: LATER,
    digest: 'SHA256',
    extensions: caDefaultExtensions(),
  });
  return { pem, key };
}

async function makeLeaf(ca: Ca, serial: bigint): Promise<string> {
  const key = await generatePrivateKey({ keyType: 'EC', curve: 'SECP256R1' });
  return issueCertificate({
    subject: { common: `leaf ${serial}` },
    san: [],
    publicKey: key,
    signer: { privateKey: ca.key, certificatePem: ca.pem },
    serial,
    notBefore: NOW,
    notAfter: LATER,
    digest: 'SHA256',
    extensions: defaultExtensions(),
  });
}

describe('createCrl', () => {
  let ca: Ca;
  let revokedLeaf: string;
  let goodLeaf: string;
  let crl: { pem: string; der: Buffer };

  beforeAll(async () => {
    ca = await makeCa({ keyType: 'RSA', keyLength: 2048 });
    revokedLeaf = await makeLeaf(ca, 1001n);
    goodLeaf = await makeLeaf(ca, 1002n);
    crl = await createCrl({
      issuerCertificatePem: ca.pem,
      issuerPrivateKey: ca.key,
      crlNumber: 7n,
      thisUpdate: NOW,
      nextUpdate: LATER,
      digest: 'SHA384',
      revoked: [
        { serial: 1001n, revokedAt: NOW, reason: 'keyCompromise' },
        { serial: 0xdeadbeefn, revokedAt: NOW },
        { serial: 99n, revokedAt: NOW, reason: 'unspecified' },
        { serial: 98n, revokedAt: NOW, reason: 'removeFromCRL' },
      ],
    });
  });

  it('writes a v2 CRL whose signature, number, AKI and reasons openssl reads', async () => {
    expect(crl.pem).toMatch(/^-----BEGIN X509 CRL-----\n/);
    expect(splitPem(crl.pem)[0]?.der).toEqual(crl.der);
    const { ok, text } = await crlText(crl.pem, ca.pem);
    expect(ok).toBe(true);
    expect(text).toContain('Version 2 (0x1)');
    expect(text).toContain('Signature Algorithm: sha384WithRSAEncryption');
    expect(text).toContain('Issuer: CN = CRL CA, O = certmid');
    expect(text).toMatch(/X509v3 CRL Number: \n\s+7\n/);
    expect(text).toMatch(new RegExp(`X509v3 Authority Key Identifier: \\n\\s+${parseCertificate(ca.pem).subject_key_identifier}\\n`));
    expect(text).toMatch(/Serial Number: 03E9\n\s+Revocation Date: .*\n\s+CRL entry extensions:\n\s+X509v3 CRL Reason Code: \n\s+Key Compromise/);
    expect(text).toMatch(/Serial Number: DEADBEEF\n\s+Revocation Date: .*\n\s+Serial Number: 63\n\s+Revocation Date: .*\n\s+Serial Number: 62\n/);
    expect(text).toMatch(/Serial Number: 62\n\s+Revocation Date: .*\n\s+CRL entry extensions:\n\s+X509v3 CRL Reason Code: \n\s+Remove From CRL/);
  });

  it('makes openssl verify -crl_check reject the revoked leaf and accept the good one', async () => {
    const revoked = await verifyChain(revokedLeaf, [ca.pem], { crlPem: crl.pem });
    expect(revoked.ok).toBe(false);
    expect(revoked.output).toContain('certificate revoked');
    expect((await verifyChain(goodLeaf, [ca.pem], { crlPem: crl.pem })).ok).toBe(true);
  });

  it('writes an empty CRL without a revokedCertificates field and with a large CRL number', async () => {
    const empty = await createCrl({
      issuerCertificatePem: ca.pem,
      issuerPrivateKey: ca.key,
      crlNumber: 1n << 70n,
      thisUpdate: NOW,
      nextUpdate: LATER,
      digest: 'SHA256',
      revoked: [],
    });
    const { ok, text } = await crlText(empty.pem, ca.pem);
    expect(ok).toBe(true);
    expect(text).toContain('No Revoked Certificates.');
    expect(text).toMatch(new RegExp(`X509v3 CRL Number: \\n\\s+${1n << 70n}\\n`));
  });

  it.each([
    ['EC P-384', { keyType: 'EC', curve: 'SECP384R1' }],
    ['Ed25519', { keyType: 'EC', curve: 'ed25519' }],
  ] as const)('signs with %s CA keys', async (_name, spec) => {
    const other = await makeCa(spec);
    const leaf = await makeLeaf(other, 5n);
    const list = await createCrl({
      issuerCertificatePem: other.pem,
      issuerPrivateKey: other.key,
      crlNumber: 1n,
      thisUpdate: NOW,
      nextUpdate: LATER,
      digest: 'SHA512',
      revoked: [{ serial: 5n, revokedAt: NOW, reason: 'superseded' }],
    });
    expect((await crlText(list.pem, other.pem)).ok).toBe(true);
    expect((await verifyChain(leaf, [other.pem], { crlPem: list.pem })).output).toContain('certificate revoked');
  });

  it('refuses a key that does not belong to the issuer certificate', async () => {
    const stranger = await generatePrivateKey({ keyType: 'EC', curve: 'SECP256R1' });
    const request = { issuerCertificatePem: ca.pem, issuerPrivateKey: stranger, crlNumber: 1n, thisUpdate: NOW, nextUpdate: LATER, digest: 'SHA256' as const, revoked: [] };
    await expect(createCrl(request)).rejects.toThrow(TypeError);
  });
});
