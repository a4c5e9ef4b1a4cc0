/**
 * SSH/SFTP deploy target: copies the certificate's files to another host over SFTP, each written
 * to a temporary name in the same directory and renamed over the target so the host never sees a
 * half file, then runs an optional reload command there. The server's host key is pinned.
 */
import { createPrivateKey, randomBytes, type KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Client, ClientChannel, ConnectConfig, SFTPWrapper } from 'ssh2';
import { z } from 'zod';
import { abortedError, unlessAborted } from '../abort.js';
import { DeployError, type DeployContext, type DeployKind } from '../kind.js';
import { hostKeyAlgorithms, parseHostKeyPin, sshFingerprint, type HostKeyPin } from '../ssh-host-key.js';

const require = createRequire(import.meta.url);

/** The SSH library, loaded on first use so a daemon without SSH targets never holds it in memory. */
const ssh2 = (): typeof import('ssh2') => require('ssh2') as typeof import('ssh2');

/** How much of the reload command's output an error shows. */
const OUTPUT_TAIL_CHARS = 500;
/** SFTP status codes (draft-ietf-secsh-filexfer-02) worth their own words. */
const SFTP_NO_SUCH_FILE = 2;
const SFTP_PERMISSION_DENIED = 3;

const OCTAL_MODE = /^0?[0-7]{3}$/;

const RemotePath = (what: string) =>
  z.string().min(1).max(4096).nullable().default(null).describe(`Absolute path on the host to write ${what} to; none when null.`);

const schema = z
  .object({
    host: z.string().min(1).max(253).describe('Host name or address of the SSH server.'),
    port: z.int().min(1).max(65535).default(22).describe('SSH port.'),
    username: z.string().min(1).max(128).describe('Account to log in as.'),
    private_key: z
      .string()
      .min(1)
      .max(65536)
      .nullable()
      .default(null)
      .describe('Private key to log in with, in OpenSSH ("BEGIN OPENSSH PRIVATE KEY") or PEM format (RSA or EC in PEM). Give this or password.'),
    passphrase: z.string().min(1).max(1024).nullable().default(null).describe('Passphrase of an encrypted private_key.'),
    password: z.string().min(1).max(1024).nullable().default(null).describe('Password to log in with. Give this or private_key.'),
    host_key: z
      .string()
      .min(1)
      .max(16384)
      .describe(
        'The server\'s host key, pinned: its public key line as ssh-keyscan or known_hosts show it ("ssh-ed25519 AAAA…"), ' +
          'or its fingerprint as `ssh-keygen -lf` prints it ("SHA256:…"). A server presenting another key is refused.',
      ),
    certificate_path: RemotePath('the certificate alone (PEM)'),
    chain_path: RemotePath('the issuing chain without the certificate (PEM)'),
    private_key_path: RemotePath("the certificate's private key (PEM)"),
    fullchain_path: RemotePath('the certificate followed by its chain (PEM)'),
    mode: z.string().regex(OCTAL_MODE, 'An octal mode such as 0644').default('0644').describe('Octal mode of the certificate, chain and full chain files.'),
    key_mode: z.string().regex(OCTAL_MODE, 'An octal mode such as 0600').default('0600').describe('Octal mode of the private key file.'),
    reload_command: z
      .string()
      .min(1)
      .max(4096)
      .nullable()
      .default(null)
      .describe(
        'A command run on the host after the files are in place, as one string given to the login shell of the account ' +
          '(e.g. "systemctl reload nginx"). A non-zero exit fails the deploy.',
      ),
    reload_timeout: z.int().min(1).max(3600).default(60).describe('Seconds the reload command may run before the deploy fails.'),
    connect_timeout: z.int().min(1).max(300).default(20).describe('Seconds the connection, key exchange and login may take together.'),
  })
  .strict()
  .describe('SSH/SFTP');

type SshAttributes = z.output<typeof schema>;

const PATH_FIELDS = ['certificate_path', 'chain_path', 'private_key_path', 'fullchain_path'] as const;

/**
 * The key in a form ssh2 reads: OpenSSH and PKCS#1/SEC1 PEM as given; PKCS#8 PEM (what openssl
 * writes by default), which ssh2 does not read, as PKCS#1 (RSA) or SEC1 (EC) PEM. Other PKCS#8 keys
 * are left for ssh2 to refuse.
 */
function sshReadableKey(key: string, passphrase: string | null): { key: string; passphrase: string | null } {
  if (!/-----BEGIN (ENCRYPTED )?PRIVATE KEY-----/.test(key)) return { key, passphrase };
  let parsed: KeyObject;
  try {
    parsed = createPrivateKey(passphrase === null ? key : { key, passphrase });
  } catch {
    return { key, passphrase };
  }
  if (parsed.asymmetricKeyType === 'rsa') return { key: parsed.export({ type: 'pkcs1', format: 'pem' }).toString(), passphrase: null };
  if (parsed.asymmetricKeyType === 'ec') return { key: parsed.export({ type: 'sec1', format: 'pem' }).toString(), passphrase: null };
  return { key, passphrase };
}

