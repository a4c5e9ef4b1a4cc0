/**
 * Alerts through the real daemon: certificates made by openssl and by certmid raise TrueNAS's
 * certificate alerts at once, clear when the condition ends, can be dismissed and restored, follow
 * the per-class settings, reach subscribers as alert.list events, survive a restart, and are raised
 * once by daemons sharing PostgreSQL; with BullMQ and no worker, the missing worker is an alert.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAlertChecks } from '../../src/alerts/alerts.js';
import { alertSources } from '../../src/alerts/sources.js';
import type { CertmidClient, CollectionUpdate } from '../../src/client/client.js';
import { issueCertificate } from '../../src/crypto/certificates.js';
import { defaultExtensions } from '../../src/crypto/extensions.js';
import { exportPrivateKeyPem } from '../../src/crypto/keys.js';
import { selfSignedCertificate } from '../helpers/openssl.js';
import { adminClient, createInternalCertificate, createRootCa, type Entry } from '../helpers/pki-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createTestDatabase, dropQueuePrefix, postgresAvailable, REDIS_URL, redisAvailable, uniquePrefix } from '../helpers/services.js';
import { spawnWorker } from '../helpers/worker-process.js';

type Alert = Record<string, any>;
const DAY = 86_400_000;

/** A certificate that expired yesterday (openssl 3.0 cannot date one in the past). */
function expiredCertificate(common: string): { certificate: Promise<string>; privatekey: string } {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const certificate = issueCertificate({
    subject: { common },
    san: [{ type: 'DNS', value: common }],
    publicKey: privateKey,
    signer: { privateKey, certificatePem: null },
    serial: 77n,
    notBefore: new Date(Date.now() - 30 * DAY),
    notAfter: new Date(Date.now() - DAY),
    digest: 'SHA256',
    extensions: defaultExtensions(),
  });
  return { certificate, privatekey: exportPrivateKeyPem(privateKey) };
}

async function importCertificate(client: CertmidClient, name: string, fields: { certificate: string; privatekey: string }): Promise<Entry> {
  return client.callJob<Entry>('certificate.create', [{ name, create_type: 'CERTIFICATE_CREATE_IMPORTED', ...fields }]);
}

const alertsOf = (client: CertmidClient) => client.call<Alert[]>('alert.list');
const alertFor = async (client: CertmidClient, klass: string, name: string) =>
  (await alertsOf(client)).find((alert) => alert.klass === klass && alert.args.name === name);

