import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import { WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlertServiceEntity } from '../../src/alerts/channels/entities.js';
import { readMailSettings } from '../../src/alerts/channels/mail.js';
import { AcmeRegistrationEntity } from '../../src/acme/entities.js';
import { SettingEntity } from '../../src/certs/default-certificate.js';
import { isEncrypted, type BackupDocument } from '../../src/backup/archive.js';
import { DeployTargetEntity } from '../../src/deploy/entities.js';
import { CertmidClient } from '../../src/client/client.js';
import { saveBackup, uploadBackup } from '../helpers/backup-client.js';
import { opensslOk, withFiles } from '../helpers/openssl.js';
import { createInternalCertificate, createIntermediateCa, createRootCa, subjectParams, validationErrorsOf, type Entry } from '../helpers/pki-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { countedRows, keptCounts } from '../helpers/signed-counts.js';
import { createTestDatabase, databaseBackends, dropQueuePrefix, postgresAvailable, REDIS_URL, redisAvailable, uniquePrefix, type TestDatabase } from '../helpers/services.js';

const PASSPHRASE = 'correct horse battery staple';
const OPS_PASSWORD = 'ops-password-1';
const TSIG_SECRET = Buffer.alloc(32, 7).toString('base64');
const WEBHOOK_SECRET = 'backup-webhook-secret-0123';
const SMTP_PASSWORD = 'backup-smtp-password';
const ACCOUNT_KEY = '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgtestkey\n-----END PRIVATE KEY-----\n';
const DEPLOY_SECRET = 'backup-deploy-secret';
const masterKey = () => randomBytes(32).toString('base64');

/** What a source server holds besides its rows: the secrets that prove the restored credentials work. */
interface Source {
  server: TestServer;
  opsApiKey: string;
}

const servers: TestServer[] = [];
const clients: CertmidClient[] = [];
const databases: TestDatabase[] = [];

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
  await Promise.all(servers.map((server) => server.close()));
  await Promise.all(databases.map((database) => database.drop()));
});

async function start(open: () => Promise<TestDatabase>, env: Record<string, string> = {}): Promise<TestServer> {
  const database = await open();
  databases.push(database);
  const server = await startTestServer({ env: { ...database.env, ...env } });
  servers.push(server);
  return server;
}

async function login(server: TestServer, username: string, password: string): Promise<CertmidClient> {
  const client = await CertmidClient.connect(server.url, { WebSocket });
  clients.push(client);
  await client.login(username, password);
  return client;
}

const adminOf = (server: TestServer) => login(server, server.admin.username, server.admin.password);

