/**
 * Transport security with HTTPS on: HSTS, TLS 1.2+ with forward-secret AEAD suites only (openssl
 * is the judge), the WebSocket Origin check, and HTTPS_ONLY (plain HTTP redirects, no API on it).
 */
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { type ClientOptions } from 'ws';
import { renewDefaultCertificate, uiTlsMaterial } from '../../src/certs/default-certificate.js';
import { CertmidClient } from '../../src/client/client.js';
import { openssl } from '../helpers/openssl.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const ONE_YEAR = 31_536_000;

let server: TestServer;
let httpsOnly: TestServer;
/** HTTPS port → that daemon's UI certificate, the only certificate a client of that port trusts. */
const uiCertificates = new Map<number, string>();
/** Both certificates name the same subject, so each connection trusts only its own. */
const trusted = (url: string) => uiCertificates.get(Number(new URL(url).port));

beforeAll(async () => {
  [server, httpsOnly] = await Promise.all([startTestServer({ env: { HTTPS_PORT: '0' } }), startTestServer({ env: { HTTPS_PORT: '0', HTTPS_ONLY: 'true' } })]);
  for (const daemon of [server, httpsOnly]) uiCertificates.set(daemon.daemon.httpsPort!, (await uiTlsMaterial(daemon.daemon.app))!.cert);
});
afterAll(async () => {
  await Promise.all([server?.close(), httpsOnly?.close()]);
});

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One GET over HTTP or HTTPS (trusting only the UI certificate, which names localhost). */
function get(url: string, headers: Record<string, string> = {}): Promise<Reply> {
  const options = { headers, agent: false, ca: trusted(url), servername: 'localhost' };
  return new Promise((resolve, reject) => {
    const request = (url.startsWith('https:') ? https : http).get(url, options, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode!, headers: response.headers, body: Buffer.concat(chunks) }));
    });
    request.on('error', reject);
  });
}

/** The HTTP status a WebSocket handshake ends with: 101 when it opened. */
function handshakeStatus(url: string, options: ClientOptions = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { ca: trusted(url), servername: 'localhost', ...options } as ClientOptions);
    ws.once('open', () => (ws.close(), resolve(101)));
    ws.once('unexpected-response', (_request, response) => (response.resume(), resolve(response.statusCode!)));
    ws.once('error', reject);
  });
}

/** The suite openssl negotiated with the first daemon's HTTPS port, or null when the handshake failed. */
async function negotiate(...args: string[]): Promise<string | null> {
  const run = await openssl(['s_client', '-connect', `127.0.0.1:${server.daemon.httpsPort}`, '-servername', 'localhost', ...args], '');
  const cipher = /Cipher is (\S+)/.exec(run.stdout)?.[1];
  return run.code === 0 && cipher && cipher !== '(NONE)' ? cipher : null;
}

/** The SHA-1 fingerprint of the certificate the first daemon's HTTPS port presents now. */
function presentedFingerprint(): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port: server.daemon.httpsPort!, servername: 'localhost', rejectUnauthorized: false }, () => {
      resolve(socket.getPeerCertificate().fingerprint);
      socket.destroy();
    });
    socket.on('error', reject);
  });
}

describe('HSTS', () => {
  it('is sent on HTTPS responses, not on plain HTTP', async () => {
    const secure = await get(`https://127.0.0.1:${server.daemon.httpsPort}/api/versions`);
    expect(secure.status).toBe(200);
    expect(secure.headers['strict-transport-security']).toBe(`max-age=${ONE_YEAR}`);
    const missing = await get(`https://127.0.0.1:${server.daemon.httpsPort}/no-such-page`);
    expect(missing.status).toBe(404);
    expect(missing.headers['strict-transport-security']).toBe(`max-age=${ONE_YEAR}`);
    const plain = await get(`http://127.0.0.1:${server.port}/api/versions`);
    expect(plain.status).toBe(200);
    expect(plain.headers['strict-transport-security']).toBeUndefined();
  });
});

