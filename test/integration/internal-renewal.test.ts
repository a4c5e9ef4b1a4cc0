/**
 * Automatic renewal of certificates signed by a CA on this system (`auto_renew`), the versions a
 * renewal replaces (`previous_versions`, superseded once every use that tells a serial holds the
 * new one), and what a CA signed (`signed_entries`). openssl judges the certificates, the files
 * and what HTTPS presents.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CertmidClient } from '../../src/client/client.js';
import { CertificateAuthorityEntity, CertificateEntity } from '../../src/certs/entities.js';
import { renewInternalCertificate } from '../../src/certs/internal-renewal.js';
import { closedPort } from '../helpers/net.js';
import { openssl, opensslExtensions, opensslOk, verifyChain, x509Text } from '../helpers/openssl.js';
import { adminClient, createIntermediateCa, createRootCa, rpcErrorOf, subjectParams, validationErrorsOf, type Entry } from '../helpers/pki-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process.js';
import { createTestDatabase, dropQueuePrefix, postgresAvailable, REDIS_URL, redisAvailable, uniquePrefix } from '../helpers/services.js';

const EINVAL = 22;
const DAY_MS = 86_400_000;

interface Version {
  serial: number | string;
  from: string;
  until: string;
  replaced_at: string;
  superseded: boolean;
  superseded_at: string | null;
}
type RenewalResult = { renewed: number[]; failed: number[] };

/** The serial openssl prints for a PEM (upper-case hex). */
async function serialOf(pem: string): Promise<string> {
  return (await opensslOk(['x509', '-noout', '-serial'], pem)).stdout.trim().replace(/^serial=/, '');
}

/** The public key of a certificate, as openssl prints it. */
async function publicKeyOf(pem: string): Promise<string> {
  return (await opensslOk(['x509', '-noout', '-pubkey'], pem)).stdout;
}

/** Extensions as openssl shows them, without the one that names the key (SubjectKeyIdentifier). */
async function extensionsBesidesKeyId(pem: string) {
  return opensslExtensions(await x509Text(pem)).filter((ext) => ext.title !== 'X509v3 Subject Key Identifier');
}

/** What `openssl s_client` sees on a fresh connection: the leaf's serial. */
async function presentedSerial(port: number): Promise<string | null> {
  const run = await openssl(['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost'], '');
  const leaf = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(run.stdout)?.[0];
  return leaf ? serialOf(leaf) : null;
}

/** A certificate signed by `ca` that renews itself; 2 days' lifetime and renew_days 2, so it is due at once. */
function createAutoRenewing(client: CertmidClient, name: string, ca: number, overrides: Record<string, unknown> = {}): Promise<Entry> {
  return client.callJob<Entry>('certificate.create', [
    { ...subjectParams({ common: name }), name, create_type: 'CERTIFICATE_CREATE_INTERNAL', signedby: ca, lifetime: 2, renew_days: 2, auto_renew: true, ...overrides },
  ]);
}

