import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { z } from 'zod';
import { DnsProviderError, type DnsProvider, type ProviderDefinition } from '../provider.js';

const KEY = 'shell';
/** Characters of the script's output kept for an error message. */
const TAIL = 1000;
/** The script gets a clean environment: the daemon's may hold database and key-store secrets. */
const ENVIRONMENT = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' };
/** Looking a user up is local; it should never take long. */
const LOOKUP_TIMEOUT_MS = 5000;

const schema = z.object({
  script: z.string().regex(/^\//, { error: 'The script must be an absolute path' }).describe('Authentication Script'),
  user: z.string().min(1).default('nobody').describe('Running user'),
  timeout: z.int().min(5).default(60).describe('Script Timeout'),
  delay: z.int().min(10).default(60).describe('Propagation delay'),
});

type ShellAttributes = z.output<typeof schema>;

/** A shell authenticator, which also says how long to wait once the script has run. */
export interface ShellDnsProvider extends DnsProvider {
  /**
   * TrueNAS's `delay`: seconds to wait after `set` before validation, for the issuance code's
   * fixed-delay propagation mode (the script may publish anywhere, so no server is known to poll).
   */
  readonly propagationDelaySeconds: number;
}

interface Outcome {
  code: number | null;
  /** The last output lines, stderr preferred. */
  tail: string;
}

/**
 * Runs `argv` without a shell in its own process group, so a timeout or cancellation can kill the
 * script and everything it started.
 */
function runProcess(argv: readonly string[], label: string, timeoutMs: number, signal?: AbortSignal): Promise<Outcome> {
  const [command = '', ...args] = argv;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new DnsProviderError(KEY, `${label} cancelled`));
      return;
    }
    const child = spawn(command, args, { cwd: '/', env: ENVIRONMENT, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout = (stdout + chunk.toString('utf8')).slice(-TAIL);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-TAIL);
    });
    let stopped: string | undefined;
    const stop = (reason: string) => {
      stopped = reason;
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
      // A grandchild that left the group may hold the pipes open; stop waiting for them.
      child.stdout.destroy();
      child.stderr.destroy();
    };
    const timer = setTimeout(() => stop(`did not finish within ${timeoutMs / 1000} s`), timeoutMs);
    const onAbort = () => stop('cancelled');
    signal?.addEventListener('abort', onAbort, { once: true });
    let settled = false;
    const finish = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      outcome();
    };
    child.on('error', (error) => finish(() => reject(new DnsProviderError(KEY, `cannot run ${label}: ${error.message}`))));
    child.on('close', (code) =>
      finish(() => {
        const tail = (stderr.trim() || stdout.trim()).split('\n').slice(-5).join('\n');
        if (stopped) reject(new DnsProviderError(KEY, `${label} ${stopped}${tail ? `: ${tail}` : ''}`));
        else resolve({ code, tail });
      }),
    );
  });
}

/** Whether the system knows `user` (TrueNAS's `user.get_user_obj`). */
export async function userExists(user: string, signal?: AbortSignal): Promise<boolean> {
  return (await runProcess(['id', '-u', '--', user], 'id', LOOKUP_TIMEOUT_MS, signal)).code === 0;
}

/** The argv running `program` as `user`: directly when that is us, through runuser when we are root. */
async function asUser(user: string, program: string, args: string[]): Promise<string[]> {
  const current = userInfo().username;
  if (user === current) return [program, ...args];
  if (process.getuid?.() !== 0) throw new DnsProviderError(KEY, `cannot run as '${user}': certmid runs as '${current}' without root`);
  if (!(await userExists(user))) throw new DnsProviderError(KEY, `Unable to locate '${user}' user`);
  return ['runuser', '-u', user, '--', program, ...args];
}

/** Why `script` is no file to run (`… does not exist`, `… is not a file`), or null. */
async function fileProblem(script: string): Promise<string | null> {
  const info = await stat(script).catch(() => undefined);
  if (!info) return `${script} does not exist`;
  if (!info.isFile()) return `${script} is not a file`;
  return null;
}

