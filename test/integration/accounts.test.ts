/**
 * TrueNAS's account model on the wire, through the client library: groups and privileges grant
 * roles, user.* takes TrueNAS's fields, auth.me and auth.sessions have TrueNAS's shapes, sessions
 * end before terminate_* returns, and core.bulk runs a method over argument lists as a job.
 */
import { WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertmidClient, SubscriptionEndedError, type CollectionUpdate, type Job } from '../../src/client/client.js';
import { REDACTED } from '../../src/secrets.js';
import { openssl } from '../helpers/openssl.js';
import { adminClient, createInternalCertificate, createRootCa, rpcErrorOf, validationErrorsOf, type Entry } from '../helpers/pki-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createTestDatabase } from '../helpers/services.js';

let server: TestServer;
let admin: CertmidClient;
const clients: CertmidClient[] = [];
const PASSWORD = 'accounts-password-1';

/** A fast key, so each certificate costs milliseconds. */
const EC = { key_type: 'EC', ec_curve: 'SECP256R1' };

type Group = { id: number; gid: number; name: string; builtin: boolean; users: number[]; roles: string[] };
type Privilege = { id: number; builtin_name: string | null; name: string; local_groups: Array<{ gid: number | null; group?: string | null }>; roles: string[] };
type User = { id: number; uid: number; username: string; roles: string[]; groups: number[]; group: Record<string, unknown> | null; password?: string | null };

beforeAll(async () => {
  server = await startTestServer();
  admin = await adminClient(server);
});

afterAll(async () => {
  await Promise.all(clients.map((client) => client.close()));
  await admin?.close();
  await server?.close();
});

async function connect(): Promise<CertmidClient> {
  const client = await CertmidClient.connect(server.url, { WebSocket });
  clients.push(client);
  return client;
}

async function loggedIn(username: string, password = PASSWORD): Promise<CertmidClient> {
  const client = await connect();
  await client.login(username, password);
  return client;
}

async function createUser(fields: Record<string, unknown>): Promise<User> {
  return admin.call<User>('user.create', { password: PASSWORD, ...fields });
}

const administrators = () => admin.call<Group>('group.query', [['gid', '=', 544]], { get: true });

/** Collects the events of one collection; `settled` waits until every event sent so far arrived. */
async function collect(client: CertmidClient, collection: string) {
  const events: Array<Omit<CollectionUpdate, 'fields' | 'extra'>> = [];
  await client.subscribe(collection, ({ msg, collection: name, id }) => events.push({ msg, collection: name, id }));
  // The server sends an event before the reply of the call that caused it, on the same ordered socket.
  return { events, settled: () => client.call('core.ping') };
}