describe('automatic renewal of certificates signed here', () => {
  let server: TestServer;
  let admin: CertmidClient;
  let root: Entry;
  let intermediate: Entry;

  const get = (id: number) => admin.call<Entry>('certificate.get_instance', id);
  const renewCerts = () => admin.callJob<RenewalResult>('certificate.renew_certs', []);
  const update = (id: number, data: Record<string, unknown>) => admin.callJob<Entry>('certificate.update', [id, data]);
  /** The alerts of failed renewals of certificates signed here. */
  const renewalAlerts = async () =>
    (await admin.call<Array<{ klass: string; level: string; args: Record<string, unknown> }>>('alert.list')).filter((alert) => alert.klass === 'CertificateRenewalFailed');

  beforeAll(async () => {
    server = await startTestServer();
    admin = await adminClient(server);
    root = await createRootCa(admin, 'renew-root');
    intermediate = await createIntermediateCa(admin, 'renew-inter', root.id);
  });
  afterAll(async () => {
    await admin?.close();
    await server?.close();
  });

  it('renews in place: same subject, SANs, extensions and lifetime, new serial and key, verified against the chain, files rewritten', async () => {
    const extensions = {
      BasicConstraints: { enabled: true, ca: false, extension_critical: true },
      ExtendedKeyUsage: { enabled: true, usages: ['SERVER_AUTH', 'CLIENT_AUTH'], extension_critical: false },
      KeyUsage: { enabled: true, digital_signature: true, key_encipherment: true, extension_critical: true },
    };
    const before = await createAutoRenewing(admin, 'auto-leaf', intermediate.id, { san: ['auto.example.com', '192.0.2.7'], key_type: 'EC', ec_curve: 'SECP384R1', cert_extensions: extensions });
    expect(before).toMatchObject({ auto_renew: true, renew_days: 2, rotate_key: true, renewal_error: null, renewal_attempts: 0, previous_versions: [] });

    const result = await renewCerts();
    expect(result.renewed).toContain(before.id);
    expect(result.failed).toEqual([]);
    const after = await get(before.id);
    expect(after).toMatchObject({ id: before.id, name: 'auto-leaf', renewal_error: null, renewal_attempts: 0, auto_renew: true, key_type: 'EC', key_length: 384 });
    const [oldSerial, newSerial] = [await serialOf(before.certificate!), await serialOf(after.certificate!)];
    expect(newSerial).not.toBe(oldSerial);
    expect(await publicKeyOf(after.certificate!)).not.toBe(await publicKeyOf(before.certificate!));
    expect(after.privatekey).not.toBe(before.privatekey);
    const subject = (pem: string) => opensslOk(['x509', '-noout', '-subject', '-issuer'], pem).then((r) => r.stdout);
    expect(await subject(after.certificate!)).toBe(await subject(before.certificate!));
    expect(await extensionsBesidesKeyId(after.certificate!)).toEqual(await extensionsBesidesKeyId(before.certificate!));
    expect(after.san).toEqual(before.san);
    const span = (entry: Entry) => Date.parse(entry.not_after as string) - Date.parse(entry.not_before as string);
    expect(span(after)).toBe(span(before));
    expect(Date.parse(after.not_after as string)).toBeGreaterThanOrEqual(Date.parse(before.not_after as string));
    expect((await verifyChain(after.certificate!, [intermediate.certificate!, root.certificate!])).ok).toBe(true);
    // The key on record is the certificate's.
    const keyPub = (await opensslOk(['pkey', '-pubout'], after.privatekey!)).stdout;
    expect(keyPub).toBe(await publicKeyOf(after.certificate!));
    // The file the entry names follows.
    await expect.poll(async () => fs.existsSync(after.certificate_path as string) && (await serialOf(fs.readFileSync(after.certificate_path as string, 'utf8'))), { timeout: 15_000 }).toBe(newSerial);

    // The replaced version is listed; nothing that tells a serial uses the certificate, so it is superseded at once.
    const versions = after.previous_versions as Version[];
    expect(versions).toHaveLength(1);
    expect(versions[0]).toMatchObject({ serial: before.serial, from: before.not_before, until: before.not_after, superseded: true });
    expect(Date.parse(versions[0]!.superseded_at!)).toBeGreaterThanOrEqual(Date.parse(versions[0]!.replaced_at));
    // TrueNAS's fields are all still there.
    for (const field of ['id', 'type', 'name', 'certificate', 'privatekey', 'CSR', 'revoked_date', 'signedby', 'root_path', 'certificate_path', 'privatekey_path', 'csr_path', 'cert_type', 'revoked', 'expired', 'issuer', 'chain_list', 'common', 'san', 'DN', 'from', 'until', 'serial', 'lifetime', 'internal', 'extensions']) {
      expect(after).toHaveProperty(field);
    }
  });

  it('keeps the key when rotate_key is off', async () => {
    const before = await createAutoRenewing(admin, 'same-key', root.id, { rotate_key: false });
    expect(before.rotate_key).toBe(false);
    expect((await renewCerts()).renewed).toContain(before.id);
    const after = await get(before.id);
    expect(await serialOf(after.certificate!)).not.toBe(await serialOf(before.certificate!));
    expect(await publicKeyOf(after.certificate!)).toBe(await publicKeyOf(before.certificate!));
    expect(after.privatekey).toBe(before.privatekey);
    expect((await verifyChain(after.certificate!, [root.certificate!])).ok).toBe(true);
  });

  it('leaves a certificate alone that changed since the run read it: no second renewal, no version, no serial used', async () => {
    const leaf = await createAutoRenewing(admin, 'read-once', root.id);
    const rows = server.daemon.app.db.getRepository(CertificateEntity);
    const stale = await rows.findOneByOrFail({ id: leaf.id });
    const reporter = { id: 0, signal: new AbortController().signal, progress: () => undefined };
    expect(await renewInternalCertificate(server.daemon.app, stale, reporter)).toBe(true);
    const once = await get(leaf.id);
    const nextSerial = (await server.daemon.app.db.getRepository(CertificateAuthorityEntity).findOneByOrFail({ id: root.id })).next_serial;
    // A second run that read the row before the first one stored its renewal.
    expect(await renewInternalCertificate(server.daemon.app, stale, reporter)).toBe(false);
    const after = await get(leaf.id);
    expect(after.certificate).toBe(once.certificate);
    expect(after.previous_versions).toHaveLength(1);
    expect((await server.daemon.app.db.getRepository(CertificateAuthorityEntity).findOneByOrFail({ id: root.id })).next_serial).toBe(nextSerial);
  });

  it('renews the due certificates only: not one further from expiry than its renew_days, near or far', async () => {
    const due = await createAutoRenewing(admin, 'sweep-due', root.id);
    const near = await createAutoRenewing(admin, 'sweep-near', root.id, { lifetime: 20, renew_days: 5 });
    const far = await createAutoRenewing(admin, 'sweep-far', root.id, { lifetime: 400, renew_days: 30 });
    const result = await renewCerts();
    expect(result.renewed).toContain(due.id);
    expect(result.renewed).not.toContain(near.id);
    expect(result.renewed).not.toContain(far.id);
    expect(result.failed).toEqual([]);
    expect(await serialOf((await get(due.id)).certificate!)).not.toBe(await serialOf(due.certificate!));
    expect((await get(near.id)).certificate).toBe(near.certificate);
    expect((await get(far.id)).certificate).toBe(far.certificate);
  });

  it('renews a CSR signed here (ca_sign_csr) once opted in through certificate.update, and leaves others alone', async () => {
    const csr = await admin.callJob<Entry>('certificate.create', [{ ...subjectParams({ common: 'signed-csr' }), name: 'renew-csr', create_type: 'CERTIFICATE_CREATE_CSR', lifetime: undefined }]);
    const signed = await admin.call<Entry>('certificateauthority.ca_sign_csr', { ca_id: root.id, csr_cert_id: csr.id, name: 'signed-here', lifetime: 3 });
    const untouched = await admin.callJob<Entry>('certificate.create', [{ ...subjectParams({ common: 'manual' }), name: 'manual-only', create_type: 'CERTIFICATE_CREATE_INTERNAL', signedby: root.id, lifetime: 2 }]);
    expect(untouched).toMatchObject({ auto_renew: false, previous_versions: [] });
    expect(signed).toMatchObject({ auto_renew: false, rotate_key: true });
    expect(await update(signed.id, { auto_renew: true, renew_days: 3 })).toMatchObject({ auto_renew: true, renew_days: 3 });
    const result = await renewCerts();
    expect(result.renewed).toContain(signed.id);
    expect(result.renewed).not.toContain(untouched.id);
    const after = await get(signed.id);
    expect(await serialOf(after.certificate!)).not.toBe(await serialOf(signed.certificate!));
    expect(after.lifetime).toBe(3);
    expect((await verifyChain(after.certificate!, [root.certificate!])).ok).toBe(true);
    expect((await get(untouched.id)).certificate).toBe(untouched.certificate);
  });

  it('keeps the replaced version of the UI certificate until HTTPS presents the renewed one, then supersedes it', async () => {
    const ui = await createAutoRenewing(admin, 'ui-auto', root.id, { common: 'localhost', san: ['localhost'] });
    // HTTPS is off: the UI has not taken the certificate up, so it holds no serial yet.
    await admin.call('system.general.update', { ui_certificate: ui.id });
    expect((await get(ui.id)).used_by).toEqual([{ type: 'UI', name: 'UI Service', serial: null }]);
    expect((await renewCerts()).renewed).toContain(ui.id);
    const renewed = await get(ui.id);
    const newSerial = await serialOf(renewed.certificate!);
    expect(renewed.previous_versions).toMatchObject([{ serial: ui.serial, superseded: false, superseded_at: null }]);

    // HTTPS on: it presents the renewed certificate, and the version it replaced is superseded.
    const port = await closedPort();
    await admin.call('system.general.update', { ui_httpsport: port });
    expect(await presentedSerial(port)).toBe(newSerial);
    await expect.poll(async () => ((await get(ui.id)).previous_versions as Version[])[0]?.superseded, { timeout: 15_000 }).toBe(true);
    expect((await get(ui.id)).used_by).toEqual([{ type: 'UI', name: 'UI Service', serial: newSerial }]);

    // Renewed again while served: presented at once, and superseded once presented.
    expect((await renewCerts()).renewed).toContain(ui.id);
    const third = await get(ui.id);
    await expect.poll(() => presentedSerial(port), { timeout: 15_000 }).toBe(await serialOf(third.certificate!));
    await expect.poll(async () => ((await get(ui.id)).previous_versions as Version[]).map((v) => v.superseded), { timeout: 15_000 }).toEqual([true, true]);
    expect(((await get(ui.id)).previous_versions as Version[]).map((v) => v.serial)).toEqual([renewed.serial, ui.serial]);
    // The UI moves back to the default certificate so that the other tests' renewals are left alone.
    const defaultCertificate = (await admin.call<Entry[]>('certificate.query', [['name', '=', 'truenas_default']]))[0]!;
    await admin.call('system.general.update', { ui_certificate: defaultCertificate.id, ui_httpsport: null });
    await update(ui.id, { auto_renew: false });
  });

  it('deploys the renewed certificate to its targets, and supersedes the replaced version only once every target holds the new one', async () => {
    const leaf = await createAutoRenewing(admin, 'deployed-auto', root.id);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'certmid-renew-deploy-'));
    try {
      const target = await admin.call<{ id: number }>('certificate.deploy_target.create', {
        name: 'renew-files',
        certificate: leaf.id,
        kind: 'LOCAL',
        attributes: { certificate_path: path.join(dir, 'leaf.pem') },
      });
      const lastSerial = async () => (await admin.call<{ last_serial: string | null }>('certificate.deploy_target.get_instance', target.id)).last_serial;
      await expect.poll(lastSerial, { timeout: 15_000 }).toBe(await serialOf(leaf.certificate!));
      // The target breaks (its directory is gone), then the certificate renews: the target still holds the old serial.
      await admin.call('certificate.deploy_target.update', target.id, { attributes: { certificate_path: path.join(dir, 'gone', 'leaf.pem') } });
      expect((await renewCerts()).renewed).toContain(leaf.id);
      const renewed = await get(leaf.id);
      await expect.poll(async () => (await admin.call<{ last_error: string | null }>('certificate.deploy_target.get_instance', target.id)).last_error, { timeout: 15_000 }).not.toBeNull();
      expect((await get(leaf.id)).previous_versions).toMatchObject([{ serial: leaf.serial, superseded: false }]);
      const deployAlert = async () => (await admin.call<Array<Record<string, any>>>('alert.list')).find((alert) => alert.klass === 'DeployTargetFailed' && alert.args.name === 'renew-files');
      await expect.poll(deployAlert).toMatchObject({ level: 'ERROR', args: { certificate: 'deployed-auto', attempts: 1 } });
      // Fixed and run by hand: the new serial lands, and the replaced version is held nowhere now.
      await admin.call('certificate.deploy_target.update', target.id, { attributes: { certificate_path: path.join(dir, 'leaf.pem') } });
      await admin.callJob('certificate.deploy_target.run', [target.id]);
      expect(await lastSerial()).toBe(await serialOf(renewed.certificate!));
      expect(await serialOf(fs.readFileSync(path.join(dir, 'leaf.pem'), 'utf8'))).toBe(await serialOf(renewed.certificate!));
      expect((await get(leaf.id)).previous_versions).toMatchObject([{ serial: leaf.serial, superseded: true }]);
      await expect.poll(deployAlert).toBeUndefined();
      await admin.call('certificate.deploy_target.delete', target.id);
      await update(leaf.id, { auto_renew: false });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps the default certificate\'s replaced version too, until HTTPS presents the renewed one', async () => {
    const defaultCertificate = (await admin.call<Entry[]>('certificate.query', [['name', '=', 'truenas_default']]))[0]!;
    // Ages the stored expiry only, as after 393 days of service: the renewal decision reads it.
    await server.daemon.app.db.getRepository(CertificateEntity).update({ id: defaultCertificate.id }, { not_after: new Date(Date.now() + 2 * DAY_MS) });
    expect((await renewCerts()).renewed).toContain(defaultCertificate.id);
    const renewed = await get(defaultCertificate.id);
    expect(renewed.previous_versions).toMatchObject([{ serial: defaultCertificate.serial, superseded: false }]);
    const port = await closedPort();
    await admin.call('system.general.update', { ui_httpsport: port });
    expect(await presentedSerial(port)).toBe(await serialOf(renewed.certificate!));
    await expect.poll(async () => ((await get(defaultCertificate.id)).previous_versions as Version[])[0]?.superseded, { timeout: 15_000 }).toBe(true);
    await admin.call('system.general.update', { ui_httpsport: null });
  });

  it('records a renewal the CA cannot sign (it expires first), backs off, and keeps the certificate', async () => {
    const shortCa = await createRootCa(admin, 'short-root', { lifetime: 1 });
    const leaf = await createAutoRenewing(admin, 'outlives-ca', shortCa.id);
    const first = await renewCerts();
    expect(first.failed).toEqual([leaf.id]);
    const failed = await get(leaf.id);
    expect(failed.certificate).toBe(leaf.certificate);
    expect(failed.renewal_error).toMatch(/^\[EINVAL\] The signing certificate authority expires on .+, before a renewal valid until .+ would; renew or replace the certificate authority$/);
    expect(failed.renewal_attempts).toBe(1);
    expect(Date.parse(failed.renewal_next_attempt as string)).toBeGreaterThan(Date.now());
    expect(failed.previous_versions).toEqual([]);
    // Raised as an alert of its own, not as an ACME one.
    await expect
      .poll(async () => (await renewalAlerts()).find((alert) => alert.args.name === 'outlives-ca'), { timeout: 15_000 })
      .toMatchObject({ level: 'ERROR', args: { attempts: 1, error: failed.renewal_error } });
    // Backing off: the next run leaves it alone.
    const second = await renewCerts();
    expect(second.failed).not.toContain(leaf.id);
    expect((await get(leaf.id)).renewal_attempts).toBe(1);
    // Opting out ends the retries.
    expect(await update(leaf.id, { auto_renew: false })).toMatchObject({ auto_renew: false, renewal_error: null, renewal_attempts: 0, renewal_next_attempt: null });
    await expect.poll(async () => (await renewalAlerts()).some((alert) => alert.args.name === 'outlives-ca'), { timeout: 15_000 }).toBe(false);
  });

  it('refuses opting in where it cannot work, naming the attribute', async () => {
    const imported = await admin.callJob<Entry>('certificate.create', [
      { name: 'renew-imported', create_type: 'CERTIFICATE_CREATE_IMPORTED', certificate: root.certificate, privatekey: (await admin.call<Entry>('certificateauthority.get_instance', root.id)).privatekey },
    ]);
    const onlySignedHere = 'Automatic renewal is only available for certificates signed by a certificate authority on this system; ACME certificates renew by renew_days';
    expect(await validationErrorsOf(update(imported.id, { auto_renew: true }))).toEqual([['certificate_update.auto_renew', onlySignedHere, EINVAL]]);
    expect(await validationErrorsOf(update(imported.id, { renew_days: 5 }))).toEqual([
      ['certificate_update.renew_days', 'Certificate renewal days is only supported for ACME certificates', EINVAL],
    ]);
    expect(await validationErrorsOf(admin.callJob('certificate.create', [{ name: 'imp-auto', create_type: 'CERTIFICATE_CREATE_IMPORTED', certificate: root.certificate, auto_renew: true }]))).toEqual([
      ['certificate_create.auto_renew', onlySignedHere, EINVAL],
    ]);
    expect(await validationErrorsOf(admin.callJob('certificate.create', [{ ...subjectParams(), lifetime: undefined, name: 'csr-auto', create_type: 'CERTIFICATE_CREATE_CSR', auto_renew: true }]))).toEqual([
      ['certificate_create.auto_renew', onlySignedHere, EINVAL],
    ]);
    const csr = await admin.callJob<Entry>('certificate.create', [{ ...subjectParams(), lifetime: undefined, name: 'acme-source', create_type: 'CERTIFICATE_CREATE_CSR' }]);
    const acme = { name: 'acme-auto', create_type: 'CERTIFICATE_CREATE_ACME', csr_id: csr.id, tos: true, acme_directory_uri: 'https://acme.invalid/directory', dns_mapping: { dev: 1 } };
    expect(await validationErrorsOf(admin.callJob('certificate.create', [{ ...acme, auto_renew: true }]))).toEqual([['certificate_create.auto_renew', onlySignedHere, EINVAL]]);
    expect(await validationErrorsOf(admin.callJob('certificate.create', [{ name: 'imp-rotate', create_type: 'CERTIFICATE_CREATE_IMPORTED', certificate: root.certificate, rotate_key: true }]))).toEqual([
      ['certificate_create.rotate_key', 'Key rotation on renewal is only supported for ACME certificates and certificates signed by a CA on this system', EINVAL],
    ]);
    expect(await validationErrorsOf(update(imported.id, { rotate_key: false }))).toEqual([
      ['certificate_update.rotate_key', 'Key rotation on renewal is only supported for ACME certificates and certificates signed by a CA on this system', EINVAL],
    ]);
    // renew_days defaults to 10, more than a 5-day lifetime allows.
    expect(await validationErrorsOf(admin.callJob('certificate.create', [{ ...subjectParams(), name: 'too-short', create_type: 'CERTIFICATE_CREATE_INTERNAL', signedby: root.id, lifetime: 5, auto_renew: true }]))).toEqual([
      ['certificate_create.renew_days', 'Renewing 10 day(s) before expiry needs a lifetime of at least 10 day(s); this one is 5 day(s) (set a smaller renew_days)', EINVAL],
    ]);
    expect(await admin.call('certificate.query', [['name', '=', 'too-short']])).toEqual([]);
    const leaf = await createAutoRenewing(admin, 'bounds', root.id, { auto_renew: false });
    expect(await validationErrorsOf(update(leaf.id, { auto_renew: true, renew_days: 30 }))).toEqual([
      ['certificate_update.renew_days', 'Renewing 30 day(s) before expiry needs a lifetime of at least 30 day(s); this one is 2 day(s) (set a smaller renew_days)', EINVAL],
    ]);
    expect(await validationErrorsOf(update(leaf.id, { renew_days: 0 }))).toEqual([['certificate_update.renew_days', 'Should be between 1 and 30', EINVAL]]);
    expect((await get(leaf.id)).auto_renew).toBe(false);
    // A revoked CA cannot sign a renewal.
    const doomed = await createRootCa(admin, 'doomed-root');
    const below = await createAutoRenewing(admin, 'below-doomed', doomed.id, { auto_renew: false });
    await admin.call('certificateauthority.update', doomed.id, { revoked: true });
    expect(await validationErrorsOf(update(below.id, { auto_renew: true }))).toEqual([['certificate_update.auto_renew', 'A revoked certificate cannot be renewed', EINVAL]]);
  });

  it('lists what a CA signed, and deleting it names them', async () => {
    const ca = await createRootCa(admin, 'lister');
    const sub = await createIntermediateCa(admin, 'lister-sub', ca.id);
    const leaf = await createAutoRenewing(admin, 'lister-leaf', ca.id, { auto_renew: false });
    const entry = await admin.call<Entry>('certificateauthority.get_instance', ca.id);
    expect(entry).toMatchObject({
      signed_certificates: 1,
      signed_entries: [
        { id: leaf.id, name: 'lister-leaf', type: 'CERTIFICATE' },
        { id: sub.id, name: 'lister-sub', type: 'CA' },
      ],
    });
    const error = await rpcErrorOf(admin.call('certificateauthority.delete', ca.id));
    expect(error.data).toMatchObject({
      errname: 'EBUSY',
      reason: "[EBUSY] This object is being used by following service(s):\n1) 'certificate' Service\n2) 'certificateauthority' Service\nSigned by it: 'lister-leaf' (certificate), 'lister-sub' (certificate authority)\n",
      extra: {
        dependencies: [
          { service: 'certificate', objects: [{ id: leaf.id, name: 'lister-leaf' }] },
          { service: 'certificateauthority', objects: [{ id: sub.id, name: 'lister-sub' }] },
        ],
      },
    });
    // Deleting a certificate takes its previous versions with it.
    expect(await admin.callJob('certificate.delete', [leaf.id])).toBe(true);
    expect((await admin.call<Entry>('certificateauthority.get_instance', ca.id)).signed_entries).toEqual([{ id: sub.id, name: 'lister-sub', type: 'CA' }]);
  });
});

