/**
 * DNS message decoding and TSIG verification (src/dns/dns-message.ts) on damaged replies, as an
 * authoritative server or anything on the path could send them: each returns or throws DnsError.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeMessage, DnsError, encodeMessage, findTsig, OPCODE, signMessage, txtStrings, txtValue, verifyResponse, type TsigKey } from '../../src/dns/dns-message.js';
import { damagedBytes, parsesOrRefuses, runs } from './fuzz.js';

const KEY: TsigKey = { name: 'certmid-key', algorithm: 'hmac-sha256', secret: Buffer.alloc(32, 7) };
const SIGNED_AT = 1_765_000_000;
const REQUEST_MAC = Buffer.alloc(32, 1);

const u32 = (value: number) => Buffer.from([value >>> 24, (value >> 16) & 0xff, (value >> 8) & 0xff, value & 0xff]);
const name = (text: string) => Buffer.concat([...text.split('.').map((label) => Buffer.concat([Buffer.from([label.length]), Buffer.from(label)])), Buffer.from([0])]);
const TYPE_A = 1;
const CLASS_IN = 1;

/** A reply with every record type the decoder reads, and compressed names. */
const REPLY = encodeMessage({
  id: 0x1234,
  flags: { qr: true, aa: true, opcode: OPCODE.QUERY },
  questions: [{ name: '_acme-challenge.example.test', type: 'TXT', class: 'IN' }],
  answers: [
    { name: '_acme-challenge.example.test', type: 'TXT', class: 'IN', ttl: 60, data: [...txtStrings('token-one'), ...txtStrings('')] },
    { name: 'www.example.test', type: 'CNAME', class: 'IN', ttl: 60, data: 'example.test' },
    { name: 'example.test', type: 'A', class: 'IN', ttl: 60, data: '192.0.2.1' },
  ],
  authorities: [
    { name: 'example.test', type: 'NS', class: 'IN', ttl: 60, data: 'ns1.example.test' },
    { name: 'example.test', type: 'SOA', class: 'IN', ttl: 60, data: { mname: 'ns1.example.test', rname: 'hostmaster.example.test', serial: 1, refresh: 2, retry: 3, expire: 4, minimum: 5 } },
  ],
});
/** The header of a reply, and a compression pointer back to the question's name (offset 12). */
const COMPRESSED = Buffer.concat([
  Buffer.from([0x00, 0x01, 0x81, 0x80, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00]),
  name('example.test'),
  Buffer.from([0x00, TYPE_A, 0x00, CLASS_IN]),
  Buffer.from([0xc0, 0x0c, 0x00, TYPE_A, 0x00, CLASS_IN]),
  u32(60),
  Buffer.from([0x00, 0x04, 192, 0, 2, 2]),
]);
const SIGNED = signMessage(REPLY, KEY, { requestMac: REQUEST_MAC, timeSigned: SIGNED_AT }).message;

/** Decodes, reads every TXT value, finds the TSIG and verifies it: only DnsError may come out. */
function readReply(bytes: Buffer): void {
  const message = parsesOrRefuses([DnsError], () => decodeMessage(bytes));
  if (!message) return;
  for (const record of [...message.answers, ...message.authorities, ...message.additionals]) txtValue(record);
  parsesOrRefuses([DnsError], () => findTsig(message));
  parsesOrRefuses([DnsError], () => verifyResponse(bytes, message, KEY, REQUEST_MAC, SIGNED_AT));
}

describe('DNS messages', () => {
  it('verifies the undamaged signed seed', () => {
    expect(() => verifyResponse(SIGNED, decodeMessage(SIGNED), KEY, REQUEST_MAC, SIGNED_AT)).not.toThrow();
    expect(decodeMessage(COMPRESSED).answers[0]?.name).toBe('example.test');
  });

  it('decodes and verifies damaged replies or throws DnsError', () => {
    fc.assert(fc.property(fc.oneof(damagedBytes(REPLY), damagedBytes(SIGNED), damagedBytes(COMPRESSED)), readReply), { numRuns: runs(1000) });
  });

  it('decodes random bytes behind a valid header or throws DnsError', () => {
    const header = fc.tuple(fc.nat({ max: 0xffff }), fc.nat({ max: 8 }), fc.nat({ max: 8 }), fc.nat({ max: 8 }), fc.nat({ max: 8 }));
    fc.assert(
      fc.property(header, fc.uint8Array({ maxLength: 300 }), ([id, q, an, ns, ar], body) => {
        const head = Buffer.from([id >> 8, id & 0xff, 0x81, 0x80, 0, q, 0, an, 0, ns, 0, ar]);
        readReply(Buffer.concat([head, body]));
      }),
    );
  });
});
