import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertmidClient } from '../../src/client/client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = path.join(ROOT, 'bin', 'certclt.mjs');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface RunOptions {
  /** Credentials and other CERTCLT_* variables; the admin's password login when omitted. */
  env?: Record<string, string>;
  input?: string;
  /** Called once the process has started, while it runs. */
  whileRunning?: (done: Promise<Run>) => Promise<void>;
}

let server: TestServer;
let adminEnv: Record<string, string>;
let tmpDir: string;

beforeAll(async () => {
  server = await startTestServer();
  adminEnv = { CERTCLT_USERNAME: server.admin.username, CERTCLT_PASSWORD: server.admin.password };
  tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'certclt-test-'));
});

afterAll(async () => {
  await server?.close();
  if (tmpDir) fs.rmSync(tmpDir, { recursive: true, force: true });
});

/** Runs the real CLI (`node bin/certclt.mjs`) against the test server. */
async function certclt(args: string[], options: RunOptions = {}): Promise<Run> {
  // Only the variables the test gives, so a developer's own CERTCLT_* settings do not leak in.
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('CERTCLT_')),
  );
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    env: { ...inherited, ...(options.env ?? adminEnv) },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdin.end(options.input ?? '');
  const done = new Promise<Run>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  await options.whileRunning?.(done);
  return done;
}

const onServer = (...args: string[]) => ['-u', server.url, ...args];

describe('call', () => {
  it('prints the result of a call with JSON arguments', async () => {
    const arg = '{"a": [1, "two", null], "b": {"$date": 1720023726000}}';
    const run = await certclt(onServer('call', 'test.echo', arg));
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toBe('{"a":[1,"two",null],"b":{"$date":1720023726000}}\n');
  });

  it('passes an argument that is not JSON as a string and prints a string result as is', async () => {
    const run = await certclt(onServer('call', 'test.echo', 'hello world'));
    expect(run).toMatchObject({ code: 0, stdout: 'hello world\n' });
  });

  it('reads an argument from stdin for -', async () => {
    const run = await certclt(onServer('call', 'test.echo', '-'), { input: '{"from": "stdin"}\n' });
    expect(run).toMatchObject({ code: 0, stdout: '{"from":"stdin"}\n' });
  });

  it('follows a job with --job, printing progress lines on stderr and the result on stdout', async () => {
    const run = await certclt(onServer('call', '--job', 'test.job_with_progress', '3'));
    expect(run).toMatchObject({ code: 0, stdout: '{"steps":3}\n' });
    const lines = run.stderr.trimEnd().split('\n');
    // Before its first message the job's state speaks for it.
    expect(lines[0]).toMatch(/^0% (Waiting to start|Running)$/);
    expect(lines.slice(1)).toEqual([
      '25% Step 1 of 3',
      '50% Step 2 of 3',
      '75% Step 3 of 3',
      '100% Step 3 of 3',
    ]);
  });

  it('exits 1 with the job error when the job fails', async () => {
    const run = await certclt(onServer('call', '-j', 'test.job_fails', 'Something broke'));
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr.trimEnd().split('\n').at(-1)).toBe('[EINVAL] Something broke');
  });

  it('exits 1 naming an unknown method, and suggests the nearest one there is', async () => {
    expect(await certclt(onServer('call', 'no_such.method'))).toMatchObject({ code: 1, stdout: '', stderr: 'no_such.method: no such method\n' });
    expect(await certclt(onServer('call', 'certificate.quer'))).toMatchObject({
      code: 1,
      stderr: 'certificate.quer: no such method; did you mean certificate.query?\n',
    });
    expect((await certclt(onServer('call', '-j', 'certificate.craete', '{}'))).stderr).toBe('certificate.craete: no such method; did you mean certificate.create?\n');
  });

  it('refuses an argument that starts like JSON but is not, saying where, and passes plain words on', async () => {
    const run = await certclt(onServer('call', 'test.echo', '{"a": 1,}'));
    expect(run.code).toBe(2);
    expect(run.stderr.split('\n')[0]).toMatch(/^certclt: argument 1 starts like JSON but is not: .*position 8/);
    expect((await certclt(onServer('call', 'test.echo', 'plain', '[1,'))).stderr).toMatch(/^certclt: argument 2 starts like JSON but is not: /);
    expect(await certclt(onServer('call', 'test.echo', 'a [b'))).toMatchObject({ code: 0, stdout: 'a [b\n' });
  });

  it('says "not found" when a query asked for one entry matches none', async () => {
    const run = await certclt(onServer('call', 'user.query', '[["username", "=", "nobody"]]', '{"get": true}'));
    expect(run).toMatchObject({ code: 1, stdout: '', stderr: 'user.query: not found\n' });
  });

  it('exits 1 with the validation reason for invalid params', async () => {
    const run = await certclt(onServer('call', 'api_key.create', '{"name": ""}'));
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^\[EINVAL\] api_key_create\.name: .+\n$/);
  });

  it('exits 1 at once when --job calls a method that is not a job, even if its number is some job id', async () => {
    // A finished job whose id the plain method below answers, so the number is a real job id.
    const job = await certclt(onServer('call', '-j', 'test.job_validates', '{"count": 1}'));
    expect(job.code).toBe(0);
    const jobs = await certclt(onServer('call', 'core.get_jobs', '[]', '{"count": true}'));
    const run = await certclt(onServer('call', '-j', 'test.echo', jobs.stdout.trim()));
    expect(run).toEqual({ code: 1, stdout: '', stderr: 'test.echo is not a job method; call it without --job\n' });
  });

  it('bounds the wait for a job with --timeout and says which job it stopped waiting for', async () => {
    const run = await certclt(onServer('call', '-j', '-t', '2', 'test.job_slow', '600000'));
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr.trimEnd().split('\n').at(-1)).toMatch(/^Stopped waiting for job \d+ \(test\.job_slow\) after 2 s$/);
  });

  it('exits 1 with the validation reason when a job rejects its params', async () => {
    const run = await certclt(onServer('call', '-j', 'test.job_validates', '{"count": 0}'));
    expect(run.code).toBe(1);
    expect(run.stderr.trimEnd().split('\n').at(-1)).toMatch(/^\[EINVAL\] test_job\.count: /);
  });
});