/**
 * Whether `user` may execute `script`. test(1) as the user also checks every directory on the way
 * is searchable for them.
 * @throws DnsProviderError when certmid cannot act as `user` (not root, or no such user).
 */
async function mayExecute(user: string, script: string, signal?: AbortSignal): Promise<boolean> {
  return (await runProcess(await asUser(user, 'test', ['-x', script]), 'test -x', LOOKUP_TIMEOUT_MS, signal)).code === 0;
}

/**
 * TrueNAS's `validate_credentials` for shell, for create and update: the user
 * exists, and may execute the script. Attribute names are bare, as TrueNAS raises them. The
 * script's existence is its pydantic `FilePath` check, made with the schema; here a script that is
 * gone (update of stored attributes) is TrueNAS's `filesystem.can_access_as_user` CallError.
 * TrueNAS's "must reside within a pool" rule has no counterpart: certmid has no pools.
 */
export async function validateShell({ script, user }: { script: string; user: string }): Promise<Array<[string, string]>> {
  const errors: Array<[string, string]> = [];
  const known = await userExists(user);
  if (!known) errors.push(['user', `Unable to locate '${user}' user`]);
  if ((await stat(script).catch(() => undefined)) === undefined) {
    errors.push(['script', `Unable to validate script: [EINVAL] '${script}' does not exist`]);
  } else if (known) {
    try {
      if (!(await mayExecute(user, script))) errors.push(['user', `'${user}' user does not has permission to execute the script`]);
    } catch (error) {
      if (!(error instanceof DnsProviderError)) throw error;
      errors.push(['script', `Unable to validate script: ${error.message.replace(`${KEY}: `, '')}`]);
    }
  }
  return errors;
}

/**
 * TrueNAS's shell authenticator (`authenticators/shell.py`): runs
 * `<script> set|unset <domain> <validation_name> <validation_content>` as `user` with `timeout`.
 */
class ShellDns implements ShellDnsProvider {
  readonly propagationDelaySeconds: number;

  constructor(private readonly attributes: ShellAttributes) {
    this.propagationDelaySeconds = attributes.delay;
  }

  createTxt(fqdn: string, value: string, signal?: AbortSignal): Promise<void> {
    return this.run('set', fqdn, value, signal);
  }

  deleteTxt(fqdn: string, value: string, signal?: AbortSignal): Promise<void> {
    return this.run('unset', fqdn, value, signal);
  }

  async verify(signal?: AbortSignal): Promise<void> {
    const { script, user } = this.attributes;
    const problem = await fileProblem(script);
    if (problem) throw new DnsProviderError(KEY, problem);
    if (!(await mayExecute(user, script, signal))) throw new DnsProviderError(KEY, `'${user}' user does not have permission to execute ${script}`);
  }

  private async run(action: 'set' | 'unset', fqdn: string, value: string, signal?: AbortSignal): Promise<void> {
    const name = fqdn.replace(/\.$/, '');
    // TrueNAS passes the ACME identifier as `domain`; for a challenge name that is the name minus its label.
    const domain = name.replace(/^_acme-challenge\./i, '');
    const { script, user, timeout } = this.attributes;
    const outcome = await runProcess(await asUser(user, script, [action, domain, name, value]), `${script} ${action}`, timeout * 1000, signal);
    if (outcome.code !== 0) {
      throw new DnsProviderError(KEY, `${script} ${action} exited with status ${outcome.code ?? 'unknown'}${outcome.tail ? `: ${outcome.tail}` : ''}`);
    }
  }
}

/** A local script that publishes and removes the records, run as a chosen user. */
export const shellProvider: ProviderDefinition<typeof schema> = {
  key: KEY,
  label: 'Shell script',
  schema: schema,
  secretFields: [],
  create: (attributes): ShellDnsProvider => new ShellDns(attributes),
};
