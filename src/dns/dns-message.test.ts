import { describe, expect, it } from 'vitest';
import {
  DnsError,
  OPCODE,
  RCODE,
  decodeMessage,
  decodeTsigRdata,
  encodeMessage,
  encodeName,
  findTsig,
  signMessage,
  txtStrings,
  txtValue,
  verifyResponse,
  type TsigKey,
} from './dns-message.js';

const KEY: TsigKey = { name: 'certmid-key', algorithm: 'hmac-sha256', secret: Buffer.from('c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ==', 'base64') };

const u16 = (value: number): Buffer => Buffer.from([value >> 8, value & 0xff]);

describe('message encoding', () => {
  it('round-trips an UPDATE with zone, prerequisite and update sections', () => {
    const bytes = encodeMessage({
      id: 0xbeef,
      flags: { opcode: OPCODE.UPDATE },
      questions: [{ name: 'example.test', type: 'SOA', class: 'IN' }],
      answers: [{ name: 'example.test', type: 'ANY', class: 'ANY', ttl: 0, data: Buffer.alloc(0) }],
      authorities: [{ name: '_acme-challenge.example.test', type: 'TXT', class: 'IN', ttl: 60, data: txtStrings('token') }],
    });
    const message = decodeMessage(bytes);
    expect(message.id).toBe(0xbeef);
    expect(message.flags).toMatchObject({ qr: false, opcode: OPCODE.UPDATE, rcode: 0 });
    expect(message.questions).toEqual([{ name: 'example.test', type: 'SOA', class: 'IN' }]);
    expect(message.answers[0]).toMatchObject({ name: 'example.test', type: 'ANY', class: 'ANY', ttl: 0, data: Buffer.alloc(0) });
    expect(message.authorities[0]).toMatchObject({ name: '_acme-challenge.example.test', type: 'TXT', class: 'IN', ttl: 60 });
    expect(txtValue(message.authorities[0]!)).toBe('token');
  });

  it('encodes a class NONE deletion byte for byte as RFC 2136 section 2.5.4 lays it out', () => {
    const bytes = encodeMessage({
      id: 0x0102,
      flags: { opcode: OPCODE.UPDATE },
      questions: [{ name: 'example.test', type: 'SOA', class: 'IN' }],
      authorities: [
        { name: 'a.example.test', type: 'TXT', class: 'IN', ttl: 60, data: txtStrings('new') },
        { name: 'b.example.test', type: 'TXT', class: 'NONE', ttl: 0, data: txtStrings('old') },
      ],
    });
    const record = (name: string, klass: number, ttl: number, value: string): Buffer =>
      Buffer.concat([encodeName(name), u16(16), u16(klass), u16(0), u16(ttl), u16(value.length + 1), Buffer.from([value.length]), Buffer.from(value)]);
    const expected = Buffer.concat([
      Buffer.from([0x01, 0x02, 0x28, 0x00, 0, 1, 0, 0, 0, 2, 0, 0]),
      encodeName('example.test'),
      u16(6),
      u16(1),
      record('a.example.test', 1, 60, 'new'),
      record('b.example.test', 254, 0, 'old'),
    ]);
    expect(bytes.toString('hex')).toBe(expected.toString('hex'));
  });

  it('splits TXT values longer than 255 bytes into character-strings and joins them on decode', () => {
    const value = 'x'.repeat(300);
    expect(txtStrings(value).map((string) => string.length)).toEqual([255, 45]);
    const bytes = encodeMessage({ id: 1, answers: [{ name: 'a.test', type: 'TXT', class: 'IN', ttl: 1, data: txtStrings(value) }] });
    expect(bytes.readUInt16BE(bytes.length - 302 - 2)).toBe(302);
    expect(bytes[bytes.length - 302]).toBe(255);
    expect(bytes[bytes.length - 46]).toBe(45);
    const record = decodeMessage(bytes).answers[0]!;
    expect(record.type === 'TXT' && record.data).toEqual([Buffer.from('x'.repeat(255)), Buffer.from('x'.repeat(45))]);
    expect(txtValue(record)).toBe(value);
  });

  it('encodes an empty TXT value as one empty character-string', () => {
    expect(txtStrings('')).toEqual([Buffer.alloc(0)]);
    const bytes = encodeMessage({ id: 1, answers: [{ name: 'a.test', type: 'TXT', class: 'IN', ttl: 1, data: txtStrings('') }] });
    expect(bytes.subarray(-3)).toEqual(Buffer.from([0, 1, 0]));
  });

  it('rejects labels over 63 bytes and names over 255 bytes', () => {
    expect(() => encodeName(`${'a'.repeat(64)}.test`)).toThrow(DnsError);
    expect(() => encodeName(Array.from({ length: 50 }, () => 'abcde').join('.'))).toThrow(/longer than 255/);
    expect(encodeName('Example.TEST.', true)).toEqual(encodeName('example.test'));
    expect(() => encodeMessage({ id: 1, questions: [{ name: `${'a'.repeat(64)}.test`, type: 'TXT' }] })).toThrow(DnsError);
    expect(() => encodeMessage({ id: 1, answers: [{ name: 'a..test', type: 'TXT', data: [] }] })).toThrow(/labels must be 1 to 63 bytes/);
  });
});

