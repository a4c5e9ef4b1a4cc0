/**
 * No escalation: a caller grants only roles it holds, and acts on another account (its password,
 * roles, lock, deletion, API keys) only when that account holds no role the caller lacks.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROLES, type Role } from '../../src/auth/roles.js';
import { RawSocket, resultOf } from '../helpers/raw-socket.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
let admin: RawSocket;
let adminId: number;
let adminKey: { id: number; key: string };
const sockets: RawSocket[] = [];

const PASSWORD = 'narrow-password-1';

beforeAll(async () => {
  server = await startTestServer();
  admin = await RawSocket.admin(server);
  adminId = (resultOf(await admin.call('user.query', [[['username', '=', 'admin']], { get: true }])) as { id: number }).id;
  adminKey = resultOf(await admin.call('api_key.create', [{ name: 'admin-key' }])) as { id: number; key: string };
});

afterAll(async () => {
  sockets.forEach((socket) => socket.close());
  admin?.close();
  await server?.close();
});

function expectRefused(reply: Record<string, unknown>): void {
  expect(reply.error).toMatchObject({ code: -32001, data: { error: 13, errname: 'EACCES' } });
  expect((reply.error as { data: { reason: string } }).data.reason).toMatch(/^\[EACCES\] Not authorized/);
}

/** Creates an account (as admin) and returns its id and a socket logged in as it. */
async function account(username: string, roles: readonly Role[]): Promise<{ id: number; socket: RawSocket }> {
  const { id } = resultOf(await admin.call('user.create', [{ username, password: PASSWORD, roles }])) as { id: number };
  const socket = await RawSocket.open(server.url);
  sockets.push(socket);
  await socket.login(username, PASSWORD);
  return { id, socket };
}

/** Every write of `user.*` and `api_key.*` aimed at the full administrator or at more roles. */
function escalations(selfId: number, tag: string): Array<[string, unknown[]]> {
  return [
    ['user.create', [{ username: `made-by-${tag}`, password: PASSWORD, roles: ['FULL_ADMIN'] }]],
    ['user.update', [selfId, { roles: ['FULL_ADMIN'] }]],
    ['user.update', [adminId, { password: 'taken-over-password' }]],
    ['user.update', [adminId, { locked: true }]],
    ['user.update', [adminId, { roles: [] }]],
    ['user.update', [adminId, { full_name: 'renamed by a narrower account' }]],
    ['user.delete', [adminId]],
    ['api_key.create', [{ name: `admin-key-by-${tag}`, username: 'admin' }]],
    ['api_key.update', [adminKey.id, { reset: true }]],
    ['api_key.update', [adminKey.id, { name: `stolen-${tag}` }]],
    ['api_key.delete', [adminKey.id]],
  ];
}

const NARROW: Array<readonly Role[]> = [[], ...ROLES.filter((role) => role !== 'FULL_ADMIN').map((role) => [role] as const)];

describe('every narrow role', () => {
  it.each(NARROW.map((roles) => [roles.join('') || 'NONE', roles] as const))('%s cannot reach the administrator or more roles', async (tag, roles) => {
    const { id, socket } = await account(`narrow-${tag.toLowerCase()}`, roles);
    for (const [method, params] of escalations(id, tag.toLowerCase())) {
      const reply = await socket.call(method, params);
      expect({ method, params, error: reply.error }).toMatchObject({ error: { data: { errname: 'EACCES' } } });
      expectRefused(reply);
    }
  });

  it('left the administrator, its key and its roles as they were', async () => {
    const probe = await RawSocket.open(server.url);
    sockets.push(probe);
    await probe.login('admin', server.admin.password);
    expect(resultOf(await probe.call('auth.me'))).toMatchObject({ privilege: { roles: expect.arrayContaining(['FULL_ADMIN']) } });
    const keyLogin = await RawSocket.open(server.url);
    sockets.push(keyLogin);
    expect(resultOf(await keyLogin.call('auth.login_with_api_key', [adminKey.key]))).toBe(true);
    const users = resultOf(await admin.call('user.query', [[['username', '^', 'made-by-']]])) as unknown[];
    expect(users).toEqual([]);
    const admins = resultOf(await admin.call('user.get_instance', [adminId])) as { roles: string[]; locked: boolean; full_name: string };
    expect(admins).toMatchObject({ roles: ['FULL_ADMIN'], locked: false, full_name: 'Administrator' });
    const keys = resultOf(await admin.call('api_key.query', [[['username', '=', 'admin']]])) as Array<{ name: string }>;
    expect(keys.map((key) => key.name)).toEqual(['admin-key']);
  });
});