describe('TLS', () => {
  // SECLEVEL=0 lets the client offer what a modern default would not, so the server is what refuses.
  const offer = (cipher: string) => ['-tls1_2', '-cipher', `${cipher}:@SECLEVEL=0`];

  it.each([
    ['TLS 1.0', ['-tls1', '-cipher', 'ALL:@SECLEVEL=0']],
    ['TLS 1.1', ['-tls1_1', '-cipher', 'ALL:@SECLEVEL=0']],
    ['RSA key exchange with CBC (AES256-SHA)', offer('AES256-SHA')],
    ['RSA key exchange with GCM (AES256-GCM-SHA384)', offer('AES256-GCM-SHA384')],
    ['ECDHE with CBC (ECDHE-RSA-AES128-SHA256)', offer('ECDHE-RSA-AES128-SHA256')],
    ['ECDHE with CBC and SHA-1 (ECDHE-RSA-AES256-SHA)', offer('ECDHE-RSA-AES256-SHA')],
    ['finite-field DHE (DHE-RSA-AES128-GCM-SHA256)', offer('DHE-RSA-AES128-GCM-SHA256')],
  ])('refuses %s', async (_name, args) => {
    expect(await negotiate(...args)).toBeNull();
  });

  it.each(['ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-RSA-CHACHA20-POLY1305'])('accepts TLS 1.2 with %s', async (cipher) => {
    expect(await negotiate('-tls1_2', '-cipher', cipher)).toBe(cipher);
  });

  it('accepts TLS 1.3', async () => {
    expect(await negotiate('-tls1_3')).toMatch(/^TLS_(AES_\d+_GCM_SHA\d+|CHACHA20_POLY1305_SHA256)$/);
  });
});

describe('the WebSocket Origin check', () => {
  const plainUrl = (path = '/api/current') => `ws://127.0.0.1:${server.port}${path}`;

  it('refuses a browser page of another origin with 403, on both protocols', async () => {
    for (const path of ['/api/current', '/websocket']) {
      expect(await handshakeStatus(plainUrl(path), { origin: 'http://evil.example' })).toBe(403);
      expect(await handshakeStatus(plainUrl(path), { origin: `http://evil.example:${server.port}` })).toBe(403);
      expect(await handshakeStatus(plainUrl(path), { origin: `http://localhost:${server.port}` })).toBe(403);
      expect(await handshakeStatus(plainUrl(path), { origin: `http://127.0.0.1:${server.port + 1}` })).toBe(403);
      expect(await handshakeStatus(plainUrl(path), { origin: 'null' })).toBe(403);
      expect(await handshakeStatus(plainUrl(path), { origin: 'not a url' })).toBe(403);
    }
  });

  it('accepts the page it serves and clients that send no Origin', async () => {
    expect(await handshakeStatus(plainUrl(), { origin: `http://127.0.0.1:${server.port}` })).toBe(101);
    expect(await handshakeStatus(plainUrl('/websocket'), { origin: `http://127.0.0.1:${server.port}` })).toBe(101);
    expect(await handshakeStatus(plainUrl())).toBe(101);
    // Behind a proxy on the default port the Host header carries no port, nor does the origin.
    expect(await handshakeStatus(plainUrl(), { origin: 'http://nas.example', headers: { host: 'nas.example' } })).toBe(101);
    // Host names compare without regard to case, as browsers send them lower-cased.
    expect(await handshakeStatus(plainUrl(), { origin: `http://nas.example:${server.port}`, headers: { host: `NAS.example:${server.port}` } })).toBe(101);

    const client = await CertmidClient.connect(plainUrl(), { WebSocket: originWebSocket(`http://127.0.0.1:${server.port}`) });
    await client.login(server.admin.username, server.admin.password);
    expect(await client.call('core.ping')).toBe('pong');
    await client.close();
  });

  it('compares with the HTTPS origin on the HTTPS port', async () => {
    const secureUrl = `wss://127.0.0.1:${server.daemon.httpsPort}/api/current`;
    expect(await handshakeStatus(secureUrl, { origin: `https://127.0.0.1:${server.daemon.httpsPort}` })).toBe(101);
    expect(await handshakeStatus(secureUrl, { origin: `http://127.0.0.1:${server.port}` })).toBe(403);
  });
});

/** A WebSocket class that sends `origin`, as a browser page of that origin would. */
function originWebSocket(origin: string) {
  return class extends WebSocket {
    constructor(url: string) {
      super(url, { origin });
    }
  };
}

