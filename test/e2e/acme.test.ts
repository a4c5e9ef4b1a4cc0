import { randomBytes } from 'node:crypto';
import dns from 'node:dns';
import net from 'node:net';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import acme from 'acme-client';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BAD_NONCE_RETRIES } from '../../src/acme/client.js';
import { bullmqJobId, QUEUE_NAME, redisOptions } from '../../jobs/bullmq-backend.js';
import { AcmeRegistrationEntity } from '../../src/acme/entities.js';
import { issueAcmeCertificate } from '../../src/acme/issue.js';
import { waitForPropagation } from '../../src/acme/propagation.js';
import { revokeAcmeCertificate } from '../../src/acme/revoke.js';
import { CertificateEntity } from '../../src/certs/entities.js';
import { CertmidClient, JobError, RpcError, type CallJobOptions, type CollectionUpdate, type JobProgress, type WebSocketConstructor } from '../../src/client/client.js';
import { parseCertificate } from '../../src/crypto/certificates.js';
import { splitPem } from '../../src/crypto/pem.js';
import { rfc2136 as rfc2136Provider } from '../../src/dns/rfc2136.js';
import {
  acmeToolsAvailable,
  digTxt,
  httpsGet,
  startBind,
  startPebble,
  startRegistrarBind,
  type BindServer,
  type PebbleServer,
  type RegistrarBindServer,
  type TsigCredentials,
} from '../helpers/acme-harness.js';
import { parsedIssuerDn } from '../helpers/issuer-dn.js';
import { verifyChain } from '../helpers/openssl.js';
import { validationErrorsOf } from '../helpers/pki-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { dropQueuePrefix, REDIS_URL, redisAvailable, uniquePrefix } from '../helpers/services.js';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process.js';
import { closedPort } from '../helpers/net.js';

type Entry = Record<string, any>;

/** Every failure must end its job well within this, far below any default timeout. */
const FAILURE_BOUND_MS = 10_000;
const EAB = { kid: 'certmid-kid', hmacKey: randomBytes(32).toString('base64url') };

/** Redis answers, does not (skip the BullMQ half), or must answer and does not (CI: fail it). */
const redis = await redisAvailable().then(
  (up) => ({ up, error: undefined }),
  (error: Error) => ({ up: false, error }),
);

async function connect(server: TestServer): Promise<CertmidClient> {
  const client = await CertmidClient.connect(server.url, { WebSocket: WebSocket as unknown as WebSocketConstructor, callTimeout: 60_000 });
  await client.login(server.admin.username, server.admin.password);
  return client;
}

/** The error of a job that must fail, and how long it took. */
async function jobFailure(promise: Promise<unknown>): Promise<{ error: JobError; elapsedMs: number }> {
  const started = Date.now();
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(JobError);
  return { error: error as JobError, elapsedMs: Date.now() - started };
}

/** The error of a plain call that must fail. */
async function callFailure(promise: Promise<unknown>): Promise<RpcError> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(RpcError);
  return error as RpcError;
}

/** Pebble's record of a certificate (its management API): "Valid" or "Revoked". */
async function pebbleStatus(pebble: PebbleServer, certificatePem: string): Promise<string> {
  const serial = BigInt(parseCertificate(certificatePem).serial!).toString(16);
  const { status, body } = await httpsGet(`${pebble.managementUrl}/cert-status-by-serial/${serial}`, pebble.caBundlePem);
  expect(status, body).toBe(200);
  return (JSON.parse(body) as { Status: string }).Status;
}

/** `openssl verify` of the leaf against Pebble's root, with the intermediates the CA sent as untrusted. */
async function expectChainVerifies(fullchain: string, root: string): Promise<void> {
  const [leaf, ...intermediates] = splitPem(fullchain).map((block) => `${block.pem}\n`);
  expect(intermediates.length).toBeGreaterThan(0);
  const { ok, output } = await verifyChain(leaf!, [...intermediates, root]);
  expect(ok, output).toBe(true);
}

/** Every value stored under `prefix` in Redis, as text, whatever the key's type. */
async function redisText(prefix: string): Promise<string> {
  const client = new Redis(REDIS_URL);
  try {
    const read = async (key: string): Promise<unknown> => {
      switch (await client.type(key)) {
        case 'string':
          return client.get(key);
        case 'hash':
          return client.hgetall(key);
        case 'list':
          return client.lrange(key, 0, -1);
        case 'zset':
          return client.zrange(key, 0, -1);
        case 'stream':
          return client.xrange(key, '-', '+');
        default:
          return client.smembers(key).catch(() => null);
      }
    };
    const keys = await client.keys(`${prefix}:*`);
    return JSON.stringify(await Promise.all(keys.map(read)));
  } finally {
    await client.quit();
  }
}

/** The BullMQ record of certmid job `id` under `prefix`: which worker ran it (`<hostname>:<pid>`). */
async function bullmqRecord(prefix: string, id: number): Promise<{ processedBy: string | undefined; method: string | undefined }> {
  const queue = new Queue(QUEUE_NAME, { connection: redisOptions(REDIS_URL), prefix });
  try {
    const job = await queue.getJob(bullmqJobId(id));
    return { processedBy: job?.processedBy, method: (job?.data as { method?: string } | undefined)?.method };
  } finally {
    await queue.close();
  }
}

