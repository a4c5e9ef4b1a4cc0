import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import https from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCertificate } from '../../src/crypto/certificates.js';
import { queryRecords, rfc2136 } from '../../src/dns/rfc2136.js';
import { acmeToolsAvailable, digTxt, httpsGet, queryTxt, startBind, startPebble, type BindServer, type PebbleServer } from '../helpers/acme-harness.js';

const b64u = (data: Buffer | string): string => Buffer.from(data).toString('base64url');

/**
 * Just enough of an ACME client (RFC 8555) to have Pebble validate DNS-01 challenges: it proves that
 * Pebble resolves through the harness BIND, and really validates.
 */
class MiniAcme {
  private readonly key: KeyObject;
  private readonly jwk: Record<string, string>;
  private kid = '';
  private directory: Record<string, string> = {};

  constructor(private readonly pebble: PebbleServer) {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.key = privateKey;
    const { crv, kty, x, y } = publicKey.export({ format: 'jwk' }) as Record<string, string>;
    this.jwk = { crv: crv!, kty: kty!, x: x!, y: y! };
  }

  /** base64url(SHA-256(keyAuthorization)): the TXT value for `token` (RFC 8555 §8.4). */
  txtValue(token: string): string {
    const thumbprint = b64u(createHash('sha256').update(JSON.stringify(this.jwk)).digest());
    return b64u(createHash('sha256').update(`${token}.${thumbprint}`).digest());
  }

  async register(): Promise<void> {
    this.directory = JSON.parse((await httpsGet(this.pebble.directoryUrl, this.pebble.caBundlePem)).body);
    this.kid = (await this.post(this.directory.newAccount!, { termsOfServiceAgreed: true })).headers.location as string;
  }

  async order(domains: readonly string[]): Promise<{ authorizations: string[] }> {
    return (await this.post(this.directory.newOrder!, { identifiers: domains.map((value) => ({ type: 'dns', value })) })).body;
  }

  async authorization(url: string): Promise<{ status: string; identifier: { value: string }; challenges: Array<{ type: string; url: string; token: string }> }> {
    return (await this.post(url, null)).body;
  }

  async answer(challengeUrl: string): Promise<void> {
    await this.post(challengeUrl, {});
  }

  /** POSTs a JWS (`payload` null: POST-as-GET), with a fresh nonce so that requests may run in parallel. */
  private async post(url: string, payload: unknown): Promise<{ headers: Record<string, unknown>; body: any }> {
    const nonce = (await this.request('HEAD', this.directory.newNonce!)).headers['replay-nonce'];
    const protectedHeader = b64u(JSON.stringify({ alg: 'ES256', nonce, url, ...(this.kid ? { kid: this.kid } : { jwk: this.jwk }) }));
    const body = payload === null ? '' : b64u(JSON.stringify(payload));
    const signature = sign('sha256', Buffer.from(`${protectedHeader}.${body}`), { key: this.key, dsaEncoding: 'ieee-p1363' });
    const response = await this.request('POST', url, JSON.stringify({ protected: protectedHeader, payload: body, signature: b64u(signature) }));
    if (response.status >= 400) throw new Error(`POST ${url}: ${response.status} ${response.text}`);
    return { headers: response.headers, body: response.text ? JSON.parse(response.text) : null };
  }

  private request(method: string, url: string, body?: string): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
    return new Promise((resolve, reject) => {
      const request = https.request(url, { method, ca: this.pebble.caBundlePem, headers: { 'content-type': 'application/jose+json' }, timeout: 5000 }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, text: Buffer.concat(chunks).toString('utf8') }));
      });
      request.on('timeout', () => request.destroy(new Error(`${method} ${url}: timeout`)));
      request.on('error', reject);
      request.end(body);
    });
  }
}

