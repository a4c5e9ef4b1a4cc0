/**
 * system.general: the administrator chooses the daemon's own HTTPS certificate, port, redirect and
 * TLS versions through TrueNAS's API. openssl s_client is the judge of what HTTPS presents, before
 * and after each change, with no restart, while sessions opened before the change go on.
 */
import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, type ClientOptions } from 'ws';
import { CertmidClient, type CollectionUpdate } from '../../src/client/client.js';
import { issueCertificate } from '../../src/crypto/certificates.js';
import { defaultExtensions } from '../../src/crypto/extensions.js';
import { exportPrivateKeyPem } from '../../src/crypto/keys.js';
import { closedPort } from '../helpers/net.js';
import { openssl, opensslOk } from '../helpers/openssl.js';
import { adminClient, createInternalCertificate, createRootCa, rpcErrorOf, validationErrorsOf, type Entry } from '../helpers/pki-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createTestDatabase, dropQueuePrefix, postgresAvailable, REDIS_URL, redisAvailable, uniquePrefix } from '../helpers/services.js';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process.js';
import { CertificateEntity } from '../../src/certs/entities.js';

type Settings = Record<string, any>;
const EINVAL = 22;

/** A WebSocket that accepts any server certificate: these tests judge certificates with openssl. */
class AnyCertificateWebSocket extends WebSocket {
  constructor(url: string) {
    super(url, { rejectUnauthorized: false } as ClientOptions);
  }
}

/** What `openssl s_client` sees on a fresh connection to a port: the leaf's serial (upper-case hex) and the protocol. */
async function served(port: number, ...args: string[]): Promise<{ ok: boolean; serial: string | null; protocol: string | null }> {
  const run = await openssl(['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', ...args], '');
  const leaf = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(run.stdout)?.[0];
  const serial = leaf ? (await opensslOk(['x509', '-noout', '-serial'], leaf)).stdout.trim().replace(/^serial=/, '') : null;
  const protocol = /Protocol\s*:\s*(TLSv[\d.]+)/.exec(run.stdout)?.[1] ?? /New, (TLSv[\d.]+),/.exec(run.stdout)?.[1] ?? null;
  return { ok: run.code === 0 && leaf !== undefined, serial, protocol };
}

/** The serial of a stored certificate as openssl prints it. */
async function serialOf(pem: string): Promise<string> {
  return (await opensslOk(['x509', '-noout', '-serial'], pem)).stdout.trim().replace(/^serial=/, '');
}

/** A logged-in session over wss:// to a port. */
async function secureSession(server: TestServer, port: number): Promise<CertmidClient> {
  const client = await CertmidClient.connect(`wss://127.0.0.1:${port}/api/current`, { WebSocket: AnyCertificateWebSocket });
  await client.login(server.admin.username, server.admin.password);
  return client;
}

function plainGet(port: number, path = '/'): Promise<{ status: number; location: string | undefined }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, agent: false }, (response) => {
      response.resume();
      resolve({ status: response.statusCode!, location: response.headers.location });
    }).on('error', reject);
  });
}

/** Whether a TCP connection to the port is taken. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => (socket.destroy(), resolve(true)));
    socket.on('error', () => resolve(false));
  });
}

/** An imported self-signed certificate that TrueNAS's checks refuse thrice: RSA-1024, SHA-1, expired. */
async function weakExpiredImport(client: CertmidClient, name: string): Promise<Entry> {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const day = 86_400_000;
  const certificate = await issueCertificate({
    subject: { common: 'localhost' },
    san: [{ type: 'DNS', value: 'localhost' }],
    publicKey: privateKey,
    signer: { privateKey, certificatePem: null },
    serial: 4242n,
    notBefore: new Date(Date.now() - 30 * day),
    notAfter: new Date(Date.now() - day),
    digest: 'SHA1',
    extensions: defaultExtensions(),
  });
  return client.callJob<Entry>('certificate.create', [{ name, create_type: 'CERTIFICATE_CREATE_IMPORTED', certificate, privatekey: exportPrivateKeyPem(privateKey) }]);
}