describe('ACCOUNT_WRITE', () => {
  it('grants only roles it holds, and manages accounts that hold no more', async () => {
    const { id, socket } = await account('accounts-clerk', ['ACCOUNT_WRITE']);
    expectRefused(await socket.call('user.create', [{ username: 'clerk-cert', password: PASSWORD, roles: ['CERTIFICATE_READ'] }]));
    const refusal = await socket.call('user.create', [{ username: 'clerk-keys', password: PASSWORD, roles: ['ACCOUNT_READ', 'API_KEY_READ', 'FULL_ADMIN'] }]);
    expectRefused(refusal);
    // The roles asked for that it lacks, not everything FULL_ADMIN amounts to.
    expect(refusal.error).toMatchObject({ data: { reason: '[EACCES] Not authorized to grant roles you do not hold: API_KEY_READ, FULL_ADMIN' } });
    const reader = resultOf(await socket.call('user.create', [{ username: 'clerk-reader', password: PASSWORD, roles: ['ACCOUNT_READ'] }])) as { id: number };
    const peer = resultOf(await socket.call('user.create', [{ username: 'clerk-peer', password: PASSWORD, roles: ['ACCOUNT_WRITE'] }])) as { id: number };
    expect(resultOf(await socket.call('user.update', [reader.id, { password: 'another-password', locked: true }]))).toMatchObject({ locked: true });
    expect(resultOf(await socket.call('user.update', [peer.id, { roles: ['ACCOUNT_READ'] }]))).toMatchObject({ roles: ['ACCOUNT_READ'] });
    expect(resultOf(await socket.call('user.update', [id, { password: 'my-own-new-password' }]))).toMatchObject({ id });
    expectRefused(await socket.call('user.update', [reader.id, { roles: ['ACCOUNT_READ', 'CERTIFICATE_WRITE'] }]));
    expect(resultOf(await socket.call('user.delete', [reader.id]))).toBe(true);

    // An account holding a role the clerk lacks is out of reach, even to take that role away.
    const { id: certId } = await account('clerk-target', ['CERTIFICATE_READ']);
    expectRefused(await socket.call('user.update', [certId, { roles: [] }]));
    expectRefused(await socket.call('user.update', [certId, { password: 'taken-over-password' }]));
    expectRefused(await socket.call('user.delete', [certId]));
    expect(resultOf(await admin.call('user.get_instance', [certId]))).toMatchObject({ roles: ['CERTIFICATE_READ'], locked: false });
  });

  it('may give up its own roles', async () => {
    const { id, socket } = await account('clerk-demoted', ['ACCOUNT_WRITE']);
    expect(resultOf(await socket.call('user.update', [id, { roles: ['ACCOUNT_READ'] }]))).toMatchObject({ roles: ['ACCOUNT_READ'] });
  });
});

describe('API_KEY_WRITE', () => {
  it('makes and manages keys only for accounts that hold no more than it does', async () => {
    const { socket } = await account('key-clerk', ['API_KEY_WRITE']);
    await account('key-reader', ['API_KEY_READ']);
    await account('key-certs', ['CERTIFICATE_WRITE']);
    const own = resultOf(await socket.call('api_key.create', [{ name: 'clerk-own' }])) as { id: number; username: string };
    expect(own.username).toBe('key-clerk');
    const reader = resultOf(await socket.call('api_key.create', [{ name: 'for-reader', username: 'key-reader' }])) as { id: number; username: string };
    expect(reader.username).toBe('key-reader');
    expectRefused(await socket.call('api_key.create', [{ name: 'for-certs', username: 'key-certs' }]));

    const certsKey = resultOf(await admin.call('api_key.create', [{ name: 'certs-own', username: 'key-certs' }])) as { id: number };
    expectRefused(await socket.call('api_key.update', [certsKey.id, { reset: true }]));
    expectRefused(await socket.call('api_key.delete', [certsKey.id]));
    expect(resultOf(await socket.call('api_key.update', [reader.id, { reset: true }]))).toHaveProperty('key');
    expect(resultOf(await socket.call('api_key.delete', [reader.id]))).toBe(true);
  });
});

describe('an account with no role at all', () => {
  it('gets no API key, as TrueNAS refuses one to a user without any privilege role', async () => {
    const { socket } = await account('plain', []);
    expect((await socket.call('api_key.create', [{ name: 'plain-own' }])).error).toMatchObject({
      code: -32602,
      data: { extra: [['api_key_create.username', 'User lacks privilege role membership', 22]] },
    });
  });
});

describe('an account with one narrow role', () => {
  it('manages its own API keys and nobody else’s', async () => {
    const { socket } = await account('narrow-own', ['CERTIFICATE_READ']);
    const own = resultOf(await socket.call('api_key.create', [{ name: 'narrow-own' }])) as { id: number };
    expect(resultOf(await socket.call('api_key.update', [own.id, { name: 'narrow-renamed' }]))).toMatchObject({ name: 'narrow-renamed' });
    expect(resultOf(await socket.call('api_key.delete', [own.id]))).toBe(true);
  });
});

describe('the full administrator', () => {
  it('may do everything, but not lock out or demote the last full administrator', async () => {
    const other = resultOf(await admin.call('user.create', [{ username: 'second-admin', password: PASSWORD, roles: ['FULL_ADMIN'] }])) as { id: number };
    expect(resultOf(await admin.call('api_key.create', [{ name: 'second-admin-key', username: 'second-admin' }]))).toHaveProperty('key');
    expect(resultOf(await admin.call('user.update', [other.id, { password: 'reset-by-admin', locked: true }]))).toMatchObject({ locked: true });
    expect(resultOf(await admin.call('user.update', [other.id, { roles: ['CERTIFICATE_READ'] }]))).toMatchObject({ roles: ['CERTIFICATE_READ'] });
    expect(resultOf(await admin.call('user.delete', [other.id]))).toBe(true);

    // The administrator holds FULL_ADMIN directly and through the built-in administrators group.
    for (const change of [{ locked: true }, { password_disabled: true }, { roles: [], groups: [] }]) {
      const reply = await admin.call('user.update', [adminId, change]);
      expect(reply.error).toMatchObject({ code: -32001, data: { errname: 'EBUSY' } });
    }
    expect(resultOf(await admin.call('user.get_instance', [adminId]))).toMatchObject({ roles: ['FULL_ADMIN'], locked: false });
  });
});