describe('groups and privileges', () => {
  it('have the built-in administrators group and its Local Administrator privilege, which make the administrator one', async () => {
    const group = await administrators();
    expect(group).toMatchObject({ gid: 544, name: 'builtin_administrators', group: 'builtin_administrators', builtin: true, local: true, roles: ['FULL_ADMIN'] });
    const adminUser = await admin.call<User>('user.query', [['username', '=', 'admin']], { get: true });
    expect(group.users).toContain(adminUser.id);
    expect(adminUser.groups).toContain(group.id);
    const [localAdmin] = await admin.call<Privilege[]>('privilege.query', [['builtin_name', '=', 'LOCAL_ADMINISTRATOR']]);
    expect(localAdmin).toMatchObject({ name: 'Local Administrator', roles: ['FULL_ADMIN'], web_shell: true, ds_groups: [] });
    expect(localAdmin!.local_groups).toEqual([expect.objectContaining({ gid: 544, name: 'builtin_administrators' })]);
    expect((await rpcErrorOf(admin.call('group.delete', group.id))).data).toMatchObject({ errname: 'EACCES', reason: '[EACCES] A built-in group cannot be deleted.' });
    expect((await rpcErrorOf(admin.call('privilege.delete', localAdmin!.id))).data).toMatchObject({ errname: 'EPERM', reason: '[EPERM] Unable to delete built-in privilege' });
    expect(await validationErrorsOf(admin.call('privilege.update', localAdmin!.id, { roles: ['READONLY_ADMIN'], local_groups: [] }))).toEqual([
      ['privilege_update.roles', 'This field is read-only for built-in privileges', 22],
      ['privilege_update.local_groups', 'The group builtin_administrators must be among grantees of the "Local Administrator" privilege.', 22],
    ]);
  });

  it('grant a group\'s members the roles of its privileges, announced as group.query and privilege.query events', async () => {
    const groupEvents = await collect(admin, 'group.query');
    const privilegeEvents = await collect(admin, 'privilege.query');
    const nextGid = await admin.call<number>('group.get_next_gid');
    expect(nextGid).toBeGreaterThanOrEqual(3000);
    const groupId = await admin.call<number>('group.create', { name: 'cert-readers' });
    const group = await admin.call<Group>('group.get_instance', groupId);
    expect(group).toMatchObject({ gid: nextGid, name: 'cert-readers', builtin: false, users: [], roles: [] });

    const reader = await createUser({ username: 'reader', full_name: 'Reader', groups: [groupId] });
    expect(reader).toMatchObject({ roles: [], groups: [groupId] });
    const privilege = await admin.call<Privilege>('privilege.create', { name: 'Certificate readers', local_groups: [group.gid], ds_groups: [], roles: ['CERTIFICATE_READ'], web_shell: false });
    expect(privilege.local_groups).toEqual([expect.objectContaining({ id: groupId, gid: group.gid, users: [reader.id], roles: ['CERTIFICATE_READ'] })]);
    expect(await admin.call<User>('user.get_instance', reader.id)).toMatchObject({ roles: ['CERTIFICATE_READ'], direct_roles: [] });

    const session = await loggedIn('reader');
    expect(await session.call<number>('certificate.query', [], { count: true })).toBeGreaterThan(0);
    expect((await rpcErrorOf(session.call('certificateauthority.query'))).errname).toBe('EACCES');

    // Leaving the group takes the roles away from the open session too: its subscription ends.
    let subscriptionEnded!: (error: Error | null) => void;
    const ended = new Promise<Error | null>((resolve) => (subscriptionEnded = resolve));
    await session.subscribe('certificate.query', () => undefined, subscriptionEnded);
    await admin.call('group.update', groupId, { users: [] });
    expect(await ended).toBeInstanceOf(SubscriptionEndedError);
    expect((await rpcErrorOf(session.call('certificate.query'))).errname).toBe('EACCES');
    const after = await loggedIn('reader');
    expect((await rpcErrorOf(after.call('certificate.query'))).errname).toBe('EACCES');
    expect((await after.call<{ privilege: { roles: string[] } }>('auth.me')).privilege.roles).toEqual([]);

    await admin.call('privilege.update', privilege.id, { local_groups: [] });
    expect(await admin.call('privilege.delete', privilege.id)).toBe(true);
    expect(await admin.call('group.delete', groupId)).toBe(groupId);
    await groupEvents.settled();
    expect(groupEvents.events).toEqual([
      { msg: 'added', collection: 'group.query', id: groupId },
      { msg: 'changed', collection: 'group.query', id: groupId },
      { msg: 'removed', collection: 'group.query', id: groupId },
    ]);
    expect(privilegeEvents.events).toEqual([
      { msg: 'added', collection: 'privilege.query', id: privilege.id },
      { msg: 'changed', collection: 'privilege.query', id: privilege.id },
      { msg: 'removed', collection: 'privilege.query', id: privilege.id },
    ]);
  });

  it('word their errors as TrueNAS does', async () => {
    const taken = await admin.call<number>('group.create', { name: 'taken', gid: 4321 });
    expect(await validationErrorsOf(admin.call('group.create', { name: 'taken', gid: 4321, users: [9999] }))).toEqual([
      ['group_create.name', 'A Group with the name "taken" already exists.', 17],
      ['group_create.gid', 'Gid 4321 is already used (group taken has it)', 17],
      ['group_create.users', 'Following users do not exist: 9999', 22],
    ]);
    expect(await validationErrorsOf(admin.call('privilege.create', { name: 'bad', local_groups: [4321, 7777], roles: ['CERTIFICATE_READ', 'ROOT'], web_shell: false }))).toEqual([
      [
        'privilege_create.local_groups.1',
        '7777: local group does not exist. This error may be addressed by either re-creating the missing group with the specified group id or removing this entry from the privilege.',
        22,
      ],
      ['privilege_create.roles.1', 'Invalid role', 22],
    ]);
    const privilege = await admin.call<Privilege>('privilege.create', { name: 'uses taken', local_groups: [4321], web_shell: false });
    expect((await rpcErrorOf(admin.call('group.delete', taken))).data).toMatchObject({
      errname: 'EACCES',
      reason: "[EACCES] This group is used by privilege 'uses taken'. Please remove it from that privilege first, then delete the group.",
    });
    expect(await validationErrorsOf(admin.call('privilege.create', { name: 'uses taken', web_shell: false }))).toEqual([['privilege_create.name', 'Object with this name already exists', 22]]);
    await admin.call('privilege.delete', privilege.id);
    await admin.call('group.delete', taken);
  });

  it('grant no role the caller lacks, through a group or a privilege', async () => {
    const mine = await admin.call<number>('group.create', { name: 'managers' });
    await admin.call('privilege.create', { name: 'Managers', local_groups: [(await admin.call<Group>('group.get_instance', mine)).gid], roles: ['ACCOUNT_WRITE', 'PRIVILEGE_WRITE'], web_shell: false });
    const manager = await createUser({ username: 'manager', groups: [mine] });
    const session = await loggedIn('manager');
    const builtin = await administrators();
    const [localAdmin] = await admin.call<Privilege[]>('privilege.query', [['builtin_name', '=', 'LOCAL_ADMINISTRATOR']]);
    const attempts: Array<[string, unknown[]]> = [
      ['user.update', [manager.id, { groups: [mine, builtin.id] }]],
      ['user.create', [{ username: 'made-admin', password: PASSWORD, groups: [builtin.id] }]],
      ['group.update', [builtin.id, { users: [...builtin.users, manager.id] }]],
      ['privilege.create', [{ name: 'Escalation', local_groups: [(await admin.call<Group>('group.get_instance', mine)).gid], roles: ['FULL_ADMIN'], web_shell: false }]],
      ['privilege.update', [localAdmin!.id, { local_groups: [544, (await admin.call<Group>('group.get_instance', mine)).gid] }]],
    ];
    for (const [method, params] of attempts) {
      const error = await rpcErrorOf(session.call(method, ...params));
      expect({ method, errname: error.errname }).toEqual({ method, errname: 'EACCES' });
    }
    expect((await admin.call<Group>('group.get_instance', builtin.id)).users).toEqual(builtin.users);
    expect(await admin.call<User>('user.get_instance', manager.id)).toMatchObject({ groups: [mine], roles: ['ACCOUNT_WRITE', 'PRIVILEGE_WRITE'] });
    // What it holds, it may grant: a group of its own with a privilege of its own roles.
    const granted = await session.call<number>('group.create', { name: 'account-writers' });
    const gid = (await session.call<Group>('group.get_instance', granted)).gid;
    expect(await session.call<Privilege>('privilege.create', { name: 'Account writers', local_groups: [gid], roles: ['ACCOUNT_WRITE'], web_shell: false })).toMatchObject({ roles: ['ACCOUNT_WRITE'] });
  });
});