describe('certificate alerts', () => {
  let server: TestServer;
  let admin: CertmidClient;
  const events: CollectionUpdate<Alert>[] = [];

  beforeAll(async () => {
    server = await startTestServer();
    admin = await adminClient(server);
    await admin.subscribe<Alert>('alert.list', (event) => events.push(event));
  });
  afterAll(async () => {
    await admin?.close();
    await server?.close();
  });

  it('raises CertificateIsExpiring at once for an openssl certificate expiring in 5 days, and tells subscribers', async () => {
    const entry = await importCertificate(admin, 'five-days', await selfSignedCertificate('five.example', 5));
    await expect.poll(() => alertFor(admin, 'CertificateIsExpiring', 'five-days')).toBeDefined();
    const alert = (await alertFor(admin, 'CertificateIsExpiring', 'five-days'))!;
    expect(alert).toMatchObject({
      klass: 'CertificateIsExpiring',
      level: 'NOTICE',
      source: 'CertificateChecks',
      node: 'Controller A',
      dismissed: false,
      args: { name: 'five-days', days: 4 },
      text: 'Certificate %(name)r is expiring within %(days)d days.',
      formatted: "Certificate 'five-days' is expiring within 4 days.",
      one_shot: false,
      mail: null,
      key: '["five-days"]',
    });
    expect(alert.id).toBe(alert.uuid);
    expect(alert.datetime).toBeInstanceOf(Date);
    await expect.poll(() => events.find((event) => event.msg === 'added' && event.id === alert.uuid)).toBeDefined();
    expect(events.find((event) => event.id === alert.uuid)!.fields).toMatchObject({ klass: 'CertificateIsExpiring', formatted: alert.formatted });

    await admin.callJob('certificate.delete', [entry.id]);
    await expect.poll(() => alertFor(admin, 'CertificateIsExpiring', 'five-days')).toBeUndefined();
    // The event follows the commit's sync to the disk: a reader may see the alert gone a moment before.
    await expect.poll(() => events.find((event) => event.msg === 'removed' && event.id === alert.uuid)).toBeDefined();
  });

  it('raises CertificateIsExpiringSoon within 2 days and CertificateExpired after', async () => {
    await importCertificate(admin, 'two-days', await selfSignedCertificate('two.example', 2));
    const expired = expiredCertificate('gone.example');
    await importCertificate(admin, 'expired', { certificate: await expired.certificate, privatekey: expired.privatekey });
    await expect.poll(() => alertFor(admin, 'CertificateIsExpiringSoon', 'two-days')).toMatchObject({ level: 'WARNING', args: { days: 1 } });
    await expect.poll(() => alertFor(admin, 'CertificateExpired', 'expired')).toMatchObject({
      level: 'CRITICAL',
      formatted: "Certificate 'expired' has expired.",
    });
    const levels = (await alertsOf(admin)).map((alert) => alert.level);
    expect(levels.indexOf('CRITICAL')).toBeLessThan(levels.indexOf('WARNING'));
  });

  it('keeps a dismissal while the alert lasts, and restores it', async () => {
    const alert = (await alertFor(admin, 'CertificateExpired', 'expired'))!;
    await admin.call('alert.dismiss', alert.uuid);
    expect(await alertFor(admin, 'CertificateExpired', 'expired')).toMatchObject({ uuid: alert.uuid, dismissed: true });
    expect(events.find((event) => event.msg === 'changed' && event.id === alert.uuid)?.fields).toMatchObject({ dismissed: true });
    await runAlertChecks(server.daemon.app, alertSources(new Date()));
    expect(await alertFor(admin, 'CertificateExpired', 'expired')).toMatchObject({ uuid: alert.uuid, dismissed: true });
    await admin.call('alert.restore', alert.uuid);
    expect(await alertFor(admin, 'CertificateExpired', 'expired')).toMatchObject({ dismissed: false });
    expect(await admin.call('alert.dismiss', 'no-such-alert')).toBeNull();
  });

  it('follows the thresholds, levels and policies of alertclasses.update', async () => {
    await importCertificate(admin, 'twenty-days', await selfSignedCertificate('twenty.example', 20));
    expect(await alertFor(admin, 'CertificateIsExpiring', 'twenty-days')).toBeUndefined();
    const updated = await admin.call<Alert>('alertclasses.update', {
      classes: { CertificateIsExpiring: { threshold: 30, level: 'WARNING' }, CertificateExpired: { policy: 'NEVER' } },
    });
    expect(updated.thresholds.CertificateIsExpiring).toEqual({ value: 30, default: 10, unit: 'days', description: expect.any(String) });
    await expect.poll(() => alertFor(admin, 'CertificateIsExpiring', 'twenty-days')).toMatchObject({ level: 'WARNING', args: { days: 19 } });
    expect(await alertFor(admin, 'CertificateExpired', 'expired')).toBeUndefined();

    await admin.call('alertclasses.update', { classes: {} });
    await expect.poll(() => alertFor(admin, 'CertificateIsExpiring', 'twenty-days')).toBeUndefined();
    expect(await alertFor(admin, 'CertificateExpired', 'expired')).toBeDefined();
    await expect(admin.call('alertclasses.update', { classes: { NoSuchClass: { level: 'INFO' } } })).rejects.toThrow('NoSuchClass: unknown alert class');
    await expect(admin.call('alertclasses.update', { classes: { CertificateExpired: { threshold: 3 } } })).rejects.toThrow('CertificateExpired has no threshold');
  });

  it('warns of a CA expiring, and of its CRL going stale when renewals stop', async () => {
    const ca = await createRootCa(admin, 'short-root', { lifetime: 20 });
    await createInternalCertificate(admin, 'under-short-root', ca.id, { lifetime: 10 });
    await expect.poll(() => alertFor(admin, 'CertificateAuthorityIsExpiring', 'short-root')).toMatchObject({
      level: 'WARNING',
      args: { name: 'short-root', days: 19, outliving: 0 },
    });
    // A threshold beyond the CRL's whole validity (a day) shows it as if every renewal had failed.
    const [stored] = await admin.call<Entry[]>('certificateauthority.query', [['id', '=', ca.id]]);
    await admin.call('alertclasses.update', { classes: { CrlIsStale: { threshold: 25 } } });
    await expect.poll(() => alertFor(admin, 'CrlIsStale', 'short-root')).toMatchObject({
      level: 'WARNING',
      args: { next_update: new Date(stored!.crl_next_update as string).toISOString() },
    });
    await admin.call('alertclasses.update', { classes: {} });
    await expect.poll(() => alertFor(admin, 'CrlIsStale', 'short-root')).toBeUndefined();
  });

  it('raises CertificateRevoked for a revoked certificate a service still presents', async () => {
    const ca = await createRootCa(admin, 'ui-root');
    const ui = await createInternalCertificate(admin, 'ui-cert', ca.id, { common: 'localhost', san: ['localhost'] });
    await admin.call('system.general.update', { ui_certificate: ui.id });
    // certmid refuses to revoke a certificate in use; a database restored from elsewhere may still hold one.
    await server.daemon.app.db.query(`UPDATE certificate SET revoked_date = ${Date.now()} WHERE id = ${ui.id}`);
    // Saving the alert settings makes the daemon check again, after any check already running.
    await admin.call('alertclasses.update', { classes: {} });
    await expect.poll(() => alertFor(admin, 'CertificateRevoked', 'ui-cert')).toMatchObject({
      level: 'CRITICAL',
      formatted: 'UI Service certificate has been revoked. Please replace the certificate immediately.',
    });
  });

  it('lists categories and policies in TrueNAS shapes, and only to alert readers', async () => {
    const categories = await admin.call<Alert[]>('alert.list_categories');
    expect(categories.map((category) => category.id)).toEqual(['CERTIFICATES', 'SYSTEM']);
    expect(categories[0]!.classes).toContainEqual({ id: 'CertificateIsExpiringSoon', title: 'Certificate Is Expiring Soon', level: 'WARNING', proactive_support: false });
    expect(await admin.call('alert.list_policies')).toEqual(['IMMEDIATELY', 'HOURLY', 'DAILY', 'NEVER']);
    await admin.call('user.create', { username: 'clerk', password: 'clerk-password-1', roles: ['CERTIFICATE_READ'] });
    const { CertmidClient } = await import('../../src/client/client.js');
    const { WebSocket } = await import('ws');
    const clerk = await CertmidClient.connect(server.url, { WebSocket });
    await clerk.login('clerk', 'clerk-password-1');
    await expect(clerk.call('alert.list')).rejects.toThrow(/Not authorized/);
    await clerk.close();
  });
});