describe('system.general with HTTPS managed through the API', () => {
  let server: TestServer;
  let admin: CertmidClient;
  let defaultCertificate: Entry;
  let ca: Entry;
  let nas: Entry;
  const events: CollectionUpdate[] = [];

  const config = () => admin.call<Settings>('system.general.config');
  const update = (settings: Settings) => admin.call<Settings>('system.general.update', settings);
  const errorsOf = (settings: Settings) => validationErrorsOf(update(settings));

  beforeAll(async () => {
    server = await startTestServer();
    admin = await adminClient(server);
    defaultCertificate = (await admin.call<Entry[]>('certificate.query', [['name', '=', 'truenas_default']]))[0]!;
    ca = await createRootCa(admin, 'ui-root');
    nas = await createInternalCertificate(admin, 'nas', ca.id, { common: 'localhost', san: ['localhost'] });
    await admin.subscribe('certificate.query', (event) => events.push(event));
  });
  afterAll(async () => {
    await admin?.close();
    await server?.close();
  });

  it('reports the default certificate as its entry, no HTTPS yet, and the fields the environment sets', async () => {
    const settings = await config();
    expect(settings).toMatchObject({
      id: 1,
      ui_certificate: { id: defaultCertificate.id, name: 'truenas_default', common: 'localhost' },
      ui_httpsport: null,
      ui_httpsredirect: false,
      ui_httpsprotocols: ['TLSv1.2', 'TLSv1.3'],
      ui_port: server.port,
      ui_address: ['0.0.0.0'],
      ui_v6address: ['::'],
      ui_allowlist: [],
      usage_collection: true,
      usage_collection_is_set: false,
      wizardshown: false,
      ds_auth: false,
      timezone: Intl.DateTimeFormat().resolvedOptions().timeZone,
      set_by_environment: { ui_port: 'PORT', timezone: 'TZ' },
    });
    expect(server.daemon.httpsPort).toBeNull();
  });

  it('offers every certificate that is not a CSR, and the TLS versions it serves', async () => {
    const csr = await admin.callJob<Entry>('certificate.create', [
      { name: 'a-csr', create_type: 'CERTIFICATE_CREATE_CSR', key_type: 'EC', ec_curve: 'SECP256R1', country: 'US', state: 'TN', city: 'K', organization: 'O', email: 'a@b.example', san: ['csr.example'] },
    ]);
    const choices = await admin.call<Record<string, string>>('system.general.ui_certificate_choices');
    expect(choices).toMatchObject({ [String(defaultCertificate.id)]: 'truenas_default', [String(nas.id)]: 'nas' });
    expect(choices).not.toHaveProperty(String(csr.id));
    expect(await admin.call('system.general.ui_httpsprotocols_choices')).toEqual({ 'TLSv1.2': 'TLSv1.2', 'TLSv1.3': 'TLSv1.3' });
  });

  it('opens HTTPS on the port set, presenting the UI certificate, without a restart', async () => {
    const port = await closedPort();
    const settings = await update({ ui_httpsport: port });
    expect(settings).toMatchObject({ ui_httpsport: port, ui_certificate: { id: defaultCertificate.id } });
    expect(server.daemon.httpsPort).toBe(port);
    expect(await served(port)).toMatchObject({ ok: true, serial: await serialOf(defaultCertificate.certificate!) });
  });

  it('switches the certificate for new connections at once; a wss:// session opened before goes on', async () => {
    const port = server.daemon.httpsPort!;
    const before = await secureSession(server, port);
    events.length = 0;
    const settings = await update({ ui_certificate: nas.id });
    expect(settings.ui_certificate).toMatchObject({ id: nas.id, name: 'nas' });
    expect(await served(port)).toMatchObject({ ok: true, serial: await serialOf(nas.certificate!) });
    expect(await before.call('core.ping')).toBe('pong');
    await before.close();
    // Both certificates' users changed: the page hears of it.
    expect(events).toEqual(expect.arrayContaining([
      expect.objectContaining({ msg: 'changed', id: defaultCertificate.id }),
      expect.objectContaining({ msg: 'changed', id: nas.id }),
    ]));
  });

  it('lists the UI as the user of the certificate in use, and only of it', async () => {
    expect(await admin.call<Entry>('certificate.get_instance', nas.id)).toMatchObject({ used_by: [{ type: 'UI', name: 'UI Service' }] });
    expect(await admin.call<Entry>('certificate.get_instance', defaultCertificate.id)).toMatchObject({ used_by: [] });
    expect(await admin.call('certificate.query', [['used_by.0.type', '=', 'UI']], { select: ['name'] })).toEqual([{ name: 'nas' }]);
  });

  it('refuses to delete or revoke the certificate in use, or the CA it is signed by, the way TrueNAS refuses', async () => {
    await expect(admin.callJob('certificate.delete', [nas.id, true])).rejects.toMatchObject({
      job: { state: 'FAILED', error: '[EFAULT] Certificate is being used by following service(s):\n1) UI Service\n' },
    });
    expect(await validationErrorsOf(admin.callJob('certificate.update', [nas.id, { revoked: true }]))).toEqual([
      ['certificate_update.revoked', 'This certificate is being used by UI Service and cannot be revoked', EINVAL],
    ]);
    expect(await validationErrorsOf(admin.call('certificateauthority.update', ca.id, { revoked: true }))).toEqual([
      ['certificate_authority_update.revoked', "Certificate 'nas' below this certificate authority is being used by UI Service and cannot be revoked", EINVAL],
    ]);
    const after = await admin.call<Entry>('certificate.get_instance', nas.id);
    expect(after).toMatchObject({ revoked: false });
    expect(await served(server.daemon.httpsPort!)).toMatchObject({ serial: await serialOf(nas.certificate!) });
  });

  it('presents a renewed UI certificate to new connections at once', async () => {
    // The default certificate, renewed in place while in use (TrueNAS renews it 5 days before expiry).
    await update({ ui_certificate: defaultCertificate.id });
    const { renewDefaultCertificate } = await import('../../src/certs/default-certificate.js');
    expect(await renewDefaultCertificate(server.daemon.app, new Date(Date.now() + 396 * 86_400_000))).toBe(defaultCertificate.id);
    const renewed = await admin.call<Entry>('certificate.get_instance', defaultCertificate.id);
    expect(await serialOf(renewed.certificate!)).not.toBe(await serialOf(defaultCertificate.certificate!));
    await expect.poll(async () => (await served(server.daemon.httpsPort!)).serial, { timeout: 10_000 }).toBe(await serialOf(renewed.certificate!));
    defaultCertificate = renewed;
  });

  it('offers only the TLS versions chosen', async () => {
    const port = server.daemon.httpsPort!;
    await update({ ui_httpsprotocols: ['TLSv1.3'] });
    expect(await served(port, '-tls1_2')).toMatchObject({ ok: false });
    expect(await served(port, '-tls1_3')).toMatchObject({ ok: true, protocol: 'TLSv1.3' });
    await update({ ui_httpsprotocols: ['TLSv1.2'] });
    expect(await served(port, '-tls1_3')).toMatchObject({ ok: false });
    expect(await served(port, '-tls1_2')).toMatchObject({ ok: true, protocol: 'TLSv1.2' });
    await update({ ui_httpsprotocols: ['TLSv1.2', 'TLSv1.3'] });
    expect(await served(port)).toMatchObject({ ok: true, protocol: 'TLSv1.3' });
  });

  it('redirects plain HTTP to HTTPS while ui_httpsredirect is set', async () => {
    const port = server.daemon.httpsPort!;
    await update({ ui_httpsredirect: true });
    expect(await plainGet(server.port, '/?q=1')).toEqual({ status: 301, location: `https://127.0.0.1:${port}/?q=1` });
    await update({ ui_httpsredirect: false });
    expect((await plainGet(server.port)).status).toBe(200);
  });

  it('moves HTTPS to another port and turns it off, leaving open sessions alone', async () => {
    const oldPort = server.daemon.httpsPort!;
    const session = await secureSession(server, oldPort);
    const newPort = await closedPort();
    await update({ ui_httpsport: newPort });
    expect(server.daemon.httpsPort).toBe(newPort);
    expect(await served(newPort)).toMatchObject({ ok: true });
    expect(await accepts(oldPort)).toBe(false);
    expect(await session.call('core.ping')).toBe('pong');

    await update({ ui_httpsport: null });
    expect(server.daemon.httpsPort).toBeNull();
    expect(await accepts(newPort)).toBe(false);
    expect(await session.call('core.ping')).toBe('pong');
    await session.close();
    await update({ ui_httpsport: newPort });
  });

  it("refuses a certificate TrueNAS's checks refuse, with its words", async () => {
    expect(await errorsOf({ ui_certificate: 999_999 })).toEqual([['general_settings.ui_certificate', 'Please specify a valid certificate which exists in the system', EINVAL]]);
    expect(await errorsOf({ ui_certificate: null })).toEqual([['general_settings.ui_certificate', 'Please specify a valid certificate which exists in the system', EINVAL]]);
    const [csr] = await admin.call<Entry[]>('certificate.query', [['name', '=', 'a-csr']]);
    expect(await errorsOf({ ui_certificate: csr!.id })).toEqual([['general_settings.ui_certificate', 'Selected certificate id is not a valid certificate', EINVAL]]);
    const weak = await weakExpiredImport(admin, 'weak');
    expect(await errorsOf({ ui_certificate: weak.id })).toEqual([
      ['general_settings.ui_certificate', "weak's private key size is less then 2048 bits", EINVAL],
      ['general_settings.ui_certificate', `'weak' has expired (it was valid until '${weak.until}')`, EINVAL],
      ['general_settings.ui_certificate', 'Please use a certificate whose digest algorithm has at least 112 security bits', EINVAL],
    ]);
    const revoked = await createInternalCertificate(admin, 'revoked-one', ca.id, { common: 'localhost', san: ['localhost'] });
    await admin.callJob('certificate.update', [revoked.id, { revoked: true }]);
    expect(await errorsOf({ ui_certificate: revoked.id })).toEqual([['general_settings.ui_certificate', 'This certificate is revoked', EINVAL]]);
    expect((await config()).ui_certificate.id).toBe(defaultCertificate.id);
  });

  it('refuses other bad settings at the field, changing nothing', async () => {
    const before = await config();
    const busy = net.createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const busyPort = (busy.address() as net.AddressInfo).port;
    try {
      expect(await errorsOf({ ui_httpsport: busyPort })).toEqual([['general_settings.ui_httpsport', `Port ${busyPort} cannot be used on 127.0.0.1: it is in use`, EINVAL]]);
    } finally {
      busy.close();
    }
    expect(await errorsOf({ ui_httpsport: server.port })).toEqual([['general_settings.ui_port', 'Must be different from "ui_httpsport"', EINVAL]]);
    expect(await errorsOf({ ui_port: server.port + 1 })).toEqual([['general_settings.ui_port', `Set by the PORT environment variable (${server.port}); change it there`, EINVAL]]);
    expect(await errorsOf({ ui_httpsport: null, ui_httpsredirect: true })).toEqual([['general_settings.ui_httpsredirect', 'Redirecting to HTTPS needs an HTTPS port: set ui_httpsport too', EINVAL]]);
    expect(await errorsOf({ ui_httpsprotocols: ['TLSv1', 'TLSv1.2'] })).toEqual([['general_settings.ui_httpsprotocols', 'TLSv1 is not offered: the daemon serves TLSv1.2 and TLSv1.3 only', EINVAL]]);
    expect(await errorsOf({ ui_httpsprotocols: ['TLSv1.2', 'TLSv1.2'] })).toEqual([['general_settings.ui_httpsprotocols', 'List must be unique', EINVAL]]);
    expect(await errorsOf({ ui_httpsprotocols: [] })).toEqual([['general_settings.ui_httpsprotocols', 'List should have at least 1 item after validation, not 0', EINVAL]]);
    expect(await errorsOf({ ui_httpsport: 70_000 })).toEqual([['general_settings.ui_httpsport', 'Input should be less than or equal to 65535', EINVAL]]);
    expect(await errorsOf({ ds_auth: true })).toEqual([
      ['general_settings.ds_auth', 'Directory services authentication for UI and API access is not available: certmid has no directory services', EINVAL],
    ]);
    expect(await errorsOf({ ui_address: ['0.0.0.0', '10.0.0.1'] })).toEqual([
      ['general_settings.ui_address', 'When "0.0.0.0" has been selected, selection of other addresses is not allowed', EINVAL],
    ]);
    expect(await errorsOf({ colour: 'red' })).toEqual([['general_settings.colour', 'Extra inputs are not permitted', EINVAL]]);
    expect(await config()).toEqual(before);
  });

  it("takes what TrueNAS's web UI sends, keeps TrueNAS's other fields, and answers ui_restart", async () => {
    const current = await config();
    const settings = await update({
      ui_certificate: current.ui_certificate.id,
      ui_address: current.ui_address,
      ui_v6address: current.ui_v6address,
      ui_port: current.ui_port,
      ui_httpsport: current.ui_httpsport,
      ui_httpsprotocols: current.ui_httpsprotocols,
      ui_httpsredirect: current.ui_httpsredirect,
      usage_collection: false,
      ui_consolemsg: false,
      kbdmap: 'de',
      ui_allowlist: ['10.0.0.0/8', '2001:db8::/32'],
      ui_x_frame_options: 'DENY',
      timezone: current.timezone,
      ui_restart_delay: 3,
      rollback_timeout: 30,
    });
    expect(settings).toEqual({ ...current, usage_collection: false, usage_collection_is_set: true, ui_consolemsg: false, kbdmap: 'de', ui_allowlist: ['10.0.0.0/8', '2001:db8::/32'], ui_x_frame_options: 'DENY' });
    expect(await admin.call('system.general.ui_restart')).toBeNull();
    expect(await admin.call('system.general.checkin_waiting')).toBeNull();
    expect(await served(current.ui_httpsport)).toMatchObject({ ok: true });
  });

  it('shows keys as the caller may read them, and lets only SYSTEM_GENERAL_WRITE change anything', async () => {
    await admin.call('user.create', { username: 'ui-reader', password: 'a-long-password', roles: ['READONLY_ADMIN'] });
    const reader = await CertmidClient.connect(server.url, { WebSocket });
    await reader.login('ui-reader', 'a-long-password');
    try {
      expect((await reader.call<Settings>('system.general.config')).ui_certificate.privatekey).toBe('********');
      expect((await config()).ui_certificate.privatekey).toMatch(/BEGIN PRIVATE KEY/);
      expect((await rpcErrorOf(reader.call('system.general.update', { kbdmap: 'fr' }))).errname).toBe('EACCES');
    } finally {
      await reader.close();
    }
  });

  it('opens HTTPS on the stored port at start, with the stored certificate', async () => {
    const port = (await config()).ui_httpsport as number;
    await update({ ui_certificate: nas.id });
    await admin.close();
    await server.daemon.stop(1000);
    const again = await startTestServer({ dataDir: server.dataDir, env: { ADMIN_PASSWORD: server.admin.password } });
    try {
      expect(again.daemon.httpsPort).toBe(port);
      expect(await served(port)).toMatchObject({ ok: true, serial: await serialOf(nas.certificate!) });
    } finally {
      await again.daemon.stop(1000);
    }
  });

  it('starts on plain HTTP when the stored HTTPS port is taken, so the setting can be fixed', async () => {
    const port = await closedPort();
    const first = await startTestServer({ dataDir: server.dataDir, env: { ADMIN_PASSWORD: server.admin.password } });
    const client = await adminClient(first);
    await client.call('system.general.update', { ui_httpsport: port, ui_httpsredirect: true });
    await client.close();
    await first.daemon.stop(1000);
    const squatter = net.createServer();
    await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve));
    const again = await startTestServer({ dataDir: server.dataDir, env: { ADMIN_PASSWORD: server.admin.password } });
    try {
      expect(again.daemon.httpsPort).toBeNull();
      // No redirect to a port that does not serve: the API stays reachable over plain HTTP.
      expect((await plainGet(again.port)).status).toBe(200);
      const fixer = await adminClient(again);
      expect(await fixer.call<Settings>('system.general.config')).toMatchObject({ ui_httpsport: port, ui_httpsredirect: true });
      const free = await closedPort();
      await fixer.call('system.general.update', { ui_httpsport: free });
      expect(again.daemon.httpsPort).toBe(free);
      await fixer.close();
    } finally {
      squatter.close();
      await again.daemon.stop(1000);
    }
  });
});

