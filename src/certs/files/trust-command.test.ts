import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runTrustCommand } from './trust-command.js';

describe('runTrustCommand', () => {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'certmid-trust-command-'));
  afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));
  const context = { trustedStoreDir: '/store', bundle: '/store.pem', timeoutMs: 30_000 };

  function script(name: string, body: string): string {
    const file = path.join(scratch, name);
    fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    return file;
  }

  it('runs the argument vector without a shell, with PATH and where the store is but none of the daemon environment', async () => {
    const record = path.join(scratch, 'record');
    process.env.CERTMID_TRUST_COMMAND_TEST_SECRET = 'must not leak';
    try {
      const recorder = script('recorder.sh', `printf '%s\\n' "$@" > "${record}"; env >> "${record}"`);
      expect(await runTrustCommand([recorder, 'two words', '$HOME', ';', 'ls'], context)).toBeNull();
    } finally {
      delete process.env.CERTMID_TRUST_COMMAND_TEST_SECRET;
    }
    const lines = fs.readFileSync(record, 'utf8').split('\n');
    expect(lines.slice(0, 4)).toEqual(['two words', '$HOME', ';', 'ls']);
    expect(lines).toContain('CERTMID_TRUSTED_STORE_DIR=/store');
    expect(lines).toContain('CERTMID_TRUSTED_STORE_BUNDLE=/store.pem');
    expect(lines.some((line) => line.startsWith('PATH='))).toBe(true);
    expect(lines.join('\n')).not.toContain('must not leak');
  });

  it('reports what a failing command wrote to stderr, or its exit status', async () => {
    expect(await runTrustCommand([script('fails.sh', 'echo "rehash: cannot write /etc/ssl/certs" >&2; exit 3')], context)).toBe('rehash: cannot write /etc/ssl/certs');
    const silent = script('silent.sh', 'exit 4');
    expect(await runTrustCommand([silent], context)).toBe(`${silent} exited with status 4`);
  });

  it('reports a command that cannot be run', async () => {
    expect(await runTrustCommand([path.join(scratch, 'missing')], context)).toMatch(/could not be run: spawn .*ENOENT/);
  });

  it('kills a command that does not finish in time and says so', async () => {
    const hangs = script('hangs.sh', 'exec sleep 600');
    expect(await runTrustCommand([hangs], { ...context, timeoutMs: 500 })).toBe(`${hangs} did not finish within 0.5 seconds`);
  });
});
