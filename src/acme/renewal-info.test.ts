import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueCertificate, parseCertificate } from '../crypto/certificates.js';
import { caDefaultExtensions, defaultExtensions } from '../crypto/extensions.js';
import { exportPrivateKeyPem, generatePrivateKey } from '../crypto/keys.js';
import { ACME_REQUEST_TIMEOUT_MS } from './client.js';
import { ariCertificateId, fetchSuggestedWindow, windowSaysRenew, type SuggestedWindow } from './renewal-info.js';

const DAY = 86_400_000;
const transport = { caBundle: null, timeoutMs: ACME_REQUEST_TIMEOUT_MS };

/** A CA and a leaf it signed with serial 0x87654321 (RFC 9773 §4.1's example serial), AKI included or not. */
async function leafWithSerial(withAki: boolean): Promise<{ caPem: string; leafPem: string }> {
  const now = new Date();
  const validity = { notBefore: now, notAfter: new Date(now.getTime() + DAY), digest: 'SHA256' as const };
  const caKey = await generatePrivateKey({ keyType: 'EC', curve: 'SECP256R1' });
  const caPem = await issueCertificate({ ...validity, subject: { common: 'ARI test CA' }, san: [], publicKey: caKey, signer: { privateKey: caKey, certificatePem: null }, serial: 1n, extensions: caDefaultExtensions() });
  const extensions = defaultExtensions();
  extensions.AuthorityKeyIdentifier.enabled = withAki;
  const leafKey = await generatePrivateKey({ keyType: 'EC', curve: 'SECP256R1' });
  const leafPem = await issueCertificate({
    ...validity,
    subject: { common: 'example.test' },
    san: [{ type: 'DNS', value: 'example.test' }],
    publicKey: leafKey,
    signer: { privateKey: caKey, certificatePem: caPem },
    serial: 0x87654321n,
    extensions,
  });
  return { caPem, leafPem };
}

/** A self-signed certificate for 127.0.0.1 and its key: a private CA's HTTPS server. */
async function selfSigned(): Promise<{ cert: string; key: string }> {
  const key = await generatePrivateKey({ keyType: 'EC', curve: 'SECP256R1' });
  const now = Date.now();
  const cert = await issueCertificate({
    subject: { common: '127.0.0.1' },
    san: [{ type: 'IP', value: '127.0.0.1' }],
    publicKey: key,
    signer: { privateKey: key, certificatePem: null },
    serial: 2n,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + DAY),
    digest: 'SHA256',
    extensions: defaultExtensions(),
  });
  return { cert, key: exportPrivateKeyPem(key) };
}

describe('ariCertificateId', () => {
  it('joins the base64url AKI keyIdentifier and the serial DER octets with a dot (RFC 9773 §4.1)', async () => {
    const { caPem, leafPem } = await leafWithSerial(true);
    // The leaf's AKI keyIdentifier is its issuer's SKI.
    const expectedKeyId = Buffer.from(parseCertificate(caPem).subject_key_identifier!.replace(/:/g, ''), 'hex').toString('base64url');
    // 0x87654321 has its top bit set, so its DER content is 00 87 65 43 21: "AIdlQyE" as in the RFC's example.
    expect(ariCertificateId(leafPem)).toBe(`${expectedKeyId}.AIdlQyE`);
  });

  it('is null for a certificate without an authority key identifier', async () => {
    const { leafPem } = await leafWithSerial(false);
    expect(ariCertificateId(leafPem)).toBeNull();
  });
});

describe('windowSaysRenew', () => {
  const now = Date.now();
  const window = (startDays: number, endDays: number): SuggestedWindow => ({ start: new Date(now + startDays * DAY), end: new Date(now + endDays * DAY), explanationUrl: null });
  const nextCheck = new Date(now + DAY);

  it('renews when the time picked in the window has passed or comes before the next check', () => {
    expect(windowSaysRenew(window(-2, -1), nextCheck)).toBe(true);
    expect(windowSaysRenew(window(-1, 3), nextCheck, () => 0.4)).toBe(true);
  });

  it('waits when the time picked comes after the next check', () => {
    expect(windowSaysRenew(window(-1, 3), nextCheck, () => 0.6)).toBe(false);
    expect(windowSaysRenew(window(30, 32), nextCheck)).toBe(false);
  });
});

