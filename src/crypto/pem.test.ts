import { describe, expect, it } from 'vitest';
import { splitPem, toPem } from './pem.js';

describe('splitPem', () => {
  it('returns every block in order with its label and DER', () => {
    const text = `junk\n${toPem('CERTIFICATE', Buffer.from('one'))}between\r\n${toPem('X509 CRL', Buffer.from('two'))}`;
    const blocks = splitPem(text);
    expect(blocks.map((block) => [block.label, block.der.toString()])).toEqual([
      ['CERTIFICATE', 'one'],
      ['X509 CRL', 'two'],
    ]);
    expect(blocks[0]?.pem).toBe(toPem('CERTIFICATE', Buffer.from('one')).trimEnd());
  });

  it('reads CRLF line endings and skips RFC 1421 headers', () => {
    const pem = '-----BEGIN RSA PRIVATE KEY-----\r\nProc-Type: 4,ENCRYPTED\r\nDEK-Info: AES-256-CBC,00\r\n\r\nAAEC\r\n-----END RSA PRIVATE KEY-----\r\n';
    const [block] = splitPem(pem);
    expect(block?.label).toBe('RSA PRIVATE KEY');
    expect(block?.der).toEqual(Buffer.from([0, 1, 2]));
  });

  it('returns [] when there is no block', () => {
    expect(splitPem('nothing here')).toEqual([]);
    expect(splitPem('-----BEGIN CERTIFICATE-----\nAAAA\n-----END OTHER-----\n')).toEqual([]);
  });
});

describe('toPem', () => {
  it('wraps base64 at 64 columns and ends with a newline', () => {
    const pem = toPem('TEST', Buffer.alloc(100, 0xff));
    const lines = pem.split('\n');
    expect(lines[0]).toBe('-----BEGIN TEST-----');
    expect(lines.slice(1, 4).map((line) => line.length)).toEqual([64, 64, 8]); // 100 bytes = 136 base64 characters
    expect(pem.endsWith('-----END TEST-----\n')).toBe(true);
    expect(splitPem(pem)[0]?.der).toEqual(Buffer.alloc(100, 0xff));
  });
});