describe('user.create and user.update', () => {
  it('take TrueNAS\'s fields: group_create, groups, random_password, email, home, shell and the ignored ones', async () => {
    const extra = await admin.call<number>('group.create', { name: 'extra' });
    const created = await admin.call<User & Record<string, unknown>>('user.create', {
      username: 'truenas-style',
      full_name: 'TrueNAS Style',
      group_create: true,
      groups: [extra],
      random_password: true,
      email: 'style@example.com',
      home: '/var/empty',
      home_create: false,
      shell: '/usr/bin/bash',
      smb: false,
      sshpubkey: null,
      sudo_commands: [],
      locked: false,
      password_disabled: false,
    });
    expect(created).toMatchObject({ username: 'truenas-style', full_name: 'TrueNAS Style', email: 'style@example.com', shell: '/usr/bin/bash', groups: [extra], local: true, builtin: false });
    expect(created.uid).toBeGreaterThanOrEqual(3000);
    expect(created.group).toMatchObject({ bsdgrp_group: 'truenas-style', bsdgrp_builtin: false });
    expect(created.password).toHaveLength(20);
    const session = await loggedIn('truenas-style', created.password!);
    const me = await session.call<Record<string, unknown>>('auth.me');
    expect(me).toMatchObject({ pw_name: 'truenas-style', pw_gecos: 'TrueNAS Style', pw_uid: created.uid, pw_shell: '/usr/bin/bash', pw_gid: created.group!.bsdgrp_gid });
    expect(me.grouplist).toEqual(expect.arrayContaining([created.group!.bsdgrp_gid]));
    expect(await admin.call<User>('user.get_instance', created.id)).not.toHaveProperty('password');

    const updated = await admin.call<User & Record<string, unknown>>('user.update', created.id, { groups: [], email: null, home_mode: '700', password_disabled: true });
    expect(updated).toMatchObject({ groups: [], email: null, password_disabled: true, password: null });
    // Password login is off for it now.
    await expect((await connect()).login('truenas-style', created.password!)).rejects.toThrow();
  });

  it('refuse what TrueNAS refuses, in its words', async () => {
    const group = await admin.call<number>('group.create', { name: 'either' });
    expect(await validationErrorsOf(admin.call('user.create', { username: 'no-password', group, group_create: true }))).toEqual([
      ['user_create.group', 'Enter either a group name or create a new group to continue.', 22],
      ['user_create.password', 'Password is required', 22],
    ]);
    await createUser({ username: 'twice' });
    expect(await validationErrorsOf(admin.call('user.create', { username: 'twice', password: PASSWORD, full_name: 'a:b', groups: [9999] }))).toEqual([
      ['user_create.full_name', 'The ":" character is not allowed in a "Full Name".', 22],
      ['user_create.groups.0', 'Group 9999 not found', 2],
      ['user_create.username', 'The username "twice" already exists.', 17],
    ]);
  });

  it('refuse deleting the logged-in user', async () => {
    const self = await admin.call<User>('user.query', [['username', '=', 'admin']], { get: true });
    expect((await rpcErrorOf(admin.call('user.delete', self.id))).data).toMatchObject({ errname: 'EINVAL', reason: '[EINVAL] Cannot delete the currently active user' });
  });
});

