/**
 * The ASN.1 entry points (src/crypto/asn1.ts) on damaged certificates, CSRs, CRLs, keys and PKCS#12
 * files, random TLV trees and random bytes: every schema parse and leaf read returns a value or
 * throws Asn1Error, and deep nesting is refused rather than overflowing the stack.
 */
import { CertificateList, Extensions } from '@peculiar/asn1-x509';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  Asn1Error,
  CertificateParts,
  CrlDistributionPointsOctets,
  EncodedName,
  GeneralNamesOctets,
  NameConstraintsOctets,
  RequestParts,
  decodeText,
  parseExact,
  readValue,
} from '../../src/crypto/asn1.js';
import { CertificateParseError, parseCertificate, parseCsr } from '../../src/crypto/certificates.js';
import { toPem } from '../../src/crypto/pem.js';
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

const SCHEMAS = [CertificateParts, RequestParts, CertificateList, EncodedName, Extensions, GeneralNamesOctets, CrlDistributionPointsOctets, NameConstraintsOctets];

/** Parses `bytes` with every schema and as one value; only Asn1Error may come out. */
function readEverything(bytes: Buffer): void {
  for (const schema of SCHEMAS) parsesOrRefuses([Asn1Error], () => parseExact(bytes, schema as new () => unknown));
  const value = parsesOrRefuses([Asn1Error], () => readValue(bytes));
  if (value) parsesOrRefuses([Asn1Error], () => decodeText(value));
}

describe('ASN.1 entry points', () => {
  it('read damaged certificates, CSRs, CRLs, keys and PKCS#12 files or throw Asn1Error', () => {
    fc.assert(fc.property(damagedOf(SEEDS), readEverything), { numRuns: runs(300) });
  });

  it('read random TLV trees or throw Asn1Error', () => {
    fc.assert(fc.property(randomDer, readEverything), { numRuns: runs(300) });
  });

  it('read random bytes or throw Asn1Error', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }).map(Buffer.from), readEverything));
  });

  it('refuse trailing bytes after the value', () => {
    const certificate = fixtureDer('ec-cert.pem');
    expect(parseExact(certificate, CertificateParts).tbsCertificate.subject.length).toBeGreaterThan(0);
    expect(() => parseExact(Buffer.concat([certificate, Buffer.from([0x05, 0x00])]), CertificateParts)).toThrow(Asn1Error);
    expect(() => parseCertificate(Buffer.concat([certificate, Buffer.from([0x00])]))).toThrow(CertificateParseError);
  });

  it.each([
    ['SEQUENCE, indefinite', 0x30, true],
    ['SEQUENCE, definite', 0x30, false],
    ['constructed OCTET STRING, indefinite', 0x24, true],
    ['constructed OCTET STRING, definite', 0x24, false],
  ] as const)('refuse %s lengths nested 20,000 deep with Asn1Error, not a stack overflow', (_what, tag, indefinite) => {
    const bytes = nestedDer(20_000, tag, indefinite);
    expect(() => parseExact(bytes, CertificateParts)).toThrow(Asn1Error);
    expect(() => parseCertificate(toPem('CERTIFICATE', bytes))).toThrow(CertificateParseError);
    expect(() => parseCsr(bytes)).toThrow(CertificateParseError);
  });

  it('refuse a UniversalString with a code point beyond Unicode (minimal counterexample)', () => {
    expect(() => decodeText(readValue(Buffer.from([0x1c, 0x04, 0x30, 0x82, 0x02, 0x61])))).toThrow(Asn1Error);
    expect(decodeText(readValue(Buffer.from([0x1c, 0x04, 0x00, 0x01, 0xf6, 0x00])))).toBe('\u{1f600}');
  });
});