describe('message decoding', () => {
  /** A reply whose answer names and CNAME target use compression pointers. */
  function compressedReply(): Buffer {
    const header = Buffer.concat([u16(0x1234), u16(0x8580), u16(1), u16(2), u16(0), u16(0)]);
    const question = Buffer.concat([encodeName('www.example.test'), u16(16), u16(1)]);
    // "host" + pointer to "example.test" (offset 12 + 4: after the "www" label).
    const cnameRdata = Buffer.concat([Buffer.from([4]), Buffer.from('host'), Buffer.from([0xc0, 16])]);
    const cname = Buffer.concat([Buffer.from([0xc0, 12]), u16(5), u16(1), Buffer.from([0, 0, 0, 60]), u16(cnameRdata.length), cnameRdata]);
    const cnameRdataOffset = header.length + question.length + cname.length - cnameRdata.length;
    const txt = Buffer.concat([Buffer.from([0xc0, cnameRdataOffset]), u16(16), u16(1), Buffer.from([0, 0, 0, 60]), u16(6), Buffer.from([5]), Buffer.from('hello')]);
    return Buffer.concat([header, question, cname, txt]);
  }

  it('follows name compression pointers, in owner names and inside RDATA', () => {
    const message = decodeMessage(compressedReply());
    expect(message.flags).toMatchObject({ qr: true, aa: true, rd: true, ra: true, rcode: RCODE.NOERROR });
    expect(message.answers.map((r) => r.name)).toEqual(['www.example.test', 'host.example.test']);
    expect(message.answers[0]).toMatchObject({ type: 'CNAME', data: 'host.example.test' });
    expect(txtValue(message.answers[1]!)).toBe('hello');
  });

  it('rejects pointers that loop or point forward', () => {
    const header = Buffer.concat([u16(1), u16(0), u16(1), u16(0), u16(0), u16(0)]);
    expect(() => decodeMessage(Buffer.concat([header, Buffer.from([0xc0, 12]), u16(1), u16(1)]))).toThrow(/bad pointer/);
    expect(() => decodeMessage(Buffer.concat([header, Buffer.from([0xc0, 40]), u16(1), u16(1)]))).toThrow(/bad pointer/);
    // A label, then a pointer to that pointer itself.
    const loop = Buffer.concat([header, Buffer.from([1, 0x61, 0xc0, 14]), u16(1), u16(1)]);
    expect(() => decodeMessage(loop)).toThrow(DnsError);
  });

  it('rejects truncated messages', () => {
    const reply = compressedReply();
    expect(() => decodeMessage(reply.subarray(0, 8))).toThrow(DnsError);
    for (let length = 12; length < reply.length; length++) expect(() => decodeMessage(reply.subarray(0, length)), `${length} bytes`).toThrow(DnsError);
  });

  it('rejects section counts far larger than the message holds', () => {
    const header = Buffer.concat([u16(1), u16(0x8000), u16(0xffff), u16(0xffff), u16(0xffff), u16(0xffff)]);
    expect(() => decodeMessage(Buffer.concat([header, encodeName('a.test'), u16(1), u16(1)]))).toThrow(/^Malformed DNS message/);
  });

  it('rejects RDATA whose length does not match its content', () => {
    const good = encodeMessage({ id: 1, answers: [{ name: 'a.test', type: 'A', class: 'IN', ttl: 1, data: '127.0.0.1' }] });
    const long = Buffer.concat([good, Buffer.from([9])]);
    long.writeUInt16BE(5, good.length - 6);
    expect(() => decodeMessage(long)).toThrow(/wrong length/);
    expect(() => decodeMessage(Buffer.concat([good, Buffer.from([9])]))).toThrow(/wrong length/);
  });
});

