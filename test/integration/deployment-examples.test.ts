/**
 * The deployment examples in contrib/ work as shipped: systemd accepts both units, the environment
 * example holds only settings certmid knows and loads, and Debian's nginx with the reverse-proxy
 * example (only names, ports and paths changed) carries the page, the API over wss:// with a
 * browser's Origin, jobs, and the CRLs on plain HTTP.
 */
import { spawn, execFile } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, type ClientOptions } from 'ws';
import { CertmidClient } from '../../src/client/client.js';
import { loadConfig } from '../../src/config.js';
import { closedPort } from '../helpers/net.js';
import { opensslOk } from '../helpers/openssl.js';
import { adminClient, createInternalCertificate, createRootCa, type Entry } from '../helpers/pki-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CONTRIB = path.join(ROOT, 'contrib');
const run = promisify(execFile);
const NGINX = '/usr/sbin/nginx';
const nginxInstalled = fs.existsSync(NGINX);
if (process.env.CI && !nginxInstalled) throw new Error('nginx is needed in CI (Debian package nginx-light)');

/** Waits for `condition`, up to 10 s. */
async function until(condition: () => boolean | Promise<boolean>): Promise<void> {
  for (const deadline = Date.now() + 10_000; !(await condition()); ) {
    if (Date.now() > deadline) throw new Error('gave up waiting');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('systemd units', () => {
  it.each(['certmid.service', 'certmid-worker@.service'])('%s passes systemd-analyze verify without a warning', async (unit) => {
    const { stdout, stderr } = await run('systemd-analyze', ['verify', path.join(CONTRIB, 'systemd', unit)]);
    expect(stdout + stderr).toBe('');
  });
});

describe('environment example', () => {
  it('sets only variables the README documents, and loads once the master key is filled in', () => {
    const documented = new Set([...fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8').matchAll(/^\| `([A-Z_]+)` \|/gm)].map((match) => match[1]));
    const settings = Object.fromEntries(
      fs
        .readFileSync(path.join(CONTRIB, 'certmid.env.example'), 'utf8')
        .split('\n')
        .filter((line) => /^[A-Z_]+=/.test(line))
        .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
    );
    expect(Object.keys(settings).filter((name) => !documented.has(name))).toEqual([]);
    expect(settings.MASTER_KEY).toMatch(/^REPLACE/);
    const config = loadConfig({ ...settings, MASTER_KEY: Buffer.alloc(32, 7).toString('base64') });
    expect(config).toMatchObject({ dataDir: '/var/lib/certmid', publicUrl: 'http://certs.example.com', connectionsPerAddress: 1024 });
  });
});

describe.runIf(nginxInstalled)('nginx reverse-proxy example', () => {
  let server: TestServer;
  let admin: CertmidClient;
  let ca: Entry;
  let nginx: ReturnType<typeof spawn>;
  let dir: string;
  let httpsPort: number;
  let httpPort: number;

  /** A WebSocket that trusts the test CA (and, like a browser, may send an Origin). */
  const trusting = (origin?: string) =>
    class extends WebSocket {
      constructor(url: string) {
        super(url, { ca: ca.certificate!, ...(origin ? { origin } : {}) } as ClientOptions);
      }
    };

  beforeAll(async () => {
    server = await startTestServer();
    admin = await adminClient(server);
    ca = await createRootCa(admin, 'proxy-root');
    const site = await createInternalCertificate(admin, 'proxy-site', ca.id, { common: 'localhost', san: ['localhost'] });
    // certmid writes the files right after the change; nginx reads them at start.
    await until(() => [site.certificate_path, site.privatekey_path].every((file) => fs.existsSync(file as string)));
    [httpsPort, httpPort] = [await closedPort(), await closedPort()];
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certmid-nginx-'));
    // The example as an administrator adapts it: names, ports, certificate files.
    const site_conf = fs
      .readFileSync(path.join(CONTRIB, 'nginx', 'certmid.conf'), 'utf8')
      .replace('server 127.0.0.1:8470;', `server 127.0.0.1:${server.port};`)
      .replace('listen 443 ssl;', `listen 127.0.0.1:${httpsPort} ssl;`)
      .replace('listen 80;', `listen 127.0.0.1:${httpPort};`)
      .replaceAll('certs.example.com', 'localhost')
      .replace('/var/lib/certmid/certificates/certs-example.crt', site.certificate_path as string)
      .replace('/var/lib/certmid/certificates/certs-example.key', site.privatekey_path as string);
    fs.writeFileSync(path.join(dir, 'certmid.conf'), site_conf);
    fs.writeFileSync(
      path.join(dir, 'nginx.conf'),
      [
        'daemon off;',
        'user root;',
        `pid ${dir}/nginx.pid;`,
        `error_log ${dir}/error.log warn;`,
        'events {}',
        'http {',
        '  access_log off;',
        ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((kind) => `  ${kind}_temp_path ${dir}/${kind};`),
        `  include ${dir}/certmid.conf;`,
        '}',
      ].join('\n'),
    );
    await run(NGINX, ['-t', '-p', dir, '-c', path.join(dir, 'nginx.conf')]).catch((error: { stderr?: string }) => {
      throw new Error(`nginx refuses the example: ${error.stderr}`);
    });
    nginx = spawn(NGINX, ['-p', dir, '-c', path.join(dir, 'nginx.conf')], { stdio: 'ignore' });
    await until(() => get(`http://127.0.0.1:${httpPort}/`).then(() => true, () => false));
  });

  afterAll(async () => {
    nginx?.kill('SIGQUIT');
    await admin?.close();
    await server?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  function get(url: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
    const client = url.startsWith('https:') ? https : http;
    return new Promise((resolve, reject) => {
      client
        .get(url, { ca: ca?.certificate ?? undefined, agent: false }, (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => resolve({ status: response.statusCode!, headers: response.headers, body: Buffer.concat(chunks) }));
        })
        .on('error', reject);
    });
  }

  it('serves the page over HTTPS with the certificate certmid wrote, and sends plain HTTP there', async () => {
    const page = await get(`https://localhost:${httpsPort}/`);
    expect(page.status).toBe(200);
    expect(page.body.toString()).toContain('<html');
    const redirect = await get(`http://127.0.0.1:${httpPort}/certificates`);
    expect(redirect).toMatchObject({ status: 301, headers: { location: 'https://127.0.0.1/certificates' } });
  });

  it('carries the API over wss:// for a browser, whose Origin matches, and follows a job to its end', async () => {
    const origin = `https://localhost:${httpsPort}`;
    const client = await CertmidClient.connect(`wss://localhost:${httpsPort}/api/current`, { WebSocket: trusting(origin) });
    try {
      await client.login(server.admin.username, server.admin.password);
      const made = await createInternalCertificate(client, 'through-proxy', ca.id);
      expect((await client.call<Entry[]>('certificate.query', [['id', '=', made.id]]))[0]).toMatchObject({ name: 'through-proxy' });
    } finally {
      await client.close();
    }
    await expect(CertmidClient.connect(`wss://localhost:${httpsPort}/api/current`, { WebSocket: trusting('https://elsewhere.example') })).rejects.toThrow();
  });

  it('lets relying parties fetch CRLs over plain HTTP', async () => {
    const crl = await get(`http://127.0.0.1:${httpPort}/crl/${ca.id}.crl`);
    expect(crl.status).toBe(200);
    await opensslOk(['crl', '-inform', 'DER', '-noout', '-issuer'], crl.body);
  });
});
