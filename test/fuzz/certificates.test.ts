/**
 * Certificate and CSR parsing (src/crypto/certificates.ts) on damaged PEM and DER: each parse
 * returns details or throws CertificateParseError (which callers report as "Not a valid
 * certificate" / "Please provide a valid CSR"), with no crash underneath; signature checks of
 * damaged input answer false.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CertificateParseError, parseCertificate, parseCsr, verifySignedBy } from '../../src/crypto/certificates.js';
import { Asn1Error, EncodedName, parseExact } from '../../src/crypto/asn1.js';
import { toPem } from '../../src/crypto/pem.js';
import { damagedBytes, damagedPem, damagedPemText, damagedTree, fixture, fixtureDer, parsesOrRefuses, randomDer, runs } from './fuzz.js';

const CERTIFICATE = fixture('ec-cert.pem').toString();
const CSR = fixture('csr.pem').toString();

/** Reads every field callers read, so that lazily failing getters are exercised too. */
function readAll(details: object | undefined): void {
  if (details) JSON.stringify(details, (_key, value: unknown) => (typeof value === 'bigint' ? String(value) : value));
}

describe('parseCertificate', () => {
  it('parses the seed', () => {
    expect(parseCertificate(CERTIFICATE).san).toEqual(['DNS:fuzz.example', 'IP Address:192.0.2.1', 'email:a@fuzz.example', 'URI:https://fuzz.example/']);
  });

  it('parses damaged DER or throws CertificateParseError', () => {
    fc.assert(fc.property(damagedBytes(fixtureDer('ec-cert.pem')), (der) => readAll(parsesOrRefuses([CertificateParseError], () => parseCertificate(der)))), { numRuns: runs(500) });
  });

  it('parses certificates with a field changed deep inside (lengths kept right) or throws CertificateParseError', () => {
    fc.assert(fc.property(damagedTree(fixtureDer('ec-cert.pem')), (der) => readAll(parsesOrRefuses([CertificateParseError], () => parseCertificate(der)))), { numRuns: runs(1000) });
  });

  it('parses damaged PEM (DER damaged inside, or the text itself) or throws CertificateParseError', () => {
    fc.assert(
      fc.property(fc.oneof(damagedPem(CERTIFICATE), damagedPemText(CERTIFICATE)), (pem) => readAll(parsesOrRefuses([CertificateParseError], () => parseCertificate(pem)))),
    );
  });

  it('parses random TLV trees in a CERTIFICATE block or throws CertificateParseError', () => {
    fc.assert(fc.property(randomDer, (der) => readAll(parsesOrRefuses([CertificateParseError], () => parseCertificate(toPem('CERTIFICATE', der))))));
  });

  it('answers false, never throws, when asked whether a damaged certificate was signed by the seed', async () => {
    await fc.assert(
      fc.asyncProperty(damagedPem(CERTIFICATE), async (pem) => {
        expect(typeof (await verifySignedBy(pem, CERTIFICATE))).toBe('boolean');
        expect(typeof (await verifySignedBy(CERTIFICATE, pem))).toBe('boolean');
      }),
      { numRuns: runs(200) },
    );
  });
});

describe('parseCsr', () => {
  it('parses the seed', () => {
    expect(parseCsr(CSR)).toMatchObject({ common: 'csr.fuzz.example', signature_valid: true });
  });

  it('parses damaged DER or PEM or throws CertificateParseError', () => {
    fc.assert(
      fc.property(fc.oneof(damagedBytes(fixtureDer('csr.pem')), damagedPem(CSR), damagedPemText(CSR)), (input) =>
        readAll(parsesOrRefuses([CertificateParseError], () => parseCsr(input))),
      ),
      { numRuns: runs(500) },
    );
  });

  it('parses CSRs with a field changed deep inside (lengths kept right) or throws CertificateParseError', () => {
    fc.assert(fc.property(damagedTree(fixtureDer('csr.pem')), (der) => readAll(parsesOrRefuses([CertificateParseError], () => parseCsr(der)))), { numRuns: runs(1000) });
  });

  it('parses random TLV trees in a CERTIFICATE REQUEST block or throws CertificateParseError', () => {
    fc.assert(fc.property(randomDer, (der) => readAll(parsesOrRefuses([CertificateParseError], () => parseCsr(toPem('CERTIFICATE REQUEST', der))))));
  });
});

describe('minimal counterexamples', () => {
  it('a Name attribute without its value is malformed DER, not a TypeError', () => {
    // SEQUENCE { SET { SEQUENCE { UTF8String "fuzz.example" } } }: the attribute type is missing.
    const name = Buffer.concat([Buffer.from('30123110300e0c0c', 'hex'), Buffer.from('fuzz.example')]);
    expect(() => parseExact(name, EncodedName)).toThrow(Asn1Error);
  });
});