/** Why a private key cannot be used, or null when ssh2 reads it. */
function privateKeyProblem(given: string, givenPassphrase: string | null): string | null {
  const { key, passphrase } = sshReadableKey(given, givenPassphrase);
  if (/-----BEGIN (ENCRYPTED )?PRIVATE KEY-----/.test(key)) {
    return 'ssh2 reads PKCS#8 keys of RSA and EC only; give this key in OpenSSH format (ssh-keygen -p -f <file> rewrites it so)';
  }
  let parsed: ReturnType<ReturnType<typeof ssh2>['utils']['parseKey']>;
  try {
    parsed = ssh2().utils.parseKey(key, passphrase ?? undefined);
  } catch (error) {
    return `Cannot read the private key: ${(error as Error).message}`;
  }
  if (parsed instanceof Error) return `Cannot read the private key: ${parsed.message}`;
  const first = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!first || !first.isPrivateKey()) return 'Not a private key';
  return null;
}

function validate(attributes: Record<string, unknown>): Array<[string, string]> {
  const a = attributes as SshAttributes;
  const problems: Array<[string, string]> = [];
  if ((a.private_key === null) === (a.password === null)) problems.push(['private_key', 'Give exactly one of private_key and password']);
  if (a.private_key !== null) {
    const problem = privateKeyProblem(a.private_key, a.passphrase);
    if (problem) problems.push([a.passphrase !== null && /passphrase|decrypt/i.test(problem) ? 'passphrase' : 'private_key', problem]);
  } else if (a.passphrase !== null) {
    problems.push(['passphrase', 'A passphrase needs a private_key']);
  }
  const pin = parseHostKeyPin(a.host_key);
  if (typeof pin === 'string') problems.push(['host_key', pin]);
  if (PATH_FIELDS.every((field) => a[field] === null)) problems.push(['certificate_path', 'Give at least one of certificate_path, chain_path, private_key_path, fullchain_path']);
  for (const field of PATH_FIELDS) {
    const value = a[field];
    if (value === null) continue;
    if (!value.startsWith('/')) problems.push([field, 'Must be an absolute path']);
    else if (value.endsWith('/') || /[\0\n]/.test(value)) problems.push([field, 'Must name a file']);
  }
  const paths = PATH_FIELDS.map((field) => a[field]).filter((value) => value !== null);
  if (new Set(paths).size !== paths.length) problems.push(['certificate_path', 'Each file needs its own path']);
  return problems;
}

/** An error ssh2 reports, with the fields it adds. */
type Ssh2Error = Error & { level?: string; code?: string | number };

/** The words an operator needs for a failed connection. */
function connectionFailure(error: Ssh2Error, a: SshAttributes): DeployError {
  const where = `${a.host}:${a.port}`;
  switch (error.level) {
    case 'client-timeout':
      return new DeployError(`Timed out connecting to ${where}: no SSH login within ${a.connect_timeout} s`);
    case 'client-authentication':
      return new DeployError(`Authentication as ${a.username} failed at ${where}: the server refused the ${a.private_key !== null ? 'key' : 'password'}`);
    case 'client-dns':
      return new DeployError(`Cannot resolve ${a.host}`);
    case 'client-socket':
      if (error.code === 'ECONNREFUSED') return new DeployError(`Connection refused by ${where}`);
      if (error.code === 'ETIMEDOUT') return new DeployError(`Timed out connecting to ${where}`);
      if (error.code === 'ENOTFOUND' || error.code === 'EAI_AGAIN') return new DeployError(`Cannot resolve ${a.host}`);
      return new DeployError(`Cannot connect to ${where}: ${error.message}`);
    default:
      return new DeployError(`SSH connection to ${where} failed: ${error.message}`);
  }
}