describe('system.general with HTTPS_PORT in the environment', () => {
  let server: TestServer;
  let admin: CertmidClient;

  beforeAll(async () => {
    server = await startTestServer({ env: { HTTPS_PORT: '0', HTTPS_ONLY: 'true' } });
    // HTTPS_ONLY: the API is served over HTTPS alone.
    admin = await secureSession(server, server.daemon.httpsPort!);
  });
  afterAll(async () => {
    await admin?.close();
    await server?.close();
  });

  it('reports the port and redirect the environment sets, and refuses to change them', async () => {
    const port = server.daemon.httpsPort!;
    const settings = await admin.call<Settings>('system.general.config');
    expect(settings).toMatchObject({ ui_httpsport: port, ui_httpsredirect: true, set_by_environment: { ui_port: 'PORT', timezone: 'TZ', ui_httpsport: 'HTTPS_PORT', ui_httpsredirect: 'HTTPS_ONLY' } });
    expect(await validationErrorsOf(admin.call('system.general.update', { ui_httpsport: port + 1, ui_httpsredirect: false }))).toEqual([
      ['general_settings.ui_httpsport', `Set by the HTTPS_PORT environment variable (${port}); change it there`, EINVAL],
      ['general_settings.ui_httpsredirect', 'Set by the HTTPS_ONLY environment variable (true); change it there', EINVAL],
    ]);
    expect(await admin.call<Settings>('system.general.update', { ui_httpsport: port, ui_httpsredirect: true, kbdmap: 'fr' })).toMatchObject({ ui_httpsport: port, kbdmap: 'fr' });
  });

  it('still takes the certificate and TLS versions from the API', async () => {
    const ca = await createRootCa(admin, 'env-root');
    const leaf = await createInternalCertificate(admin, 'env-leaf', ca.id, { common: 'localhost', san: ['localhost'] });
    const session = await secureSession(server, server.daemon.httpsPort!);
    await admin.call('system.general.update', { ui_certificate: leaf.id, ui_httpsprotocols: ['TLSv1.3'] });
    expect(await served(server.daemon.httpsPort!)).toMatchObject({ ok: true, serial: await serialOf(leaf.certificate!), protocol: 'TLSv1.3' });
    expect(await served(server.daemon.httpsPort!, '-tls1_2')).toMatchObject({ ok: false });
    expect(await session.call('core.ping')).toBe('pong');
    await session.close();
  });
});