describe('fetchSuggestedWindow', () => {
  const answers = new Map<string, { status: number; body: unknown }>();
  const requests: string[] = [];
  let server: http.Server;
  let base: string;

  beforeAll(async () => {
    server = http.createServer((request, response) => {
      requests.push(`${request.method} ${request.url}`);
      const answer = answers.get(request.url ?? '') ?? { status: 404, body: { type: 'urn:ietf:params:acme:error:malformed', detail: 'no such certificate' } };
      response.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/renewal-info`;
  });

  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('GETs <renewalInfo>/<certID> and reads the window and explanation', async () => {
    answers.set('/renewal-info/abc.AIdlQyE', {
      status: 200,
      body: { suggestedWindow: { start: '2025-01-02T04:00:00Z', end: '2025-01-03T04:00:00Z' }, explanationURL: 'https://ca.example/why' },
    });
    expect(await fetchSuggestedWindow(`${base}/`, 'abc.AIdlQyE', transport)).toEqual({
      start: new Date('2025-01-02T04:00:00Z'),
      end: new Date('2025-01-03T04:00:00Z'),
      explanationUrl: 'https://ca.example/why',
    });
    expect(requests.at(-1)).toBe('GET /renewal-info/abc.AIdlQyE');
  });

  it('refuses a window that ends before it starts', async () => {
    answers.set('/renewal-info/backwards', { status: 200, body: { suggestedWindow: { start: '2025-01-03T00:00:00Z', end: '2025-01-02T00:00:00Z' } } });
    await expect(fetchSuggestedWindow(base, 'backwards', transport)).rejects.toThrow(`GET ${base}/backwards answered no valid suggestedWindow`);
  });

  it('fails with the problem the CA answers', async () => {
    await expect(fetchSuggestedWindow(base, 'unknown', transport)).rejects.toThrow('no such certificate');
  });

  describe('through the registration’s transport', () => {
    const servers: http.Server[] = [];
    const window = { suggestedWindow: { start: '2025-01-02T04:00:00Z', end: '2025-01-03T04:00:00Z' } };

    async function listen(server: http.Server, scheme: 'http' | 'https'): Promise<string> {
      servers.push(server);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return `${scheme}://127.0.0.1:${(server.address() as AddressInfo).port}/renewal-info`;
    }

    afterAll(() => Promise.all(servers.map((one) => new Promise((resolve) => (one.closeAllConnections(), one.close(resolve))))));

    it('trusts the registration’s CA bundle and nothing else', async () => {
      const { cert, key } = await selfSigned();
      const url = await listen(https.createServer({ cert, key }, (_request, response) => response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(window))), 'https');
      await expect(fetchSuggestedWindow(url, 'abc.AQ', transport)).rejects.toMatchObject({ name: 'AcmeTransportError', errname: 'ESSLCERTVERIFICATIONERROR' });
      expect(await fetchSuggestedWindow(url, 'abc.AQ', { ...transport, caBundle: cert })).toMatchObject({ start: new Date('2025-01-02T04:00:00Z') });
    });

    it('gives up after the transport’s timeout, naming the server', async () => {
      const url = await listen(http.createServer(() => undefined), 'http');
      const started = Date.now();
      await expect(fetchSuggestedWindow(url, 'abc.AQ', { ...transport, timeoutMs: 200 })).rejects.toThrow(`No answer from the ACME server at ${new URL(url).origin} within 0.2 s`);
      expect(Date.now() - started).toBeLessThan(5000);
    });
  });
});