/** Connects and logs in, refusing a server whose host key is not the pinned one. */
function connect(client: Client, a: SshAttributes, pin: HostKeyPin): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let presented: string | null = null;
    let settled = false;
    const settle = (error?: DeployError) => {
      if (settled) return;
      settled = true;
      if (error) reject(error);
      else resolve();
    };
    const config: ConnectConfig = {
      host: a.host,
      port: a.port,
      username: a.username,
      readyTimeout: a.connect_timeout * 1000,
      tryKeyboard: false,
      hostVerifier: (key: Buffer) => {
        presented = sshFingerprint(key);
        return presented === pin.fingerprint;
      },
    };
    // A key-line pin names its type: ask for that host key, not whichever the server prefers.
    if (pin.keyType !== null) config.algorithms = { serverHostKey: hostKeyAlgorithms(pin.keyType) as never };
    if (a.private_key !== null) {
      const { key, passphrase } = sshReadableKey(a.private_key, a.passphrase);
      config.privateKey = key;
      if (passphrase !== null) config.passphrase = passphrase;
    } else if (a.password !== null) {
      config.password = a.password;
    }
    client.once('ready', () => settle());
    client.on('error', (error: Ssh2Error) => {
      if (presented !== null && presented !== pin.fingerprint) {
        settle(new DeployError(`The host key ${presented} presented by ${a.host}:${a.port} does not match the pinned key ${pin.fingerprint}`));
      } else if (pin.keyType !== null && error.level === 'handshake' && /host key/i.test(error.message)) {
        settle(new DeployError(`${a.host}:${a.port} offers no ${pin.keyType} host key, the type of the pinned key`));
      } else {
        settle(connectionFailure(error, a));
      }
    });
    client.once('close', () => settle(new DeployError(`${a.host}:${a.port} closed the connection before the login completed`)));
    try {
      client.connect(config);
    } catch (error) {
      // ssh2 throws synchronously on a key it cannot read.
      settle(new DeployError(`Cannot use the private key: ${(error as Error).message}`));
    }
  });
}

function openSftp(client: Client): Promise<SFTPWrapper> {
  return new Promise((resolve, reject) => {
    client.sftp((error, sftp) => (error ? reject(new DeployError(`The server refused SFTP: ${error.message}`)) : resolve(sftp)));
  });
}

/** An SFTP failure on `target`, worded for the operator. */
function fileFailure(error: Ssh2Error, target: string, doing: string): DeployError {
  if (error.code === SFTP_PERMISSION_DENIED) return new DeployError(`Permission denied on ${target}`);
  if (error.code === SFTP_NO_SUCH_FILE) return new DeployError(`No such directory for ${target}`);
  return new DeployError(`Cannot ${doing} ${target}: ${error.message}`);
}

function sftpCall(run: (callback: (error: Error | null | undefined) => void) => void): Promise<void> {
  return new Promise((resolve, reject) => run((error) => (error ? reject(error) : resolve())));
}

