import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RawSocket } from '../helpers/raw-socket.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'certmid-process-'));
afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

interface Started {
  child: ChildProcess;
  url: string;
  stdout: string[];
  exited: Promise<number | null>;
}

/** Starts the daemon from its sources (compiled-daemon.test.ts runs the built one), on a free port, and waits until it listens. */
async function startProcess(env: Record<string, string> = {}): Promise<Started> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    let buffer = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const lines = buffer.split('\n');
      buffer = lines.pop()!;
      for (const line of lines) {
        stdout.push(line);
        if (line.includes('certmid is listening')) resolve((JSON.parse(line) as { url: string }).url);
      }
    });
    void exited.then((code) => reject(new Error(`daemon exited with ${code}: ${stdout.join('\n')}`)));
  });
  return { child, url, stdout, exited };
}

describe('the daemon process', () => {
  it('generates the admin password once, 0600, and stops cleanly on SIGTERM', async () => {
    const first = await startProcess();
    const announced = first.stdout.find((line) => line.startsWith('Generated password for admin: '));
    expect(announced).toBeDefined();
    const file = path.join(dataDir, 'admin-password');
    const password = fs.readFileSync(file, 'utf8').trim();
    expect(announced).toContain(password);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.join(dataDir, 'master.key')).mode & 0o777).toBe(0o600);
    const logs = first.stdout.filter((line) => line.startsWith('{')).join('\n');
    expect(logs).not.toContain(password);

    const socket = await RawSocket.open(first.url);
    await socket.login('admin', password);
    first.child.kill('SIGTERM');
    expect((await socket.closed).code).toBe(1001);
    expect(await first.exited).toBe(0);
    expect(first.stdout.some((line) => line.includes('certmid stopped'))).toBe(true);

    const second = await startProcess();
    expect(second.stdout.some((line) => line.startsWith('Generated password'))).toBe(false);
    expect(fs.readFileSync(file, 'utf8').trim()).toBe(password);
    const again = await RawSocket.open(second.url);
    await again.login('admin', password);
    again.close();
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });

  it('stops gracefully on a SIGTERM that comes while it is still starting', async () => {
    const fresh = fs.mkdtempSync(path.join(os.tmpdir(), 'certmid-starting-'));
    try {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', DATA_DIR: fresh, PORT: '0', LOG_LEVEL: 'info' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const lines: string[] = [];
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
      let buffer = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        buffer += chunk.toString();
        const complete = buffer.split('\n');
        buffer = complete.pop()!;
        for (const line of complete) {
          lines.push(line);
          // The first start's first line comes before the daemon listens.
          if (line.includes('administrator account created')) child.kill('SIGTERM');
        }
      });
      expect(await exited).toEqual({ code: 0, signal: null });
      // Log lines are JSON; the first start also prints the generated password as plain text.
      const messages = lines.filter((line) => line.startsWith('{')).map((line) => (JSON.parse(line) as { msg: string }).msg);
      expect(messages.indexOf('shutting down')).toBeGreaterThan(messages.indexOf('administrator account created'));
      expect(messages.at(-1)).toBe('certmid stopped');
    } finally {
      fs.rmSync(fresh, { recursive: true, force: true });
    }
  });

  it('refuses to start with invalid configuration and says why', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', DATA_DIR: dataDir, PORT: 'seventy' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).not.toBe(0);
    expect(output).toContain('PORT');
  });
});
