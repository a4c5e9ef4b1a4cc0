import { randomInt } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueCertificate } from '../crypto/certificates.js';
import { defaultExtensions } from '../crypto/extensions.js';
import { exportPrivateKeyPem, generatePrivateKey } from '../crypto/keys.js';
import { CallError } from '../errors/call-error.js';
import { acmeStep, fetchDirectory, withTransport, type AcmeTransport } from './client.js';

const transport = (overrides: Partial<AcmeTransport> = {}): AcmeTransport => ({ caBundle: null, timeoutMs: 2000, ...overrides });

/** The outcome of an ACME step: its CallError, or what else it threw or returned. */
const outcome = (work: () => Promise<unknown>, over: AcmeTransport = transport()): Promise<unknown> =>
  withTransport(over, () => acmeStep('Unable to retrieve directory ', work, over.signal)).then(
    (value) => value,
    (error: unknown) => error,
  );

/** A self-signed certificate for 127.0.0.1 and its key. */
async function selfSigned(): Promise<{ cert: string; key: string }> {
  const key = await generatePrivateKey({ keyType: 'EC', curve: 'SECP256R1' });
  const now = Date.now();
  const cert = await issueCertificate({
    subject: { common: '127.0.0.1' },
    san: [{ type: 'IP', value: '127.0.0.1' }],
    publicKey: key,
    signer: { privateKey: key, certificatePem: null },
    serial: BigInt(randomInt(1, 2 ** 47)),
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 86_400_000),
    digest: 'SHA256',
    extensions: defaultExtensions(),
  });
  return { cert, key: exportPrivateKeyPem(key) };
}

describe('the ACME transport', () => {
  const servers: Array<http.Server> = [];
  let silent: string;
  let problem: string;
  let tls: { url: string; cert: string };

  async function listen(server: http.Server, scheme: 'http' | 'https'): Promise<string> {
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `${scheme}://127.0.0.1:${(server.address() as AddressInfo).port}/dir`;
  }

  beforeAll(async () => {
    // Accepts the connection and never answers.
    silent = await listen(http.createServer(() => undefined), 'http');
    problem = await listen(
      http.createServer((_request, response) => {
        const body = {
          type: 'urn:ietf:params:acme:error:rejectedIdentifier',
          detail: 'Some identifiers were rejected',
          subproblems: [{ type: 'urn:ietf:params:acme:error:rejectedIdentifier', detail: 'This CA will not issue for it', identifier: { type: 'dns', value: 'bad.example' } }],
        };
        response.writeHead(403, { 'content-type': 'application/problem+json' }).end(JSON.stringify(body));
      }),
      'http',
    );
    const { cert, key } = await selfSigned();
    const url = await listen(https.createServer({ cert, key }, (_request, response) => response.writeHead(200, { 'content-type': 'application/json' }).end('{"newNonce":"x"}')), 'https');
    tls = { url, cert };
  });

  afterAll(async () => {
    await Promise.all(servers.map((server) => new Promise((resolve) => (server.closeAllConnections(), server.close(resolve)))));
  });

  it('fails after its timeout, naming the server, when the server does not answer', async () => {
    const started = Date.now();
    const error = await outcome(() => fetchDirectory(silent), transport({ timeoutMs: 200 }));
    expect(Date.now() - started).toBeLessThan(1500);
    expect(error).toBeInstanceOf(CallError);
    expect(error).toMatchObject({ errname: 'ETIMEDOUT', message: `Unable to retrieve directory : No answer from the ACME server at ${new URL(silent).origin} within 0.2 s` });
  });

  it('passes the job’s abort through unchanged', async () => {
    const controller = new AbortController();
    const reason = new Error('job aborted');
    setTimeout(() => controller.abort(reason), 50);
    expect(await outcome(() => fetchDirectory(silent), transport({ timeoutMs: 5000, signal: controller.signal }))).toBe(reason);
  });

  it('keeps the type, detail and subproblems of a problem document (RFC 8555 §6.7)', async () => {
    const error = await outcome(() => fetchDirectory(problem));
    expect(error).toMatchObject({
      errname: 'EFAULT',
      message: 'Unable to retrieve directory : Some identifiers were rejected\n- bad.example: This CA will not issue for it',
      extra: {
        type: 'urn:ietf:params:acme:error:rejectedIdentifier',
        detail: 'Some identifiers were rejected',
        status: 403,
        subproblems: [{ type: 'urn:ietf:params:acme:error:rejectedIdentifier', detail: 'This CA will not issue for it', identifier: 'bad.example' }],
      },
    });
  });

  it('trusts exactly the CA bundle given, and says so instead of failing with a TypeError', async () => {
    const untrusted = await outcome(() => fetchDirectory(tls.url));
    expect(untrusted).toMatchObject({ errname: 'ESSLCERTVERIFICATIONERROR', message: expect.stringMatching(/is not trusted .*give its CA certificate as the registration's ca_bundle$/) });
    expect(await outcome(() => fetchDirectory(tls.url), transport({ caBundle: tls.cert }))).toEqual({ newNonce: 'x' });
  });
});
