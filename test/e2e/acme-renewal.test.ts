import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import acme from 'acme-client';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { QUEUE_NAME, certmidJobId, redisOptions } from '../../jobs/bullmq-backend.js';
import { AcmeRegistrationEntity } from '../../src/acme/entities.js';
import { RENEWAL_METHOD } from '../../src/acme/renewal-schedule.js';
import { CertificateEntity } from '../../src/certs/entities.js';
import { CertmidClient, type CollectionUpdate, type Job, type WebSocketConstructor } from '../../src/client/client.js';
import { splitPem } from '../../src/crypto/pem.js';
import { acmeToolsAvailable, startBind, startPebble, type BindServer, type PebbleServer, type TsigCredentials } from '../helpers/acme-harness.js';
import { openssl, verifyChain, withFiles } from '../helpers/openssl.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { dropQueuePrefix, REDIS_URL, redisAvailable, uniquePrefix } from '../helpers/services.js';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process.js';

type Entry = Record<string, any>;
interface RenewalResult {
  renewed: number[];
  failed: number[];
}

const DAY_S = 86_400;
/** Pebble's certificates live 20 days: due with renew_days 30, not due with renew_days 1. */
const VALIDITY_DAYS = 20;

async function connect(server: TestServer): Promise<CertmidClient> {
  const client = await CertmidClient.connect(server.url, { WebSocket: WebSocket as unknown as WebSocketConstructor, callTimeout: 60_000 });
  await client.login(server.admin.username, server.admin.password);
  return client;
}

