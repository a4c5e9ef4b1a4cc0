/**
 * The audit log through the real daemon on SQLite and PostgreSQL: logins and state-changing or
 * secret-revealing calls are recorded with who, from where and whether they worked, secrets never;
 * audit.query reads them in TrueNAS's shape, audit.export writes reports, and audit.verify notices
 * any row changed, removed or reordered behind certmid's back.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { pruneAuditEntries } from '../../src/audit/chain.js';
import { CertmidClient } from '../../src/client/client.js';
import { httpBase } from '../helpers/backup-client.js';
import { adminClient, createRootCa, rpcErrorOf } from '../helpers/pki-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { databaseBackends, type TestDatabase } from '../helpers/services.js';

type AuditEntry = Record<string, any>;
const PASSWORD = 'audit-test-password-1';
const backends = await databaseBackends();

async function connect(server: TestServer): Promise<CertmidClient> {
  return await CertmidClient.connect(server.url, { WebSocket });
}

async function loggedIn(server: TestServer, username: string, password = PASSWORD): Promise<CertmidClient> {
  const client = await connect(server);
  await client.login(username, password);
  return client;
}

describe.each(backends)('audit log on %s', (_name, open, available) => {
  let database: TestDatabase;
  let server: TestServer;
  let admin: CertmidClient;
  const clients: CertmidClient[] = [];

  const query = (filters: unknown[] = [], options: Record<string, unknown> = {}) =>
    admin.call<AuditEntry[]>('audit.query', { services: ['MIDDLEWARE'], 'query-filters': filters, 'query-options': options });
  const verify = () => admin.call<{ valid: boolean; entries: number; first_invalid: { id: number; audit_id: string } | null; reason: string | null }>('audit.verify');
  const sql = (text: string, parameters: unknown[] = []) => server.daemon.app.db.query(text, parameters);
  const placeholder = (index: number) => (server.daemon.app.db.options.type === 'postgres' ? `$${index}` : '?');

  beforeAll(async () => {
    if (!available) return;
    database = await open();
    server = await startTestServer({ env: database.env });
    admin = await adminClient(server);
    for (const [username, roles] of [['clerk', ['CERTIFICATE_READ']], ['auditor', ['SYSTEM_AUDIT_READ']], ['viewer', ['READONLY_ADMIN']]] as const) {
      await admin.call('user.create', { username, password: PASSWORD, roles });
    }
  });

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.close()));
    await admin?.close();
    await server?.close();
    await database?.drop();
  });

  it.runIf(available)('records failed and successful logins with the claimed name and the address, never the password', async () => {
    const stranger = await connect(server);
    clients.push(stranger);
    await expect(stranger.login('clerk', 'not-the-password')).rejects.toThrow();
    await stranger.login('clerk', PASSWORD);
    const logins = await query([['event', '=', 'AUTHENTICATION'], ['username', '=', 'clerk']]);
    expect(logins.map((entry) => [entry.success, entry.event_data.error])).toEqual([
      [false, 'Bad username or password'],
      [true, null],
    ]);
    const [failed, succeeded] = logins as [AuditEntry, AuditEntry];
    expect(failed).toMatchObject({
      service: 'MIDDLEWARE',
      address: '127.0.0.1',
      event_data: { credentials: { credentials: 'LOGIN_PASSWORD', credentials_data: { username: 'clerk' } }, vers: { major: 0, minor: 1 } },
      service_data: { protocol: 'WEBSOCKET', origin: '127.0.0.1', credentials: null },
    });
    expect(succeeded.event_data.credentials).toMatchObject({ credentials: 'LOGIN_PASSWORD', credentials_data: { username: 'clerk' } });
    expect(failed.session).toBe(succeeded.session);
    expect(failed.audit_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(succeeded.timestamp).toBeInstanceOf(Date);
    expect(succeeded.message_timestamp).toBe(Math.floor(succeeded.timestamp.getTime() / 1000));
    const everything = JSON.stringify(await query());
    expect(everything).not.toContain('not-the-password');
    expect(everything).not.toContain(PASSWORD);
  });

  it.runIf(available)('records writes and key exports with their parameters, secrets redacted, and not reads', async () => {
    const ca = await createRootCa(admin, 'audit-root');
    await admin.call('certificateauthority.export', ca.id, { format: 'PKCS12', include_key: true, password: 'p12-export-secret' });
    await admin.call('certificate.query');
    const calls = await query([['event', '=', 'METHOD_CALL'], ['username', '=', 'admin']]);
    const methods = calls.map((entry) => entry.event_data.method);
    expect(methods).toContain('certificateauthority.create');
    expect(methods).toContain('user.create');
    expect(methods).not.toContain('certificate.query');
    const exported = calls.find((entry) => entry.event_data.method === 'certificateauthority.export')!;
    expect(exported).toMatchObject({ success: true, event_data: { authenticated: true, authorized: true } });
    expect(exported.event_data.params).toEqual([ca.id, { format: 'PKCS12', include_key: true, password: '********' }]);
    const users = calls.filter((entry) => entry.event_data.method === 'user.create');
    expect(users.every((entry) => entry.event_data.params[0].password === '********')).toBe(true);
    expect(JSON.stringify(calls)).not.toContain('p12-export-secret');
  });

  it.runIf(available)('keeps of a credentials blob only which kind it is', async () => {
    const attributes = { authenticator: 'cloudflare', api_token: 'cf-token-not-for-the-log', api_key: null, cloudflare_email: null };
    await admin.call('acme.dns.authenticator.create', { name: 'audited-dns', attributes });
    const [entry] = await query([['event_data.method', '=', 'acme.dns.authenticator.create']]);
    expect(entry!.event_data.params).toEqual([{ name: 'audited-dns', attributes: { authenticator: 'cloudflare', api_token: '********', api_key: '********', cloudflare_email: '********' } }]);
  });

  it.runIf(available)('records a refused call as not authorized, without reading its parameters', async () => {
    const clerk = await loggedIn(server, 'clerk');
    clients.push(clerk);
    const refusal = await rpcErrorOf(clerk.call('certificateauthority.create', { name: 'not-allowed', create_type: 'CA_CREATE_INTERNAL' }));
    expect(refusal.errname).toBe('EACCES');
    const [entry] = await query([['username', '=', 'clerk'], ['event_data.method', '=', 'certificateauthority.create']]);
    expect(entry).toMatchObject({ success: false, event_data: { authenticated: true, authorized: false, params: ['(not read)'] } });
  });

  it.runIf(available)('records a failed write as authorized and unsuccessful', async () => {
    await expect(admin.call('certificateauthority.delete', 999_999)).rejects.toThrow();
    const [entry] = await query([['event_data.method', '=', 'certificateauthority.delete']]);
    expect(entry).toMatchObject({ success: false, event_data: { authorized: true, params: [999_999] } });
  });

  it.runIf(available)('records calls made at once each in an entry of its own, in one unbroken chain', async () => {
    const usernames = Array.from({ length: 12 }, (_, i) => `at-once-${i}`);
    await Promise.all(usernames.map((username) => admin.call('user.create', { username, password: PASSWORD, roles: ['CERTIFICATE_READ'] })));
    const recorded = await query([['event_data.method', '=', 'user.create']]);
    const made = recorded.filter((entry) => usernames.includes(entry.event_data.params[0].username));
    expect(made.map((entry) => entry.event_data.params[0].username).sort()).toEqual([...usernames].sort());
    expect(new Set(made.map((entry) => entry.audit_id)).size).toBe(usernames.length);
    expect(await verify()).toMatchObject({ valid: true, first_invalid: null });
  });

  it.runIf(available)('lets auditors and read-only administrators read it, and nobody else', async () => {
    const auditor = await loggedIn(server, 'auditor');
    const viewer = await loggedIn(server, 'viewer');
    const clerk = await loggedIn(server, 'clerk');
    clients.push(auditor, viewer, clerk);
    expect((await auditor.call<AuditEntry[]>('audit.query', {})).length).toBeGreaterThan(0);
    expect((await viewer.call<{ valid: boolean }>('audit.verify')).valid).toBe(true);
    expect((await rpcErrorOf(clerk.call('audit.query', {}))).errname).toBe('EACCES');
    expect((await rpcErrorOf(auditor.call('audit.update', { retention: 3 }))).errname).toBe('EACCES');
  });

  it.runIf(available)('answers counts, selects and filters on stored and nested fields', async () => {
    const count = await query([['event', '=', 'AUTHENTICATION']], { count: true });
    expect(typeof count).toBe('number');
    expect(count).toBeGreaterThanOrEqual(2);
    const selected = await query([['event_data.method', '=', 'certificateauthority.export']], { select: ['username', 'event_data.method'] });
    expect(selected).toEqual([{ username: 'admin', event_data: { method: 'certificateauthority.export' } }]);
    const failures = await query([['event_data.error', '!=', null]]);
    expect(failures.length).toBeGreaterThan(0);
    expect(failures.every((entry) => entry.event === 'AUTHENTICATION' && !entry.success)).toBe(true);
  });

  it.runIf(available)('exports reports as CSV and JSON that only their maker downloads', async () => {
    const jsonPath = await admin.callJob<string>('audit.export', [{ export_format: 'JSON', 'query-filters': [['event', '=', 'AUTHENTICATION']] }]);
    const fromJson = JSON.parse(fs.readFileSync(jsonPath, 'utf8')) as AuditEntry[];
    expect(fromJson.length).toBeGreaterThanOrEqual(2);
    expect(fromJson.every((entry) => entry.event === 'AUTHENTICATION')).toBe(true);
    expect(fromJson[0]!.timestamp).toHaveProperty('$date');
    const csvPath = await admin.callJob<string>('audit.export', [{ export_format: 'CSV', 'query-filters': [['event_data.method', '=', 'certificateauthority.export']] }]);
    const [header, row, ...rest] = fs.readFileSync(csvPath, 'utf8').trimEnd().split('\r\n');
    expect(header).toBe('audit_id,message_timestamp,timestamp,address,username,session,service,service_data,event,event_data,success');
    expect(row).toContain('certificateauthority.export');
    expect(rest).toEqual([]);
    expect(fs.statSync(csvPath).mode & 0o777).toBe(0o600);

    const name = csvPath.split('/').pop()!;
    const [jobId, link] = await admin.call<[number, string]>('core.download', 'audit.download_report', [{ report_name: name }], name);
    await admin.callJob('core.job_wait', [jobId]);
    const response = await fetch(httpBase(server) + link);
    expect(await response.text()).toBe(fs.readFileSync(csvPath, 'utf8'));

    const auditor = await loggedIn(server, 'auditor');
    clients.push(auditor);
    const [otherJob] = await auditor.call<[number, string]>('core.download', 'audit.download_report', [{ report_name: name }], name);
    await expect(auditor.callJob('core.job_wait', [otherJob])).rejects.toThrow(/audit report does not exist in the report directory of user \(auditor\)/);
    await expect(admin.callJob('audit.export', [{ 'query-filters': [['username', '=', 'nobody-at-all']] }])).rejects.toThrow('No entries were returned by query.');
  });

  it.runIf(available)('verifies the chain and finds an entry changed, removed or cut from the end', async () => {
    expect(await verify()).toMatchObject({ valid: true, first_invalid: null, reason: null });
    const [victim] = await query([['event_data.method', '=', 'certificateauthority.export']]);
    const [{ id, event_data }] = (await sql(`SELECT id, event_data FROM audit_entry WHERE audit_id = ${placeholder(1)}`, [victim!.audit_id])) as [{ id: number; event_data: string }];

    // A changed parameter.
    await sql(`UPDATE audit_entry SET event_data = ${placeholder(1)} WHERE id = ${placeholder(2)}`, [event_data.replace('PKCS12', 'PEM'), id]);
    expect(await verify()).toMatchObject({ valid: false, first_invalid: { id, audit_id: victim!.audit_id }, reason: 'This entry was changed' });
    await sql(`UPDATE audit_entry SET event_data = ${placeholder(1)} WHERE id = ${placeholder(2)}`, [event_data, id]);
    expect((await verify()).valid).toBe(true);

    // A removed entry: the next one no longer follows.
    const saved = (await sql(`SELECT * FROM audit_entry WHERE id = ${placeholder(1)}`, [id])) as Array<Record<string, unknown>>;
    await sql(`DELETE FROM audit_entry WHERE id = ${placeholder(1)}`, [id]);
    const removed = await verify();
    expect(removed).toMatchObject({ valid: false, reason: 'An entry before this one was removed or changed' });
    expect(removed.first_invalid!.id).toBeGreaterThan(id);
    const columns = Object.keys(saved[0]!);
    await sql(`INSERT INTO audit_entry (${columns.join(', ')}) VALUES (${columns.map((_, i) => placeholder(i + 1)).join(', ')})`, columns.map((c) => saved[0]![c]));
    expect((await verify()).valid).toBe(true);

    // The newest entry removed: the chain's head says there was one more.
    const [{ newest }] = (await sql('SELECT MAX(id) AS newest FROM audit_entry')) as [{ newest: number }];
    const last = (await sql(`SELECT * FROM audit_entry WHERE id = ${placeholder(1)}`, [newest])) as Array<Record<string, unknown>>;
    await sql(`DELETE FROM audit_entry WHERE id = ${placeholder(1)}`, [newest]);
    expect(await verify()).toMatchObject({ valid: false, first_invalid: null, reason: 'The newest entries were removed' });
    await sql(`INSERT INTO audit_entry (${columns.join(', ')}) VALUES (${columns.map((_, i) => placeholder(i + 1)).join(', ')})`, columns.map((c) => last[0]![c]));

    // The head moved back to match: its seal no longer fits.
    await sql(`UPDATE audit_chain SET head_id = head_id - 1`);
    expect(await verify()).toMatchObject({ valid: false, reason: 'The chain state was changed outside certmid' });
    await sql(`UPDATE audit_chain SET head_id = head_id + 1`);
    expect((await verify()).valid).toBe(true);
  });

  it.runIf(available)('removes entries past the retention, and still notices one removed beyond it', async () => {
    await admin.call('audit.update', { retention: 1 });
    expect(await admin.call('audit.config')).toEqual({ id: 1, retention: 1 });
    const before = (await query([], { count: true })) as unknown as number;
    expect(await pruneAuditEntries(server.daemon.app, new Date(Date.now() + 2 * 86_400_000))).toBeGreaterThanOrEqual(before);
    await admin.call('audit.update', { retention: 7 });
    const kept = await query();
    expect(kept.map((entry) => entry.event_data.method)).toEqual(['audit.update']);
    expect(await verify()).toMatchObject({ valid: true, entries: 1 });
    await admin.call('audit.update', { retention: 8 });
    const [first] = (await sql('SELECT MIN(id) AS first FROM audit_entry')) as Array<{ first: number }>;
    await sql(`DELETE FROM audit_entry WHERE id = ${placeholder(1)}`, [first!.first]);
    expect(await verify()).toMatchObject({ valid: false, reason: 'An entry before this one was removed or changed' });
  });

  it.runIf(available)('refuses a retention out of range, naming the attribute', async () => {
    const error = await rpcErrorOf(admin.call('audit.update', { retention: 0 }));
    expect(JSON.stringify(error.data)).toContain('system_audit_update.retention');
  });
});

describe('audit log written by two daemons sharing PostgreSQL', () => {
  const postgres = backends.find(([name]) => name === 'PostgreSQL')!;
  let database: TestDatabase;
  const servers: TestServer[] = [];

  beforeAll(async () => {
    if (!postgres[2]) return;
    database = await postgres[1]();
    // Daemons of one deployment share the master key, and with it the chain's key.
    const env = { ...database.env, MASTER_KEY: randomBytes(32).toString('base64') };
    servers.push(await startTestServer({ env }));
    servers.push(await startTestServer({ env: { ...env, ADMIN_PASSWORD: servers[0]!.admin.password } }));
  });

  afterAll(async () => {
    for (const server of servers) await server.close();
    await database?.drop();
  });

  it.runIf(postgres[2])('keeps one unbroken chain while both record at once', async () => {
    const admins = await Promise.all(servers.map((server) => adminClient(server)));
    try {
      await Promise.all(admins.flatMap((admin) => Array.from({ length: 12 }, (_, index) => admin.call('audit.update', { retention: 10 + index }))));
      const count = await admins[0]!.call<number>('audit.query', { 'query-filters': [['event_data.method', '=', 'audit.update']], 'query-options': { count: true } });
      expect(count).toBe(24);
      expect(await admins[1]!.call('audit.verify')).toMatchObject({ valid: true, entries: 24 + 2, first_invalid: null });
    } finally {
      await Promise.all(admins.map((admin) => admin.close()));
    }
  });
});
