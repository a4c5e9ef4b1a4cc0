import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROLES } from '../../src/auth/roles.js';
import { RawSocket } from '../helpers/raw-socket.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
const logLines: string[] = [];

beforeAll(async () => {
  server = await startTestServer({ logLines });
});
afterAll(async () => {
  await server.close();
});

const admin = () => RawSocket.admin(server);

const loginEx = (socket: RawSocket, data: object) => socket.call('auth.login_ex', [data]);

/** The invalid-params reply of a call, as `[attribute, message, errno]` triples; fails on anything else. */
function invalidParams(reply: Record<string, unknown>): unknown[] {
  expect(reply.error).toMatchObject({ code: -32602, message: 'Invalid params', data: { error: 22, errname: 'EINVAL' } });
  return (reply.error as { data: { extra: unknown[] } }).data.extra;
}

const TAGS = "'PASSWORD_PLAIN', 'API_KEY_PLAIN', 'TOKEN_PLAIN', 'OTP_TOKEN'";

describe('auth.login_ex', () => {
  it('logs in with PASSWORD_PLAIN and returns the user', async () => {
    const socket = await RawSocket.open(server.url);
    const reply = await loginEx(socket, { mechanism: 'PASSWORD_PLAIN', username: 'admin', password: server.admin.password });
    expect(reply.result).toMatchObject({
      response_type: 'SUCCESS',
      authenticator: 'LEVEL_1',
      user_info: { pw_name: 'admin', privilege: { roles: expect.arrayContaining(['FULL_ADMIN', 'CERTIFICATE_WRITE']) } },
    });
    expect((await socket.call('core.ping')).result).toBe('pong');
    socket.close();
  });

  it('answers AUTH_ERR for a wrong password or an unknown user, and stays anonymous', async () => {
    const socket = await RawSocket.open(server.url);
    expect((await loginEx(socket, { mechanism: 'PASSWORD_PLAIN', username: 'admin', password: 'wrong' })).result).toEqual({ response_type: 'AUTH_ERR' });
    expect((await loginEx(socket, { mechanism: 'PASSWORD_PLAIN', username: 'ghost', password: 'x' })).result).toEqual({ response_type: 'AUTH_ERR' });
    expect((await socket.call('core.ping')).error).toMatchObject({ data: { errname: 'ENOTAUTHENTICATED' } });
    socket.close();
  });

  it('rejects an unknown or missing mechanism as pydantic does, before login', async () => {
    const socket = await RawSocket.open(server.url);
    expect(invalidParams(await loginEx(socket, { mechanism: 'MAGIC', username: 'admin' }))).toEqual([
      ['login_data', `Input tag 'MAGIC' found using 'mechanism' does not match any of the expected tags: ${TAGS}`, 22],
    ]);
    expect(invalidParams(await loginEx(socket, { username: 'admin' }))).toEqual([['login_data.mechanism', 'Field required', 22]]);
    socket.close();
  });

  it('names the mechanism in the path of its fields, and refuses extra inputs', async () => {
    const socket = await RawSocket.open(server.url);
    expect(invalidParams(await loginEx(socket, { mechanism: 'PASSWORD_PLAIN', username: 7, colour: 'red' }))).toEqual([
      ['login_data.PASSWORD_PLAIN.username', 'Input should be a valid string', 22],
      ['login_data.PASSWORD_PLAIN.password', 'Field required', 22],
      ['login_data.PASSWORD_PLAIN.colour', 'Extra inputs are not permitted', 22],
    ]);
    const reply = await loginEx(socket, { mechanism: 'TOKEN_PLAIN', token: 't'.repeat(1025), login_options: { user_info: 'no' } });
    expect(invalidParams(reply)).toEqual([
      ['login_data.TOKEN_PLAIN.token', 'String should have at most 1024 characters', 22],
      ['login_data.TOKEN_PLAIN.login_options.user_info', 'Input should be a valid boolean', 22],
    ]);
    expect((reply.error as { data: { reason: string } }).data.reason).toBe(
      '[EINVAL] login_data.TOKEN_PLAIN.token: String should have at most 1024 characters\n' +
        '[EINVAL] login_data.TOKEN_PLAIN.login_options.user_info: Input should be a valid boolean\n',
    );
    expect(invalidParams(await socket.call('auth.login_ex', ['PASSWORD_PLAIN']))).toEqual([['login_data', 'Input should be a valid dictionary', 22]]);
    expect((await socket.call('core.ping')).error).toMatchObject({ data: { errname: 'ENOTAUTHENTICATED' } });
    socket.close();
  });

  it('answers AUTH_ERR to login_ex_continue, since no second factor is ever asked for', async () => {
    const socket = await RawSocket.open(server.url);
    expect((await socket.call('auth.login_ex_continue', [{ mechanism: 'OTP_TOKEN', otp_token: '123456' }])).result).toEqual({ response_type: 'AUTH_ERR' });
    expect((await socket.call('core.ping')).error).toMatchObject({ data: { errname: 'ENOTAUTHENTICATED' } });
    socket.close();
  });

  it('never writes the password to the log', async () => {
    const socket = await RawSocket.open(server.url);
    await loginEx(socket, { mechanism: 'PASSWORD_PLAIN', username: 'admin', password: 'distinctive-wrong-password' });
    socket.close();
    const failed = logLines.filter((line) => line.includes('failed login'));
    expect(failed.length).toBeGreaterThan(0);
    expect(logLines.join('\n')).not.toContain('distinctive-wrong-password');
    expect(logLines.join('\n')).not.toContain(server.admin.password);
  });
});