/**
 * A TCP relay to a DNS server that holds every connection until `open()`, then passes bytes both
 * ways unchanged: it decides when an RFC 2136 update (always sent over TCP) reaches the server.
 */
async function heldTcpRelay(target: { host: string; port: number }): Promise<{ port: number; connections(): number; open(): void; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const held: Array<() => void> = [];
  let opened = false;
  let connections = 0;
  const track = (socket: net.Socket): net.Socket => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    return socket;
  };
  const server = net.createServer((client) => {
    connections += 1;
    track(client).pause();
    const relay = (): void => {
      const upstream = track(net.connect(target.port, target.host));
      client.on('error', () => upstream.destroy()).on('close', () => upstream.destroy());
      upstream.on('error', () => client.destroy()).on('close', () => client.destroy());
      client.pipe(upstream).pipe(client);
    };
    if (opened) relay();
    else held.push(relay);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => connections,
    open() {
      opened = true;
      held.splice(0).forEach((relay) => relay());
    },
    close: () =>
      new Promise<void>((resolve) => {
        sockets.forEach((socket) => socket.destroy());
        server.close(() => resolve());
      }),
  };
}

/** Polls `check` until it holds; fails naming `what` after `timeoutMs` (generous: a loaded machine is slow, not wrong). */
async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(100);
  }
}

/** Descriptions in the order they were reported, each once, with the percent at which they appeared. */
function steps(progress: readonly JobProgress[]): Array<[number, string]> {
  const result: Array<[number, string]> = [];
  for (const { percent, description } of progress) {
    if (description && description !== result.at(-1)?.[1]) result.push([percent, description]);
  }
  return result;
}

