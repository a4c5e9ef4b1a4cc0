import { describe, expect, it } from 'vitest';
import { SanError, formatSan, ipBytes, ipText, parseSan } from './san.js';

describe('parseSan', () => {
  it('reads typed TrueNAS and OpenSSL forms', () => {
    expect(parseSan(['DNS:a.example', 'IP:10.0.0.1', 'IP Address:2001:db8::1', 'email:x@a.example', 'URI:https://a.example/p'])).toEqual([
      { type: 'DNS', value: 'a.example' },
      { type: 'IP', value: '10.0.0.1' },
      { type: 'IP', value: '2001:db8::1' },
      { type: 'email', value: 'x@a.example' },
      { type: 'URI', value: 'https://a.example/p' },
    ]);
  });

  it('classifies bare values: IPv4, IPv6, e-mail, URI, else DNS', () => {
    expect(parseSan(['192.0.2.7', '::1', 'admin@example.com', 'ldap://dir.example/o=x', 'host', '*.example.com'])).toEqual([
      { type: 'IP', value: '192.0.2.7' },
      { type: 'IP', value: '::1' },
      { type: 'email', value: 'admin@example.com' },
      { type: 'URI', value: 'ldap://dir.example/o=x' },
      { type: 'DNS', value: 'host' },
      { type: 'DNS', value: '*.example.com' },
    ]);
  });

  it('converts internationalized names to punycode', () => {
    expect(parseSan(['bücher.example', 'DNS:*.münchen.example', 'info@bücher.example'])).toEqual([
      { type: 'DNS', value: 'xn--bcher-kva.example' },
      { type: 'DNS', value: '*.xn--mnchen-3ya.example' },
      { type: 'email', value: 'info@xn--bcher-kva.example' },
    ]);
  });

  it('keeps ASCII names as given and trims whitespace', () => {
    expect(parseSan(['  Mixed.Example ', 'DNS: spaced.example'])).toEqual([
      { type: 'DNS', value: 'Mixed.Example' },
      { type: 'DNS', value: 'spaced.example' },
    ]);
  });

  it.each([
    '',
    'IP:300.1.1.1',
    'IP:not-an-ip',
    'bad_label-.example',
    'a..b',
    'x.*.example',
    '*',
    'has space.example',
    'email:@nobody',
    'URI:no scheme',
    `${'a'.repeat(64)}.example`,
  ])('rejects %j with a SanError at its index', (entry) => {
    let caught: unknown;
    try {
      parseSan(['ok.example', entry]);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(SanError);
    expect(caught).toMatchObject({ index: 1 });
  });

  it.each(['', '   ', 'DNS:', 'IP Address: '])('says "Empty value not allowed" for %j, without quoting it', (entry) => {
    expect(() => parseSan(['ok.example', entry])).toThrow(expect.objectContaining({ index: 1, message: 'Empty value not allowed' }));
  });

  it('names the entry it refuses for other problems', () => {
    expect(() => parseSan(['IP:300.1.1.1'])).toThrow(expect.objectContaining({ index: 0, message: 'IP:300.1.1.1: not a valid IPv4 or IPv6 address' }));
  });
});

describe('formatSan', () => {
  it('prints entries as OpenSSL does', () => {
    const entries = parseSan(['a.example', '8.8.8.8', '2001:db8::1', 'fe80::1:0:0:abcd', '::ffff:1.2.3.4', 'x@a.example', 'https://a.example/']);
    expect(formatSan(entries)).toEqual([
      'DNS:a.example',
      'IP Address:8.8.8.8',
      'IP Address:2001:DB8:0:0:0:0:0:1',
      'IP Address:FE80:0:0:0:1:0:0:ABCD',
      'IP Address:0:0:0:0:0:FFFF:102:304',
      'email:x@a.example',
      'URI:https://a.example/',
    ]);
  });
});

describe('ipBytes and ipText', () => {
  it('round-trip IPv4 and IPv6 addresses', () => {
    expect(ipBytes('1.2.3.4')).toEqual(Buffer.from([1, 2, 3, 4]));
    expect(ipBytes('::')).toEqual(Buffer.alloc(16));
    expect(ipText(ipBytes('1:2:3:4:5:6:7:8'))).toBe('1:2:3:4:5:6:7:8');
    expect(ipText(ipBytes('2001:db8::'))).toBe('2001:DB8:0:0:0:0:0:0');
    expect(ipText(Buffer.alloc(8))).toBe('<invalid length=8>');
  });
});
