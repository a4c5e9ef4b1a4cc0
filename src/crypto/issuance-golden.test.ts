/**
 * Issuance and parsing against the golden set written by scripts/issuance-golden.ts: the same
 * requests with the same keys must give the same encodings, the same openssl reading and the same
 * parsed fields as when the set was made.
 */
import { readFileSync } from 'node:fs';
import { AsnConvert } from '@peculiar/asn1-schema';
import { CertificationRequest } from '@peculiar/asn1-csr';
import { Certificate, CertificateList } from '@peculiar/asn1-x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openssl } from '../../test/helpers/openssl.js';
import { GOLDEN_CASES, OPENSSL_MADE, goldenFile, parsedJson, type GoldenKind } from '../../test/helpers/issuance-golden.js';
import { splitPem } from './pem.js';

const OPENSSL_TEXT: Record<GoldenKind, string[]> = {
  certificate: ['x509', '-text', '-noout'],
  csr: ['req', '-text', '-noout'],
  crl: ['crl', '-text', '-noout'],
};

const stored = (name: string, suffix: string): string => readFileSync(goldenFile(name, suffix), 'utf8');
const pemOf = (name: string): string => stored(name, 'pem');

/** The signed part (TBSCertificate, CertificationRequestInfo or TBSCertList). */
function signedPart(kind: GoldenKind, der: Buffer): Buffer {
  if (kind === 'certificate') return Buffer.from(AsnConvert.serialize(AsnConvert.parse(der, Certificate).tbsCertificate));
  if (kind === 'csr') return Buffer.from(AsnConvert.serialize(AsnConvert.parse(der, CertificationRequest).certificationRequestInfo));
  return Buffer.from(AsnConvert.serialize(AsnConvert.parse(der, CertificateList).tbsCertList));
}

/** openssl's text without the signature bytes (everything from the last "Signature Value:" on). */
const withoutSignature = (text: string): string => text.slice(0, text.lastIndexOf('Signature Value:'));

describe('issuance golden set', () => {
  let savedTimeZone: string | undefined;
  beforeAll(() => {
    savedTimeZone = process.env.TZ;
    process.env.TZ = 'UTC';
  });
  afterAll(() => {
    if (savedTimeZone === undefined) delete process.env.TZ;
    else process.env.TZ = savedTimeZone;
  });

  for (const golden of GOLDEN_CASES) {
    it(`${golden.name}: same ${golden.randomSignature ? 'signed part' : 'DER'}, openssl text and parsed fields`, async () => {
      const pem = await golden.make(pemOf);
      const der = splitPem(pem)[0]!.der;
      const expected = Buffer.from(stored(golden.name, 'der.hex').trim(), 'hex');
      if (golden.randomSignature) {
        expect(signedPart(golden.kind, der).toString('hex')).toBe(signedPart(golden.kind, expected).toString('hex'));
      } else {
        expect(der.toString('hex')).toBe(expected.toString('hex'));
      }
      const text = await openssl(OPENSSL_TEXT[golden.kind], pem);
      expect(text.code).toBe(0);
      const expectedText = stored(golden.name, 'txt');
      if (golden.randomSignature) expect(withoutSignature(text.stdout)).toBe(withoutSignature(expectedText));
      else expect(text.stdout).toBe(expectedText);
      if (golden.kind !== 'crl') {
        expect(parsedJson(golden.kind, pemOf(golden.name))).toEqual(JSON.parse(stored(golden.name, 'parsed.json')));
      }
    });
  }

  for (const made of OPENSSL_MADE) {
    it(`${made.name}: openssl-made ${made.kind} parses to the stored fields`, () => {
      expect(parsedJson(made.kind, pemOf(made.name))).toEqual(JSON.parse(stored(made.name, 'parsed.json')));
    });
  }
});
