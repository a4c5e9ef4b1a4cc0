import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawSocket } from '../helpers/raw-socket.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server.close();
});

async function admin(): Promise<RawSocket> {
  const socket = await RawSocket.open(server.url);
  await socket.login(server.admin.username, server.admin.password);
  return socket;
}

describe('core.set_options', () => {
  it('works before login and returns the options in effect', async () => {
    const socket = await RawSocket.open(server.url);
    expect((await socket.call('core.set_options', [{ legacy_jobs: false, unknown_key: 1 }])).result).toEqual({
      legacy_jobs: false,
      private_methods: false,
      py_exceptions: false,
    });
    expect((await socket.call('core.set_options', [{}])).result).toMatchObject({ legacy_jobs: false });
    socket.close();
  });
});

describe('core.subscribe', () => {
  it('sends id-only collection_update events after the change commits, and stops after unsubscribe', async () => {
    const watcher = await admin();
    const subscription = (await watcher.call('core.subscribe', ['user.query'])).result as string;
    expect(subscription).toMatch(/^[0-9a-f-]{36}$/);

    const writer = await admin();
    const created = (await writer.call('user.create', [{ username: 'watched', password: 'a-long-password' }])).result as { id: number };
    expect(await watcher.next()).toEqual({
      jsonrpc: '2.0',
      method: 'collection_update',
      params: { msg: 'added', collection: 'user.query', id: created.id },
    });
    await writer.call('user.update', [created.id, { full_name: 'Watched User' }]);
    expect((await watcher.next()).params).toEqual({ msg: 'changed', collection: 'user.query', id: created.id });
    await writer.call('user.delete', [created.id]);
    expect((await watcher.next()).params).toEqual({ msg: 'removed', collection: 'user.query', id: created.id });

    expect((await watcher.call('core.unsubscribe', [subscription])).result).toBeNull();
    await writer.call('user.create', [{ username: 'unwatched', password: 'a-long-password' }]);
    // The next message is the ping's reply: nothing about the new user arrived first.
    expect((await watcher.call('core.ping')).result).toBe('pong');
    expect(await watcher.next(300).catch(() => 'nothing')).toBe('nothing');
    watcher.close();
    writer.close();
  });

  it('sends nothing for a change that failed', async () => {
    const watcher = await admin();
    await watcher.call('core.subscribe', ['user.query']);
    const writer = await admin();
    const reply = await writer.call('user.create', [{ username: 'admin', password: 'a-long-password' }]);
    expect(reply.error).toMatchObject({ code: -32602, data: { extra: [['user_create.username', expect.any(String), 17]] } });
    expect((await watcher.call('core.ping')).result).toBe('pong');
    watcher.close();
    writer.close();
  });

  it('refuses an unknown event and one the caller may not read', async () => {
    const socket = await admin();
    expect((await socket.call('core.subscribe', ['nothing.here'])).error).toMatchObject({ data: { errname: 'ENOENT' } });
    await socket.call('user.create', [{ username: 'limited', password: 'a-long-password', roles: [] }]);
    const limited = await RawSocket.open(server.url);
    await limited.login('limited', 'a-long-password');
    expect((await limited.call('core.subscribe', ['user.query'])).error).toMatchObject({ data: { errname: 'EACCES' } });
    expect((await limited.call('core.subscribe', ['core.get_jobs'])).result).toEqual(expect.any(String));
    limited.close();
    socket.close();
  });
});

describe('logout', () => {
  it('ends the subscriptions with notify_unsubscribed naming ENOTAUTHENTICATED', async () => {
    const socket = await admin();
    await socket.call('core.subscribe', ['user.query']);
    await socket.call('auth.logout');
    expect(await socket.next()).toMatchObject({
      method: 'notify_unsubscribed',
      params: { collection: 'user.query', error: { errname: 'ENOTAUTHENTICATED' } },
    });
    socket.close();
  });
});

describe('core.get_jobs visibility', () => {
  it('shows a user only their own jobs while a full admin sees all', async () => {
    const socket = await admin();
    const jobId = (await socket.call('test.job_with_progress', [1, 0])).result as number;
    await socket.call('user.create', [{ username: 'jobless', password: 'a-long-password', roles: ['READONLY_ADMIN'] }]);
    const other = await RawSocket.open(server.url);
    await other.login('jobless', 'a-long-password');
    expect((await other.call('core.get_jobs', [[['id', '=', jobId]]])).result).toEqual([]);
    expect((await other.call('core.job_abort', [jobId])).error).toMatchObject({ data: { errname: 'EPERM' } });
    expect((await socket.call('core.get_jobs', [[['id', '=', jobId]], { get: true }])).result).toMatchObject({ id: jobId, method: 'test.job_with_progress' });
    expect((await socket.call('core.job_abort', [424242])).error).toMatchObject({ data: { errname: 'ENOENT', reason: '[ENOENT] Job does not exist' } });
    other.close();
    socket.close();
  });
});
