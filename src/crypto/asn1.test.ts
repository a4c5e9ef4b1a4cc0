import { AsnArray, AsnPropTypes, AsnType, AsnTypeTypes } from '@peculiar/asn1-schema';
import { describe, expect, it } from 'vitest';
import { Asn1Error, MAX_BER_NESTING, parseBer, parseExact } from './asn1.js';

/** SEQUENCE OF anything: decodes every well-formed SEQUENCE, so only the decoder's own bounds refuse. */
class AnySequence extends AsnArray<ArrayBuffer> {}
AsnType({ type: AsnTypeTypes.Sequence, itemType: AsnPropTypes.Any })(AnySequence);

/** `depth` SEQUENCEs one inside the other, with BER indefinite lengths (tag, 0x80, …, end-of-contents). */
const nestedSequences = (depth: number) => Buffer.from('3080'.repeat(depth) + '0000'.repeat(depth), 'hex');

describe('the bounded BER decoder', () => {
  it(`reads BER nested ${MAX_BER_NESTING} deep and refuses one level more as malformed`, () => {
    expect(parseBer(nestedSequences(MAX_BER_NESTING), AnySequence)).toHaveLength(1);
    expect(() => parseBer(nestedSequences(MAX_BER_NESTING + 1), AnySequence)).toThrow(Asn1Error);
  });

  it('refuses nesting 100,000 deep at once, without a stack overflow', () => {
    expect(() => parseBer(nestedSequences(100_000), AnySequence)).toThrow(/nesting depth/);
  });

  it.each([
    ['a length past the end', '3005020101'],
    ['a four-gigabyte length', '3084ffffffff0000'],
    ['a truncated length', '3082'],
    ['nothing', ''],
  ])('refuses %s as Asn1Error', (_what, hex) => {
    expect(() => parseBer(Buffer.from(hex, 'hex'), AnySequence)).toThrow(Asn1Error);
  });

  it('ignores trailing data in BER files, as OpenSSL does, and refuses it where the value must fill the input', () => {
    const der = Buffer.from('3003020101', 'hex');
    const trailing = Buffer.concat([der, Buffer.from([0])]);
    expect(parseBer(trailing, AnySequence)).toHaveLength(1);
    expect(parseExact(der, AnySequence)).toHaveLength(1);
    expect(() => parseExact(trailing, AnySequence)).toThrow(/Trailing data/);
  });
});