describe('login', () => {
  it('logs in with -U and -P', async () => {
    const run = await certclt(onServer('-U', server.admin.username, '-P', server.admin.password, 'ping'), { env: {} });
    expect(run).toMatchObject({ code: 0, stdout: 'pong\n' });
  });

  it('exits 1 with a message for bad credentials', async () => {
    const run = await certclt(onServer('-U', server.admin.username, '-P', 'wrong', 'ping'), { env: {} });
    expect(run).toMatchObject({ code: 1, stdout: '', stderr: 'Invalid username or password\n' });
  });

  it('logs in with an API key file, or CERTCLT_API_KEY', async () => {
    const client = await CertmidClient.connect(server.url, { WebSocket });
    await client.login(server.admin.username, server.admin.password);
    const { key } = await client.call<{ key: string }>('api_key.create', { name: `certclt-test-${Date.now()}` });
    await client.close();
    const keyFile = path.join(tmpDir, 'key');
    fs.writeFileSync(keyFile, `${key}\n`, { mode: 0o600 });

    const fromFile = await certclt(onServer('-K', keyFile, 'ping'), { env: {} });
    expect(fromFile).toMatchObject({ code: 0, stdout: 'pong\n' });
    const fromEnv = await certclt(onServer('ping'), { env: { CERTCLT_API_KEY: key } });
    expect(fromEnv).toMatchObject({ code: 0, stdout: 'pong\n' });
  });

  it('exits 1 when the API key file cannot be read', async () => {
    const run = await certclt(onServer('-K', path.join(tmpDir, 'missing'), 'ping'), { env: {} });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^Cannot read the API key file: ENOENT/);
  });

  it('exits 1 with the server reason when not logged in', async () => {
    const run = await certclt(onServer('ping'), { env: {} });
    expect(run).toMatchObject({ code: 1, stderr: '[ENOTAUTHENTICATED] Not authenticated\n' });
  });
});