describe.runIf((await postgresAvailable()) && (await redisAvailable()))('automatic renewal with two daemons sharing PostgreSQL and Redis', () => {
  const prefix = uniquePrefix();
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let one: TestServer;
  let two: TestServer;
  let adminOne: CertmidClient;
  let adminTwo: CertmidClient;
  const workers: WorkerProcess[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    const shared = { DATABASE_URL: database.url, REDIS_URL, QUEUE_PREFIX: prefix, MASTER_KEY: Buffer.alloc(32, 5).toString('base64') };
    const env = { ...shared, ADMIN_PASSWORD: 'renewal-admin-password' };
    one = await startTestServer({ env });
    two = await startTestServer({ env });
    // Two workers, each free to take one of the two runs at once: only the job lock keeps them apart.
    for (const server of [one, two]) workers.push(await spawnWorker({ ...shared, DATA_DIR: server.dataDir }));
    adminOne = await adminClient(one);
    adminTwo = await adminClient(two);
  }, 60_000);
  afterAll(async () => {
    await adminOne?.close();
    await adminTwo?.close();
    for (const worker of workers) await worker.stop();
    await one?.close();
    await two?.close();
    await database?.drop();
    await dropQueuePrefix(prefix);
  });

  it('renews a due certificate exactly once when both daemons run certificate.renew_certs at the same time', async () => {
    const root = await createRootCa(adminOne, 'shared-renew-root');
    const leaf = await adminOne.callJob<Entry>('certificate.create', [
      { ...subjectParams({ common: 'shared' }), name: 'shared-auto', create_type: 'CERTIFICATE_CREATE_INTERNAL', signedby: root.id, lifetime: 30, renew_days: 10, auto_renew: true },
    ]);
    // Ages the stored expiry only, as after 25 days of service: the renewal decision reads it.
    const rows = one.daemon.app.db.getRepository(CertificateEntity);
    await rows.update({ id: leaf.id }, { not_after: new Date(Date.now() + 5 * DAY_MS) });
    const results = await Promise.all([
      adminOne.callJob<RenewalResult>('certificate.renew_certs', []),
      adminTwo.callJob<RenewalResult>('certificate.renew_certs', []),
    ]);
    expect(results.flatMap((result) => result.renewed).filter((id) => id === leaf.id)).toEqual([leaf.id]);
    expect(results.flatMap((result) => result.failed)).toEqual([]);
    const after = await adminTwo.call<Entry>('certificate.get_instance', leaf.id);
    expect(after.previous_versions).toMatchObject([{ serial: leaf.serial, superseded: true }]);
    expect(await serialOf(after.certificate!)).not.toBe(await serialOf(leaf.certificate!));
    expect((await verifyChain(after.certificate!, [root.certificate!])).ok).toBe(true);
    // Both daemons hear of it and show the same entry.
    expect((await adminOne.call<Entry>('certificate.get_instance', leaf.id)).certificate).toBe(after.certificate);
  });
});