async function selfSignedImport(name: string): Promise<{ certificate: string; privatekey: string }> {
  const privatekey = (await opensslOk(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'])).stdout;
  return withFiles({ 'key.pem': privatekey }, async (paths) => {
    const certificate = (await opensslOk(['req', '-x509', '-key', paths['key.pem']!, '-subj', `/CN=${name}`, '-days', '30'])).stdout;
    return { certificate, privatekey };
  });
}

/** A CA chain, internal and imported certificates, a CSR, a DNS authenticator, an ACME account, a user with roles and an API key. */
async function populate(server: TestServer): Promise<Source> {
  const admin = await adminOf(server);
  const root = await createRootCa(admin, 'backup-root');
  const intermediate = await createIntermediateCa(admin, 'backup-intermediate', root.id, { key_type: 'EC', ec_curve: 'SECP384R1' });
  const leaf = await createInternalCertificate(admin, 'backup-leaf', intermediate.id, { key_type: 'EC', ec_curve: 'SECP256R1', san: ['leaf.example.com'] });
  // Disabled: it only has to be kept, with its sealed secret.
  await admin.call('certificate.deploy_target.create', {
    name: 'backup-target',
    certificate: leaf.id,
    kind: 'LOCAL',
    enabled: false,
    attributes: { pkcs12_path: '/nonexistent/backup.p12', pkcs12_password: DEPLOY_SECRET },
  });
  await admin.callJob('certificate.create', [{ name: 'backup-imported', create_type: 'CERTIFICATE_CREATE_IMPORTED', ...(await selfSignedImport('imported.example.com')) }]);
  await admin.callJob('certificate.create', [
    { ...subjectParams({ lifetime: undefined, key_type: 'EC', ec_curve: 'SECP256R1', san: ['csr.example.com'] }), name: 'backup-csr', create_type: 'CERTIFICATE_CREATE_CSR' },
  ]);
  await admin.call('acme.dns.authenticator.create', {
    name: 'backup-bind',
    attributes: { authenticator: 'rfc2136', nameserver: 'ns1.example.com', tsig_key_name: 'acme-update', tsig_secret: TSIG_SECRET },
  });
  const app = server.daemon.app;
  await app.db.getRepository(AcmeRegistrationEntity).insert({
    uri: 'https://acme.example.com/acct/1',
    directory: 'https://acme.example.com/directory/',
    tos: '',
    new_account_uri: 'https://acme.example.com/new-acct',
    new_nonce_uri: 'https://acme.example.com/new-nonce',
    new_order_uri: 'https://acme.example.com/new-order',
    revoke_cert_uri: 'https://acme.example.com/revoke-cert',
    renewal_info_uri: null,
    status: 'valid',
    account_key: app.secrets.encrypt(ACCOUNT_KEY),
    eab_kid: null,
    ca_bundle: null,
    created_at: new Date(),
  });
  await admin.call('alertservice.create', { name: 'backup-hook', type: 'Webhook', attributes: { url: 'https://hooks.example.com/certmid', secret: WEBHOOK_SECRET }, level: 'WARNING' });
  await admin.call('mail.update', { fromemail: 'certmid@example.com', outgoingserver: 'smtp.example.com', port: 587, security: 'TLS', smtp: true, user: 'certmid', pass: SMTP_PASSWORD });
  await admin.call('user.create', { username: 'ops', full_name: 'Operations', password: OPS_PASSWORD, roles: ['CERTIFICATE_WRITE', 'API_KEY_READ'] });
  const key = await admin.call<{ key: string }>('api_key.create', { name: 'ops-key', username: 'ops' });
  return { server, opsApiKey: key.key };
}

const pick = (entry: Record<string, unknown>, keys: readonly string[]) => Object.fromEntries(keys.map((key) => [key, entry[key]]));
const CERTIFICATE_FIELDS = ['id', 'name', 'type', 'certificate', 'privatekey', 'CSR', 'fingerprint', 'revoked', 'chain_list'];

/** Everything the API shows of the restored data, without what depends on where the daemon listens. */
async function contents(client: CertmidClient): Promise<Record<string, unknown>> {
  const order = { order_by: ['id'] };
  const certificates = await client.call<Entry[]>('certificate.query', [], order);
  const authorities = await client.call<Entry[]>('certificateauthority.query', [], order);
  return {
    certificates: certificates.map((entry) => ({ ...pick(entry, CERTIFICATE_FIELDS), signedby: (entry.signedby as Entry | null)?.id ?? null })),
    authorities: authorities.map((entry) => ({ ...pick(entry, CERTIFICATE_FIELDS), signedby: (entry.signedby as Entry | null)?.id ?? null })),
    authenticators: await client.call('acme.dns.authenticator.query', [], order),
    users: (await client.call<Entry[]>('user.query', [], order)).map((entry) => pick(entry, ['id', 'username', 'full_name', 'roles', 'locked'])),
    apiKeys: (await client.call<Entry[]>('api_key.query', [], order)).map((entry) => pick(entry, ['id', 'name', 'username', 'revoked', 'expires_at'])),
    registrations: (await client.call<Entry[]>('acme.registration.query', [], order)).map((entry) => pick(entry, ['id', 'uri', 'directory', 'status'])),
    deployTargets: (await client.call<Entry[]>('certificate.deploy_target.query', [], order)).map((entry) => pick(entry, ['id', 'name', 'certificate', 'kind', 'attributes', 'enabled'])),
  };
}

async function publicKeyOfCertificate(pem: string): Promise<string> {
  return (await opensslOk(['x509', '-noout', '-pubkey'], pem)).stdout;
}

/** openssl's word that every private key shown matches its certificate (and the CSR its key). */
async function expectKeysMatch(client: CertmidClient): Promise<number> {
  let checked = 0;
  for (const namespace of ['certificate', 'certificateauthority']) {
    for (const entry of await client.call<Entry[]>(`${namespace}.query`)) {
      if (!entry.privatekey) continue;
      const fromKey = (await opensslOk(['pkey', '-pubout'], entry.privatekey)).stdout;
      const fromCertificate = entry.certificate ? await publicKeyOfCertificate(entry.certificate) : (await opensslOk(['req', '-noout', '-pubkey'], entry.CSR as string)).stdout;
      expect(fromKey, `${namespace} ${entry.name}`).toBe(fromCertificate);
      checked++;
    }
  }
  return checked;
}

/** The source's data is all there on `target`, and its credentials and keys work. */
async function expectRestored(source: Source, target: TestServer, expected: Record<string, unknown>): Promise<void> {
  const admin = await login(target, source.server.admin.username, source.server.admin.password);
  expect(await contents(admin)).toEqual(expected);
  // Leaf, imported, CSR, two CAs and the default certificate.
  expect(await expectKeysMatch(admin)).toBe(6);
  const ops = await login(target, 'ops', OPS_PASSWORD);
  expect(await ops.call('certificate.query', [['name', '=', 'backup-leaf']], { count: true })).toBe(1);
  const byKey = await CertmidClient.connect(target.url, { WebSocket });
  clients.push(byKey);
  await byKey.loginWithApiKey(source.opsApiKey);
  expect((await byKey.call<{ pw_name: string }>('auth.me')).pw_name).toBe('ops');
  const [registration] = await target.daemon.app.db.getRepository(AcmeRegistrationEntity).find();
  expect(target.daemon.app.secrets.decrypt(registration!.account_key)).toBe(ACCOUNT_KEY);
  for (const row of await target.daemon.app.db.getRepository(DeployTargetEntity).find()) {
    expect(JSON.parse(target.daemon.app.secrets.decrypt(row.attributes))).toMatchObject({ pkcs12_password: DEPLOY_SECRET });
  }
  // Where the target is reached stays its own, not the source's.
  expect(await target.daemon.app.db.getRepository(SettingEntity).findOneBy({ key: 'public_url' })).toEqual({ key: 'public_url', value: target.daemon.app.publicUrl });
  expect(target.daemon.app.publicUrl).not.toBe(source.server.daemon.app.publicUrl);
  // New rows do not collide with restored ids (PostgreSQL's sequences moved past them).
  const user = await admin.call<{ id: number }>('user.create', { username: 'after-restore', password: OPS_PASSWORD });
  expect(user.id).toBeGreaterThan(Math.max(...(expected.users as Array<{ id: number }>).map((u) => u.id)));
  const root = await createRootCa(admin, 'after-restore-root', { key_type: 'EC', ec_curve: 'SECP256R1' });
  expect(root.id).toBeGreaterThan(Math.max(...(expected.authorities as Array<{ id: number }>).map((ca) => ca.id)));
}

/** The gzip'd JSON of a plain backup, to read or alter it. */
const readDocument = (file: Buffer) => JSON.parse(zlib.gunzipSync(file).toString('utf8')) as BackupDocument;
const writeDocument = (document: unknown) => zlib.gzipSync(Buffer.from(JSON.stringify(document)));

describe.each(await databaseBackends())('backup and restore on %s', (_name, open, available) => {
  let source: Source;
  let expected: Record<string, unknown>;
  const sharedKey = masterKey();

  beforeAll(async () => {
    if (!available) return;
    source = await populate(await start(open, { MASTER_KEY: sharedKey }));
    expected = await contents(await adminOf(source.server));
  });

  it.skipIf(!available)('restores everything onto a fresh data dir with another master key, from an encrypted backup holding the key', async () => {
    const file = await saveBackup(await adminOf(source.server), source.server, { secretseed: true, passphrase: PASSPHRASE });
    expect(isEncrypted(file)).toBe(true);
    expect(file.includes(Buffer.from('backup-leaf'))).toBe(false);
    const target = await start(open);
    const admin = await adminOf(target);
    const closed = new Promise<string>((resolve) => admin.onClose((code, reason) => resolve(`${code} ${reason}`)));
    // The outcome reaches the caller before its session ends: the restored admin has another password.
    expect(await uploadBackup(admin, target, file, { passphrase: PASSPHRASE })).toBeNull();
    expect(await closed).toBe('1008 Session credentials were revoked: the password was changed');
    await expectRestored(source, target, expected);
    // Alert channels and the SMTP settings, their secrets re-sealed under the target's key.
    const restoredAdmin = await login(target, source.server.admin.username, source.server.admin.password);
    expect(await restoredAdmin.call('alertservice.query')).toEqual(await (await adminOf(source.server)).call('alertservice.query'));
    expect(await restoredAdmin.call('mail.config')).toMatchObject({ outgoingserver: 'smtp.example.com', security: 'TLS', user: 'certmid', pass: '********' });
    const [channel] = await target.daemon.app.db.getRepository(AlertServiceEntity).find();
    expect(JSON.parse(target.daemon.app.secrets.decrypt(channel!.attributes))).toEqual({ url: 'https://hooks.example.com/certmid', secret: WEBHOOK_SECRET });
    expect((await readMailSettings(target.daemon.app)).pass).toBe(SMTP_PASSWORD);
  });

  it.skipIf(!available)('restores a backup without the master key onto a daemon given the same MASTER_KEY', async () => {
    const file = await saveBackup(await adminOf(source.server), source.server, { secretseed: false });
    const document = readDocument(file);
    expect(document.master_key).toBeUndefined();
    expect(Object.keys(document.tables).sort()).toEqual(['acme_dns_authenticator', 'acme_registration', 'alert_service', 'api_key', 'certificate', 'certificate_authority', 'certificate_version', 'deploy_target', 'group', 'group_membership', 'mail_config', 'privilege', 'setting', 'user']);
    const target = await start(open, { MASTER_KEY: sharedKey });
    expect(await uploadBackup(await adminOf(target), target, file)).toBeNull();
    await expectRestored(source, target, expected);
  });

  it.skipIf(!available)('rolls a daemon back to its own backup in place: later changes undone, open sessions kept, subscribers told', async () => {
    const target = await start(open, { MASTER_KEY: sharedKey });
    const admin = await adminOf(target);
    const root = await createRootCa(admin, 'kept-root', { key_type: 'EC', ec_curve: 'SECP256R1' });
    const file = await saveBackup(admin, target, { secretseed: false });
    const later = await createRootCa(admin, 'later-root', { key_type: 'EC', ec_curve: 'SECP256R1' });
    await admin.call('certificateauthority.delete', root.id);
    const events: Array<[string, number]> = [];
    await admin.subscribe('certificateauthority.query', (event) => events.push([event.msg, Number(event.id)]));
    expect(await uploadBackup(admin, target, file)).toBeNull();
    await expect.poll(() => events.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    expect(events).toEqual(expect.arrayContaining([['removed', later.id], ['changed', root.id]]));
    // The same account, the same password hash: the session rests on what it did before, and stays.
    expect((await admin.call<Entry[]>('certificateauthority.query', [], { order_by: ['id'] })).map((ca) => ca.name)).toEqual(['kept-root']);
    expect(await admin.call('core.ping')).toBe('pong');
    expect(admin.isOpen).toBe(true);
  });

  it.skipIf(!available)('restores the signed counts with the rows: the backup\'s, not those of the changes made since', async () => {
    const target = await start(open, { MASTER_KEY: sharedKey });
    const admin = await adminOf(target);
    const EC = { key_type: 'EC', ec_curve: 'SECP256R1' };
    const root = await createRootCa(admin, 'counted-root', EC);
    const kept = await createInternalCertificate(admin, 'counted-kept', root.id, EC);
    const dropped = await createInternalCertificate(admin, 'counted-dropped', root.id, EC);
    const file = await saveBackup(admin, target, { secretseed: false });
    await admin.callJob('certificate.delete', [dropped.id]);
    for (const name of ['counted-later-1', 'counted-later-2', 'counted-later-3']) await createInternalCertificate(admin, name, root.id, EC);
    // Read now, so that the daemon holds the count of 4 it must drop at the restore.
    expect((await admin.call<Entry>('certificateauthority.get_instance', root.id)).signed_certificates).toBe(4);
    const rootChanged = new Promise<void>((resolve) => {
      void admin.subscribe('certificateauthority.query', (event) => {
        if (event.id === root.id) resolve();
      });
    });
    expect(await uploadBackup(admin, target, file)).toBeNull();
    await rootChanged;
    expect((await admin.call<Entry>('certificateauthority.get_instance', root.id)).signed_certificates).toBe(2);
    expect(((await admin.call<Entry>('certificate.get_instance', kept.id)).signedby as Entry).signed_certificates).toBe(2);
    const { db } = target.daemon.app;
    expect(await keptCounts(db)).toEqual(await countedRows(db));
  });

  it.skipIf(!available)('brings a backup from an older schema up to date with the migrations', async () => {
    const target = await start(open, { MASTER_KEY: sharedKey });
    const document = readDocument(await saveBackup(await adminOf(source.server), source.server, { secretseed: false }));
    // Before AcmeRegistrationCaBundle, a registration's CA bundle was the setting acme_ca_bundle:<id>.
    const olderMigrations = document.migrations.slice(0, document.migrations.indexOf('AcmeRegistrationCaBundle1764300000000'));
    expect(olderMigrations.length).toBeGreaterThan(0);
    const registrations = document.tables.acme_registration!;
    const bundleAt = registrations.columns.indexOf('ca_bundle');
    const idAt = registrations.columns.indexOf('id');
    // Nor had it what later migrations add: deploy targets, alert channels, the SMTP settings, certificates' auto_renew and the certificate_version table.
    const { deploy_target: _targets, certificate_version: _versions, alert_service: _channels, mail_config: _mail, group: _groups, group_membership: _members, privilege: _privileges, ...olderTables } = document.tables;
    // Nor had users the fields groups brought.
    const users = document.tables.user!;
    const userColumns = ['id', 'username', 'full_name', 'password_hash', 'roles', 'locked', 'created_at'];
    const keptUserColumns = users.columns.map((column, i) => [column, i] as const).filter(([column]) => userColumns.includes(column));
    const certificates = document.tables.certificate!;
    const autoRenewAt = certificates.columns.indexOf('auto_renew');
    const older = {
      ...document,
      migrations: olderMigrations,
      tables: {
        ...olderTables,
        certificate: { columns: certificates.columns.filter((_, i) => i !== autoRenewAt), rows: certificates.rows.map((row) => row.filter((_, i) => i !== autoRenewAt)) },
        user: { columns: keptUserColumns.map(([column]) => column), rows: users.rows.map((row) => keptUserColumns.map(([, i]) => row[i])) },
        acme_registration: { columns: registrations.columns.filter((_, i) => i !== bundleAt), rows: registrations.rows.map((row) => row.filter((_, i) => i !== bundleAt)) },
        setting: { ...document.tables.setting!, rows: [...document.tables.setting!.rows, [`acme_ca_bundle:${registrations.rows[0]![idAt]}`, 'BUNDLE PEM']] },
      },
    };
    expect(await uploadBackup(await adminOf(target), target, writeDocument(older))).toBeNull();
    const [registration] = await target.daemon.app.db.getRepository(AcmeRegistrationEntity).find();
    expect(registration!.ca_bundle).toBe('BUNDLE PEM');
    expect(target.daemon.app.secrets.decrypt(registration!.account_key)).toBe(ACCOUNT_KEY);
    await expectRestored(source, target, { ...expected, deployTargets: [] });
  });

  describe('refused backups leave the daemon as it was', () => {
    let target: TestServer;
    let admin: CertmidClient;
    let before: Record<string, unknown>;
    let plain: Buffer;
    let encrypted: Buffer;

    beforeAll(async () => {
      if (!available) return;
      const sourceAdmin = await adminOf(source.server);
      plain = await saveBackup(sourceAdmin, source.server, { secretseed: false });
      encrypted = await saveBackup(sourceAdmin, source.server, { secretseed: true, passphrase: PASSPHRASE });
      target = await start(open);
      admin = await adminOf(target);
      await createRootCa(admin, 'target-own-root', { key_type: 'EC', ec_curve: 'SECP256R1' });
      await admin.call('user.create', { username: 'target-own-user', password: OPS_PASSWORD });
      before = await contents(admin);
    });

    const refusal = (file: Buffer, options: Record<string, unknown> = {}) => validationErrorsOf(uploadBackup(admin, target, file, options));

    it.skipIf(!available)('a wrong passphrase', async () => {
      expect(await refusal(encrypted, { passphrase: 'not the passphrase' })).toEqual([['options.passphrase', 'Wrong passphrase, or the backup was altered', 22]]);
      expect(await refusal(encrypted)).toEqual([['options.passphrase', 'The backup is encrypted: its passphrase is required', 22]]);
      expect(await contents(admin)).toEqual(before);
    });

    it.skipIf(!available)('a corrupted backup', async () => {
      const flipped = Buffer.from(encrypted);
      flipped[flipped.length - 40]! ^= 0x01;
      expect(await refusal(flipped, { passphrase: PASSPHRASE })).toEqual([['options.passphrase', 'Wrong passphrase, or the backup was altered', 22]]);
      const cut = plain.subarray(0, plain.length - 20);
      expect(await refusal(cut)).toEqual([['file', expect.stringMatching(/^The backup is damaged: /), 22]]);
      expect(await refusal(Buffer.from('certificate,key\n1,2\n'))).toEqual([['file', 'Not a certmid backup', 22]]);
      const document = readDocument(plain);
      document.tables.certificate!.rows[0]![document.tables.certificate!.columns.indexOf('signedby_id')] = 9999;
      expect(await refusal(writeDocument({ ...document, master_key: sharedKey }))).toEqual([
        ['file', expect.stringMatching(/^The backup is damaged: its certificate rows do not fit their table: .*FOREIGN KEY/), 22],
      ]);
      expect(await contents(admin)).toEqual(before);
    });

    it.skipIf(!available)('a backup from a newer schema', async () => {
      const document = readDocument(plain);
      document.migrations.push('FromTheFuture1999999999999');
      expect(await refusal(writeDocument(document))).toEqual([
        ['file', 'The backup comes from a newer schema (its migration FromTheFuture1999999999999 is unknown to this version of certmid): upgrade certmid first', 22],
      ]);
      expect(await refusal(writeDocument({ ...document, version: 2 }))).toEqual([
        ['file', 'The backup was made by a newer certmid (backup format 2; this version reads 1): upgrade certmid first', 22],
      ]);
      expect(await contents(admin)).toEqual(before);
    });

    it.skipIf(!available)('a backup without the master key, on a daemon with another key', async () => {
      expect(await refusal(plain)).toEqual([['file', expect.stringMatching(/^The backup does not hold the master key its private keys are sealed with/), 22]]);
      expect(await contents(admin)).toEqual(before);
    });

    // SQLite does not enforce varchar lengths; PostgreSQL refuses such a row in the middle of the restore.
    it.skipIf(!available || _name !== 'PostgreSQL')('rows the database refuses midway roll the whole restore back', async () => {
      const document = readDocument(plain);
      const table = document.tables.certificate!;
      table.rows[table.rows.length - 1]![table.columns.indexOf('name')] = 'n'.repeat(500);
      const errors = await refusal(writeDocument({ ...document, master_key: sharedKey }));
      expect(errors).toEqual([['file', expect.stringMatching(/^The backup is damaged: its certificate rows do not fit this database: value too long/), 22]]);
      expect(await contents(admin)).toEqual(before);
    });
  });
});

describe.skipIf(!(await postgresAvailable()))('across databases', () => {
  it('moves everything from SQLite to PostgreSQL and back', async () => {
    const sqlite = async (): Promise<TestDatabase> => ({ env: {}, drop: async () => undefined });
    const postgres = async (): Promise<TestDatabase> => {
      const database = await createTestDatabase();
      return { env: { DATABASE_URL: database.url }, drop: () => database.drop() };
    };
    const source = await populate(await start(sqlite));
    const expected = await contents(await adminOf(source.server));
    const onPostgres = await start(postgres);
    const options = { secretseed: true, passphrase: PASSPHRASE };
    expect(await uploadBackup(await adminOf(onPostgres), onPostgres, await saveBackup(await adminOf(source.server), source.server, options), { passphrase: PASSPHRASE })).toBeNull();
    const onPostgresAdmin = await login(onPostgres, source.server.admin.username, source.server.admin.password);
    expect(await contents(onPostgresAdmin)).toEqual(expected);
    const fromPostgres = await saveBackup(onPostgresAdmin, onPostgres, options);
    const backOnSqlite = await start(sqlite);
    expect(await uploadBackup(await adminOf(backOnSqlite), backOnSqlite, fromPostgres, { passphrase: PASSPHRASE })).toBeNull();
    await expectRestored(source, backOnSqlite, expected);
  });
});

describe.runIf(await redisAvailable())('with jobs on BullMQ', () => {
  const prefix = uniquePrefix();
  afterAll(() => dropQueuePrefix(prefix));

  it('saves and restores in the daemon, which serves the files, with no worker running', async () => {
    const server = await start(async () => ({ env: {}, drop: async () => undefined }), { REDIS_URL, QUEUE_PREFIX: prefix });
    const admin = await adminOf(server);
    const kept = await createRootCa(admin, 'bullmq-kept', { key_type: 'EC', ec_curve: 'SECP256R1' });
    const file = await saveBackup(admin, server, { secretseed: true, passphrase: PASSPHRASE });
    await createRootCa(admin, 'bullmq-later', { key_type: 'EC', ec_curve: 'SECP256R1' });
    expect(await uploadBackup(admin, server, file, { passphrase: PASSPHRASE })).toBeNull();
    expect((await admin.call<Entry[]>('certificateauthority.query')).map((ca) => ca.id)).toEqual([kept.id]);
  });
});
