import { spawn } from 'node:child_process';

/** Stderr kept for the message; a chatty command cannot grow the daemon's memory. */
const STDERR_LIMIT = 4096;

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
export function runTrustCommand(argv: readonly string[], context: TrustCommandContext): Promise<string | null> {
  return new Promise((resolve) => {
    const [command, ...args] = argv as [string, ...string[]];
    const child = spawn(command, args, {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: {
        PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        CERTMID_TRUSTED_STORE_DIR: context.trustedStoreDir,
        CERTMID_TRUSTED_STORE_BUNDLE: context.bundle,
      },
    });
    let stderr = '';
    let timedOut = false;
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      if (stderr.length < STDERR_LIMIT) stderr = (stderr + chunk).slice(0, STDERR_LIMIT);
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, context.timeoutMs);
    // 'exit', not 'close': a background child the command leaves behind may hold stderr open.
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) resolve(`${argv[0]} did not finish within ${context.timeoutMs / 1000} seconds`);
      else if (code === 0) resolve(null);
      else resolve(stderr.trim() || (signal ? `${argv[0]} was killed by ${signal}` : `${argv[0]} exited with status ${code}`));
    });
    child.once('error', (error) => {
      clearTimeout(timer);
      resolve(`${argv[0]} could not be run: ${error.message}`);
    });
  });
}
