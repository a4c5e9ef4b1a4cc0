import { describe, expect, it } from 'vitest';
import {
  CLASS,
  DnsError,
  OPCODE,
  RCODE,
  TYPE,
  decodeMessage,
  encodeMessage,
  encodeName,
  findTsig,
  signMessage,
  txtRdata,
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
      questions: [{ name: 'example.test', type: TYPE.SOA, class: CLASS.IN }],
      answers: [{ name: 'example.test', type: TYPE.ANY, class: CLASS.ANY, ttl: 0, rdata: Buffer.alloc(0) }],
      authorities: [{ name: '_acme-challenge.example.test', type: TYPE.TXT, class: CLASS.IN, ttl: 60, rdata: txtRdata('token') }],
    });
    const message = decodeMessage(bytes);
    expect(message.id).toBe(0xbeef);
    expect(message.flags).toMatchObject({ qr: false, opcode: OPCODE.UPDATE, rcode: 0 });
    expect(message.questions).toEqual([{ name: 'example.test', type: TYPE.SOA, class: CLASS.IN }]);
    expect(message.answers[0]).toMatchObject({ name: 'example.test', type: TYPE.ANY, class: CLASS.ANY, ttl: 0 });
    expect(message.authorities[0]).toMatchObject({ name: '_acme-challenge.example.test', type: TYPE.TXT, class: CLASS.IN, ttl: 60 });
    expect(txtValue(message.authorities[0]!)).toBe('token');
  });

  it('splits TXT values longer than 255 bytes into character-strings and joins them on decode', () => {
    const value = 'x'.repeat(300);
    const rdata = txtRdata(value);
    expect(rdata[0]).toBe(255);
    expect(rdata[256]).toBe(45);
    expect(rdata.length).toBe(302);
    const message = decodeMessage(encodeMessage({ id: 1, answers: [{ name: 'a.test', type: TYPE.TXT, class: CLASS.IN, ttl: 1, rdata }] }));
    const record = message.answers[0]!;
    expect(record.data.kind === 'txt' && record.data.strings.map((s) => s.length)).toEqual([255, 45]);
    expect(txtValue(record)).toBe(value);
  });

  it('encodes an empty TXT value as one empty character-string', () => {
    expect(txtRdata('')).toEqual(Buffer.from([0]));
  });

  it('rejects labels over 63 bytes and names over 255 bytes', () => {
    expect(() => encodeName(`${'a'.repeat(64)}.test`)).toThrow(DnsError);
    expect(() => encodeName(Array.from({ length: 50 }, () => 'abcde').join('.'))).toThrow(/longer than 255/);
    expect(encodeName('Example.TEST.', true)).toEqual(encodeName('example.test'));
  });
});

describe('message decoding', () => {
  /** A reply whose answer names and CNAME target use compression pointers. */
  function compressedReply(): Buffer {
    const header = Buffer.concat([u16(0x1234), u16(0x8580), u16(1), u16(2), u16(0), u16(0)]);
    const question = Buffer.concat([encodeName('www.example.test'), u16(TYPE.TXT), u16(CLASS.IN)]);
    // "host" + pointer to "example.test" (offset 12 + 4: after the "www" label).
    const cnameRdata = Buffer.concat([Buffer.from([4]), Buffer.from('host'), Buffer.from([0xc0, 16])]);
    const cname = Buffer.concat([Buffer.from([0xc0, 12]), u16(TYPE.CNAME), u16(CLASS.IN), Buffer.from([0, 0, 0, 60]), u16(cnameRdata.length), cnameRdata]);
    const cnameRdataOffset = header.length + question.length + cname.length - cnameRdata.length;
    const txt = Buffer.concat([Buffer.from([0xc0, cnameRdataOffset]), u16(TYPE.TXT), u16(CLASS.IN), Buffer.from([0, 0, 0, 60]), u16(6), txtRdata('hello')]);
    return Buffer.concat([header, question, cname, txt]);
  }

  it('follows name compression pointers, in owner names and inside RDATA', () => {
    const message = decodeMessage(compressedReply());
    expect(message.flags).toMatchObject({ qr: true, aa: true, rd: true, ra: true, rcode: RCODE.NOERROR });
    expect(message.answers.map((r) => r.name)).toEqual(['www.example.test', 'host.example.test']);
    expect(message.answers[0]!.data).toEqual({ kind: 'name', name: 'host.example.test' });
    expect(txtValue(message.answers[1]!)).toBe('hello');
  });

  it('rejects pointers that loop or point forward', () => {
    const header = Buffer.concat([u16(1), u16(0), u16(1), u16(0), u16(0), u16(0)]);
    expect(() => decodeMessage(Buffer.concat([header, Buffer.from([0xc0, 12]), u16(1), u16(1)]))).toThrow(/bad name pointer/);
    expect(() => decodeMessage(Buffer.concat([header, Buffer.from([0xc0, 40]), u16(1), u16(1)]))).toThrow(/bad name pointer/);
  });

  it('rejects truncated messages', () => {
    const reply = compressedReply();
    expect(() => decodeMessage(reply.subarray(0, 8))).toThrow(DnsError);
    expect(() => decodeMessage(reply.subarray(0, reply.length - 3))).toThrow(/truncated/);
  });

  it('rejects RDATA whose length does not match its content', () => {
    const bad = encodeMessage({ id: 1, answers: [{ name: 'a.test', type: TYPE.A, class: CLASS.IN, ttl: 1, rdata: Buffer.from([127, 0, 0, 1, 9]) }] });
    expect(() => decodeMessage(bad)).toThrow(/wrong length/);
  });
});

describe('TSIG', () => {
  const query = (): Buffer => encodeMessage({ id: 0x4242, questions: [{ name: 'example.test', type: TYPE.SOA, class: CLASS.IN }] });

  /** The server's side: a reply to `request`, signed over the request's MAC. */
  function signedReply(requestMac: Buffer, options: { key?: TsigKey; timeSigned?: number } = {}): Buffer {
    const reply = encodeMessage({
      id: 0x4242,
      flags: { qr: true, aa: true },
      questions: [{ name: 'example.test', type: TYPE.SOA, class: CLASS.IN }],
      answers: [{ name: 'example.test', type: TYPE.TXT, class: CLASS.IN, ttl: 60, rdata: txtRdata('payload') }],
    });
    return signMessage(reply, options.key ?? KEY, { requestMac, timeSigned: options.timeSigned }).message;
  }

  it('appends a TSIG record as the last additional record', () => {
    const { message, mac } = signMessage(query(), KEY);
    const decoded = decodeMessage(message);
    const tsig = findTsig(decoded);
    expect(tsig).not.toBeNull();
    expect(tsig!.name).toBe('certmid-key');
    expect(tsig!.class).toBe(CLASS.ANY);
    expect(tsig!.data.tsig).toMatchObject({ algorithm: 'hmac-sha256', fudge: 300, originalId: 0x4242, error: 0 });
    expect(tsig!.data.tsig.mac).toEqual(mac);
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
    const rdata = Buffer.concat([encodeName('hmac-sha256'), Buffer.alloc(6), u16(300), u16(0), u16(0x4242), u16(RCODE.BADKEY), u16(0)]);
    const reply = encodeMessage({
      id: 0x4242,
      flags: { qr: true, rcode: RCODE.NOTAUTH },
      additionals: [{ name: tsig.name, type: TYPE.TSIG, class: CLASS.ANY, ttl: 0, rdata }],
    });
    expect(() => verifyResponse(reply, decodeMessage(reply), KEY, tsig.data.tsig.mac)).toThrow('TSIG key rejected by the server (BADKEY)');
  });
});
