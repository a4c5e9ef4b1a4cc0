/**
 * The daemon as it is deployed: the JavaScript `npm run build` writes to dist/, run by plain `node`
 * (as the Dockerfile does) and through `npm start`, with no TypeScript loader in the process.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerCommand, dockerEnvironment } from '../helpers/dockerfile.js';
import { RawSocket } from '../helpers/raw-socket.js';
import { redisAvailable, REDIS_URL, dropQueuePrefix, uniquePrefix } from '../helpers/services.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const NODE_FLAGS = ['--enable-source-maps', '--max-semi-space-size=2'];
const DAEMON = 'dist/src/main.js';
const WORKER = 'dist/jobs/worker.js';
const ADMIN_PASSWORD = 'compiled-admin-password';
const MODULE_LOG = path.join(ROOT, 'test/helpers/module-log.mjs');
/** Far above the deployed daemon's idle RSS (`npm run bench` prints it: some 110 MB), to catch gross regressions. */
const IDLE_RSS_LIMIT_MB = 200;
const LOGINS = 8;
/**
 * What LOGINS logins may add to the RSS: nearly nothing as deployed, but 16 MB for each libuv thread
 * whose scrypt buffer glibc kept (some 30 MB here) without the image's malloc setting.
 */
const LOGINS_RSS_GROWTH_LIMIT_MB = 12;
/** Packages the daemon needs only for what is not configured or not used yet. */
const OPTIONAL_PACKAGES = ['ioredis', 'bullmq', 'acme-client', 'axios', 'esbuild', 'pg', 'nodemailer', 'ssh2', 'playwright', 'playwright-core'];
/** What runs TypeScript; none of it may be in a deployed process. */
const TYPESCRIPT_PACKAGES = ['tsx', 'typescript', 'vitest'];

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'certmid-compiled-'));
let dirs = 0;
const freshDataDir = () => fs.mkdtempSync(path.join(scratch, `data-${++dirs}-`));
const running = new Set<ChildProcess>();

beforeAll(async () => {
  // `npm test` builds before running the suites; built again here so the file also runs alone.
  // Unchanged output is not rewritten, so processes running from dist/ meanwhile are not disturbed.
  await promisify(execFile)(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, timeout: 120_000 });
}, 150_000);

afterAll(() => {
  // A test that failed midway: npm's node child too, or it would keep its port.
  for (const child of running) {
    for (const pid of alive(child.pid!) ? childrenOf(child.pid!) : []) process.kill(pid, 'SIGKILL');
    child.kill('SIGKILL');
  }
  fs.rmSync(scratch, { recursive: true, force: true });
});

interface Started {
  child: ChildProcess;
  /** Every line it printed on stdout so far. */
  lines: string[];
  exited: Promise<number | null>;
  /** The first log line whose `msg` is `message`, parsed. */
  ready: Record<string, unknown>;
}

/** Starts `command args` in the repository with only `env` and waits for a log line saying `message`. */
async function start(command: string, args: string[], env: Record<string, string>, message: string): Promise<Started> {
  const child = spawn(command, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? os.homedir(), LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const lines: string[] = [];
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      running.delete(child);
      resolve(code);
    }),
  );
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    let buffer = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const complete = buffer.split('\n');
      buffer = complete.pop()!;
      for (const line of complete) {
        lines.push(line);
        if (line.includes(`"msg":"${message}"`)) resolve(JSON.parse(line) as Record<string, unknown>);
      }
    });
    void exited.then((code) => reject(new Error(`${command} ${args.join(' ')} exited with ${code}:\n${lines.join('\n')}\n${stderr}`)));
  });
  return { child, lines, exited, ready };
}

/** The compiled daemon on a free loopback port in a fresh data directory. */
function startDaemon(command: string, args: string[], env: Record<string, string> = {}): Promise<Started> {
  return start(command, args, { DATA_DIR: freshDataDir(), PORT: '0', ADMIN_PASSWORD, ...env }, 'certmid is listening');
}

const urlOf = (started: Started) => started.ready.url as string;
const portOf = (started: Started) => Number(new URL(urlOf(started)).port);

/** core.ping as the administrator (it answers only after a login). */
/** Idle RSS after LOGINS logins, and how much they added. */
async function rssAroundLogins(pid: number, url: string): Promise<{ idle: number; growth: number }> {
  const before = rssMegabytes(pid);
  await logins(url);
  await sleep(3000);
  const idle = rssMegabytes(pid);
  return { idle, growth: idle - before };
}

/** LOGINS password logins, four at a time: each runs scrypt (16 MB) on one of libuv's threads. */
async function logins(url: string): Promise<void> {
  for (let round = 0; round < LOGINS / 4; round++) {
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        const socket = await RawSocket.open(url);
        await socket.login('admin', ADMIN_PASSWORD);
        socket.close();
      }),
    );
  }
}

async function ping(url: string): Promise<unknown> {
  const socket = await RawSocket.open(url);
  try {
    await socket.login('admin', ADMIN_PASSWORD);
    return (await socket.call('core.ping')).result;
  } finally {
    socket.close();
  }
}

/** Resident memory of a process, from the kernel's own accounting. */
function rssMegabytes(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)![1]) / 1024;
}

const commandLine = (pid: number) => fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
const childrenOf = (pid: number) => fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
const alive = (pid: number) => fs.existsSync(`/proc/${pid}`);

/** Whether something may listen on `port` again: the daemon let go of it. */
async function portIsFree(port: number): Promise<boolean> {
  const server = net.createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** The packages (by name under node_modules) a process started with module-log.mjs has loaded so far. */
async function loadedPackages(started: Started, logFile: string): Promise<Set<string>> {
  started.child.kill('SIGUSR2');
  for (let waited = 0; !fs.existsSync(logFile); waited += 50) {
    if (waited > 10_000) throw new Error('the process did not write its module list');
    await sleep(50);
  }
  const urls = fs.readFileSync(logFile, 'utf8').split('\n').filter(Boolean);
  return new Set(urls.flatMap((url) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1] ?? []));
}

