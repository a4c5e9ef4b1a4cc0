/**
 * The README's "First steps" run as written: a daemon started for the first time (its password
 * read from data/admin-password), certclt on PATH, then every block after the first in one bash
 * script. Only what the walkthrough marks as the reader's own is changed: the ACME name, directory
 * and DNS settings (Pebble and BIND here, Pebble's TLS CA registered beforehand) and the deploy paths
 * and reload command. openssl then reads what landed.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { CertmidClient } from '../../src/client/client.js';
import { acmeToolsAvailable, startBind, startPebble, type BindServer, type PebbleServer } from '../helpers/acme-harness.js';
import { opensslOk } from '../helpers/openssl.js';
import { spawnDaemon, type TestProcess } from '../helpers/processes.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The shell blocks of the README's "First steps" section, in order. */
function walkthroughBlocks(): string[] {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## First steps'), readme.indexOf('\n## ', readme.indexOf('## First steps') + 1));
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((match) => match[1]!);
}

/** Replaces `from` in `text`, failing when the walkthrough no longer contains it. */
function yours(text: string, from: string | RegExp, to: string): string {
  expect(text).toMatch(from);
  return text.replace(from, to);
}

describe.runIf(await acmeToolsAvailable())('README first steps', () => {
  let bind: BindServer;
  let pebble: PebbleServer;
  let daemon: TestProcess & { url: string };
  let work: string;

  beforeAll(async () => {
    bind = await startBind();
    pebble = await startPebble({ dnsServer: bind.address });
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'certmid-first-steps-'));
    // A first start: no ADMIN_PASSWORD, so the daemon makes one and keeps it in data/admin-password.
    daemon = await spawnDaemon({ DATA_DIR: path.join(work, 'data'), DNS_RESOLVERS: bind.address, MASTER_KEY: Buffer.alloc(32, 9).toString('base64') });
    // Pebble's HTTPS certificate comes from its own test CA: registered with that CA first, as for a private ACME server.
    const admin = await CertmidClient.connect(daemon.url, { WebSocket });
    await admin.login('admin', fs.readFileSync(path.join(work, 'data', 'admin-password'), 'utf8').trim());
    await admin.call('acme.registration.create', { tos: true, acme_directory_uri: pebble.directoryUrl, ca_bundle: pebble.caBundlePem });
    await admin.close();
  }, 120_000);

  afterAll(async () => {
    await daemon?.stop();
    await pebble?.stop();
    await bind?.stop();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('runs every block after the start, and openssl reads the certificates it made and deployed', { timeout: 180_000 }, async () => {
    const [start, ...blocks] = walkthroughBlocks();
    expect(start).toContain('npm start');
    expect(blocks).toHaveLength(4);
    const certs = path.join(work, 'nginx-certs');
    let script = blocks.join('\n');
    script = yours(script, /^DOMAIN=.*$/m, `DOMAIN=www.${bind.zone}`);
    script = yours(script, /^DIRECTORY=.*$/m, `DIRECTORY=${pebble.directoryUrl}`);
    script = yours(
      script,
      /^DNS=.*$/m,
      `DNS='${JSON.stringify({ authenticator: 'rfc2136', nameserver: bind.host, port: bind.port, tsig_key_name: bind.tsig.name, tsig_algorithm: bind.tsig.algorithm, tsig_secret: bind.tsig.secret })}'`,
    );
    script = yours(script, /\/etc\/nginx\/certs/g, certs);
    script = yours(script, '"reload_command": ["nginx", "-s", "reload"]', `"reload_command": ["touch", "${path.join(work, 'reloaded')}"]`);

    const bin = path.join(work, 'bin');
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(bin, 'certclt'), `#!/bin/sh\nexec "${process.execPath}" "${path.join(ROOT, 'bin', 'certclt.mjs')}" "$@"\n`, { mode: 0o755 });
    const run = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn('bash', ['-euo', 'pipefail', '-c', script], {
        cwd: work,
        env: { PATH: `${bin}:${process.env.PATH}`, HOME: work, CERTCLT_URI: daemon.url },
        // A socket on stdin would make bash read bashrc as if started by a remote shell daemon.
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
      child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^pong$/m);
    expect(run.stdout).toMatch(/^subject=CN ?= ?nas\.home\.example, C ?= ?US/m);
    expect(run.stdout).toMatch(/^issuer=CN ?= ?Home CA/m);
    expect(run.stdout).toMatch(new RegExp(`subject=CN ?= ?www\\.${bind.zone.replace(/\./g, '\\.')}`));
    expect(run.stdout).toMatch(/issuer=CN ?= ?Pebble Intermediate CA/);
    expect(run.stdout).toMatch(/"state": "DEPLOYED"/);
    expect(fs.existsSync(path.join(work, 'reloaded'))).toBe(true);
    const deployed = fs.readFileSync(path.join(certs, 'nas.pem'), 'utf8');
    expect((await opensslOk(['x509', '-noout', '-subject'], deployed)).stdout).toMatch(/CN ?= ?nas\.home\.example/);
    const key = fs.readFileSync(path.join(certs, 'nas.key'), 'utf8');
    expect((await opensslOk(['pkey', '-pubout'], key)).stdout).toBe((await opensslOk(['x509', '-noout', '-pubkey'], deployed)).stdout);
  });
});
