import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { closedPort } from './net.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

/** A child process of a test, with what it printed. */
export interface TestProcess {
  child: ChildProcess;
  output: string[];
  /** SIGKILL, and wait until it is gone. */
  kill(): Promise<void>;
  /** SIGTERM (SIGKILL after 15 s), and wait until it is gone. */
  stop(): Promise<void>;
}

/** Starts `command`, resolving once a line of its output contains `ready` (with that line). */
async function startProcess(command: string, args: string[], env: NodeJS.ProcessEnv, ready: string): Promise<{ process: TestProcess; line: string }> {
  const child = spawn(command, args, { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  const exited = once(child, 'exit');
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${command} did not start:\n${output.join('')}`)), 30_000);
    let buffer = '';
    const onData = (chunk: Buffer) => {
      output.push(chunk.toString());
      buffer += chunk.toString();
      const lines = buffer.split('\n');
      buffer = lines.pop()!;
      const found = lines.find((text) => text.includes(ready));
      if (found !== undefined) {
        clearTimeout(timer);
        resolve(found);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    void exited.then(([code]) => {
      clearTimeout(timer);
      reject(new Error(`${command} exited with ${code}:\n${output.join('')}`));
    });
  });
  const gone = () => child.exitCode !== null || child.signalCode !== null;
  return {
    line,
    process: {
      child,
      output,
      async kill() {
        if (gone()) return;
        child.kill('SIGKILL');
        await exited;
      },
      async stop() {
        if (gone()) return;
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(killer);
      },
    },
  };
}

/** The daemon with the test-only methods, as its own process, configured by `env` alone. */
export async function spawnDaemon(env: Record<string, string>): Promise<TestProcess & { url: string }> {
  const { process: daemon, line } = await startProcess(
    process.execPath,
    ['--import', 'tsx', 'test/helpers/test-daemon.ts'],
    { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', ...env },
    '"msg":"certmid is listening"',
  );
  return { ...daemon, url: (JSON.parse(line) as { url: string }).url };
}

/** A redis-server of a test's own, on a free loopback port, keeping nothing on disk (a restart empties it). */
export interface OwnRedis {
  url: string;
  port: number;
  process: TestProcess;
  /** Starts it again on the same port, empty. */
  restart(): Promise<void>;
}

async function startRedisOn(port: number): Promise<TestProcess> {
  const { process: redis } = await startProcess(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no'],
    { PATH: process.env.PATH ?? '' },
    'Ready to accept connections',
  );
  return redis;
}

export async function startOwnRedis(): Promise<OwnRedis> {
  const port = await closedPort();
  const own: OwnRedis = {
    url: `redis://127.0.0.1:${port}`,
    port,
    process: await startRedisOn(port),
    async restart() {
      await own.process.kill();
      own.process = await startRedisOn(port);
    },
  };
  return own;
}