describe('HTTPS_ONLY', () => {
  it('redirects plain HTTP to the same path on the HTTPS port', async () => {
    const reply = await get(`http://127.0.0.1:${httpsOnly.port}/?q=expires:30`);
    expect(reply.status).toBe(301);
    expect(reply.headers.location).toBe(`https://127.0.0.1:${httpsOnly.daemon.httpsPort}/?q=expires:30`);
    const named = await get(`http://127.0.0.1:${httpsOnly.port}/api/versions`, { host: `nas.example:${httpsOnly.port}` });
    expect(named.status).toBe(301);
    expect(named.headers.location).toBe(`https://nas.example:${httpsOnly.daemon.httpsPort}/api/versions`);
    // A relying-party path in disguise is redirected like any other.
    const disguised = await new Promise<http.IncomingMessage>((resolve, reject) =>
      http.get({ host: '127.0.0.1', port: httpsOnly.port, path: '/crl/../api/versions', agent: false }, resolve).on('error', reject),
    );
    disguised.resume();
    expect(disguised.statusCode).toBe(301);
    const secure = await get(`https://127.0.0.1:${httpsOnly.daemon.httpsPort}/api/versions`);
    expect(secure.status).toBe(200);
    expect(secure.headers['strict-transport-security']).toBe(`max-age=${ONE_YEAR}`);
  });

  it('answers a request without a usable Host header with 400, not a redirect elsewhere', async () => {
    const reply = await get(`http://127.0.0.1:${httpsOnly.port}/`, { host: 'evil.example/path' });
    expect(reply.status).toBe(400);
    expect(reply.headers.location).toBeUndefined();
  });

  it('refuses the WebSocket API on plain HTTP and serves it on HTTPS', async () => {
    expect(await handshakeStatus(`ws://127.0.0.1:${httpsOnly.port}/api/current`)).toBe(403);
    expect(await handshakeStatus(`ws://127.0.0.1:${httpsOnly.port}/websocket`)).toBe(403);
    expect(await handshakeStatus(`wss://127.0.0.1:${httpsOnly.daemon.httpsPort}/api/current`)).toBe(101);
  });

  it('still serves CRLs and CA certificates on plain HTTP, where certificates point relying parties', async () => {
    const ws = class extends WebSocket {
      constructor(url: string) {
        super(url, { ca: trusted(url), servername: 'localhost' } as ClientOptions);
      }
    };
    const client = await CertmidClient.connect(`wss://127.0.0.1:${httpsOnly.daemon.httpsPort}/api/current`, { WebSocket: ws });
    await client.login(httpsOnly.admin.username, httpsOnly.admin.password);
    const ca = await client.call<{ id: number; crl_url: string; ca_certificate_url: string }>('certificateauthority.create', {
      name: 'https-only-root',
      create_type: 'CA_CREATE_INTERNAL',
      key_type: 'EC',
      ec_curve: 'SECP256R1',
      digest_algorithm: 'SHA256',
      lifetime: 365,
      country: 'US',
      state: 'TN',
      city: 'Knoxville',
      organization: 'Lab',
      email: 'pki@lab.example',
      common: 'HTTPS-only Root',
      san: ['lab.example'],
    });
    await client.close();
    expect(ca.crl_url).toBe(`http://127.0.0.1:${httpsOnly.port}/crl/${ca.id}.crl`);
    const crl = await get(ca.crl_url);
    expect(crl.status).toBe(200);
    expect((await openssl(['crl', '-inform', 'DER', '-noout', '-issuer'], crl.body)).stdout).toContain('HTTPS-only Root');
    const certificate = await get(ca.ca_certificate_url);
    expect(certificate.status).toBe(200);
  });
});

describe('after the UI certificate is renewed', () => {
  it('still refuses suites without forward secrecy and accepts the good ones', async () => {
    const before = await presentedFingerprint();
    const renewedId = await renewDefaultCertificate(server.daemon.app, new Date(Date.now() + 395 * 86_400_000));
    expect(renewedId).not.toBeNull();
    await expect.poll(presentedFingerprint, { timeout: 10_000 }).not.toBe(before);
    expect(await negotiate('-tls1_2', '-cipher', 'AES256-SHA:@SECLEVEL=0')).toBeNull();
    expect(await negotiate('-tls1_1', '-cipher', 'ALL:@SECLEVEL=0')).toBeNull();
    expect(await negotiate('-tls1_2', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256')).toBe('ECDHE-RSA-AES128-GCM-SHA256');
  });
});