describe('auth.me and auth.set_attribute', () => {
  it('show the administrator as TrueNAS does', async () => {
    const me = await admin.call<Record<string, unknown>>('auth.me');
    expect(me).toMatchObject({
      pw_name: 'admin',
      pw_dir: '/var/empty',
      sid: null,
      source: 'LOCAL',
      local: true,
      attributes: {},
      two_factor_config: { secret_configured: false },
      privilege: { allowlist: [{ method: '*', resource: '*' }], web_shell: true, webui_access: true },
      account_attributes: ['LOCAL', 'SYS_ADMIN'],
    });
    expect((me.privilege as { roles: string[] }).roles).toContain('FULL_ADMIN');
    expect(me.grouplist).toContain(544);
  });

  it('list a narrow account\'s allowlist and its API key login', async () => {
    await createUser({ username: 'narrow', roles: ['CERTIFICATE_READ'] });
    const key = await admin.call<{ key: string }>('api_key.create', { name: 'narrow-key', username: 'narrow' });
    const byKey = await connect();
    await byKey.loginWithApiKey(key.key);
    const me = await byKey.call<{ privilege: { roles: string[]; allowlist: unknown[]; web_shell: boolean; webui_access: boolean }; account_attributes: string[] }>('auth.me');
    expect(me.privilege).toMatchObject({ roles: ['CERTIFICATE_READ'], web_shell: false, webui_access: true });
    expect(me.privilege.allowlist).toEqual(expect.arrayContaining([{ method: 'CALL', resource: 'certificate.query' }, { method: 'SUBSCRIBE', resource: 'certificate.query' }]));
    expect(me.privilege.allowlist).not.toContainEqual({ method: 'CALL', resource: 'certificate.create' });
    expect(me.account_attributes).toEqual(['LOCAL', 'API_KEY']);
  });

  it('keeps per-user attributes across logins', async () => {
    await createUser({ username: 'prefs', roles: ['CERTIFICATE_READ'] });
    const first = await loggedIn('prefs');
    expect(await first.call('auth.set_attribute', 'preferences', { theme: 'dark' })).toBeNull();
    expect(await first.call('auth.set_attribute', 'dashboardState', [1, 2])).toBeNull();
    const second = await loggedIn('prefs');
    expect((await second.call<{ attributes: unknown }>('auth.me')).attributes).toEqual({ preferences: { theme: 'dark' }, dashboardState: [1, 2] });
    expect((await admin.call<{ attributes: unknown }>('auth.me')).attributes).toEqual({});
  });
});

