import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { failure as rejection } from '../../../test/helpers/dns-provider-contract.js';
import { shellProvider, type ShellDnsProvider } from './shell.js';

const isRoot = process.getuid?.() === 0;
/** The default "nobody" works only for root; anyone else runs scripts as themselves. */
const runAs = isRoot ? 'nobody' : userInfo().username;
const NAME = '_acme-challenge.example.com';

let dir = '';
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'certmid-shell-'));
  // The run-as user must reach the scripts and write their traces.
  await chmod(dir, 0o777);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function script(name: string, body: string, mode = 0o755): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, `#!/bin/sh\n${body}\n`);
  await chmod(path, mode);
  return path;
}

function provider(path: string, overrides: { user?: string; timeout?: number } = {}): ShellDnsProvider {
  // create() takes parsed attributes; a sub-minimum timeout keeps the timeout test short.
  return shellProvider.create({ script: path, user: runAs, timeout: 60, delay: 60, ...overrides }, { timeoutMs: 1000 }) as ShellDnsProvider;
}

/** A killed process may linger as a zombie when nothing reaps it; that counts as gone. */
async function alive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return stat !== undefined && !/^\d+ \(.*\) Z/.test(stat);
}

describe('shell attributes', () => {
  it('defaults user, timeout and delay as TrueNAS does', () => {
    expect(shellProvider.schema.parse({ script: '/opt/dns.sh' })).toEqual({ script: '/opt/dns.sh', user: 'nobody', timeout: 60, delay: 60 });
    for (const field of Object.values(shellProvider.schema.shape)) expect(field.description).toBeTruthy();
    expect(shellProvider.secretFields).toEqual([]);
  });

  it('enforces the minimums and an absolute script path', () => {
    expect(shellProvider.schema.safeParse({ script: '/opt/dns.sh', timeout: 4 }).success).toBe(false);
    expect(shellProvider.schema.safeParse({ script: '/opt/dns.sh', delay: 9 }).success).toBe(false);
    expect(shellProvider.schema.safeParse({ script: '/opt/dns.sh', timeout: 5.5 }).success).toBe(false);
    expect(shellProvider.schema.safeParse({ script: 'dns.sh' }).error?.issues[0]?.message).toBe('The script must be an absolute path');
  });

  it('exposes the propagation delay', () => {
    expect(shellProvider.create(shellProvider.schema.parse({ script: '/opt/dns.sh', delay: 90 }), { timeoutMs: 1000 })).toMatchObject({ propagationDelaySeconds: 90 });
  });
});

describe('shell provider', () => {
  it('passes action, domain, validation name and value in TrueNAS order', async () => {
    const path = await script('dns.sh', `echo "$#:$*" >> ${dir}/calls`);
    const dns = provider(path);
    await dns.createTxt(NAME, 'value-1');
    await dns.createTxt(`_acme-challenge.www.example.com.`, 'value-2');
    await dns.deleteTxt(NAME, 'value-1');
    expect((await readFile(join(dir, 'calls'), 'utf8')).trim().split('\n')).toEqual([
      `4:set example.com ${NAME} value-1`,
      '4:set www.example.com _acme-challenge.www.example.com value-2',
      `4:unset example.com ${NAME} value-1`,
    ]);
  });

  it.runIf(isRoot)('runs the script as the configured user', async () => {
    const path = await script('whoami.sh', `id -un > ${dir}/user`);
    await provider(path, { user: 'nobody' }).createTxt(NAME, 'x');
    expect((await readFile(join(dir, 'user'), 'utf8')).trim()).toBe('nobody');
  });

  it('keeps the daemon’s environment from the script', async () => {
    process.env.CERTMID_TEST_SECRET = 'do-not-leak';
    try {
      const path = await script('env.sh', `echo "[$CERTMID_TEST_SECRET]" > ${dir}/env`);
      await provider(path).createTxt(NAME, 'x');
      expect((await readFile(join(dir, 'env'), 'utf8')).trim()).toBe('[]');
    } finally {
      delete process.env.CERTMID_TEST_SECRET;
    }
  });

  it('reports a failing script with its exit status and stderr', async () => {
    const path = await script('fail.sh', 'echo "starting" ; echo "zone example.com is locked" >&2 ; exit 3');
    const error = await rejection(provider(path).createTxt(NAME, 'x'));
    expect(error.message).toBe(`shell: ${path} set exited with status 3: zone example.com is locked`);
  });

  it('kills the script and what it started when the timeout passes', async () => {
    const path = await script('slow.sh', `sleep 30 &\necho $! > ${dir}/child\necho "still waiting" >&2\nwait`);
    const started = Date.now();
    const error = await rejection(provider(path, { timeout: 1 }).createTxt(NAME, 'x'));
    expect(Date.now() - started).toBeLessThan(5000);
    expect(error.message).toBe(`shell: ${path} set did not finish within 1 s: still waiting`);
    const child = Number(await readFile(join(dir, 'child'), 'utf8'));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await alive(child)).toBe(false);
  });

  it('stops the script when the caller cancels', async () => {
    const path = await script('slow.sh', 'sleep 30');
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const error = await rejection(provider(path).deleteTxt(NAME, 'x', controller.signal));
    expect(error.message).toBe(`shell: ${path} unset cancelled`);
  });

  it.runIf(isRoot)('names a user that does not exist', async () => {
    const path = await script('dns.sh', 'exit 0');
    const error = await rejection(provider(path, { user: 'certmid-no-such-user' }).createTxt(NAME, 'x'));
    expect(error.message).toBe("shell: Unable to locate 'certmid-no-such-user' user");
  });

  it.runIf(!isRoot)('refuses another user without root', async () => {
    const path = await script('dns.sh', 'exit 0');
    const error = await rejection(provider(path, { user: 'nobody' }).createTxt(NAME, 'x'));
    expect(error.message).toMatch(/cannot run as 'nobody'/);
  });

  it('verifies an executable script', async () => {
    const path = await script('dns.sh', 'exit 0');
    await expect(provider(path).verify()).resolves.toBeUndefined();
  });

  it('fails verification of a missing script', async () => {
    const path = join(dir, 'missing.sh');
    expect(existsSync(path)).toBe(false);
    const error = await rejection(provider(path).verify());
    expect(error.message).toBe(`shell: ${path} does not exist`);
  });

  it('fails verification of a script the user cannot execute', async () => {
    const path = await script('plain.sh', 'exit 0', 0o644);
    const error = await rejection(provider(path).verify());
    expect(error.message).toBe(`shell: '${runAs}' user does not have permission to execute ${path}`);
  });

  it.runIf(isRoot)('fails verification when the user cannot reach the script’s directory', async () => {
    const path = await script('dns.sh', 'exit 0');
    await chmod(dir, 0o700);
    const error = await rejection(provider(path, { user: 'nobody' }).verify());
    expect(error.message).toBe(`shell: 'nobody' user does not have permission to execute ${path}`);
  });
});