describe('argument errors of the other auth methods', () => {
  it('are worded as pydantic words them', async () => {
    const socket = await RawSocket.open(server.url);
    expect(invalidParams(await socket.call('auth.login', [5]))).toEqual([
      ['username', 'Input should be a valid string', 22],
      ['password', 'Field required', 22],
    ]);
    expect(invalidParams(await socket.call('auth.login_with_api_key', [null]))).toEqual([['api_key', 'Input should be a valid string', 22]]);
    expect(invalidParams(await socket.call('auth.login_ex_continue', [{ mechanism: 'PASSWORD_PLAIN' }]))).toEqual([
      ['login_data.mechanism', "Input should be 'OTP_TOKEN'", 22],
      ['login_data.otp_token', 'Field required', 22],
    ]);
    expect(invalidParams(await socket.call('auth.mechanism_choices', [1]))).toEqual([['', 'Too many arguments (expected 0, found 1)', 22]]);
    socket.close();

    const logged = await admin();
    expect(invalidParams(await logged.call('auth.generate_token', ['600', [], 'yes']))).toEqual([
      ['ttl', 'Input should be a valid integer', 22],
      ['attrs', 'Input should be a valid dictionary', 22],
      ['match_origin', 'Input should be a valid boolean', 22],
    ]);
    expect(invalidParams(await logged.call('auth.sessions', [[], { limit: 'all' }]))).toEqual([['options.limit', 'Input should be a valid integer', 22]]);
    expect(invalidParams(await logged.call('auth.terminate_session', []))).toEqual([['id', 'Field required', 22]]);
    expect(invalidParams(await logged.call('auth.me', [{}]))).toEqual([['', 'Too many arguments (expected 0, found 1)', 22]]);
    logged.close();
  });
});

describe('auth.login, auth.me, auth.logout', () => {
  it('returns true and false, reports the user and forgets it on logout', async () => {
    const socket = await RawSocket.open(server.url);
    expect((await socket.call('auth.login', ['admin', 'nope'])).result).toBe(false);
    expect((await socket.call('auth.login', ['admin', server.admin.password])).result).toBe(true);
    expect((await socket.call('auth.me')).result).toMatchObject({ pw_name: 'admin', account_attributes: ['LOCAL', 'SYS_ADMIN'] });
    expect((await socket.call('auth.logout')).result).toBe(true);
    expect((await socket.call('auth.me')).error).toMatchObject({ data: { error: 207 } });
    socket.close();
  });
});

