/**
 * A real SMTP server (Debian's python3-aiosmtpd, test/helpers/smtp-server.py) on a free loopback
 * port, writing each message it accepts to a directory.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { closedPort } from './net.js';
import { opensslOk } from './openssl.js';

const SCRIPT = fileURLToPath(new URL('./smtp-server.py', import.meta.url));
export const SYSTEM_PYTHON = '/usr/bin/python3';

export interface SmtpServer {
  port: number;
  /** Every message received so far, as raw text (headers, blank line, body) with \n line ends. */
  messages(): string[];
  close(): Promise<void>;
}

/** Whether aiosmtpd can run here; with CI=true its absence fails the run. */
export function smtpAvailable(): boolean {
  const ok = fs.existsSync(SYSTEM_PYTHON) && fs.existsSync('/usr/lib/python3/dist-packages/aiosmtpd');
  if (!ok && process.env.CI === 'true') throw new Error('python3-aiosmtpd is required in CI');
  return ok;
}

/** A CA and a certificate for 127.0.0.1 signed by it, made by openssl. */
export async function smtpCertificates(dir: string): Promise<{ caPem: string; cert: string; key: string }> {
  const file = (name: string) => path.join(dir, name);
  await opensslOk(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', file('ca.key'), '-out', file('ca.pem'), '-days', '30', '-subj', '/CN=SMTP test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  await opensslOk(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', file('server.key'), '-out', file('server.csr'), '-subj', '/CN=127.0.0.1']);
  fs.writeFileSync(file('ext.cnf'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  await opensslOk(['x509', '-req', '-in', file('server.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-CAcreateserial', '-days', '30', '-extfile', file('ext.cnf'), '-out', file('server.pem')]);
  return { caPem: fs.readFileSync(file('ca.pem'), 'utf8'), cert: file('server.pem'), key: file('server.key') };
}

export async function startSmtpServer(options: { mode: 'plain' | 'starttls' | 'ssl'; cert?: string; key?: string; user?: string; password?: string }): Promise<SmtpServer> {
  const port = await closedPort();
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'certmid-smtp-'));
  const args = [SCRIPT, options.mode, String(port), outdir];
  if (options.mode !== 'plain') args.push(options.cert!, options.key!, options.user!, options.password!);
  const child = spawn(SYSTEM_PYTHON, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = once(child, 'exit');
  const output: string[] = [];
  child.stderr.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the SMTP server did not start: ${output.join('')}`)), 30_000);
    child.stdout.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`the SMTP server exited: ${output.join('')}`));
    });
  });
  return {
    port,
    messages: () =>
      fs
        .readdirSync(outdir)
        .filter((name) => name.endsWith('.eml'))
        .sort((a, b) => parseInt(a) - parseInt(b))
        .map((name) => fs.readFileSync(path.join(outdir, name), 'utf8').replaceAll('\r\n', '\n')),
    async close() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
      fs.rmSync(outdir, { recursive: true, force: true });
    },
  };
}
