/** The daemon under measure: the compiled build in its own process, as deployed, reached over its WebSocket. */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import { CertmidClient, type WebSocketConstructor } from '../src/client/client.js';
import { dockerCommand, dockerEnvironment } from '../test/helpers/dockerfile.js';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const PASSWORD = 'bench-password';
/** The Dockerfile's command without `node`. */
export const COMPILED = dockerCommand().slice(1);
/** The image's environment but where it listens and keeps its data. */
const { HOST: _host, PORT: _port, DATA_DIR: _dataDir, ...imageEnv } = dockerEnvironment();
export const IMAGE_ENV = imageEnv;

/** Builds dist/ (unchanged files are not rewritten). */
export function build(): void {
  execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
}

/** The kernel's count of a process's resident memory, in bytes. */
export function rss(pid: number): number {
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
}

/** Resolves with the `url` of the first JSON line on the child's stdout that has one. */
export function announcedUrl(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const lines = buffer.split('\n');
      buffer = lines.pop()!;
      for (const line of lines) {
        const url = line.startsWith('{') ? (JSON.parse(line) as { url?: string }).url : undefined;
        if (url) resolve(url);
      }
    });
    child.once('exit', (code) => reject(new Error(`node ${child.spawnargs.slice(1).join(' ')} exited with ${code}`)));
  });
}

/** Starts `node args` in `cwd` (ROOT unless given) with only `env` (and PATH, HOME) and waits for the URL it announces. */
export async function spawnAnnouncing(args: string[], env: Record<string, string>, cwd = ROOT): Promise<{ child: ChildProcess; url: string; stop(): Promise<void> }> {
  const child = spawn(process.execPath, args, { cwd, env: { PATH: process.env.PATH ?? '', HOME: os.homedir(), ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const stop = async () => {
    child.kill('SIGTERM');
    await exited;
  };
  try {
    return { child, url: await announcedUrl(child), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** A password login on a fresh connection. */
export async function loggedIn(url: string, WebSocketClass: WebSocketConstructor = WebSocket): Promise<CertmidClient> {
  const client = await CertmidClient.connect(url, { WebSocket: WebSocketClass });
  await client.login('admin', PASSWORD);
  return client;
}

/** A compiled daemon as the image runs it, in a fresh data directory, with `env` added (DATABASE_URL for PostgreSQL). */
export interface BenchDaemon {
  url: string;
  pid: number;
  dataDir: string;
  stop(): Promise<void>;
}

/** A compiled daemon's code: the folder it runs in and the command (without `node`) that starts it. */
export interface DaemonProgram {
  root: string;
  command: string[];
}

/** Today's daemon, built in this repository. */
export const TODAY: DaemonProgram = { root: ROOT, command: COMPILED };

export async function startBenchDaemon(env: Record<string, string> = {}, program: DaemonProgram = TODAY): Promise<BenchDaemon> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'certmid-bench-'));
  // BENCH_PROFILE=<dir> writes a V8 CPU profile of each daemon there when it stops.
  const profile = process.env.BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(process.env.BENCH_PROFILE)}`] : [];
  const started = await spawnAnnouncing([...profile, ...program.command], { ...IMAGE_ENV, DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', ADMIN_PASSWORD: PASSWORD, LOG_LEVEL: 'info', ...env }, program.root);
  return {
    url: started.url,
    pid: started.child.pid!,
    dataDir,
    async stop() {
      await started.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