describe('API keys', () => {
  it('shows the key once, stores it hashed, and logs in with it', async () => {
    const socket = await admin();
    const created = (await socket.call('api_key.create', [{ name: 'script' }])).result as { id: number; key: string };
    expect(created.key).toMatch(new RegExp(`^${created.id}-.{40,}$`));
    const listed = (await socket.call('api_key.query', [[['id', '=', created.id]]])).result as Array<Record<string, unknown>>;
    expect(listed).toHaveLength(1);
    expect(listed[0]).not.toHaveProperty('key');
    // The secret is all after the first "-": base64url may hold "-" too, even at its start.
    const secret = created.key.slice(created.key.indexOf('-') + 1);
    expect(JSON.stringify(listed)).not.toContain(secret);

    const db = fs.readFileSync(path.join(server.dataDir, 'certmid.db'));
    expect(db.includes(Buffer.from(secret))).toBe(false);

    const client = await RawSocket.open(server.url);
    expect((await client.call('auth.login_with_api_key', [created.key])).result).toBe(true);
    expect((await client.call('auth.me')).result).toMatchObject({ pw_name: 'admin', account_attributes: ['LOCAL', 'SYS_ADMIN', 'API_KEY'] });
    client.close();

    const viaEx = await RawSocket.open(server.url);
    expect((await loginEx(viaEx, { mechanism: 'API_KEY_PLAIN', username: 'admin', api_key: created.key })).result).toMatchObject({ response_type: 'SUCCESS' });
    expect((await loginEx(viaEx, { mechanism: 'API_KEY_PLAIN', username: 'other', api_key: created.key })).result).toEqual({ response_type: 'AUTH_ERR' });
    viaEx.close();
    socket.close();
  });

  it('stops working after reset or delete', async () => {
    const socket = await admin();
    const created = (await socket.call('api_key.create', [{ name: 'short-lived' }])).result as { id: number; key: string };
    const reset = (await socket.call('api_key.update', [created.id, { reset: true }])).result as { key: string };
    expect(reset.key).not.toBe(created.key);
    const probe = await RawSocket.open(server.url);
    expect((await probe.call('auth.login_with_api_key', [created.key])).result).toBe(false);
    expect((await probe.call('auth.login_with_api_key', [reset.key])).result).toBe(true);
    probe.close();
    expect((await socket.call('api_key.delete', [created.id])).result).toBe(true);
    const after = await RawSocket.open(server.url);
    expect((await after.call('auth.login_with_api_key', [reset.key])).result).toBe(false);
    expect((await after.call('auth.login_with_api_key', ['not-a-key'])).result).toBe(false);
    after.close();
    socket.close();
  });

  it('rejects a duplicate name at api_key_create.name', async () => {
    const socket = await admin();
    await socket.call('api_key.create', [{ name: 'twice' }]);
    const reply = await socket.call('api_key.create', [{ name: 'twice' }]);
    expect(reply.error).toMatchObject({ code: -32602, data: { extra: [['api_key_create.name', 'API key with this name already exists', 17]] } });
    socket.close();
  });

  it('words argument errors as pydantic does, under api_key_create and api_key_update', async () => {
    const socket = await admin();
    expect(invalidParams(await socket.call('api_key.create', [{ name: 'extra', foo: 1 }]))).toEqual([['api_key_create.foo', 'Extra inputs are not permitted', 22]]);
    expect(invalidParams(await socket.call('api_key.create', [{ name: '', username: 5, expires_at: 'tomorrow' }]))).toEqual([
      ['api_key_create.name', 'String should have at least 1 character', 22],
      ['api_key_create.username', 'Input should be a valid string', 22],
      ['api_key_create.expires_at', 'Input should be a valid datetime', 22],
    ]);
    expect(invalidParams(await socket.call('api_key.create', [{}]))).toEqual([['api_key_create.name', 'Field required', 22]]);
    expect(invalidParams(await socket.call('api_key.create', []))).toEqual([['api_key_create', 'Field required', 22]]);
    expect(invalidParams(await socket.call('api_key.update', ['1', { name: 'n'.repeat(201), reset: 'yes', username: 'root' }]))).toEqual([
      ['id', 'Input should be a valid integer', 22],
      ['api_key_update.name', 'String should have at most 200 characters', 22],
      ['api_key_update.reset', 'Input should be a valid boolean', 22],
      ['api_key_update.username', 'Extra inputs are not permitted', 22],
    ]);
    expect(invalidParams(await socket.call('api_key.delete', [1, true]))).toEqual([['', 'Too many arguments (expected 1, found 2)', 22]]);
    expect(invalidParams(await socket.call('api_key.query', ['x', { bogus: 1 }]))).toEqual([
      ['filters', 'Input should be a valid list', 22],
      ['options.bogus', 'Extra inputs are not permitted', 22],
    ]);
    socket.close();
  });

  it('answers get_instance of a missing key with ENOENT', async () => {
    const socket = await admin();
    const reply = await socket.call('api_key.get_instance', [9999]);
    expect(reply.error).toMatchObject({ code: -32602, data: { extra: [[null, 'API key 9999 does not exist', 2]], reason: '[ENOENT] None: API key 9999 does not exist\n' } });
    socket.close();
  });
});

