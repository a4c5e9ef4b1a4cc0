import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hostKeyAlgorithms, parseHostKeyPin } from './ssh-host-key.js';

/** Host keys of each type made by ssh-keygen, which also judges their fingerprints. */
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certmid-hostkeys-'));
const keys = (['ed25519', 'ecdsa', 'rsa'] as const).map((type) => {
  const file = path.join(dir, type);
  execFileSync('ssh-keygen', ['-q', '-t', type, ...(type === 'rsa' ? ['-b', '2048'] : []), '-N', '', '-C', `host ${type}`, '-f', file]);
  const line = fs.readFileSync(`${file}.pub`, 'utf8').trim();
  const fingerprintLine = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${file}.pub`], { encoding: 'utf8' }).trim();
  return { type, line, fingerprintLine, fingerprint: fingerprintLine.split(/\s+/)[1]! };
});

describe('host key pins', () => {
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it.each(keys)('reads a $type key line, alone or after a known_hosts host field, with ssh-keygen\'s fingerprint', ({ line, fingerprint }) => {
    const keyType = line.split(' ')[0]!;
    expect(parseHostKeyPin(line)).toEqual({ fingerprint, keyType });
    expect(parseHostKeyPin(`nas.example.com,192.0.2.7 ${line}`)).toEqual({ fingerprint, keyType });
    expect(parseHostKeyPin(`  ${line.split(' ').slice(0, 2).join(' ')}\n`)).toEqual({ fingerprint, keyType });
    expect(parseHostKeyPin(`${line} SHA256:${'A'.repeat(43)}`)).toEqual({ fingerprint, keyType });
  });

  it.each(keys)('reads a $type fingerprint alone or as the whole ssh-keygen -lf line', ({ fingerprint, fingerprintLine }) => {
    expect(parseHostKeyPin(fingerprint)).toEqual({ fingerprint, keyType: null });
    expect(parseHostKeyPin(fingerprintLine)).toEqual({ fingerprint, keyType: null });
    expect(parseHostKeyPin(`${fingerprint}=`)).toEqual({ fingerprint, keyType: null });
  });

  it('refuses what is neither, saying why', () => {
    const [ed25519] = keys;
    const blob = ed25519!.line.split(' ')[1]!;
    expect(parseHostKeyPin('')).toMatch(/^Not an SSH public key line/);
    expect(parseHostKeyPin('hello world')).toMatch(/^Not an SSH public key line/);
    expect(parseHostKeyPin('ssh-ed25519')).toBe('The ssh-ed25519 key line has no base64 key after its type');
    expect(parseHostKeyPin(`ssh-rsa ${blob}`)).toBe('The base64 key does not hold a ssh-rsa key');
    expect(parseHostKeyPin('ssh-ed25519 AAAA')).toBe('The base64 key does not hold a ssh-ed25519 key');
    expect(parseHostKeyPin('SHA256:tooShort')).toMatch(/^The SHA256 fingerprint must be 43 base64 characters/);
    expect(parseHostKeyPin('MD5:12:34')).toMatch(/^Not an SSH public key line/);
  });

  it('asks for the algorithms that present a key of the pinned type', () => {
    expect(hostKeyAlgorithms('ssh-ed25519')).toEqual(['ssh-ed25519']);
    expect(hostKeyAlgorithms('ecdsa-sha2-nistp256')).toEqual(['ecdsa-sha2-nistp256']);
    expect(hostKeyAlgorithms('ssh-rsa')).toEqual(['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']);
  });
});
