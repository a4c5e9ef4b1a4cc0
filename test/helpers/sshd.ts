/**
 * Debian's OpenSSH server for tests: started as root on free loopback ports from a temporary
 * directory holding its host keys, configuration and authorized key. Only key logins, only root.
 * A second port serves SFTP read-only (to see refused writes, which root would otherwise never meet).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { closedPort } from './net.js';

const SSHD = '/usr/sbin/sshd';
const run = promisify(execFile);

export interface TestSshd {
  host: string;
  port: number;
  /** A port of the same server where SFTP is read-only. */
  readOnlyPort: number;
  /** The account that may log in, and its private key (OpenSSH format). */
  username: string;
  clientKey: string;
  /** The ed25519 host key's public line ("ssh-ed25519 AAAA…") and `ssh-keygen -lf` output. */
  hostKeyLine: string;
  hostKeyFingerprintLine: string;
  /** The server's other host key (ECDSA), public line. */
  otherHostKeyLine: string;
  /** Lets a further public key (a `.pub` line) log in as root. */
  authorize(publicKeyLine: string): void;
  /** A scratch directory for the files tests deploy. */
  dir: string;
  output: string[];
  stop(): Promise<void>;
}

/** Whether sshd can run here; in CI a missing sshd or root fails the run instead of skipping. */
export function sshdAvailable(): boolean {
  const ok = fs.existsSync(SSHD) && process.getuid?.() === 0;
  if (!ok && process.env.CI === 'true') throw new Error(`${SSHD} (openssh-server), run as root, is required in CI`);
  return ok;
}

async function keygen(type: string, file: string): Promise<void> {
  await run('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', path.basename(file), '-f', file]);
}

/** Resolves once the port answers with an SSH banner. */
async function waitForBanner(port: number, child: ChildProcess, output: string[]): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    if (child.exitCode !== null) throw new Error(`sshd exited with ${child.exitCode}:\n${output.join('')}`);
    const banner = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.setTimeout(2000);
      socket.once('data', (data) => (socket.destroy(), resolve(data.toString().startsWith('SSH-'))));
      socket.once('error', () => resolve(false));
      socket.once('timeout', () => (socket.destroy(), resolve(false)));
    });
    if (banner) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`sshd did not answer on port ${port}:\n${output.join('')}`);
}

export async function startSshd(): Promise<TestSshd> {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'certmid-sshd-'));
  const dir = path.join(home, 'files');
  fs.mkdirSync(dir);
  await keygen('ed25519', path.join(home, 'host_ed25519'));
  await keygen('ecdsa', path.join(home, 'host_ecdsa'));
  await keygen('ed25519', path.join(home, 'client_ed25519'));
  fs.copyFileSync(path.join(home, 'client_ed25519.pub'), path.join(home, 'authorized_keys'));
  const port = await closedPort();
  let readOnlyPort = await closedPort();
  while (readOnlyPort === port) readOnlyPort = await closedPort();
  const config = path.join(home, 'sshd_config');
  fs.writeFileSync(
    config,
    [
      'ListenAddress 127.0.0.1',
      `Port ${port}`,
      `Port ${readOnlyPort}`,
      // ECDSA first: a key-line pin must ask for its own type, not take what the server prefers.
      `HostKey ${path.join(home, 'host_ecdsa')}`,
      `HostKey ${path.join(home, 'host_ed25519')}`,
      `PidFile ${path.join(home, 'sshd.pid')}`,
      `AuthorizedKeysFile ${path.join(home, 'authorized_keys')}`,
      'StrictModes no',
      'UsePAM no',
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'AllowUsers root',
      'Subsystem sftp internal-sftp',
      `Match LocalPort ${readOnlyPort}`,
      '  ForceCommand internal-sftp -R',
      '',
    ].join('\n'),
  );
  fs.mkdirSync('/run/sshd', { recursive: true });
  const child = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  child.stdout!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  const exited = once(child, 'exit');
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
    fs.rmSync(home, { recursive: true, force: true });
  };
  try {
    await waitForBanner(port, child, output);
    await waitForBanner(readOnlyPort, child, output);
  } catch (error) {
    await stop();
    throw error;
  }
  const publicLine = (name: string) => fs.readFileSync(path.join(home, `${name}.pub`), 'utf8').trim();
  const { stdout: fingerprintLine } = await run('ssh-keygen', ['-l', '-E', 'sha256', '-f', path.join(home, 'host_ed25519.pub')]);
  return {
    host: '127.0.0.1',
    port,
    readOnlyPort,
    username: 'root',
    clientKey: fs.readFileSync(path.join(home, 'client_ed25519'), 'utf8'),
    hostKeyLine: publicLine('host_ed25519'),
    hostKeyFingerprintLine: fingerprintLine.trim(),
    otherHostKeyLine: publicLine('host_ecdsa'),
    authorize: (line) => fs.appendFileSync(path.join(home, 'authorized_keys'), `${line.trim()}\n`),
    dir,
    output,
    stop,
  };
}
