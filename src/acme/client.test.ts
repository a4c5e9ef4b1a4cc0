import { generateKeyPairSync, randomInt } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { issueCertificate } from '../crypto/certificates.js';
import { defaultExtensions } from '../crypto/extensions.js';
import { exportPrivateKeyPem, generatePrivateKey } from '../crypto/keys.js';
import { CallError } from '../errors/call-error.js';
import { BAD_NONCE_RETRIES, accountClient, acmeStep, createOrder, fetchDirectory, withTransport, type AcmeTransport } from './client.js';

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
    expect(Date.now() - started).toBeLessThan(5000);
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

/**
 * Just enough of an ACME server for newOrder (RFC 8555 §7.4): a directory, nonces, and orders whose
 * JWS payloads it keeps. It refuses to replace the certificate "replaced-already" (RFC 9773 §7.4),
 * and rejects the next `rejectNonces` signed requests with badNonce (RFC 8555 §6.5).
 */
class OrderServer {
  readonly payloads: Array<Record<string, unknown>> = [];
  /** How many signed requests to come it answers with badNonce, whatever their nonce. */
  rejectNonces = 0;
  /** Each signed request's nonce, and the nonce its answer carried. */
  readonly exchanges: Array<{ sent: string; answered: string; rejected: boolean }> = [];
  private readonly server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => this.answer(request, response, Buffer.concat(chunks).toString('utf8')));
  });
  private base = '';

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return `${this.base}/dir`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private answer(request: http.IncomingMessage, response: http.ServerResponse, body: string): void {
    const nonce = `nonce-${randomInt(1e9)}`;
    const json = (status: number, value: unknown, headers: Record<string, string> = {}): void =>
      void response.writeHead(status, { 'content-type': 'application/json', 'replay-nonce': nonce, ...headers }).end(JSON.stringify(value));
    if (request.url === '/dir') return json(200, { newNonce: `${this.base}/nonce`, newAccount: `${this.base}/account`, newOrder: `${this.base}/order`, revokeCert: `${this.base}/revoke` });
    if (request.url === '/nonce') return json(200, null);
    const jws = JSON.parse(body) as { protected: string; payload: string };
    const sent = (JSON.parse(Buffer.from(jws.protected, 'base64url').toString('utf8')) as { nonce: string }).nonce;
    const rejected = this.rejectNonces > 0;
    this.exchanges.push({ sent, answered: nonce, rejected });
    if (rejected) {
      this.rejectNonces--;
      return json(400, { type: 'urn:ietf:params:acme:error:badNonce', detail: `JWS has an invalid anti-replay nonce: ${sent}`, status: 400 });
    }
    const payload = JSON.parse(Buffer.from(jws.payload, 'base64url').toString('utf8')) as Record<string, unknown>;
    this.payloads.push(payload);
    if (payload.replaces === 'replaced-already') {
      return json(409, { type: 'urn:ietf:params:acme:error:alreadyReplaced', detail: 'this certificate already has a replacement' });
    }
    json(201, { status: 'pending', identifiers: payload.identifiers, authorizations: [], finalize: `${this.base}/finalize/1` }, { location: `${this.base}/order/${this.payloads.length}` });
  }
}

describe('createOrder', () => {
  const server = new OrderServer();
  const identifiers = [{ type: 'dns', value: 'example.test' }];
  let client: Awaited<ReturnType<typeof accountClient>>;

  beforeAll(async () => {
    const accountKeyPem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    client = await accountClient({ directoryUrl: await server.start(), accountKeyPem, accountUrl: 'http://127.0.0.1/account/1' });
  });

  beforeEach(() => {
    server.payloads.length = 0;
    server.exchanges.length = 0;
    server.rejectNonces = 0;
  });

  afterAll(() => server.stop());

  const order = (replaces?: string) => withTransport(transport(), () => createOrder(client, identifiers, replaces));

  it('names the certificate it renews in the signed newOrder payload (RFC 9773 §5)', async () => {
    expect(await order('aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE')).toMatchObject({ status: 'pending', url: expect.stringMatching(/\/order\/1$/) });
    expect(server.payloads).toEqual([{ identifiers, replaces: 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE' }]);
  });

  it('sends no replaces field for a first issuance', async () => {
    await order();
    expect(server.payloads).toEqual([{ identifiers }]);
  });

  it('orders again without replaces when the CA says the certificate was already replaced', async () => {
    expect(await order('replaced-already')).toMatchObject({ status: 'pending', url: expect.stringMatching(/\/order\/2$/) });
    expect(server.payloads).toEqual([{ identifiers, replaces: 'replaced-already' }, { identifiers }]);
  });

  it('retries a request rejected for its nonce, each time with the nonce of the rejection (RFC 8555 §6.5)', async () => {
    server.rejectNonces = 3;
    expect(await order()).toMatchObject({ status: 'pending' });
    expect(server.exchanges.map(({ rejected }) => rejected)).toEqual([true, true, true, false]);
    for (let i = 1; i < server.exchanges.length; i++) expect(server.exchanges[i]!.sent).toBe(server.exchanges[i - 1]!.answered);
    expect(server.payloads).toEqual([{ identifiers }]);
  });

  it(`survives ${BAD_NONCE_RETRIES} rejections in a row, as a CA that loses nonces under load gives`, async () => {
    server.rejectNonces = BAD_NONCE_RETRIES;
    expect(await order()).toMatchObject({ status: 'pending' });
    expect(server.exchanges).toHaveLength(BAD_NONCE_RETRIES + 1);
  });

  it('gives up after a bounded number of attempts, with the CA’s badNonce detail, when every nonce is rejected', async () => {
    server.rejectNonces = Number.POSITIVE_INFINITY;
    const error = await withTransport(transport(), () => acmeStep('Failed to place the order', () => createOrder(client, identifiers))).catch((thrown: unknown) => thrown);
    expect(error).toBeInstanceOf(CallError);
    expect(error).toMatchObject({ errname: 'EFAULT', message: expect.stringMatching(/^Failed to place the order: JWS has an invalid anti-replay nonce: /) });
    expect(server.exchanges).toHaveLength(BAD_NONCE_RETRIES + 1);
    expect(server.payloads).toEqual([]);
  });
});