describe('subscribe', () => {
  it('prints each event as a JSON line and exits after -n events', async () => {
    const run = await certclt(onServer('subscribe', 'core.get_jobs', '-n', '2'), {
      // The CLI subscribes some time after it starts; jobs keep coming until it has seen enough.
      whileRunning: async (done) => {
        const client = await CertmidClient.connect(server.url, { WebSocket });
        await client.login(server.admin.username, server.admin.password);
        let finished = false;
        void done.then(() => (finished = true));
        while (!finished) {
          await client.callJob('test.job_with_progress', [1, 0]);
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        await client.close();
      },
    });
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    for (const line of lines) {
      expect(JSON.parse(line)).toMatchObject({
        collection: 'core.get_jobs',
        id: expect.any(Number),
        fields: { method: 'test.job_with_progress' },
      });
    }
  });

  it('exits 1 when the events do not come within --timeout', async () => {
    // --timeout also bounds the login and core.subscribe replies, so it leaves them room.
    const run = await certclt(onServer('subscribe', 'core.get_jobs', '-n', '1', '-t', '1.5'));
    expect(run).toEqual({ code: 1, stdout: '', stderr: 'Stopped waiting for events after 1.5 s\n' });
  });
});

describe('methods and completion', () => {
  it('lists the methods the caller may call, all or of one namespace', async () => {
    const all = (await certclt(onServer('methods'))).stdout.trimEnd().split('\n');
    expect(all).toContain('certificate.query');
    expect(all).toContain('core.ping');
    const namespace = (await certclt(onServer('methods', 'certificateauthority'))).stdout.trimEnd().split('\n');
    expect(namespace.length).toBeGreaterThan(3);
    expect(namespace.every((name) => name.startsWith('certificateauthority.'))).toBe(true);
  });

  it('completes commands and method names in bash', async () => {
    const bin = path.join(tmpDir, 'bin');
    fs.mkdirSync(bin, { recursive: true });
    fs.writeFileSync(path.join(bin, 'certclt'), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" -u "${server.url}" "$@"\n`, { mode: 0o755 });
    const script = (await certclt(['completion', 'bash'])).stdout;
    fs.writeFileSync(path.join(tmpDir, 'completion.bash'), script);
    const complete = (...words: string[]) =>
      new Promise<string[]>((resolve, reject) => {
        const line = ['certclt', ...words].map((word) => `'${word}'`).join(' ');
        const program = `source '${path.join(tmpDir, 'completion.bash')}'; COMP_WORDS=(${line}); COMP_CWORD=${words.length}; _certclt; printf '%s\\n' "\${COMPREPLY[@]}"`;
        const child = spawn('bash', ['-c', program], { env: { ...process.env, ...adminEnv, PATH: `${bin}:${process.env.PATH}` } });
        let out = '';
        child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
        child.on('error', reject);
        child.on('close', () => resolve(out.split('\n').filter(Boolean)));
      });
    expect(await complete('pi')).toEqual(['ping']);
    expect(await complete('call', 'certificateauthority.ex')).toEqual(['certificateauthority.export']);
    expect(await complete('-U', 'admin', 'call', 'audit.ve')).toEqual(['audit.verify']);
    expect(await complete('call', '--j')).toEqual(['--job']);
  });
});

describe('installed', () => {
  it('runs from any folder, from the checkout and as the standalone dist/certclt.mjs', async () => {
    const standalone = path.join(ROOT, 'dist', 'certclt.mjs');
    if (!fs.existsSync(standalone)) execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'build.mjs')], { cwd: ROOT });
    const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), 'certclt-elsewhere-'));
    try {
      fs.copyFileSync(standalone, path.join(elsewhere, 'certclt.mjs'));
      for (const program of [BIN, path.join(elsewhere, 'certclt.mjs')]) {
        const run = await new Promise<Run>((resolve, reject) => {
          const child = spawn(process.execPath, [program, '-u', server.url, 'call', 'auth.me'], { cwd: elsewhere, env: { PATH: process.env.PATH ?? '', ...adminEnv } });
          let stdout = '';
          let stderr = '';
          child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
          child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
          child.on('error', reject);
          child.on('close', (code) => resolve({ code, stdout, stderr }));
        });
        expect(run).toMatchObject({ code: 0, stderr: '' });
        expect(JSON.parse(run.stdout)).toMatchObject({ pw_name: 'admin' });
      }
    } finally {
      fs.rmSync(elsewhere, { recursive: true, force: true });
    }
  });
});