describe('user argument errors', () => {
  it('are worded as pydantic words them, under user_create and user_update', async () => {
    const socket = await admin();
    // Checks of certmid's own (the password length) keep their message beside pydantic's.
    const created = await socket.call('user.create', [{ username: 'ops', password: 'short', colour: 'red' }]);
    expect(invalidParams(created)).toEqual([
      ['user_create.password', 'Must be at least 8 characters long', 22],
      ['user_create.colour', 'Extra inputs are not permitted', 22],
    ]);
    expect((created.error as { data: { reason: string } }).data.reason).toBe(
      '[EINVAL] user_create.password: Must be at least 8 characters long\n[EINVAL] user_create.colour: Extra inputs are not permitted\n',
    );
    const quoted = ROLES.map((role) => `'${role}'`);
    expect(invalidParams(await socket.call('user.create', [{ password: 'a-long-password', roles: ['ROOT'], locked: 0 }]))).toEqual([
      ['user_create.username', 'Field required', 22],
      ['user_create.roles.0', `Input should be ${quoted.slice(0, -1).join(', ')} or ${quoted.at(-1)}`, 22],
      ['user_create.locked', 'Input should be a valid boolean', 22],
    ]);
    expect(invalidParams(await socket.call('user.update', [1, { username: 'renamed', full_name: null }]))).toEqual([
      ['user_update.full_name', 'Input should be a valid string', 22],
      ['user_update.username', 'Extra inputs are not permitted', 22],
    ]);
    expect(invalidParams(await socket.call('user.get_instance', []))).toEqual([['id', 'Field required', 22]]);
    expect(invalidParams(await socket.call('user.delete', [1.5]))).toEqual([['id', 'Input should be a valid integer', 22]]);
    socket.close();
  });
});

describe('tokens', () => {
  it('logs in with a token, and a single-use token only once', async () => {
    const socket = await admin();
    const token = (await socket.call('auth.generate_token', [600, {}, false])).result as string;
    expect(token.length).toBeGreaterThanOrEqual(64);
    const a = await RawSocket.open(server.url);
    expect((await a.call('auth.login_with_token', [token])).result).toBe(true);
    const b = await RawSocket.open(server.url);
    expect((await loginEx(b, { mechanism: 'TOKEN_PLAIN', token })).result).toMatchObject({ response_type: 'SUCCESS' });

    const once = (await socket.call('auth.generate_token', [600, {}, false, true])).result as string;
    const c = await RawSocket.open(server.url);
    expect((await c.call('auth.login_with_token', [once])).result).toBe(true);
    const d = await RawSocket.open(server.url);
    expect((await d.call('auth.login_with_token', [once])).result).toBe(false);
    [a, b, c, d, socket].forEach((s) => s.close());
  });
});

describe('auth.sessions', () => {
  it('lists logged-in sessions and marks the current one', async () => {
    const socket = await admin();
    const sessions = (await socket.call('auth.sessions', [[['current', '=', true]]])).result as Array<Record<string, unknown>>;
    expect(sessions).toHaveLength(1);
    expect(sessions[0]).toMatchObject({ credentials: 'LOGIN_PASSWORD', credentials_data: { username: 'admin' }, origin: '127.0.0.1' });
    socket.close();
  });
});

describe('failed-login throttling', () => {
  it('refuses further attempts from an address after too many failures', async () => {
    const socket = await RawSocket.open(server.url);
    let refused: Record<string, unknown> | undefined;
    for (let i = 0; i < 15 && !refused; i++) {
      const reply = await socket.call('auth.login', ['admin', `bad-${i}`]);
      if (reply.error) refused = reply;
    }
    expect(refused?.error).toMatchObject({ code: -32001, data: { errname: 'EBUSY', reason: expect.stringMatching(/^\[EBUSY\] Rate Limit Exceeded; try again in \d+ seconds?$/) } });
    expect((await socket.call('auth.login', ['admin', server.admin.password])).error).toMatchObject({ data: { errname: 'EBUSY' } });
    socket.close();
  });
});
