/**
 * WEBHOOK deploy targets against a local HTTP receiver that checks the signature as a receiver
 * would: the PEMs in the body, a one-time fetch link, retries on 5xx within a run, a 4xx failure.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CertmidClient } from '../../src/client/client.js';
import { targetWhen, type Target } from '../helpers/deploy-targets.js';
import { opensslOk, opensslSerial } from '../helpers/openssl.js';
import { adminClient, createInternalCertificate, createRootCa, type Entry } from '../helpers/pki-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const SECRET = 'webhook-shared-secret-0123456789';
const EC = { key_type: 'EC', ec_curve: 'SECP256R1', key_length: undefined };

interface Hit {
  path: string;
  body: string;
  timestamp: string;
  signature: string;
}

/** What a receiver checks: the HMAC-SHA256 of `<timestamp>.<body>` with the shared secret. */
function signatureValid(hit: Hit): boolean {
  const expected = Buffer.from(`sha256=${createHmac('sha256', SECRET).update(`${hit.timestamp}.${hit.body}`).digest('hex')}`);
  const given = Buffer.from(hit.signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

describe('WEBHOOK deploy targets', () => {
  let server: TestServer;
  let client: CertmidClient;
  let receiver: http.Server;
  let receiverUrl: string;
  let ca: Entry;
  const hits: Hit[] = [];
  const logLines: string[] = [];
  /** Statuses to answer per path, in turn; 200 once they run out. */
  const answers = new Map<string, number[]>();
  let seq = 0;
  const uniq = (prefix: string) => `${prefix}-${++seq}`;
  const hitsOn = (path: string) => hits.filter((hit) => hit.path === path);

  beforeAll(async () => {
    receiver = http.createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const path = request.url ?? '/';
        hits.push({ path, body: Buffer.concat(chunks).toString('utf8'), timestamp: String(request.headers['x-certmid-timestamp']), signature: String(request.headers['x-certmid-signature']) });
        response.writeHead(answers.get(path)?.shift() ?? 200).end('ok');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
    server = await startTestServer({ env: { DEPLOY_RETRY_SECONDS: '600' }, logLines });
    client = await adminClient(server);
    ca = await createRootCa(client, 'webhook-root', EC);
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await server?.close();
    await new Promise((resolve) => receiver?.close(resolve));
  });

  async function webhookTarget(path: string, attributes: Record<string, unknown> = {}): Promise<{ target: Target; cert: Entry }> {
    const cert = await createInternalCertificate(client, uniq('hooked'), ca.id, EC);
    const target = await client.call<Target>('certificate.deploy_target.create', {
      name: uniq('hook'),
      certificate: cert.id,
      kind: 'WEBHOOK',
      attributes: { url: `${receiverUrl}${path}`, secret: SECRET, ...attributes },
    });
    return { target, cert };
  }

  it('POSTs the PEMs as signed JSON; the secret is never shown', async () => {
    const { target, cert } = await webhookTarget('/pem', { include_private_key: true });
    expect(target.attributes).toMatchObject({ secret: '********', delivery: 'PEM', include_private_key: true });
    await targetWhen(client, target.id, (t) => t.state === 'DEPLOYED', 'webhook deployed');
    const [hit] = hitsOn('/pem');
    expect(hitsOn('/pem')).toHaveLength(1);
    expect(signatureValid(hit!)).toBe(true);
    expect(signatureValid({ ...hit!, timestamp: String(Number(hit!.timestamp) + 1) })).toBe(false);
    const body = JSON.parse(hit!.body) as { certificate: Record<string, unknown>; certificate_pem: string; chain_pem: string; fullchain_pem: string; private_key_pem: string };
    const serial = opensslSerial(BigInt(String(cert.serial)));
    expect(body).toMatchObject({ event: 'certificate.deployed', certificate: { id: cert.id, name: cert.name, serial, not_after: expect.any(String), fingerprint: expect.any(String) } });
    expect((await opensslOk(['x509', '-noout', '-serial'], body.certificate_pem)).stdout.trim()).toBe(`serial=${serial}`);
    expect(body.fullchain_pem).toBe(body.certificate_pem + body.chain_pem);
    expect((await opensslOk(['pkey', '-pubout'], body.private_key_pem)).stdout).toBe((await opensslOk(['x509', '-noout', '-pubkey'], body.certificate_pem)).stdout);
    expect(JSON.stringify(await client.call('certificate.deploy_target.query'))).not.toContain(SECRET);
  });

  it('leaves the private key out unless asked', async () => {
    const { target } = await webhookTarget('/no-key');
    await targetWhen(client, target.id, (t) => t.state === 'DEPLOYED', 'webhook deployed');
    expect(JSON.parse(hitsOn('/no-key')[0]!.body)).not.toHaveProperty('private_key_pem');
  });

  it('sends a one-time link in LINK mode: fetched once, then refused', async () => {
    const { target, cert } = await webhookTarget('/link', { delivery: 'LINK', include_private_key: true });
    await targetWhen(client, target.id, (t) => t.state === 'DEPLOYED', 'webhook deployed');
    const hit = hitsOn('/link')[0]!;
    expect(signatureValid(hit)).toBe(true);
    const body = JSON.parse(hit.body) as { fetch_url: string; fetch_expires_at: string; certificate_pem?: string };
    expect(body).not.toHaveProperty('certificate_pem');
    expect(body.fetch_url.startsWith(`${server.daemon.app.publicUrl}/_deploy/link/`)).toBe(true);
    expect(Date.parse(body.fetch_expires_at)).toBeGreaterThan(Date.now());
    const first = await fetch(body.fetch_url);
    expect(first.status).toBe(200);
    const fetched = (await first.json()) as Record<string, string> & { certificate: { id: number } };
    expect(fetched.certificate.id).toBe(cert.id);
    expect(fetched.private_key_pem).toContain('BEGIN PRIVATE KEY');
    expect((await fetch(body.fetch_url)).status).toBe(404);
    expect((await fetch(`${server.daemon.app.publicUrl}/_deploy/link/${'A'.repeat(43)}`)).status).toBe(404);
  });

  it('tries again within the run after a 5xx, and succeeds', async () => {
    answers.set('/flaky', [503, 502]);
    const { target } = await webhookTarget('/flaky');
    const done = await targetWhen(client, target.id, (t) => t.state === 'DEPLOYED' || t.state === 'FAILED', 'webhook run ended');
    expect(done).toMatchObject({ state: 'DEPLOYED', attempts: 0 });
    expect(hitsOn('/flaky')).toHaveLength(3);
    // The same body each time, signed each time.
    expect(new Set(hitsOn('/flaky').map((hit) => hit.body)).size).toBe(1);
    expect(hitsOn('/flaky').every(signatureValid)).toBe(true);
  });

  it('fails with the status of a 4xx answer, and backs off', async () => {
    answers.set('/refused', [403]);
    const { target } = await webhookTarget('/refused');
    const failed = await targetWhen(client, target.id, (t) => t.state === 'FAILED', 'failure recorded');
    expect(failed.last_error).toBe('Webhook answered HTTP 403 Forbidden');
    expect(failed.attempts).toBe(1);
    expect(Date.parse(failed.next_attempt_at!) - Date.parse(failed.last_attempt_at!)).toBeGreaterThanOrEqual(600_000);
    expect(hitsOn('/refused')).toHaveLength(1);
  });

  it('fails when nothing answers, naming where', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const cert = await createInternalCertificate(client, uniq('hooked'), ca.id, EC);
    const target = await client.call<Target>('certificate.deploy_target.create', {
      name: uniq('hook'),
      certificate: cert.id,
      kind: 'WEBHOOK',
      enabled: false,
      attributes: { url: `http://127.0.0.1:${port}/`, secret: SECRET },
    });
    await expect(client.callJob('certificate.deploy_target.run', [target.id])).rejects.toMatchObject({ message: expect.stringContaining(`Webhook http://127.0.0.1:${port} could not be reached: ECONNREFUSED`) });
  });

  it('never puts the secret or a private key in the log, in job records or in the audit log', async () => {
    const jobs = JSON.stringify(await client.call('core.get_jobs', [['method', '=', 'certificate.deploy_target.run']]));
    expect(jobs).toContain('certificate.deploy_target.run');
    const audit = JSON.stringify(await client.call('audit.query', { services: ['MIDDLEWARE'] }));
    expect(audit).toContain('certificate.deploy_target.create');
    const everything = `${logLines.join('\n')}\n${jobs}\n${audit}`;
    expect(logLines.some((line) => line.includes('certificate deployed'))).toBe(true);
    expect(everything).not.toContain(SECRET);
    expect(everything).not.toContain('PRIVATE KEY');
  });
});