describe('ping', () => {
  it('prints pong', async () => {
    expect(await certclt(onServer('ping'))).toEqual({ code: 0, stdout: 'pong\n', stderr: '' });
  });
});

describe('download and upload', () => {
  const options = JSON.stringify({ secretseed: true, passphrase: 'correct horse battery staple' });

  it('saves the configuration to a file only its owner reads, and restores it from that file', async () => {
    const file = path.join(tmpDir, 'config.cmb');
    // The passphrase comes on stdin, kept off the command line.
    const saved = await certclt(onServer('download', file, 'config.save', '-'), { input: options });
    expect(saved).toMatchObject({ code: 0, stdout: '' });
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(file).subarray(0, 24).toString()).toBe('CERTMID-BACKUP-ENCRYPTED');
    const restored = await certclt(onServer('upload', file, 'config.upload', '-'), { input: JSON.stringify({ passphrase: 'correct horse battery staple' }) });
    expect(restored).toMatchObject({ code: 0, stdout: 'null\n' });
    expect(restored.stderr).toContain('100% Backup restored');
  });

  it('exits 1 with the reason when the job refuses', async () => {
    const file = path.join(tmpDir, 'refused.cmb');
    const refused = await certclt(onServer('download', file, 'config.save', '{"secretseed": false}'));
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('[EINVAL] options.secretseed: The master key is kept only in the data directory');
    expect(fs.existsSync(file)).toBe(false);
    fs.writeFileSync(file, 'not a backup');
    const upload = await certclt(onServer('upload', file, 'config.upload'));
    expect(upload.code).toBe(1);
    expect(upload.stderr).toContain('[EINVAL] file: Not a certmid backup');
  });

  it('exits 1 when the file cannot be read, and 2 without a METHOD', async () => {
    const missing = await certclt(onServer('upload', path.join(tmpDir, 'missing.cmb'), 'config.upload'));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^Cannot read .*missing\.cmb: ENOENT/);
    const usage = await certclt(onServer('download', 'x.cmb'));
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/^certclt: download needs a FILE and a METHOD/);
  });
});

describe('usage', () => {
  it('exits 2 with the usage text when the command is incomplete', async () => {
    const run = await certclt(['call']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^certclt: call needs a METHOD\n\nUsage: certclt /);
  });

  it('exits 2 on an unknown option', async () => {
    const run = await certclt(['--frobnicate', 'ping']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('Usage: certclt ');
  });

  it('exits 2 when a username comes without a password', async () => {
    const run = await certclt(onServer('-U', 'admin', 'ping'), { env: {} });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^certclt: a username needs a password/);
  });

  it('prints the usage text on stdout for --help', async () => {
    const run = await certclt(['--help']);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toMatch(/^Usage: certclt \[options\] call METHOD/);
  });

  it('bounds the wait for a server that accepts but never answers with --timeout', async () => {
    const silent = net.createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as net.AddressInfo;
    try {
      const run = await certclt(['-u', `ws://127.0.0.1:${port}/api/current`, '-t', '1', 'ping']);
      expect(run).toMatchObject({ code: 1, stderr: `Cannot connect to ws://127.0.0.1:${port}/api/current: no answer within 1 s\n` });
    } finally {
      silent.close();
      (silent as net.Server & { closeAllConnections?: () => void }).closeAllConnections?.();
    }
  });

  it('exits 1 when it cannot connect', async () => {
    const run = await certclt(['-u', 'ws://127.0.0.1:1/api/current', 'ping']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^Cannot connect to ws:\/\/127\.0\.0\.1:1\/api\/current/);
  });
});