describe.runIf(await acmeToolsAvailable())('ACME issuance against Pebble and BIND', () => {
  let bind: BindServer;
  let registrar: RegistrarBindServer;
  let systemResolvers: string[];
  let pebble: PebbleServer;
  let pebbleRoot: string;
  let counter = 0;

  const rfc2136 = (tsig: TsigCredentials, port = bind.port) => ({
    authenticator: 'rfc2136',
    nameserver: bind.host,
    port,
    tsig_key_name: tsig.name,
    tsig_algorithm: tsig.algorithm,
    tsig_secret: tsig.secret,
  });

  /** The TXT values left at the challenge names of `domains` (and where their CNAMEs lead). */
  async function challengeRecords(...domains: string[]): Promise<string[]> {
    const names = domains.map((domain) => `_acme-challenge.${domain.replace(/^\*\./, '')}`);
    const aliases: Record<string, string> = { ...bind.challengeAliases, ...registrar.challengeAliases };
    const values = await Promise.all(names.flatMap((name) => [digTxt(bind, name), digTxt(bind, aliases[name] ?? name)]));
    return values.flat();
  }

  /** What every daemon under test needs: a client, an rfc2136 authenticator, and helpers. */
  class Daemon {
    authenticatorId = 0;
    readonly events: CollectionUpdate[] = [];

    constructor(
      readonly server: TestServer,
      readonly admin: CertmidClient,
    ) {}

    static async start(env: Record<string, string> = {}, logLines?: string[]): Promise<Daemon> {
      // certmid finds name servers and CNAMEs through DNS_RESOLVERS, here the harness BIND.
      const server = await startTestServer({ env: { DNS_RESOLVERS: bind.address, ...env }, logLines });
      const daemon = new Daemon(server, await connect(server));
      await daemon.admin.subscribe('certificate.query', (event) => daemon.events.push(event));
      daemon.authenticatorId = await daemon.authenticator('bind', rfc2136(bind.tsig));
      return daemon;
    }

    async authenticator(name: string, attributes: Record<string, unknown>, propagation: Record<string, unknown> = { mode: 'check', timeout: 10 }): Promise<number> {
      return (await this.admin.call<Entry>('acme.dns.authenticator.create', { name, attributes, propagation })).id;
    }

    register(directory: PebbleServer, extra: Record<string, unknown> = {}): Promise<Entry> {
      return this.admin.call<Entry>('acme.registration.create', { tos: true, acme_directory_uri: directory.directoryUrl, ca_bundle: directory.caBundlePem, ...extra });
    }

    csr(domains: readonly string[]): Promise<Entry> {
      return this.admin.callJob<Entry>('certificate.create', [
        {
          name: `csr-${++counter}`,
          create_type: 'CERTIFICATE_CREATE_CSR',
          key_type: 'EC',
          ec_curve: 'SECP256R1',
          country: 'US',
          state: 'TN',
          city: 'Knoxville',
          organization: 'certmid',
          email: 'dev@example.test',
          common: domains[0],
          san: domains,
        },
      ]);
    }

    /** certificate.create CERTIFICATE_CREATE_ACME for a CSR, each name mapped to `authenticator`. */
    issue(csr: Entry, options: { name?: string; authenticator?: number; mapping?: Record<string, number>; directory?: string; tos?: boolean; onProgress?: CallJobOptions['onProgress'] } = {}): Promise<Entry> {
      const mapping = options.mapping ?? Object.fromEntries((csr.san as string[]).map((san) => [san, options.authenticator ?? this.authenticatorId]));
      return this.admin.callJob<Entry>(
        'certificate.create',
        [
          {
            name: options.name ?? `acme-${++counter}`,
            create_type: 'CERTIFICATE_CREATE_ACME',
            csr_id: csr.id,
            tos: options.tos ?? true,
            acme_directory_uri: options.directory ?? pebble.directoryUrl,
            dns_mapping: mapping,
          },
        ],
        { onProgress: options.onProgress },
      );
    }

    async certificatesNamed(name: string): Promise<Entry[]> {
      return this.admin.call<Entry[]>('certificate.query', [['name', '=', name]]);
    }

    /** The job failed within the bound, left no certificate row and no challenge record. */
    async expectCleanFailure(attempt: { error: JobError; elapsedMs: number }, name: string, domains: string[]): Promise<void> {
      expect(attempt.elapsedMs).toBeLessThan(FAILURE_BOUND_MS);
      expect(await this.certificatesNamed(name)).toEqual([]);
      expect(await challengeRecords(...domains)).toEqual([]);
    }

    async close(): Promise<void> {
      await this.admin.close();
      await this.server.close();
    }
  }

  beforeAll(async () => {
    registrar = await startRegistrarBind();
    // The update server also resolves the registrar's zone: Pebble and certmid see every test zone through it.
    bind = await startBind({ forwardZones: [{ zone: registrar.zone, server: registrar }] });
    // Daemons started here point this process's resolvers at the harness; put them back afterwards.
    systemResolvers = dns.getServers();
    pebble = await startPebble({ dnsServer: bind.address });
    pebbleRoot = await pebble.rootCertificatePem();
  });

  afterAll(async () => {
    if (systemResolvers) dns.setServers(systemResolvers);
    await pebble?.stop();
    await bind?.stop();
    await registrar?.stop();
  });

  it('gives up waiting for a record that never shows on the authoritative servers, naming them', async () => {
    const provider = { createTxt: async () => undefined, deleteTxt: async () => undefined, verify: async () => undefined, authoritativeServers: async () => [{ host: bind.host, port: bind.port }] };
    const started = Date.now();
    await expect(waitForPropagation(provider, `_acme-challenge.never.${bind.zone}`, 'value', { mode: 'check', timeoutSeconds: 1, delaySeconds: 0 })).rejects.toMatchObject({
      name: 'PropagationError',
      message: `The TXT record _acme-challenge.never.${bind.zone} did not appear on ${bind.address} within 1 s: ${bind.address} answers without the value`,
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  describe('with the in-process backend', () => {
    const logLines: string[] = [];
    let daemon: Daemon;
    let apexCsr: Entry;
    let issued: Entry;
    const apex = () => [bind.zone, `*.${bind.zone}`];

    beforeAll(async () => {
      daemon = await Daemon.start({}, logLines);
      apexCsr = await daemon.csr(apex());
    });

    afterAll(async () => {
      await daemon?.close();
    });

    it('refuses an order without accepted terms of service before it contacts the CA', async () => {
      const attempt = await jobFailure(daemon.issue(apexCsr, { name: 'no-tos', tos: false }));
      expect(attempt.error.excInfo).toMatchObject({ type: 'VALIDATION', extra: [['acme_registration_create.tos', 'Please agree to the terms of service', 22]] });
      await daemon.expectCleanFailure(attempt, 'no-tos', apex());
    });

    it('fails fast, naming the cause, when the ACME server’s TLS certificate is not trusted', async () => {
      const started = Date.now();
      const error = await callFailure(daemon.admin.call('acme.registration.create', { tos: true, acme_directory_uri: pebble.directoryUrl }));
      expect(Date.now() - started).toBeLessThan(5000);
      expect(error.data?.reason).toMatch(/^\[ESSLCERTVERIFICATIONERROR\] Unable to retrieve directory : The TLS certificate of the ACME server at https:\/\/127\.0\.0\.1:\d+ is not trusted .*ca_bundle/);
      expect(error.data?.reason).not.toMatch(/TypeError/);
    });

    it('registers one account per directory, stored with a trailing "/" and its key sealed and never shown', async () => {
      const registration = await daemon.register(pebble);
      expect(registration).toMatchObject({
        directory: `${pebble.directoryUrl}/`,
        uri: expect.stringMatching(/^https:\/\/127\.0\.0\.1:\d+\/my-account\//),
        new_order_uri: expect.stringMatching(/\/order-plz$/),
        ca_bundle: pebble.caBundlePem,
        body: { id: registration.id, status: 'valid', key: '********' },
      });
      expect(await daemon.admin.call('acme.registration.query', [['directory', '=', `${pebble.directoryUrl}/`]])).toEqual([registration]);
      const row = await daemon.server.daemon.app.db.getRepository(AcmeRegistrationEntity).findOneByOrFail({ id: registration.id });
      expect(row.account_key).toMatch(/^v1:/);
      const duplicate = await callFailure(daemon.register(pebble));
      expect(duplicate.data?.extra).toEqual([['acme_registration_create.acme_directory_uri', 'A registration with the specified directory uri already exists', 22]]);
    });

    it('issues an apex + wildcard certificate in one order, with TrueNAS’s progress steps, and removes every TXT record', async () => {
      const progress: JobProgress[] = [];
      issued = await daemon.issue(apexCsr, { name: 'apex-and-wildcard', onProgress: (p) => progress.push(p) });
      await expectChainVerifies(issued.certificate, pebbleRoot);
      expect(issued).toMatchObject({
        type: 0x08,
        cert_type_existing: true,
        san: [`DNS:${bind.zone}`, `DNS:*.${bind.zone}`],
        CSR: apexCsr.CSR,
        privatekey: apexCsr.privatekey,
        acme_uri: expect.stringMatching(/^https:\/\/127\.0\.0\.1:\d+\/my-order\//),
        domains_authenticators: { [`DNS:${bind.zone}`]: daemon.authenticatorId, [`DNS:*.${bind.zone}`]: daemon.authenticatorId },
        renew_days: 10,
        renewal_error: null,
        can_be_revoked: true,
        acme: { directory: `${pebble.directoryUrl}/`, status: 'valid' },
      });
      expect(issued.acme).not.toHaveProperty('account_key');
      // The issuer DN stored with the row (the chain's first certificate's issuer) is what parsing gives.
      const row = await daemon.server.daemon.app.db.getRepository(CertificateEntity).findOneByOrFail({ id: issued.id });
      expect(row.details.issuer_dn).toBe(parsedIssuerDn(issued.certificate));
      expect(issued.issuer_dn).toBe(row.details.issuer_dn);
      expect(daemon.events).toContainEqual({ msg: 'added', collection: 'certificate.query', id: issued.id });
      const challenges = steps(progress).filter(([, text]) => text.startsWith('DNS challenge completed for '));
      expect(steps(progress)).toEqual([
        [10, 'Initial validation complete'],
        [25, 'New order for certificate issuance placed'],
        [52, challenges[0]![1]],
        [80, challenges[1]![1]],
        [95, 'Final order received from ACME server'],
        [100, 'Certificate created successfully'],
      ]);
      expect(challenges.map(([, text]) => text.replace('DNS challenge completed for ', '')).sort()).toEqual(apex().sort());
      expect(await challengeRecords(...apex())).toEqual([]);
    });

    it('follows the _acme-challenge CNAME into the delegated zone', async () => {
      const domains = [bind.aliasZone, `*.${bind.aliasZone}`];
      const entry = await daemon.issue(await daemon.csr(domains));
      await expectChainVerifies(entry.certificate, pebbleRoot);
      expect(entry.san).toEqual(domains.map((domain) => `DNS:${domain}`));
      expect(await challengeRecords(...domains)).toEqual([]);
    });

    it('follows an _acme-challenge CNAME held only by the main zone’s own server, which the key cannot update', async () => {
      const registrarAttributes = rfc2136Provider.schema.parse(rfc2136(bind.tsig, registrar.port));
      const onRegistrar = rfc2136Provider.create(registrarAttributes, { timeoutMs: 2000 });
      await expect(onRegistrar.createTxt(`_acme-challenge.${registrar.zone}`, 'not-allowed')).rejects.toThrow(/^rfc2136: /);
      const domains = [registrar.zone, `*.${registrar.zone}`, `www.${registrar.zone}`];
      const entry = await daemon.issue(await daemon.csr(domains));
      await expectChainVerifies(entry.certificate, pebbleRoot);
      expect(entry.san).toEqual(domains.map((domain) => `DNS:${domain}`));
      expect(await challengeRecords(...domains)).toEqual([]);
    });

    it('revokes a certificate at the CA on certificate.update {revoked: true}', async () => {
      expect(await pebbleStatus(pebble, issued.certificate)).toBe('Valid');
      const revoked = await daemon.admin.callJob<Entry>('certificate.update', [issued.id, { revoked: true, revoked_reason: 'SUPERSEDED' }]);
      expect(revoked).toMatchObject({ revoked: true, can_be_revoked: false, revoked_reason: 'SUPERSEDED' });
      expect(await pebbleStatus(pebble, issued.certificate)).toBe('Revoked');
      // Revoked already: deleting does not ask the CA again.
      expect(await daemon.admin.callJob('certificate.delete', [issued.id])).toBe(true);
    });

    it('revokes at the CA on delete; a revocation the CA refuses blocks the delete unless forced', async () => {
      const first = await daemon.issue(await daemon.csr([`r1.${bind.zone}`]));
      expect(await daemon.admin.callJob('certificate.delete', [first.id])).toBe(true);
      expect(await pebbleStatus(pebble, first.certificate)).toBe('Revoked');

      const second = await daemon.issue(await daemon.csr([`r2.${bind.zone}`]));
      const { app } = daemon.server.daemon;
      const row = await app.db.getRepository(CertificateEntity).findOneByOrFail({ id: second.id });
      await revokeAcmeCertificate(app, row);
      const { error } = await jobFailure(daemon.admin.callJob('certificate.delete', [second.id]));
      expect(error.error).toMatch(/^\[EFAULT\] Failed to revoke certificate: .*already (been )?revoked/i);
      expect(error.excInfo?.extra).toMatchObject({ type: 'urn:ietf:params:acme:error:alreadyRevoked', status: 400 });
      expect(await daemon.certificatesNamed(second.name)).toHaveLength(1);
      expect(await daemon.admin.callJob('certificate.delete', [second.id, true])).toBe(true);
      expect(await daemon.certificatesNamed(second.name)).toEqual([]);
    });

    it('stops at once when its job is aborted, removing the records it published', async () => {
      const authenticator = await daemon.authenticator('slow', rfc2136(bind.tsig), { mode: 'delay', delay: 60 });
      const domain = `abort.${bind.zone}`;
      const csr = await daemon.csr([domain]);
      const controller = new AbortController();
      const job = { id: 0, signal: controller.signal, progress: () => undefined };
      const request = { csrPem: csr.CSR, directoryUri: pebble.directoryUrl, tos: true, dnsMapping: { [domain]: authenticator } };
      let settled = false;
      const issuing = issueAcmeCertificate(daemon.server.daemon.app, request, job).then(
        () => 'issued',
        (error: unknown) => error,
      );
      void issuing.finally(() => (settled = true));
      // Aborted while it sleeps its propagation delay, the record published.
      while (!settled && (await challengeRecords(domain)).length === 0) await sleep(50);
      expect(settled).toBe(false);
      const started = Date.now();
      controller.abort(new Error('aborted by the test'));
      expect(await issuing).toEqual(new Error('aborted by the test'));
      expect(Date.now() - started).toBeLessThan(5000);
      expect(await challengeRecords(domain)).toEqual([]);
    });

    it('ends ABORTED on core.job_abort mid-flow, leaving no TXT record and no certificate row', async () => {
      const authenticator = await daemon.authenticator('slow-api', rfc2136(bind.tsig), { mode: 'delay', delay: 60 });
      const domain = `api-abort.${bind.zone}`;
      let jobId: number | undefined;
      let settled = false;
      const issuing = jobFailure(daemon.issue(await daemon.csr([domain]), { name: 'api-abort', authenticator, onProgress: (_progress, job) => (jobId = job.id) }));
      void issuing.finally(() => (settled = true));
      // Aborted while it sleeps its propagation delay, the record published.
      while (!settled && (jobId === undefined || (await challengeRecords(domain)).length === 0)) await sleep(50);
      expect(settled).toBe(false);
      const started = Date.now();
      await daemon.admin.call('core.job_abort', jobId);
      const { error } = await issuing;
      expect(error.state).toBe('ABORTED');
      expect(Date.now() - started).toBeLessThan(5000);
      expect(await daemon.certificatesNamed('api-abort')).toEqual([]);
      expect(await challengeRecords(domain)).toEqual([]);
    });

    it('fails cleanly with a wrong TSIG key', async () => {
      const wrongKey = { ...bind.tsig, secret: randomBytes(32).toString('base64') };
      const authenticator = await daemon.authenticator('wrong-key', rfc2136(wrongKey));
      const domain = `tsig.${bind.zone}`;
      const attempt = await jobFailure(daemon.issue(await daemon.csr([domain]), { name: 'wrong-tsig', authenticator }));
      expect(attempt.error.error).toMatch(new RegExp(`^\\[EFAULT\\] Failed to perform rfc2136 challenge for '${domain}' domain: rfc2136: .*(TSIG|signature)`, 'i'));
      expect(attempt.error.error).not.toContain(wrongKey.secret);
      await daemon.expectCleanFailure(attempt, 'wrong-tsig', [domain]);
    });

    it('fails cleanly when the DNS server is down', async () => {
      const authenticator = await daemon.authenticator('dns-down', rfc2136(bind.tsig, await closedPort()));
      const domain = `dns-down.${bind.zone}`;
      const attempt = await jobFailure(daemon.issue(await daemon.csr([domain]), { name: 'dns-down', authenticator }));
      expect(attempt.error.error).toMatch(new RegExp(`^\\[EFAULT\\] Failed to perform rfc2136 challenge for '${domain}' domain: .*refused the connection`));
      await daemon.expectCleanFailure(attempt, 'dns-down', [domain]);
    });

    it('fails cleanly when the ACME server is down', async () => {
      const domain = `acme-down.${bind.zone}`;
      const directory = `https://127.0.0.1:${await closedPort()}/dir`;
      const attempt = await jobFailure(daemon.issue(await daemon.csr([domain]), { name: 'acme-down', directory }));
      expect(attempt.error.error).toMatch(/^\[ECONNREFUSED\] Unable to retrieve directory : The ACME server at https:\/\/127\.0\.0\.1:\d+ refused the connection/);
      await daemon.expectCleanFailure(attempt, 'acme-down', [domain]);
    });

    it('refuses a SAN without an authenticator, naming it', async () => {
      const attempt = await jobFailure(daemon.issue(apexCsr, { name: 'unmapped', mapping: { [bind.zone]: daemon.authenticatorId } }));
      expect(attempt.error.excInfo?.extra).toEqual([['acme_create.dns_mapping', `Please provide DNS authenticator id for DNS:*.${bind.zone}`, 22]]);
      await daemon.expectCleanFailure(attempt, 'unmapped', apex());
    });

    it('fails cleanly with the CA’s problem document when the CA rejects the challenge', async () => {
      // This CA resolves through another BIND that never sees the records certmid publishes.
      const elsewhere = await startBind();
      const blind = await startPebble({ dnsServer: elsewhere.address, externalAccountBinding: EAB });
      try {
        const withoutEab = await callFailure(daemon.register(blind));
        expect(withoutEab.data?.extra).toEqual([['acme_registration_create.eab_kid', expect.stringContaining('requires External Account Binding'), 22]]);
        const registration = await daemon.register(blind, { eab_kid: EAB.kid, eab_hmac_key: EAB.hmacKey });
        expect(registration).toMatchObject({ eab_kid: EAB.kid, body: { status: 'valid' } });
        const domain = `rejected.${bind.zone}`;
        const attempt = await jobFailure(daemon.issue(await daemon.csr([domain]), { name: 'rejected', directory: blind.directoryUrl }));
        expect(attempt.error.error).toContain(`Authorization for identifier ${domain} failed`);
        expect(attempt.error.error).toContain('- Type: urn:ietf:params:acme:error:unauthorized');
        expect(attempt.error.excInfo?.extra).toMatchObject({ type: 'urn:ietf:params:acme:error:unauthorized', detail: expect.any(String) });
        await daemon.expectCleanFailure(attempt, 'rejected', [domain]);
      } finally {
        await blind.stop();
        await elsewhere.stop();
      }
    });

    it('keeps DNS credentials, the account key and the EAB key out of the logs', async () => {
      const { app } = daemon.server.daemon;
      const keys = await app.db.getRepository(AcmeRegistrationEntity).find();
      const accountKeyBodies = keys.map((row) => splitPem(app.secrets.decrypt(row.account_key))[0]!.der.toString('base64').slice(0, 64));
      const logs = logLines.join('\n');
      expect(logs.length).toBeGreaterThan(0);
      for (const secret of [bind.tsig.secret, EAB.hmacKey, ...accountKeyBodies]) expect(logs).not.toContain(secret);
    });
  });

  describe('with a CA that rejects nonces (RFC 8555 §6.5 badNonce)', () => {
    let daemon: Daemon;
    /** What acme-client logged, in this process: the in-process daemon's ACME requests. */
    const acmeLog: string[] = [];

    /** The badNonce rejections certmid's ACME client answered with a retry, at `ca`. */
    const retriesAt = (ca: PebbleServer): string[] => acmeLog.filter((line) => line.startsWith('Caught invalid nonce error, retrying') && line.includes(new URL(ca.directoryUrl).origin));

    beforeAll(async () => {
      daemon = await Daemon.start();
      acme.setLogger((message) => acmeLog.push(message));
    });

    afterAll(async () => {
      acme.setLogger(() => undefined);
      await daemon?.close();
    });

    it('registers and issues at a CA that rejects half of all good nonces, retrying each rejected request', async () => {
      const flaky = await startPebble({ dnsServer: bind.address, env: { PEBBLE_WFE_NONCEREJECT: '50' } });
      try {
        expect(flaky.output()).toContain('Configured to reject 50% of good nonces');
        const domains = [`nonce.${bind.zone}`, `*.nonce.${bind.zone}`];
        expect(await daemon.register(flaky)).toMatchObject({ body: { status: 'valid' } });
        const entry = await daemon.issue(await daemon.csr(domains), { name: 'bad-nonce', directory: flaky.directoryUrl });
        await expectChainVerifies(entry.certificate, await flaky.rootCertificatePem());
        expect(entry).toMatchObject({ san: domains.map((domain) => `DNS:${domain}`), acme: { directory: `${flaky.directoryUrl}/`, status: 'valid' } });
        expect(await pebbleStatus(flaky, entry.certificate)).toBe('Valid');
        // Some 30 signed requests at 50%: rejections happened, and each was retried, not fatal.
        expect(retriesAt(flaky).length).toBeGreaterThan(0);
        expect(await challengeRecords(...domains)).toEqual([]);
      } finally {
        await flaky.stop();
      }
    });

    it('fails clearly after a bounded number of attempts at a CA that rejects every nonce, keeping no account', async () => {
      const hostile = await startPebble({ dnsServer: bind.address, env: { PEBBLE_WFE_NONCEREJECT: '100' } });
      try {
        const started = Date.now();
        const error = await callFailure(daemon.register(hostile));
        expect(Date.now() - started).toBeLessThan(FAILURE_BOUND_MS);
        expect(error.data?.reason).toMatch(/JWS has an invalid anti-replay nonce/);
        expect(error.data?.reason).not.toMatch(/TypeError/);
        expect(retriesAt(hostile)).toHaveLength(BAD_NONCE_RETRIES);
        expect(await daemon.admin.call('acme.registration.query', [['directory', '=', `${hostile.directoryUrl}/`]])).toEqual([]);
      } finally {
        await hostile.stop();
      }
    });
  });

  describe.skipIf(!redis.up && redis.error === undefined)('with BullMQ and a separate worker process', () => {
    const prefix = uniquePrefix();
    let daemon: Daemon;
    let worker: WorkerProcess;

    beforeAll(async () => {
      if (redis.error) throw redis.error;
      daemon = await Daemon.start({ REDIS_URL, QUEUE_PREFIX: prefix });
      // Only the database reaches the worker: trust and credentials are read from there.
      worker = await spawnWorker({ REDIS_URL, QUEUE_PREFIX: prefix, DATA_DIR: daemon.server.dataDir, DNS_RESOLVERS: bind.address });
      await daemon.register(pebble);
    });

    afterAll(async () => {
      await daemon?.close();
      await worker?.stop();
      await dropQueuePrefix(prefix);
    });

    it('issues an apex + wildcard certificate in the worker, with the progress steps in order and no secret in Redis', async () => {
      const domains = [`bull.${bind.zone}`, `*.bull.${bind.zone}`];
      const progress: JobProgress[] = [];
      const entry = await daemon.issue(await daemon.csr(domains), { onProgress: (p) => progress.push(p) });
      await expectChainVerifies(entry.certificate, pebbleRoot);
      expect(entry).toMatchObject({ type: 0x08, san: domains.map((domain) => `DNS:${domain}`), acme: { directory: `${pebble.directoryUrl}/` } });
      const reported = steps(progress);
      expect(reported.map(([percent]) => percent)).toEqual([...reported.map(([percent]) => percent)].sort((a, b) => a - b));
      expect(reported.map(([, text]) => text.replace(/^DNS challenge completed for .*/, 'DNS challenge completed for …'))).toEqual(
        expect.arrayContaining(['Initial validation complete', 'New order for certificate issuance placed', 'DNS challenge completed for …', 'Final order received from ACME server']),
      );
      expect(reported.at(-1)).toEqual([100, 'Certificate created successfully']);
      expect(await challengeRecords(...domains)).toEqual([]);
      expect(await redisText(prefix)).not.toContain(bind.tsig.secret);
    });

    /** This test's worker process, as BullMQ records the worker that ran a job. */
    const workerName = (): string => `${os.hostname()}:${worker.child.pid}`;

    it('revokes at the CA on certificate.update {revoked: true}, run by the worker', async () => {
      const entry = await daemon.issue(await daemon.csr([`bull-revoke.${bind.zone}`]), { name: 'bull-revoke' });
      expect(await pebbleStatus(pebble, entry.certificate)).toBe('Valid');
      let jobId: number | undefined;
      const revoked = await daemon.admin.callJob<Entry>('certificate.update', [entry.id, { revoked: true, revoked_reason: 'KEY_COMPROMISE' }], {
        onProgress: (_progress, job) => (jobId = job.id),
      });
      expect(revoked).toMatchObject({ id: entry.id, revoked: true, can_be_revoked: false, revoked_reason: 'KEY_COMPROMISE' });
      expect(await bullmqRecord(prefix, jobId!)).toEqual({ processedBy: workerName(), method: 'certificate.update' });
      expect(await pebbleStatus(pebble, entry.certificate)).toBe('Revoked');
      expect(await daemon.certificatesNamed('bull-revoke')).toEqual([expect.objectContaining({ revoked: true, revoked_reason: 'KEY_COMPROMISE' })]);
    });

    it('ends FAILED in the worker with the BADSIG cause when one name’s authenticator has a wrong TSIG secret, removing the other name’s record and writing no row', async () => {
      // The wrong key's update reaches BIND only once the other name's record is out, so the failure
      // has a published record to clean up.
      const gate = await heldTcpRelay(bind);
      try {
        const wrongKey = { ...bind.tsig, secret: randomBytes(32).toString('base64') };
        const wrong = await daemon.authenticator('bull-wrong-key', { ...rfc2136(wrongKey, gate.port), zone: bind.zone });
        const slow = await daemon.authenticator('bull-fail-slow', rfc2136(bind.tsig), { mode: 'delay', delay: 60 });
        const good = `bull-fail.${bind.zone}`;
        const bad = `tsig.bull-fail.${bind.zone}`;
        let settled = false;
        const failing = jobFailure(daemon.issue(await daemon.csr([good, bad]), { name: 'bull-fail', mapping: { [good]: slow, [bad]: wrong } }));
        void failing.finally(() => (settled = true));
        await eventually('the other name’s record published and the wrong key’s update held', async () => settled || (gate.connections() > 0 && (await challengeRecords(good)).length > 0));
        expect(settled).toBe(false);
        gate.open();
        const attempt = await failing;
        expect(attempt.error.state).toBe('FAILED');
        expect(attempt.error.error).toMatch(new RegExp(`^\\[EFAULT\\] Failed to perform rfc2136 challenge for '${bad.replace(/\./g, '\\.')}' domain: rfc2136: TSIG signature rejected by the server \\(BADSIG\\)`));
        expect(attempt.error.error).not.toContain(wrongKey.secret);
        // Far below the other name's 60 s delay: the failure stopped it.
        expect(attempt.elapsedMs).toBeLessThan(40_000);
        expect(await bullmqRecord(prefix, attempt.error.job.id)).toEqual({ processedBy: workerName(), method: 'certificate.create' });
        expect(await daemon.certificatesNamed('bull-fail')).toEqual([]);
        await eventually('challenge records removed', async () => (await challengeRecords(good, bad)).length === 0);
        expect(await redisText(prefix)).not.toContain(wrongKey.secret);
      } finally {
        await gate.close();
      }
    }, 90_000);

    it('ends ABORTED on core.job_abort while the worker waits out a 60 s propagation delay, removing the record and writing no row', async () => {
      const authenticator = await daemon.authenticator('bull-slow', rfc2136(bind.tsig), { mode: 'delay', delay: 60 });
      const domain = `bull-abort.${bind.zone}`;
      let jobId: number | undefined;
      let settled = false;
      const issuing = jobFailure(daemon.issue(await daemon.csr([domain]), { name: 'bull-abort', authenticator, onProgress: (_progress, job) => (jobId = job.id) }));
      void issuing.finally(() => (settled = true));
      // Aborted while it sleeps its propagation delay, the record published.
      await eventually('the challenge record published by the worker', async () => settled || (jobId !== undefined && (await challengeRecords(domain)).length > 0));
      expect(settled).toBe(false);
      const started = Date.now();
      await daemon.admin.call('core.job_abort', jobId);
      const { error } = await issuing;
      expect(error.state).toBe('ABORTED');
      // Far below what is left of the 60 s delay: the worker stopped at once.
      expect(Date.now() - started).toBeLessThan(30_000);
      expect(await bullmqRecord(prefix, jobId!)).toMatchObject({ processedBy: workerName() });
      await eventually('challenge record removed', async () => (await challengeRecords(domain)).length === 0);
      expect(await daemon.certificatesNamed('bull-abort')).toEqual([]);
      // Still a working worker afterwards.
      const after = await daemon.issue(await daemon.csr([`bull-after.${bind.zone}`]), { name: 'bull-after' });
      expect(after.san).toEqual([`DNS:bull-after.${bind.zone}`]);
    }, 120_000);
  });
});

/** The checks that run before any network step need neither Pebble nor BIND: they run everywhere. */
describe('certificate.create CERTIFICATE_CREATE_ACME validation', () => {
  let server: TestServer;
  let admin: CertmidClient;
  let authenticator: number;
  let counter = 0;

  const csr = (common: string, san: string[] = []) =>
    admin.callJob<Entry>('certificate.create', [
      { name: `vcsr-${++counter}`, create_type: 'CERTIFICATE_CREATE_CSR', key_type: 'EC', ec_curve: 'SECP256R1', country: 'US', state: 'TN', city: 'Knoxville', organization: 'certmid', email: 'dev@example.test', common, san },
    ]);
  const errorsOf = (fields: Record<string, unknown>) =>
    validationErrorsOf(admin.callJob('certificate.create', [{ name: `acme-${++counter}`, create_type: 'CERTIFICATE_CREATE_ACME', tos: true, ...fields }]));
  const request = (csrId: number, dnsMapping: Record<string, unknown>) => ({ csr_id: csrId, acme_directory_uri: 'https://127.0.0.1:1/dir', dns_mapping: dnsMapping });
  const mapping = (message: string) => ['acme_create.dns_mapping', message, 22];

  beforeAll(async () => {
    server = await startTestServer();
    admin = await connect(server);
    const attributes = { authenticator: 'rfc2136', nameserver: '127.0.0.1', tsig_key_name: 'k', tsig_secret: randomBytes(32).toString('base64') };
    authenticator = (await admin.call<Entry>('acme.dns.authenticator.create', { name: 'validation', attributes })).id;
  });

  afterAll(async () => {
    await admin?.close();
    await server?.close();
  });

  it('requires csr_id, acme_directory_uri and dns_mapping, and refuses fields acme_create does not take', async () => {
    expect(await errorsOf({ lifetime: 30 })).toEqual([
      ['acme_create.lifetime', 'Field was not expected', 22],
      ['acme_create.csr_id', 'attribute required', 22],
      ['acme_create.acme_directory_uri', 'attribute required', 22],
      ['acme_create.dns_mapping', 'attribute required', 22],
    ]);
    expect(await errorsOf({ ...request(1, { a: 1 }), renew_days: 31 })).toEqual([['certificate_create.renew_days', 'Should be between 1 and 30', 22]]);
  });

  it('refuses a csr_id without a CSR, and a CSR whose key is not on the system', async () => {
    expect(await errorsOf(request(9999, { 'a.example.test': authenticator }))).toEqual([
      ['certificate_create.csr_id', 'Please provide a valid csr_id which has a valid CSR filed', 22],
    ]);
    const keyless = await csr('keyless.example.test');
    await server.daemon.app.db.getRepository(CertificateEntity).update({ id: keyless.id }, { privatekey: null });
    expect(await errorsOf(request(keyless.id, { 'keyless.example.test': authenticator }))).toEqual([
      ['acme_create.csr_id', 'The CSR has no private key on this system', 22],
    ]);
  });

  it('names each CSR name without an existing authenticator, and each mapped name the CSR lacks', async () => {
    const { id } = await csr('v.example.test', ['v.example.test', '*.v.example.test']);
    expect(await errorsOf(request(id, { 'v.example.test': 9999, 'other.example.test': authenticator }))).toEqual([
      mapping('Provided DNS Authenticator id for v.example.test does not exist'),
      mapping('Provided DNS Authenticator id for DNS:v.example.test does not exist'),
      mapping('Please provide DNS authenticator id for DNS:*.v.example.test'),
      mapping('other.example.test not specified in the CSR'),
    ]);
    expect(await errorsOf(request(id, { 'v.example.test': '1', '*.v.example.test': authenticator }))).toEqual([
      mapping('Provided DNS Authenticator id for v.example.test does not exist'),
      mapping('Provided DNS Authenticator id for DNS:v.example.test does not exist'),
    ]);
  });

  it('refuses a name ending with a period and a wildcard other than a leading "*."', async () => {
    const dotted = await csr('dot.example.test.');
    expect(await errorsOf(request(dotted.id, { 'dot.example.test.': authenticator }))).toEqual([mapping('Domain dot.example.test. name cannot end with a period')]);
    const inner = await csr('a.*.example.test');
    expect(await errorsOf(request(inner.id, { 'a.*.example.test': authenticator }))).toEqual([mapping('Wildcards must be at the start of domain name followed by a period')]);
  });
});
