import { spawn } from 'node:child_process';

/** Stderr kept for the message; a chatty command cannot grow the daemon's memory. */
const STDERR_LIMIT = 4096;

/** The PATH a command gets when the daemon has none. */
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** How a command run by `runCommand` ended. */
export type CommandOutcome =
  | { kind: 'exited'; code: number; signal: null; stderr: string }
  | { kind: 'killed'; code: null; signal: NodeJS.Signals; stderr: string }
  | { kind: 'timed-out'; stderr: string }
  | { kind: 'aborted'; stderr: string }
  | { kind: 'not-run'; reason: string };

export interface CommandOptions {
  /** Variables beside PATH; the daemon's own environment (MASTER_KEY, ADMIN_PASSWORD) is never passed. */
  env?: Record<string, string>;
  timeoutMs: number;
  /** Kills the command when aborted. */
  signal?: AbortSignal;
}

/**
 * Runs an argument vector without a shell, stdout discarded, with PATH and `env` only, killed when
 * it outlives `timeoutMs` or `signal` aborts. Resolves with how it ended and the start of its
 * stderr (trimmed), never rejects.
 */
export function runCommand(argv: readonly string[], options: CommandOptions): Promise<CommandOutcome> {
  return new Promise((resolve) => {
    const [command, ...args] = argv as [string, ...string[]];
    if (options.signal?.aborted) return resolve({ kind: 'aborted', stderr: '' });
    const child = spawn(command, args, {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { PATH: process.env.PATH ?? DEFAULT_PATH, ...options.env },
    });
    let stderr = '';
    let ending: 'timed-out' | 'aborted' | null = null;
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      if (stderr.length < STDERR_LIMIT) stderr = (stderr + chunk).slice(0, STDERR_LIMIT);
    });
    const kill = (why: 'timed-out' | 'aborted') => {
      ending ??= why;
      child.kill('SIGKILL');
    };
    const timer = setTimeout(() => kill('timed-out'), options.timeoutMs);
    const onAbort = () => kill('aborted');
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const done = (outcome: CommandOutcome) => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      resolve(outcome);
    };
    // 'exit', not 'close': a background child the command leaves behind may hold stderr open.
    child.once('exit', (code, signal) => {
      const text = stderr.trim();
      if (ending) done({ kind: ending, stderr: text });
      else if (code !== null) done({ kind: 'exited', code, signal: null, stderr: text });
      else done({ kind: 'killed', code: null, signal: signal ?? 'SIGKILL', stderr: text });
    });
    child.once('error', (error) => done({ kind: 'not-run', reason: error.message }));
  });
}

export interface TrustCommandContext {
  trustedStoreDir: string;
  bundle: string;
  timeoutMs: number;
}

/**
 * Runs the trusted-store update command (e.g. `update-ca-certificates`) without a shell, with
 * stdout discarded as TrueNAS does. Its environment is PATH and where the store is, never the
 * daemon's own (which may hold MASTER_KEY or ADMIN_PASSWORD). Resolves to null on success, else
 * what went wrong: its stderr, or why it did not run or finish.
 */
export async function runTrustCommand(argv: readonly string[], context: TrustCommandContext): Promise<string | null> {
  const outcome = await runCommand(argv, {
    timeoutMs: context.timeoutMs,
    env: { CERTMID_TRUSTED_STORE_DIR: context.trustedStoreDir, CERTMID_TRUSTED_STORE_BUNDLE: context.bundle },
  });
  switch (outcome.kind) {
    case 'exited':
      return outcome.code === 0 ? null : outcome.stderr || `${argv[0]} exited with status ${outcome.code}`;
    case 'killed':
      return outcome.stderr || `${argv[0]} was killed by ${outcome.signal}`;
    case 'timed-out':
    case 'aborted':
      return `${argv[0]} did not finish within ${context.timeoutMs / 1000} seconds`;
    case 'not-run':
      return `${argv[0]} could not be run: ${outcome.reason}`;
  }
}