describe('the compiled daemon', () => {
  it('runs as the image runs it, answers core.ping and the page, idles small after logins and stops on SIGTERM', async () => {
    const [node, ...args] = dockerCommand();
    expect([node, ...args]).toEqual(['node', ...NODE_FLAGS, DAEMON]);
    // The image's environment, but on loopback, a free port and a fresh data directory.
    const { HOST: _host, PORT: _port, DATA_DIR: _dataDir, ...imageEnvironment } = dockerEnvironment();
    const daemon = await startDaemon(process.execPath, args, imageEnvironment);
    expect(commandLine(daemon.child.pid!)).toEqual([process.execPath, ...NODE_FLAGS, DAEMON]);
    expect(await ping(urlOf(daemon))).toBe('pong');
    const page = await fetch(new URL('/app.js', urlOf(daemon).replace(/^ws/, 'http')));
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect((await page.text()).length).toBeGreaterThan(10_000);

    const rss = await rssAroundLogins(daemon.child.pid!, urlOf(daemon));
    expect(rss.idle).toBeLessThan(IDLE_RSS_LIMIT_MB);
    expect(rss.growth).toBeLessThan(LOGINS_RSS_GROWTH_LIMIT_MB);

    daemon.child.kill('SIGTERM');
    expect(await daemon.exited).toBe(0);
    expect(daemon.lines.some((line) => line.includes('"msg":"certmid stopped"'))).toBe(true);
    expect(await portIsFree(portOf(daemon))).toBe(true);
  });

  it('loads no TypeScript tooling, and optional parts only once they are used', async () => {
    const logFile = path.join(scratch, 'daemon-modules');
    const daemon = await startDaemon(process.execPath, ['--import', MODULE_LOG, DAEMON], { MODULE_LOG: logFile });
    expect(await ping(urlOf(daemon))).toBe('pong');
    // The page is built ahead: serving it needs no bundler.
    expect((await fetch(new URL('/', urlOf(daemon).replace(/^ws/, 'http')))).status).toBe(200);

    const loaded = await loadedPackages(daemon, logFile);
    expect(loaded).toContain('typeorm');
    expect(loaded).toContain('better-sqlite3');
    for (const name of [...OPTIONAL_PACKAGES, ...TYPESCRIPT_PACKAGES]) expect(loaded, name).not.toContain(name);
    daemon.child.kill('SIGTERM');
    expect(await daemon.exited).toBe(0);
  });

  it('idles small under `npm start` and stops with its port freed when npm gets SIGTERM, npm passing it straight on', async () => {
    const npm = await startDaemon('npm', ['start']);
    // `npm start` runs node itself (no shell or loader between), so the signal reaches the daemon.
    const [daemonPid, ...others] = childrenOf(npm.child.pid!);
    expect(others).toEqual([]);
    expect(commandLine(daemonPid!).slice(1)).toEqual([...NODE_FLAGS, DAEMON]);
    expect(await ping(urlOf(npm))).toBe('pong');
    const rss = await rssAroundLogins(daemonPid!, urlOf(npm));
    expect(rss.idle).toBeLessThan(IDLE_RSS_LIMIT_MB);
    expect(rss.growth).toBeLessThan(LOGINS_RSS_GROWTH_LIMIT_MB);

    npm.child.kill('SIGTERM');
    expect(await npm.exited).toBe(0);
    expect(npm.lines.some((line) => line.includes('"msg":"certmid stopped"'))).toBe(true);
    expect(alive(daemonPid!)).toBe(false);
    expect(await portIsFree(portOf(npm))).toBe(true);
  });
});

describe('the compiled CLI and worker', () => {
  it('bin/certclt.mjs runs the compiled CLI, without tsx', async () => {
    const daemon = await startDaemon(process.execPath, [DAEMON]);
    const logFile = path.join(scratch, 'cli-modules');
    // The CLI exits by itself; its module list is read from the resolve hook's file.
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', MODULE_LOG, 'bin/certclt.mjs', '-u', urlOf(daemon), 'ping'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', MODULE_LOG: logFile, CERTCLT_USERNAME: 'admin', CERTCLT_PASSWORD: ADMIN_PASSWORD },
    });
    expect(stdout).toBe('pong\n');
    const urls = fs.readFileSync(`${logFile}.esm`, 'utf8');
    expect(urls).toContain('/dist/src/cli/certclt.js');
    expect(urls).not.toMatch(/\/node_modules\/(tsx|typescript)\//);
    daemon.child.kill('SIGTERM');
    expect(await daemon.exited).toBe(0);
  });

  it('`npm run worker` runs the compiled worker, which stops on SIGTERM', async ({ skip }) => {
    if (!(await redisAvailable())) skip('Redis is not running');
    const prefix = uniquePrefix();
    try {
      const worker = await start('npm', ['run', 'worker'], { DATA_DIR: freshDataDir(), REDIS_URL, QUEUE_PREFIX: prefix }, 'certmid worker is running');
      const [workerPid] = childrenOf(worker.child.pid!);
      expect(commandLine(workerPid!).slice(1)).toEqual([...NODE_FLAGS, WORKER]);
      worker.child.kill('SIGTERM');
      expect(await worker.exited).toBe(0);
      expect(alive(workerPid!)).toBe(false);
      expect(worker.lines.some((line) => line.includes('"msg":"certmid worker stopped"'))).toBe(true);
    } finally {
      await dropQueuePrefix(prefix);
    }
  });
});
