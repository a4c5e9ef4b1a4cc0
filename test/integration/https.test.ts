import https from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, type ClientOptions } from 'ws';
import { CertmidClient } from '../../src/client/client.js';
import { renewDefaultCertificate } from '../../src/certs/default-certificate.js';
import { CertificateEntity } from '../../src/certs/entities.js';
import { openssl, x509Text } from '../helpers/openssl.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
let uiCertificate: { id: number; certificate: string; fingerprint: string };

beforeAll(async () => {
  server = await startTestServer({ env: { HTTPS_PORT: '0' } });
  const client = await CertmidClient.connect(server.url, { WebSocket });
  await client.login(server.admin.username, server.admin.password);
  uiCertificate = await client.call<{ id: number; certificate: string; fingerprint: string }>('certificate.query', [['name', '=', 'truenas_default']], { get: true });
  await client.close();
});
afterAll(async () => {
  await server?.close();
});

const DAY_MS = 86_400_000;

async function adminCall<T>(method: string, ...params: unknown[]): Promise<T> {
  const client = await CertmidClient.connect(server.url, { WebSocket });
  try {
    await client.login(server.admin.username, server.admin.password);
    return await client.call<T>(method, ...params);
  } finally {
    await client.close();
  }
}

async function notAfter(pem: string): Promise<string> {
  return (await openssl(['x509', '-noout', '-enddate'], pem)).stdout.trim().replace(/^notAfter=/, '');
}

/** The SHA-1 fingerprint of the certificate a fresh HTTPS connection is shown, trusting `ca`. */
function presentedFingerprint(ca: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const request = https.get({ host: '127.0.0.1', port: server.daemon.httpsPort!, path: '/api/versions', ca, servername: 'localhost', agent: false }, (response) => {
      const certificate = (response.socket as import('node:tls').TLSSocket).getPeerCertificate();
      response.resume();
      resolve(certificate.fingerprint);
    });
    request.on('error', reject);
  });
}

/** A WebSocket class that trusts only the daemon's self-signed UI certificate. */
function trustingWebSocket(ca: string) {
  return class extends WebSocket {
    constructor(url: string) {
      // The certificate names localhost while the socket connects to 127.0.0.1; ws passes TLS
      // options through to tls.connect, though its types do not list `servername`.
      super(url, { ca, servername: 'localhost' } as ClientOptions);
    }
  };
}

describe('HTTPS and WSS with the UI certificate', () => {
  it('answers JSON-RPC over wss:// presenting the UI certificate', async () => {
    const port = server.daemon.httpsPort!;
    expect(port).toBeGreaterThan(0);
    const client = await CertmidClient.connect(`wss://127.0.0.1:${port}/api/current`, { WebSocket: trustingWebSocket(uiCertificate.certificate) });
    await client.login(server.admin.username, server.admin.password);
    expect(await client.call('core.ping')).toBe('pong');
    await client.close();

    const presented = await presentedFingerprint(uiCertificate.certificate);
    expect(presented).toBe(uiCertificate.fingerprint);
    const text = await openssl(['x509', '-noout', '-fingerprint', '-sha1'], uiCertificate.certificate);
    expect(text.stdout.trim().split('=')[1]).toBe(presented);
  });

  it('renews the UI certificate in place when fewer than five days remain and presents the new one', async () => {
    const app = server.daemon.app;
    const before = await adminCall<{ id: number; fingerprint: string; certificate: string }>('certificate.get_instance', uiCertificate.id);
    const validUntil = new Date(await notAfter(before.certificate));
    expect(await renewDefaultCertificate(app, new Date(validUntil.getTime() - 6 * DAY_MS))).toBeNull();

    expect(await renewDefaultCertificate(app, new Date(validUntil.getTime() - 4 * DAY_MS))).toBe(uiCertificate.id);
    const after = await adminCall<{ id: number; name: string; fingerprint: string; certificate: string }>('certificate.get_instance', uiCertificate.id);
    expect(after).toMatchObject({ id: uiCertificate.id, name: 'truenas_default' });
    expect(after.fingerprint).not.toBe(before.fingerprint);
    const text = await x509Text(after.certificate);
    expect(text).toContain('Subject: CN = localhost, C = US, O = certmid');
    expect(text).toContain('DNS:localhost');
    const lifetimeDays = (new Date(await notAfter(after.certificate)).getTime() - Date.now()) / DAY_MS;
    expect(Math.round(lifetimeDays)).toBe(397);
    await expect.poll(() => presentedFingerprint(after.certificate), { timeout: 5000 }).toBe(after.fingerprint);
  });

  it('is renewed by certificate.renew_certs once its stored expiry is near', async () => {
    const repository = server.daemon.app.db.getRepository(CertificateEntity);
    const row = await repository.findOneByOrFail({ id: uiCertificate.id });
    const soon = new Date(Date.now() + 2 * DAY_MS);
    // Ages the stored record only: the decision reads it, as after 392 days of service.
    await repository.update({ id: row.id }, { details: { ...row.details, not_after: soon.toISOString() }, not_after: soon } as never);
    const before = await adminCall<{ fingerprint: string }>('certificate.get_instance', uiCertificate.id);

    const client = await CertmidClient.connect(server.url, { WebSocket });
    await client.login(server.admin.username, server.admin.password);
    const result = await client.callJob<{ renewed: number[]; failed: number[] }>('certificate.renew_certs', []);
    await client.close();
    expect(result).toEqual({ renewed: [uiCertificate.id], failed: [] });
    const after = await adminCall<{ fingerprint: string; certificate: string }>('certificate.get_instance', uiCertificate.id);
    expect(after.fingerprint).not.toBe(before.fingerprint);
    await expect.poll(() => presentedFingerprint(after.certificate), { timeout: 5000 }).toBe(after.fingerprint);
  });

  it('refuses a client that does not trust the certificate', async () => {
    await expect(CertmidClient.connect(`wss://127.0.0.1:${server.daemon.httpsPort!}/api/current`, { WebSocket })).rejects.toThrow();
  });
});