describe('auth.sessions', () => {
  type Session = { id: string; current: boolean; credentials: string; credentials_data: Record<string, unknown> };
  const sessionsOf = async (username: string) =>
    (await admin.call<Session[]>('auth.sessions')).filter((s) => JSON.stringify(s.credentials_data).includes(`"username":"${username}"`));

  it('shows how each session logged in, a token session with its parent, and drops terminated sessions before replying', async () => {
    await createUser({ username: 'sessions', roles: ['CERTIFICATE_READ'] });
    const byPassword = await loggedIn('sessions');
    const token = await byPassword.call<string>('auth.generate_token', 600, {}, false);
    const byToken = await connect();
    await byToken.loginWithToken(token);
    const key = await admin.call<{ id: number; key: string }>('api_key.create', { name: 'sessions-key', username: 'sessions' });
    const byKey = await connect();
    await byKey.loginWithApiKey(key.key);

    const listed = await sessionsOf('sessions');
    expect(listed.map((s) => s.credentials).sort()).toEqual(['API_KEY', 'LOGIN_PASSWORD', 'TOKEN']);
    const tokenSession = listed.find((s) => s.credentials === 'TOKEN')!;
    expect(tokenSession.credentials_data).toMatchObject({ username: 'sessions', parent: { credentials: 'LOGIN_PASSWORD', credentials_data: { username: 'sessions' } } });
    expect(listed.find((s) => s.credentials === 'API_KEY')!.credentials_data).toMatchObject({ username: 'sessions', api_key: { id: key.id, name: 'sessions-key' } });
    expect(listed.find((s) => s.credentials === 'LOGIN_PASSWORD')!.credentials_data.login_at).toBeInstanceOf(Date);

    const closed = new Promise<number>((resolve) => byToken.onClose((code) => resolve(code)));
    expect(await admin.call('auth.terminate_session', tokenSession.id)).toBe(true);
    expect((await sessionsOf('sessions')).map((s) => s.credentials).sort()).toEqual(['API_KEY', 'LOGIN_PASSWORD']);
    expect(await closed).toBe(1000);
    expect((await rpcErrorOf(admin.call('auth.terminate_session', tokenSession.id))).errname).toBe('ENOENT');

    const othersClosed = Promise.all([byPassword, byKey].map((client) => new Promise<number>((resolve) => client.onClose((code) => resolve(code)))));
    expect(await admin.call('auth.terminate_other_sessions')).toBe(true);
    const left = await admin.call<Session[]>('auth.sessions');
    expect(left.map((s) => s.current)).toEqual([true]);
    expect(await othersClosed).toEqual([1000, 1000]);
  });
});

describe('api_key.create', () => {
  it('refuses an expiry in the past', async () => {
    expect(await validationErrorsOf(admin.call('api_key.create', { name: 'stale', expires_at: new Date(Date.now() - 60_000) }))).toEqual([
      ['api_key_create.expires_at', 'Expiration date is in the past', 22],
    ]);
  });
});

describe('core.bulk', () => {
  it('calls a method once per argument list as a job, reporting each outcome and progress', async () => {
    const descriptions: string[] = [];
    const results = await admin.callJob<Array<{ job_id: number | null; error: string | null; result: unknown }>>(
      'core.bulk',
      ['group.create', [[{ name: 'bulk-a' }], [{ name: 'bulk-a' }], [{ name: 'bulk-b' }]], 'Creating {0[name]}'],
      { onProgress: (progress) => descriptions.push(progress.description) },
    );
    const [a, duplicate, b] = results;
    expect(a).toMatchObject({ job_id: null, error: null, result: expect.any(Number) });
    expect(duplicate).toEqual({ job_id: null, result: null, error: '[EEXIST] group_create.name: A Group with the name "bulk-a" already exists.\n' });
    expect(b).toMatchObject({ job_id: null, error: null, result: expect.any(Number) });
    expect(await admin.call<Group[]>('group.query', [['name', '^', 'bulk-']], { order_by: ['name'] })).toMatchObject([{ id: a!.result }, { id: b!.result }]);
    expect(descriptions).toEqual(expect.arrayContaining(['Creating bulk-a', 'Creating bulk-b']));
  });

  it('queues a job method\'s jobs and waits for each, with the caller\'s roles', async () => {
    const root = await createRootCa(admin, 'bulk-root', EC);
    const first = await createInternalCertificate(admin, 'bulk-1', root.id, EC);
    const second = await createInternalCertificate(admin, 'bulk-2', root.id, EC);
    await createUser({ username: 'bulk-reader', roles: ['CERTIFICATE_READ'] });
    const reader = await loggedIn('bulk-reader');
    const refused = await reader.callJob<Array<{ error: string | null }>>('core.bulk', ['certificate.delete', [[first.id]]]);
    expect(refused).toEqual([{ job_id: null, result: null, error: '[EACCES] Not authorized' }]);

    const deleted = await admin.callJob<Array<{ job_id: number | null; error: string | null; result: unknown }>>('core.bulk', ['certificate.delete', [[first.id], [second.id]]]);
    expect(deleted.map((status) => [status.error, status.result])).toEqual([[null, true], [null, true]]);
    for (const status of deleted) {
      const [job] = await admin.call<Job[]>('core.get_jobs', [['id', '=', status.job_id]]);
      expect(job).toMatchObject({ method: 'certificate.delete', state: 'SUCCESS' });
    }
    expect(await admin.call('certificate.query', [['name', '^', 'bulk-']], { count: true })).toBe(0);
  });
});