const postgres = await postgresAvailable();
const redis = await redisAvailable();

describe('alerts across restarts and daemons', () => {
  let database: { url: string; drop(): Promise<void> } | undefined;

  afterAll(async () => {
    await database?.drop();
  });

  it.runIf(postgres)('raises each alert once for daemons sharing PostgreSQL, and keeps it and its dismissal across a restart', async () => {
    database = await createTestDatabase();
    const env = { DATABASE_URL: database.url, MASTER_KEY: randomBytes(32).toString('base64') };
    const first = await startTestServer({ env });
    let second = await startTestServer({ env: { ...env, ADMIN_PASSWORD: first.admin.password } });
    const one = await adminClient(first);
    let two = await adminClient(second);
    try {
      await importCertificate(one, 'shared', await selfSignedCertificate('shared.example', 4));
      await expect.poll(() => alertFor(two, 'CertificateIsExpiring', 'shared')).toBeDefined();
      await Promise.all([runAlertChecks(first.daemon.app, alertSources(new Date())), runAlertChecks(second.daemon.app, alertSources(new Date()))]);
      const [fromOne, fromTwo] = [await alertsOf(one), await alertsOf(two)];
      expect(fromOne.filter((alert) => alert.args.name === 'shared')).toHaveLength(1);
      expect(fromTwo).toEqual(fromOne);
      const { uuid } = (await alertFor(one, 'CertificateIsExpiring', 'shared'))!;
      await two.call('alert.dismiss', uuid);

      await two.close();
      await second.close();
      second = await startTestServer({ env: { ...env, ADMIN_PASSWORD: first.admin.password } });
      two = await adminClient(second);
      expect(await alertFor(two, 'CertificateIsExpiring', 'shared')).toMatchObject({ uuid, dismissed: true });
    } finally {
      await one.close();
      await two.close();
      await second.close();
      await first.close();
    }
  });
});

describe('job worker alert', () => {
  it.runIf(redis)('raises NoJobWorker while BullMQ has no worker, and clears it once one reports', async () => {
    const prefix = uniquePrefix();
    const env = { REDIS_URL, QUEUE_PREFIX: prefix, JOB_HEARTBEAT_SECONDS: '0.2', ALERT_CHECK_INTERVAL_SECONDS: '0.3', MASTER_KEY: randomBytes(32).toString('base64') };
    const server = await startTestServer({ env });
    const admin = await adminClient(server);
    try {
      await expect.poll(() => alertsOf(admin), { timeout: 15_000 }).toContainEqual(expect.objectContaining({ klass: 'NoJobWorker', level: 'CRITICAL' }));
      const worker = await spawnWorker({ ...env, DATA_DIR: server.dataDir });
      try {
        await expect.poll(async () => (await alertsOf(admin)).some((alert) => alert.klass === 'NoJobWorker'), { timeout: 15_000 }).toBe(false);
      } finally {
        await worker.stop();
      }
    } finally {
      await admin.close();
      await server.close();
      await dropQueuePrefix(prefix);
    }
  });
});