/** Writes `content` to a new temporary name beside `target`, with its mode; returns that name. */
async function stageFile(sftp: SFTPWrapper, target: string, content: string, mode: number): Promise<string> {
  const temporary = path.posix.join(path.posix.dirname(target), `.${path.posix.basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await sftpCall((done) => sftp.writeFile(temporary, content, { mode, flag: 'wx' }, done)).catch((error: Ssh2Error) => {
      throw fileFailure(error, target, 'write');
    });
    // The mode given at open is subject to the server's umask; chmod is not.
    await sftpCall((done) => sftp.chmod(temporary, mode, done)).catch((error: Ssh2Error) => {
      throw fileFailure(error, target, 'set the mode of');
    });
    return temporary;
  } catch (error) {
    await removeQuietly(sftp, temporary);
    throw error;
  }
}

function removeQuietly(sftp: SFTPWrapper, file: string): Promise<void> {
  return sftpCall((done) => sftp.unlink(file, done)).catch(() => undefined);
}

/**
 * POSIX rename (atomic, replaces the target) through OpenSSH's extension; plain SFTP rename refuses
 * an existing target, so without the extension the target is removed first.
 */
async function rename(sftp: SFTPWrapper, from: string, to: string): Promise<void> {
  const extensions = (sftp as unknown as { _extensions?: Record<string, string> })._extensions ?? {};
  if (extensions['posix-rename@openssh.com'] === '1') {
    await sftpCall((done) => sftp.ext_openssh_rename(from, to, done));
    return;
  }
  await sftpCall((done) => sftp.unlink(to, done)).catch((error: Ssh2Error) => {
    if (error.code !== SFTP_NO_SUCH_FILE) throw error;
  });
  await sftpCall((done) => sftp.rename(from, to, done));
}

function tail(text: string): string {
  const trimmed = text.trim();
  return trimmed.length > OUTPUT_TAIL_CHARS ? `…${trimmed.slice(-OUTPUT_TAIL_CHARS)}` : trimmed;
}

/** Runs the reload command; resolves when it exits 0, else a DeployError with its stderr's tail. */
function runReload(client: Client, command: string, timeoutSeconds: number): Promise<void> {
  return new Promise((resolve, reject) => {
    client.exec(command, (error, stream: ClientChannel) => {
      if (error) return reject(new DeployError(`Cannot run the reload command: ${error.message}`));
      let stdout = '';
      let stderr = '';
      let exit: { code: number | null; signal: string | null } | null = null;
      // On timeout the deploy fails at once; closing the connection afterwards ends the session
      // (sshd hangs up on the command), and the signal is asked for besides where the server honours it.
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        reject(new DeployError(`The reload command did not finish within ${timeoutSeconds} s`));
        stream.signal('KILL');
        stream.close();
      }, timeoutSeconds * 1000);
      stream.on('data', (chunk: Buffer) => (stdout = (stdout + chunk.toString('utf8')).slice(-4 * OUTPUT_TAIL_CHARS)));
      stream.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString('utf8')).slice(-4 * OUTPUT_TAIL_CHARS)));
      stream.on('exit', (code: number | null, signal?: string) => (exit = { code: code ?? null, signal: signal ?? null }));
      stream.on('close', () => {
        clearTimeout(timer);
        if (timedOut) return;
        const output = tail(stderr) || tail(stdout);
        const detail = output ? `: ${output}` : '';
        if (exit === null) return reject(new DeployError(`The reload command ended without an exit status${detail}`));
        if (exit.signal !== null) return reject(new DeployError(`The reload command was killed by signal ${exit.signal}${detail}`));
        if (exit.code !== 0) return reject(new DeployError(`The reload command exited ${exit.code}${detail}`));
        resolve();
      });
    });
  });
}

async function deploy({ attributes, material, signal, progress }: DeployContext): Promise<void> {
  const a = attributes as SshAttributes;
  const pin = parseHostKeyPin(a.host_key);
  if (typeof pin === 'string') throw new DeployError(`host_key: ${pin}`);
  const certificateMode = parseInt(a.mode, 8);
  const keyMode = parseInt(a.key_mode, 8);
  const files: Array<{ what: string; target: string; content: string; mode: number }> = [];
  if (a.certificate_path) files.push({ what: 'certificate', target: a.certificate_path, content: material.certificatePem, mode: certificateMode });
  if (a.chain_path) files.push({ what: 'chain', target: a.chain_path, content: material.chainPem, mode: certificateMode });
  if (a.fullchain_path) files.push({ what: 'full chain', target: a.fullchain_path, content: material.fullchainPem, mode: certificateMode });
  if (a.private_key_path) {
    if (material.privateKeyPem === null) throw new DeployError(`${material.name} has no private key to copy to ${a.private_key_path}`);
    files.push({ what: 'private key', target: a.private_key_path, content: material.privateKeyPem, mode: keyMode });
  }

  if (signal.aborted) throw abortedError();
  const client = new (ssh2().Client)();
  // Errors after the login (a dropped connection) reach the step under way; this keeps them from being unhandled.
  client.on('error', () => undefined);
  const onAbort = () => client.destroy();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    progress(5, `Connecting to ${a.host}:${a.port}`);
    await unlessAborted(signal, connect(client, a, pin));
    progress(15, `Logged in to ${a.host} as ${a.username}`);
    const sftp = await unlessAborted(signal, openSftp(client));
    // Every file is staged before any replaces its target: a failed copy leaves the old set whole,
    // and the new set lands in a moment, never a new certificate beside an old key for long.
    const staged: Array<{ temporary: string; target: string }> = [];
    try {
      for (const [index, file] of files.entries()) {
        progress(20 + Math.round((55 * index) / files.length), `Copying the ${file.what} to ${file.target}`);
        staged.push({ temporary: await unlessAborted(signal, stageFile(sftp, file.target, file.content, file.mode)), target: file.target });
      }
      progress(75, `Putting the new files in place on ${a.host}`);
      while (staged.length > 0) {
        const { temporary, target } = staged[0]!;
        await unlessAborted(signal, rename(sftp, temporary, target)).catch((error: unknown) => {
          throw error instanceof DeployError ? error : fileFailure(error as Ssh2Error, target, 'replace');
        });
        staged.shift();
      }
    } finally {
      if (!signal.aborted) for (const { temporary } of staged) await removeQuietly(sftp, temporary);
    }
    sftp.end();
    if (a.reload_command !== null) {
      progress(85, `Running the reload command on ${a.host}`);
      await unlessAborted(signal, runReload(client, a.reload_command, a.reload_timeout));
    }
    progress(100, `Deployed to ${a.host}`);
  } catch (error) {
    if (error instanceof DeployError) throw error;
    throw new DeployError(`SSH deploy to ${a.host}:${a.port} failed: ${(error as Error).message}`);
  } finally {
    signal.removeEventListener('abort', onAbort);
    client.end();
  }
}

/** SSH/SFTP to another host. */
export const sshKind: DeployKind = {
  key: 'SSH',
  label: 'SSH/SFTP',
  schema,
  secretFields: ['private_key', 'passphrase', 'password'],
  validate,
  deploy,
};
