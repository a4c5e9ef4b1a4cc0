import https from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, type ClientOptions } from 'ws';
import { CertmidClient } from '../../src/client/client.js';
import { openssl } from '../helpers/openssl.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
let uiCertificate: { certificate: string; fingerprint: string };

beforeAll(async () => {
  server = await startTestServer({ env: { HTTPS_PORT: '0' } });
  const client = await CertmidClient.connect(server.url, { WebSocket });
  await client.login(server.admin.username, server.admin.password);
  uiCertificate = await client.call<{ certificate: string; fingerprint: string }>('certificate.query', [['name', '=', 'truenas_default']], { get: true });
  await client.close();
});
afterAll(async () => {
  await server?.close();
});

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

    const presented = await new Promise<string>((resolve, reject) => {
      const request = https.get({ host: '127.0.0.1', port, path: '/api/versions', ca: uiCertificate.certificate, servername: 'localhost' }, (response) => {
        const certificate = (response.socket as import('node:tls').TLSSocket).getPeerCertificate();
        response.resume();
        resolve(certificate.fingerprint);
      });
      request.on('error', reject);
    });
    expect(presented).toBe(uiCertificate.fingerprint);
    const text = await openssl(['x509', '-noout', '-fingerprint', '-sha1'], uiCertificate.certificate);
    expect(text.stdout.trim().split('=')[1]).toBe(presented);
  });

  it('refuses a client that does not trust the certificate', async () => {
    await expect(CertmidClient.connect(`wss://127.0.0.1:${server.daemon.httpsPort!}/api/current`, { WebSocket })).rejects.toThrow();
  });
});