describe.runIf(await acmeToolsAvailable())('ACME test harness', () => {
  let bind: BindServer;
  let pebble: PebbleServer;

  beforeAll(async () => {
    bind = await startBind();
    pebble = await startPebble({ dnsServer: bind.address });
  });

  afterAll(async () => {
    await pebble?.stop();
    await bind?.stop();
  });

  it('starts BIND answering SOA queries for its zones on a loopback port', async () => {
    expect(bind.host).toBe('127.0.0.1');
    expect(bind.port).not.toBe(53);
    for (const zone of [bind.zone, bind.aliasZone, bind.delegatedZone]) {
      expect(await queryRecords(bind, zone, 'SOA')).toEqual([expect.stringMatching(new RegExp(`^ns1\\.${zone} hostmaster\\.${zone} 1 `))]);
    }
  });

  it('shares one key per TSIG algorithm with BIND, as dig -y shows, and dig fails on a wrong secret', async () => {
    expect(Object.keys(bind.tsigKeys).sort()).toEqual(['hmac-sha1', 'hmac-sha224', 'hmac-sha256', 'hmac-sha384', 'hmac-sha512']);
    expect(new Set(Object.values(bind.tsigKeys).map((key) => key.name)).size).toBe(5);
    for (const key of Object.values(bind.tsigKeys)) expect(await digTxt(bind, `_harness.${bind.zone}`, { tsig: key })).toHaveLength(1);
    const sha1 = bind.tsigKeys['hmac-sha1'];
    await expect(digTxt(bind, `_harness.${bind.zone}`, { tsig: { ...sha1, secret: Buffer.alloc(20, 7).toString('base64') } })).rejects.toThrow(/Couldn't verify signature/);
  });

  it('answers names outside its zones from the local root zone, without going out', async () => {
    const started = Date.now();
    expect(await queryRecords(bind, 'example.com', 'A')).toEqual([]);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('serves Pebble’s directory over HTTPS trusted through caBundlePem only', async () => {
    const { status, body } = await httpsGet(pebble.directoryUrl, pebble.caBundlePem);
    expect(status).toBe(200);
    expect(JSON.parse(body)).toMatchObject({ newAccount: expect.stringContaining('https://127.0.0.1:'), meta: { externalAccountRequired: false } });
    await expect(new Promise((resolve, reject) => https.get(pebble.directoryUrl, resolve).on('error', reject))).rejects.toThrow(/certificate/);
  });

  it('fetches Pebble’s root certificate from the management port', async () => {
    const root = await pebble.rootCertificatePem();
    expect(root).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(parseCertificate(root).common).toMatch(/^Pebble Root CA/);
  });

  it('has Pebble validate DNS-01 through BIND: directly, through a CNAME, and not without the record', async () => {
    const acme = new MiniAcme(pebble);
    await acme.register();
    const dns = rfc2136.create(
      rfc2136.schema.parse({ nameserver: bind.host, port: bind.port, tsig_key_name: bind.tsig.name, tsig_secret: bind.tsig.secret }),
      { timeoutMs: 2000 },
    );
    const domains = [bind.zone, bind.aliasZone, `www.${bind.zone}`];
    const order = await acme.order(domains);
    const outcome: Record<string, string> = {};
    await Promise.all(
      order.authorizations.map(async (url) => {
        const authz = await acme.authorization(url);
        const domain = authz.identifier.value;
        const challenge = authz.challenges.find((c) => c.type === 'dns-01')!;
        const name = `_acme-challenge.${domain}`;
        const recordName = bind.challengeAliases[name] ?? name;
        if (domain !== `www.${bind.zone}`) await dns.createTxt(recordName, acme.txtValue(challenge.token));
        await acme.answer(challenge.url);
        for (let status = 'pending'; ; ) {
          status = (await acme.authorization(url)).status;
          if (status !== 'pending' && status !== 'processing') {
            outcome[domain] = status;
            break;
          }
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        if (domain !== `www.${bind.zone}`) await dns.deleteTxt(recordName, acme.txtValue(challenge.token));
      }),
    );
    expect(outcome).toEqual({ [bind.zone]: 'valid', [bind.aliasZone]: 'valid', [`www.${bind.zone}`]: 'invalid' });
    expect(await digTxt(bind, `_acme-challenge.${bind.aliasZone}`, { recursive: true })).toEqual([]);
  });

  it('runs instances side by side, each on its own ports', async () => {
    const [other, another] = await Promise.all([startBind({ zone: 'second.test' }), startBind()]);
    try {
      expect(new Set([bind.port, other.port, another.port]).size).toBe(3);
      expect(await queryTxt(other, '_harness.second.test')).toHaveLength(1);
      expect(await queryRecords(other, bind.zone, 'SOA')).toEqual([]);
    } finally {
      await Promise.all([other.stop(), another.stop()]);
    }
  });

  it('starts Pebble requiring External Account Binding when asked', async () => {
    const eab = await startPebble({ dnsServer: bind.address, externalAccountBinding: { kid: 'kid-1', hmacKey: b64u(Buffer.alloc(32, 1)) } });
    try {
      const { body } = await httpsGet(eab.directoryUrl, eab.caBundlePem);
      expect(JSON.parse(body).meta.externalAccountRequired).toBe(true);
    } finally {
      await eab.stop();
    }
  });
});