describe('a CA\'s revoked_certs and the issuer field', () => {
  it('lists revoked certificates as whole rows with the summary fields, and hides issuer from readers', async () => {
    const root = await createRootCa(admin, 'revoked-root', EC);
    const leaf = await createInternalCertificate(admin, 'revoked-leaf', root.id, EC);
    await admin.callJob('certificate.update', [leaf.id, { revoked: true }]);
    const ca = await admin.call<Entry & { revoked_certs: Array<Record<string, unknown>> }>('certificateauthority.get_instance', root.id);
    expect(ca.revoked_certs).toHaveLength(1);
    const [row] = ca.revoked_certs;
    expect(row).toMatchObject({ id: leaf.id, name: 'revoked-leaf', cert_type: 'CERTIFICATE', signedby_id: root.id, certificate: leaf.certificate, privatekey: leaf.privatekey });
    expect(row!.revoked_date).toBeInstanceOf(Date);
    expect((row!.signedby as Record<string, unknown>).id).toBe(root.id);
    // The serial it lists is the one in the certificate, as openssl reads it.
    const serial = (await openssl(['x509', '-noout', '-serial'], row!.certificate as string)).stdout.trim().replace(/^serial=/, '');
    expect(BigInt(`0x${serial}`)).toBe(BigInt(row!.serial as number));

    await createUser({ username: 'issuer-reader', roles: ['CERTIFICATE_READ', 'CERTIFICATE_AUTHORITY_READ'] });
    const reader = await loggedIn('issuer-reader');
    const seen = await reader.call<Entry>('certificate.get_instance', leaf.id);
    expect(seen.issuer).toBe(REDACTED);
    expect(((await reader.call<{ revoked_certs: Array<Record<string, unknown>> }>('certificateauthority.get_instance', root.id)).revoked_certs[0])!.privatekey).toBe(REDACTED);
    expect(((await admin.call<Entry>('certificate.get_instance', leaf.id)).issuer as Entry).id).toBe(root.id);
  });
});

describe('on PostgreSQL', () => {
  it('grants roles through groups and keeps attributes set at once', async () => {
    const database = await createTestDatabase();
    const pgServer = await startTestServer({ env: { DATABASE_URL: database.url } });
    const opened: CertmidClient[] = [];
    try {
      const pgAdmin = await adminClient(pgServer);
      opened.push(pgAdmin);
      expect(await pgAdmin.call<Group>('group.query', [['gid', '=', 544]], { get: true })).toMatchObject({ name: 'builtin_administrators', roles: ['FULL_ADMIN'] });
      const groupId = await pgAdmin.call<number>('group.create', { name: 'pg-readers' });
      const gid = (await pgAdmin.call<Group>('group.get_instance', groupId)).gid;
      await pgAdmin.call('privilege.create', { name: 'PG readers', local_groups: [gid], roles: ['CERTIFICATE_READ'], web_shell: false });
      await pgAdmin.call('user.create', { username: 'pg-reader', password: PASSWORD, groups: [groupId] });
      const reader = await CertmidClient.connect(pgServer.url, { WebSocket });
      opened.push(reader);
      await reader.login('pg-reader', PASSWORD);
      expect((await reader.call<{ privilege: { roles: string[] } }>('auth.me')).privilege.roles).toEqual(['CERTIFICATE_READ']);
      await Promise.all(['a', 'b', 'c'].map((key) => reader.call('auth.set_attribute', key, key.toUpperCase())));
      expect((await reader.call<{ attributes: unknown }>('auth.me')).attributes).toEqual({ a: 'A', b: 'B', c: 'C' });
    } finally {
      await Promise.all(opened.map((client) => client.close()));
      await pgServer.close();
      await database.drop();
    }
  });
});