describe('TSIG', () => {
  const query = (): Buffer => encodeMessage({ id: 0x4242, questions: [{ name: 'example.test', type: 'SOA', class: 'IN' }] });

  /** The server's side: a reply to `request`, signed over the request's MAC. */
  function signedReply(requestMac: Buffer, options: { key?: TsigKey; timeSigned?: number } = {}): Buffer {
    const reply = encodeMessage({
      id: 0x4242,
      flags: { qr: true, aa: true },
      questions: [{ name: 'example.test', type: 'SOA', class: 'IN' }],
      answers: [{ name: 'example.test', type: 'TXT', class: 'IN', ttl: 60, data: txtStrings('payload') }],
    });
    return signMessage(reply, options.key ?? KEY, { requestMac, timeSigned: options.timeSigned }).message;
  }

  it('appends a TSIG record as the last additional record', () => {
    const { message, mac } = signMessage(query(), KEY);
    const decoded = decodeMessage(message);
    expect(decoded.additionals).toHaveLength(1);
    expect(decoded.additionals[0]).toMatchObject({ name: 'certmid-key', type: 'TSIG', class: 'ANY', ttl: 0 });
    const tsig = findTsig(decoded);
    expect(tsig?.name).toBe('certmid-key');
    expect(tsig?.tsig).toMatchObject({ algorithm: 'hmac-sha256', fudge: 300, originalId: 0x4242, error: 0 });
    expect(tsig?.tsig.mac).toEqual(mac);
    expect(mac.length).toBe(32);
  });

  it('accepts a correctly signed reply', () => {
    const { mac } = signMessage(query(), KEY);
    const reply = signedReply(mac);
    expect(() => verifyResponse(reply, decodeMessage(reply), KEY, mac)).not.toThrow();
  });

  it('rejects a reply tampered with after signing', () => {
    const { mac } = signMessage(query(), KEY);
    const reply = signedReply(mac);
    const tampered = Buffer.from(reply);
    tampered[tampered.indexOf('payload') + 1] = 'A'.charCodeAt(0);
    expect(() => verifyResponse(tampered, decodeMessage(tampered), KEY, mac)).toThrow(/MAC does not match/);
  });

  it('rejects a reply signed over another request', () => {
    const { mac } = signMessage(query(), KEY);
    const reply = signedReply(Buffer.alloc(32, 7));
    expect(() => verifyResponse(reply, decodeMessage(reply), KEY, mac)).toThrow(/MAC does not match/);
  });

  it('rejects an unsigned reply and one signed with another key', () => {
    const { mac } = signMessage(query(), KEY);
    const unsigned = encodeMessage({ id: 0x4242, flags: { qr: true } });
    expect(() => verifyResponse(unsigned, decodeMessage(unsigned), KEY, mac)).toThrow(/not signed with TSIG \(NOERROR\)/);
    const other = signedReply(mac, { key: { ...KEY, name: 'intruder' } });
    expect(() => verifyResponse(other, decodeMessage(other), KEY, mac)).toThrow(/another TSIG key/);
  });

  it('rejects a reply signed outside the fudge window', () => {
    const { mac } = signMessage(query(), KEY);
    const reply = signedReply(mac, { timeSigned: Math.floor(Date.now() / 1000) - 301 });
    expect(() => verifyResponse(reply, decodeMessage(reply), KEY, mac)).toThrow(/outside the fudge window/);
  });

  it('reports the TSIG error a server puts in an unsigned reply', () => {
    const { message } = signMessage(query(), KEY);
    // What BIND sends for an unknown key: the request's TSIG echoed with error BADKEY and no MAC.
    const request = decodeMessage(message);
    const tsig = findTsig(request)!;
    const data = Buffer.concat([encodeName('hmac-sha256'), Buffer.alloc(6), u16(300), u16(0), u16(0x4242), u16(RCODE.BADKEY), u16(0)]);
    const reply = encodeMessage({
      id: 0x4242,
      flags: { qr: true, rcode: RCODE.NOTAUTH },
      additionals: [{ name: tsig.name, type: 'TSIG', class: 'ANY', ttl: 0, data }],
    });
    expect(() => verifyResponse(reply, decodeMessage(reply), KEY, tsig.tsig.mac)).toThrow('TSIG key rejected by the server (BADKEY)');
  });

  it('refuses TSIG RDATA that is truncated, overlong or has a compressed algorithm name', () => {
    const data = Buffer.concat([encodeName('hmac-sha256'), Buffer.alloc(6), u16(300), u16(2), Buffer.from([1, 2]), u16(7), u16(0), u16(0)]);
    expect(decodeTsigRdata(data)).toMatchObject({ algorithm: 'hmac-sha256', fudge: 300, mac: Buffer.from([1, 2]), originalId: 7 });
    for (let length = 0; length < data.length; length++) expect(() => decodeTsigRdata(data.subarray(0, length)), `${length} bytes`).toThrow(DnsError);
    expect(() => decodeTsigRdata(Buffer.concat([data, Buffer.from([0])]))).toThrow(/wrong length/);
    expect(() => decodeTsigRdata(Buffer.concat([Buffer.from([0xc0, 12]), data.subarray(13)]))).toThrow(/algorithm name/);
  });
});