describe.runIf((await postgresAvailable()) && (await redisAvailable()))('system.general on two daemons and a worker sharing PostgreSQL and Redis', () => {
  const prefix = uniquePrefix();
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let one: TestServer;
  let two: TestServer;
  let worker: WorkerProcess;
  let admin: CertmidClient;

  beforeAll(async () => {
    database = await createTestDatabase();
    const shared = { DATABASE_URL: database.url, REDIS_URL, QUEUE_PREFIX: prefix, MASTER_KEY: Buffer.alloc(32, 9).toString('base64') };
    // Each daemon's own HTTPS port from its environment: on one host they could not share one.
    const env = { ...shared, ADMIN_PASSWORD: 'shared-admin-password', HTTPS_PORT: '0' };
    one = await startTestServer({ env });
    two = await startTestServer({ env });
    worker = await spawnWorker({ ...shared, DATA_DIR: one.dataDir });
    admin = await adminClient(one);
  }, 60_000);
  afterAll(async () => {
    await admin?.close();
    await worker?.stop();
    await one?.close();
    await two?.close();
    await database?.drop();
    await dropQueuePrefix(prefix);
  });

  it('a certificate chosen through one daemon is presented by the other too', async () => {
    const ca = await createRootCa(admin, 'shared-root');
    const leaf = await createInternalCertificate(admin, 'shared-leaf', ca.id, { common: 'localhost', san: ['localhost'] });
    const session = await secureSession(two, two.daemon.httpsPort!);
    await admin.call('system.general.update', { ui_certificate: leaf.id });
    const serial = await serialOf(leaf.certificate!);
    expect((await served(one.daemon.httpsPort!)).serial).toBe(serial);
    // The other daemon hears of it over Redis.
    await expect.poll(async () => (await served(two.daemon.httpsPort!)).serial, { timeout: 10_000 }).toBe(serial);
    expect(await session.call('core.ping')).toBe('pong');
    await session.close();
  });

  it('a renewal a worker makes is presented by both daemons', async () => {
    const defaultCertificate = (await admin.call<Entry[]>('certificate.query', [['name', '=', 'truenas_default']]))[0]!;
    await admin.call('system.general.update', { ui_certificate: defaultCertificate.id });
    // Ages the stored record only: the renewal decision reads it, as after 393 days of service.
    const rows = one.daemon.app.db.getRepository(CertificateEntity);
    const row = await rows.findOneByOrFail({ id: defaultCertificate.id });
    const soon = new Date(Date.now() + 2 * 86_400_000);
    await rows.update({ id: row.id }, { details: { ...row.details, not_after: soon.getTime() }, not_after: soon } as never);
    expect(await admin.callJob('certificate.renew_certs', [])).toEqual({ renewed: [defaultCertificate.id], failed: [] });
    const renewed = await serialOf((await admin.call<Entry>('certificate.get_instance', defaultCertificate.id)).certificate!);
    expect(renewed).not.toBe(await serialOf(defaultCertificate.certificate!));
    for (const server of [one, two]) await expect.poll(async () => (await served(server.daemon.httpsPort!)).serial, { timeout: 10_000 }).toBe(renewed);
  });
});