/** Reads until `done` holds, failing after a generous deadline: the wait is for an outcome, not a time. */
async function until<T>(read: () => Promise<T>, done: (value: T) => boolean | Promise<boolean>, what: string, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (await done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last saw ${JSON.stringify(value).slice(0, 300)}`);
    await sleep(100);
  }
}

const renewalRuns = (client: CertmidClient) => client.call<Job[]>('core.get_jobs', [['method', '=', RENEWAL_METHOD]]);

/** Redis answers, does not (skip), or must answer and does not (CI: fail). */
const redis = await redisAvailable().then(
  (up) => ({ up, error: undefined }),
  (error: Error) => ({ up: false, error }),
);
const withRedis = redis.up || redis.error !== undefined;

/**
 * Daemons sharing one data directory and, with BullMQ, one queue prefix and its workers (processes
 * of their own, reached only through the database and Redis).
 */
class Deployment {
  readonly prefix = uniquePrefix();
  readonly servers: TestServer[] = [];
  readonly clients: CertmidClient[] = [];
  readonly workers: WorkerProcess[] = [];
  private queue: Queue | undefined;

  constructor(
    readonly jobs: 'in-process' | 'bullmq',
    private readonly extraEnv: Record<string, string> = {},
  ) {}

  private get env(): Record<string, string> {
    return this.jobs === 'bullmq' ? { REDIS_URL, QUEUE_PREFIX: this.prefix, ...this.extraEnv } : this.extraEnv;
  }

  /** Starts one more daemon (the first makes the data directory) and returns its admin client. */
  async addDaemon(): Promise<CertmidClient> {
    if (this.jobs === 'bullmq' && redis.error) throw redis.error;
    const first = this.servers[0];
    const server = first
      ? await startTestServer({ dataDir: first.dataDir, env: { ...this.env, ADMIN_PASSWORD: first.admin.password } })
      : await startTestServer({ env: this.env });
    this.servers.push(server);
    const client = await connect(server);
    this.clients.push(client);
    return client;
  }

  async addWorkers(count: number): Promise<void> {
    const started = Array.from({ length: count }, () => spawnWorker({ ...this.env, DATA_DIR: this.servers[0]!.dataDir }));
    this.workers.push(...(await Promise.all(started)));
  }

  /** The shared queue, as BullMQ itself reports it. */
  bullmq(): Queue {
    this.queue ??= new Queue(QUEUE_NAME, { connection: redisOptions(REDIS_URL), prefix: this.prefix });
    return this.queue;
  }

  /** Every renewal run queued so far, counted in Redis rather than in a daemon's list. */
  async queuedRenewalRuns(): Promise<number> {
    const jobs = await this.bullmq().getJobs(['completed', 'failed', 'active', 'wait', 'delayed', 'prioritized']);
    return jobs.filter((job) => job.name === RENEWAL_METHOD && certmidJobId(job.id!) !== null).length;
  }

  /** Waits until nothing is left to run but the scheduler's next iteration, an interval away. */
  async drained(): Promise<void> {
    await until(
      () => this.bullmq().getJobCounts('wait', 'active', 'prioritized', 'delayed'),
      (counts) => counts.wait === 0 && counts.active === 0 && counts.prioritized === 0 && counts.delayed === 1,
      'the queue to drain',
    );
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.clients.map((client) => client.close()));
    // Workers first: they use the data directory the first daemon removes when it stops.
    await Promise.allSettled(this.workers.map((worker) => worker.stop()));
    for (const server of [...this.servers].reverse()) await server.close();
    await this.queue?.close();
    if (this.jobs === 'bullmq' && redis.up) await dropQueuePrefix(this.prefix);
  }
}

/** What `openssl x509` (an independent reader) says of a certificate. */
interface OpensslFacts {
  /** Upper-case hex, as `-serial` prints it. */
  serial: string;
  publicKey: string;
  /** RFC 9773 §4.1's identifier, built from OpenSSL's AKI keyid and serial. */
  ariId: string;
}

async function opensslFacts(pem: string): Promise<OpensslFacts> {
  return withFiles({ 'cert.pem': pem }, async (paths) => {
    const x509 = async (...args: string[]) => (await openssl(['x509', '-noout', ...args, '-in', paths['cert.pem']!])).stdout;
    const serial = (await x509('-serial')).trim().replace(/^serial=/, '');
    const keyId = /([0-9A-F]{2}(?::[0-9A-F]{2})+)/.exec(await x509('-ext', 'authorityKeyIdentifier'))?.[1] ?? '';
    // The serial's DER content octets: whole bytes, and a leading zero when the top bit is set.
    const even = serial.length % 2 ? `0${serial}` : serial;
    const octets = Buffer.from(/^[89A-F]/.test(even) ? `00${even}` : even, 'hex');
    const ariId = `${Buffer.from(keyId.replace(/:/g, ''), 'hex').toString('base64url')}.${octets.toString('base64url')}`;
    return { serial, publicKey: await x509('-pubkey'), ariId };
  });
}

/** A stand-in RFC 9773 renewalInfo resource (Debian's Pebble 2.4 has none): a window per certificate identifier. */
class RenewalInfoServer {
  readonly requests: string[] = [];
  readonly windows = new Map<string, { start: Date; end: Date }>();
  private readonly server = http.createServer((request, response) => {
    this.requests.push(request.url ?? '');
    const window = this.windows.get((request.url ?? '').replace('/renewal-info/', ''));
    if (!window) return void response.writeHead(404).end();
    const body = { suggestedWindow: { start: window.start.toISOString(), end: window.end.toISOString() }, explanationURL: 'https://ca.test/why' };
    response.writeHead(200, { 'content-type': 'application/json', 'retry-after': '21600' }).end(JSON.stringify(body));
  });

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/renewal-info`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

describe.runIf(await acmeToolsAvailable())('ACME renewal against Pebble and BIND', () => {
  let bind: BindServer;
  let pebble: PebbleServer;
  let server: TestServer;
  let admin: CertmidClient;
  let pebbleRoot: string;
  const events: CollectionUpdate[] = [];
  /** Used by every certificate here except the ones whose renewal is made to fail. */
  let authenticatorId: number;
  let registrationId: number;
  let counter = 0;

  const rfc2136 = (tsig: TsigCredentials) => ({
    authenticator: 'rfc2136',
    nameserver: bind.host,
    port: bind.port,
    tsig_key_name: tsig.name,
    tsig_algorithm: tsig.algorithm,
    tsig_secret: tsig.secret,
  });

  async function createAuthenticator(name: string, client = admin): Promise<number> {
    const entry = await client.call<Entry>('acme.dns.authenticator.create', { name, attributes: rfc2136(bind.tsig), propagation: { mode: 'check', timeout: 20 } });
    return entry.id as number;
  }

  /** Issues an ACME certificate for a name of its own in the test zone through certificate.create. */
  async function issue(renewDays: number, authenticator = authenticatorId, client = admin): Promise<Entry> {
    const domain = `renew${++counter}.${bind.zone}`;
    const csr = await client.callJob<Entry>('certificate.create', [
      {
        name: `csr-${counter}`,
        create_type: 'CERTIFICATE_CREATE_CSR',
        key_type: 'EC',
        ec_curve: 'SECP256R1',
        country: 'US',
        state: 'TN',
        city: 'Knoxville',
        organization: 'certmid',
        email: 'dev@example.test',
        common: domain,
        san: [domain],
      },
    ]);
    return client.callJob<Entry>('certificate.create', [
      {
        name: `acme-${counter}`,
        create_type: 'CERTIFICATE_CREATE_ACME',
        csr_id: csr.id,
        tos: true,
        acme_directory_uri: pebble.directoryUrl,
        dns_mapping: { [domain]: authenticator },
        renew_days: renewDays,
      },
    ]);
  }

  const renew = (onProgress?: (progress: { percent: number; description: string }) => void, client = admin) =>
    client.callJob<RenewalResult>('certificate.renew_certs', [], { onProgress });
  const get = (id: number, client = admin) => client.call<Entry>('certificate.get_instance', id);
  /** Keeps a certificate out of later runs: 20 days left is not due with renew_days 1. */
  const settle = (id: number) => admin.callJob('certificate.update', [id, { renew_days: 1 }]);

  beforeAll(async () => {
    bind = await startBind();
    pebble = await startPebble({ dnsServer: bind.address, certificateValidityPeriod: VALIDITY_DAYS * DAY_S });
    pebbleRoot = await pebble.rootCertificatePem();
    server = await startTestServer();
    admin = await connect(server);
    await admin.subscribe('certificate.query', (event) => events.push(event));
    const registration = await admin.call<Entry>('acme.registration.create', { tos: true, acme_directory_uri: pebble.directoryUrl, ca_bundle: pebble.caBundlePem });
    registrationId = registration.id as number;
    authenticatorId = await createAuthenticator('bind');
  });

  afterAll(async () => {
    await admin?.close();
    await server?.close();
    await pebble?.stop();
    await bind?.stop();
  });

  it('renews a due certificate in place: same id and name, new serial and expiry, a chain Pebble’s root verifies', async () => {
    const before = await issue(30);
    const old = await opensslFacts(before.certificate);
    // Pebble's validity has one-second resolution: let the new notAfter differ.
    await sleep(1100);
    events.length = 0;
    const steps: string[] = [];
    const result = await renew((progress) => steps.push(progress.description));
    expect(result).toEqual({ renewed: [before.id], failed: [] });
    expect(steps).toEqual(expect.arrayContaining([`${before.name}: Renewing (19 day(s) left, renewing 30 day(s) before expiry)`, `${before.name}: Renewed`]));
    const after = await get(before.id);
    expect(after).toMatchObject({ id: before.id, name: before.name, CSR: before.CSR, renewal_error: null, renewal_attempts: 0, renewal_next_attempt: null });
    const renewed = await opensslFacts(after.certificate);
    expect(renewed.serial).not.toBe(old.serial);
    expect(renewed.publicKey).toBe(old.publicKey);
    expect(Date.parse(after.not_after)).toBeGreaterThan(Date.parse(before.not_after));
    const [leaf, ...intermediates] = splitPem(after.certificate).map((block) => block.pem);
    const chain = await verifyChain(leaf!, [...intermediates, pebbleRoot]);
    expect(chain.output).toContain(': OK');
    expect(events).toContainEqual(expect.objectContaining({ msg: 'changed', collection: 'certificate.query', id: before.id }));
    // The replaced certificate is kept as a previous version; nothing that tells a serial uses it, so it is superseded at once.
    expect(after.previous_versions).toMatchObject([{ serial: before.serial, until: before.not_after, superseded: true }]);
    await settle(before.id);
  });

  it('deploys the renewed certificate to its deploy targets, once, after the renewal in place', async () => {
    const before = await issue(30);
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'certmid-acme-deploy-'));
    try {
      const fullchain = path.join(out, 'fullchain.pem');
      const target = await admin.call<Entry>('certificate.deploy_target.create', {
        name: `acme-deploy-${before.id}`,
        certificate: before.id,
        kind: 'LOCAL',
        attributes: { fullchain_path: fullchain, private_key_path: path.join(out, 'key.pem') },
      });
      const serialOn = async () => (await openssl(['x509', '-in', fullchain, '-noout', '-serial'])).stdout.trim().replace(/^serial=/, '');
      const deployed = async () => (await admin.call<Entry>('certificate.deploy_target.get_instance', target.id)) as Entry & { state: string; last_serial: string | null };
      const first = (await opensslFacts(before.certificate)).serial;
      await expect.poll(async () => (await deployed()).last_serial, { timeout: 30_000 }).toBe(first);
      expect(await serialOn()).toBe(first);
      await sleep(1100);
      expect(await renew()).toEqual({ renewed: [before.id], failed: [] });
      const renewed = (await opensslFacts((await get(before.id)).certificate)).serial;
      expect(renewed).not.toBe(first);
      await expect.poll(async () => (await deployed()).last_serial, { timeout: 30_000 }).toBe(renewed);
      expect(await serialOn()).toBe(renewed);
      expect((await deployed()).state).toBe('DEPLOYED');
      const runs = await admin.call<Job[]>('core.get_jobs', [['method', '=', 'certificate.deploy_target.run'], ['arguments', '=', [target.id]]]);
      expect(runs.map((job) => job.state)).toEqual(['SUCCESS', 'SUCCESS']);
      await settle(before.id);
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });

  it('makes a new key of the same type, and a CSR with the same subject, with rotate_key', async () => {
    const before = await issue(30);
    const updated = await admin.callJob<Entry>('certificate.update', [before.id, { rotate_key: true }]);
    expect(updated.rotate_key).toBe(true);
    expect(await renew()).toEqual({ renewed: [before.id], failed: [] });
    const after = await get(before.id);
    expect((await opensslFacts(after.certificate)).publicKey).not.toBe((await opensslFacts(before.certificate)).publicKey);
    expect(after).toMatchObject({ key_type: 'EC', key_length: 256, common: before.common, san: before.san });
    expect(after.CSR).not.toBe(before.CSR);
    expect(after.privatekey).not.toBe(before.privatekey);
    await settle(before.id);
  });

  it('renews a certificate far from expiry once the renewal window the CA suggests opens, naming it in the order (RFC 9773)', async () => {
    const ari = new RenewalInfoServer();
    const registrations = server.daemon.app.db.getRepository(AcmeRegistrationEntity);
    await registrations.update({ id: registrationId }, { renewal_info_uri: await ari.start() });
    // The daemon runs in this process: its orders go through this acme-client.
    const orders = vi.spyOn(acme.Client.prototype, 'createOrder');
    try {
      const before = await issue(1);
      expect(orders.mock.lastCall?.[0]).not.toHaveProperty('replaces');
      const facts = await opensslFacts(before.certificate);
      const hours = (n: number) => new Date(Date.now() + n * 3_600_000);

      ari.windows.set(facts.ariId, { start: hours(10 * 24), end: hours(12 * 24) });
      expect(await renew()).toEqual({ renewed: [], failed: [] });
      expect(ari.requests).toContain(`/renewal-info/${facts.ariId}`);

      ari.windows.set(facts.ariId, { start: hours(-1), end: hours(1) });
      expect(await renew()).toEqual({ renewed: [before.id], failed: [] });
      // RFC 9773 §5: the renewal order names the certificate it replaces.
      expect(orders.mock.lastCall?.[0]).toMatchObject({ replaces: facts.ariId });
      expect((await opensslFacts((await get(before.id)).certificate)).serial).not.toBe(facts.serial);
    } finally {
      orders.mockRestore();
      await registrations.update({ id: registrationId }, { renewal_info_uri: null });
      await ari.stop();
    }
  });

  it('keeps a certificate whose renewal fails, shows the error, backs off, and renews the others meanwhile', async () => {
    const breakable = await createAuthenticator('breakable');
    const failing = await issue(30, breakable);
    const healthy = await issue(30);
    // Refused by BIND from now on: every challenge record update for `failing` fails.
    await admin.call('acme.dns.authenticator.update', breakable, { attributes: rfc2136(bind.tsigReadOnly) });
    events.length = 0;
    const started = Date.now();
    expect(await renew()).toEqual({ renewed: [healthy.id], failed: [failing.id] });
    const failed = await get(failing.id);
    expect(failed.certificate).toBe(failing.certificate);
    expect(failed.renewal_error).toMatch(/^\[EFAULT\] Failed to perform rfc2136 challenge for '[^']+' domain: .*REFUSED/);
    expect(failed.renewal_attempts).toBe(1);
    // The first backoff is an hour, less up to 20 % jitter.
    const wait = Date.parse(failed.renewal_next_attempt) - started;
    expect(wait).toBeGreaterThan(0.79 * 3_600_000);
    expect(wait).toBeLessThanOrEqual(3_600_000);
    expect(events).toContainEqual(expect.objectContaining({ msg: 'changed', id: failing.id }));
    await settle(healthy.id);
    // The failure is an alert, with the reason and the next attempt, until a renewal succeeds.
    const renewalAlert = async () =>
      (await admin.call<Array<Record<string, any>>>('alert.list')).find((alert) => alert.klass === 'AcmeCertificateRenewalFailed' && alert.key === `[${failing.id}]`);
    await expect.poll(renewalAlert).toMatchObject({
      level: 'ERROR',
      args: { name: failed.name, error: failed.renewal_error, attempts: 1, next_attempt: new Date(failed.renewal_next_attempt).toISOString() },
    });

    // Before renewal_next_attempt the certificate is not tried again.
    expect(await renew()).toEqual({ renewed: [], failed: [] });
    expect(await get(failing.id)).toMatchObject({ renewal_attempts: 1, renewal_error: failed.renewal_error, certificate: failing.certificate });

    // Fixed, and the backoff over: renewed, and the failure cleared.
    await admin.call('acme.dns.authenticator.update', breakable, { attributes: rfc2136(bind.tsig) });
    await server.daemon.app.db.getRepository(CertificateEntity).update({ id: failing.id }, { renewal_next_attempt: new Date(Date.now() - 1000) });
    expect(await renew()).toEqual({ renewed: [failing.id], failed: [] });
    expect(await get(failing.id)).toMatchObject({ renewal_error: null, renewal_attempts: 0, renewal_next_attempt: null });
    await settle(failing.id);
    await expect.poll(renewalAlert).toBeUndefined();
  });

  describe.each([
    { jobs: 'in-process' as const, daemons: 1, skip: false },
    // Two daemons see the failed run end and both ask for the retry: it runs once.
    { jobs: 'bullmq' as const, daemons: 2, skip: !withRedis },
  ])('with $jobs jobs and RENEWAL_RETRY_SECONDS=5', ({ jobs, daemons, skip }) => {
    // The daily run is a day away: only the retry can renew the certificate during the test.
    const deployment = new Deployment(jobs, { RENEWAL_RETRY_SECONDS: '5' });

    beforeAll(async () => {
      if (skip) return;
      await deployment.addDaemon();
      if (jobs === 'bullmq') await deployment.addWorkers(1);
      for (let i = 1; i < daemons; i++) await deployment.addDaemon();
      // The run at start is over before any certificate exists.
      await until(() => renewalRuns(deployment.clients[0]!), (runs) => runs.some((run) => run.state === 'SUCCESS'), 'the run at start');
    });

    afterAll(() => deployment.close());

    it.skipIf(skip)('retries a failed renewal by itself when its backoff ends, without waiting for the daily run', { timeout: 120_000 }, async () => {
      const client = deployment.clients[0]!;
      await client.call('acme.registration.create', { tos: true, acme_directory_uri: pebble.directoryUrl, ca_bundle: pebble.caBundlePem });
      const breakable = await createAuthenticator('breakable', client);
      const before = await issue(30, breakable, client);
      await client.call('acme.dns.authenticator.update', breakable, { attributes: rfc2136(bind.tsigReadOnly) });
      expect(await renew(undefined, client)).toEqual({ renewed: [], failed: [before.id] });
      const failed = await get(before.id, client);
      expect(failed.renewal_attempts).toBe(1);
      const manualRun = Math.max(...(await renewalRuns(client)).map((run) => run.id));

      // Fixed well inside the 5 s backoff (a loaded machine may take seconds for the calls before); nobody asks for another run.
      await client.call('acme.dns.authenticator.update', breakable, { attributes: rfc2136(bind.tsig) });
      const renewing = (run: Job) => run.id > manualRun && run.state === 'SUCCESS' && (run.result as RenewalResult).renewed.includes(before.id);
      const runs = await until(() => renewalRuns(client), (seen) => seen.some(renewing), 'a retry that renews the certificate');
      // Not before the backoff ended (job times have whole seconds).
      expect(runs.find(renewing)!.time_started!.getTime()).toBeGreaterThanOrEqual(Date.parse(failed.renewal_next_attempt) - 1000);
      const after = await get(before.id, client);
      expect(after).toMatchObject({ id: before.id, renewal_error: null, renewal_attempts: 0, renewal_next_attempt: null });
      expect(after.certificate).not.toBe(before.certificate);
      if (jobs === 'bullmq') {
        await deployment.drained();
        const listed = await until(
          () => renewalRuns(client),
          async (seen) => seen.length === (await deployment.queuedRenewalRuns()) && seen.every((run) => run.state === 'SUCCESS'),
          'every run listed and ended',
        );
        // Both daemons asked for the retry; it ran once. (The certificate stays due with renew_days
        // 30, so a second retry would have renewed it again.)
        const later = listed.filter((run) => run.id > manualRun).map((run) => run.result as RenewalResult);
        expect(later.filter((result) => result.renewed.length > 0)).toHaveLength(1);
        expect(later.every((result) => result.renewed.length + result.failed.length > 0)).toBe(true);
      }
    });
  });
});

describe('ACME renewal schedule with in-process jobs', () => {
  it('runs certificate.renew_certs at start and every interval, as jobs an admin sees', async () => {
    const started = Date.now();
    const server = await startTestServer({ env: { RENEWAL_INTERVAL_SECONDS: '1' } });
    const client = await connect(server);
    try {
      const ended = (runs: Job[]) => runs.filter((job) => job.state === 'SUCCESS');
      const runs = ended(await until(() => renewalRuns(client), (seen) => ended(seen).length >= 3, 'three runs', 20_000));
      // No more often than the interval allows (the one at start, one per second, one just starting).
      expect(runs.length).toBeLessThanOrEqual(Math.floor((Date.now() - started) / 1000) + 2);
      expect(runs.every((job) => (job.result as RenewalResult).renewed.length === 0)).toBe(true);
    } finally {
      await client.close();
      await server.close();
    }
  });
});

describe.runIf(withRedis)('ACME renewal schedule with BullMQ', () => {
  const HOUR_S = '3600';
  const deployments: Deployment[] = [];
  const deployment = (env: Record<string, string>) => {
    const made = new Deployment('bullmq', env);
    deployments.push(made);
    return made;
  };

  afterAll(async () => {
    for (const made of deployments) await made.close();
  });

  it('runs renewal at start when the job scheduler exists already, once however many daemons and workers start', { timeout: 120_000 }, async () => {
    const restarted = deployment({ RENEWAL_INTERVAL_SECONDS: HOUR_S });
    // What an earlier start left in Redis: the scheduler, its next run an hour away. Every run here is a run at start.
    const nextRun = Date.now() + 3_600_000;
    await restarted.bullmq().upsertJobScheduler(RENEWAL_METHOD, { every: 3_600_000, startDate: nextRun }, { name: RENEWAL_METHOD, data: { schedule: RENEWAL_METHOD } });
    const a = await restarted.addDaemon();
    await restarted.addWorkers(2);
    const [run] = await until(() => renewalRuns(a), (runs) => runs.length === 1 && runs[0]!.state === 'SUCCESS', 'the run at start');
    expect(run!.result).toEqual({ renewed: [], failed: [] });
    // The scheduler kept its slot: the run came from the start, not from a rescheduled interval.
    expect((await restarted.bullmq().getJobScheduler(RENEWAL_METHOD))?.next).toBe(nextRun);

    // A second daemon starting within START_WINDOW_MS, even after the first one's run has ended, adds none.
    await restarted.addDaemon();
    await restarted.drained();
    expect(await restarted.queuedRenewalRuns()).toBe(1);
    expect(await renewalRuns(a)).toHaveLength(1);
    expect(await restarted.bullmq().getJobSchedulersCount()).toBe(1);
  });

  it('runs one renewal per interval however many daemons and workers share Redis', { timeout: 120_000 }, async () => {
    const INTERVAL_MS = 3000;
    const shared = deployment({ RENEWAL_INTERVAL_SECONDS: String(INTERVAL_MS / 1000) });
    const a = await shared.addDaemon();
    const b = await shared.addDaemon();
    await shared.addWorkers(2);
    // The run at start, the first interval's, then three regular ones.
    const seen = await until(() => renewalRuns(a), (runs) => runs.length >= 5, 'five runs');
    const started = seen.map((job) => job.time_started!.getTime()).sort((x, y) => x - y);
    // The run at start and the first interval's both wait for the workers; from then on, one per
    // interval (job times have whole seconds).
    const regular = started.slice(2);
    expect(regular.length).toBeGreaterThanOrEqual(3);
    for (let i = 1; i < regular.length; i++) expect(regular[i]! - regular[i - 1]!).toBeGreaterThanOrEqual(INTERVAL_MS - 1000);
    expect(regular.length).toBeLessThanOrEqual(Math.floor((regular.at(-1)! - regular[0]!) / (INTERVAL_MS - 1000)) + 1);
    expect(seen.every((job) => job.state === 'SUCCESS' || job === seen.at(-1))).toBe(true);
    // Both daemons list the runs: each is an ordinary job of the shared queue.
    expect((await renewalRuns(b)).map((job) => job.id)).toEqual(expect.arrayContaining(seen.map((job) => job.id)));
    expect(await shared.bullmq().getJobSchedulersCount()).toBe(1);
  });
});
