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

const admin = () => RawSocket.admin(server);

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

describe('argument errors', () => {
  const extra = (reply: Record<string, unknown>) => {
    expect(reply.error).toMatchObject({ code: -32602, message: 'Invalid params', data: { error: 22, errname: 'EINVAL' } });
    return (reply.error as { data: { extra: unknown[] } }).data.extra;
  };

  it('of ping, set_options, subscribe and unsubscribe are worded as pydantic words them, even before login', async () => {
    const socket = await RawSocket.open(server.url);
    expect(extra(await socket.call('core.set_options', [{ private_methods: 1, py_exceptions: 'no' }]))).toEqual([
      ['options.private_methods', 'Input should be a valid boolean', 22],
      ['options.py_exceptions', 'Input should be a valid boolean', 22],
    ]);
    expect(extra(await socket.call('core.set_options', [{}, {}]))).toEqual([['', 'Too many arguments (expected 1, found 2)', 22]]);
    socket.close();

    const logged = await admin();
    expect(extra(await logged.call('core.ping', [null]))).toEqual([['', 'Too many arguments (expected 0, found 1)', 22]]);
    expect(extra(await logged.call('core.subscribe', []))).toEqual([['event', 'Field required', 22]]);
    expect(extra(await logged.call('core.subscribe', [['user.query']]))).toEqual([['event', 'Input should be a valid string', 22]]);
    expect(extra(await logged.call('core.unsubscribe', [42]))).toEqual([['id_', 'Input should be a valid string', 22]]);
    logged.close();
  });

  it('of get_jobs, job_abort and get_methods keep the legacy wording, as in TrueNAS 25.04', async () => {
    const socket = await admin();
    expect(extra(await socket.call('core.get_jobs', [[], { count: 'yes', bogus: 1 }]))).toEqual([
      ['options.count', 'Not a boolean', 22],
      ['options.bogus', 'Field was not expected', 22],
    ]);
    expect(extra(await socket.call('core.job_abort', [null]))).toEqual([['id', 'null not allowed', 22]]);
    expect(extra(await socket.call('core.get_methods', [null, 'HTTP']))).toEqual([['target', 'Invalid choice: HTTP', 22]]);
    socket.close();
  });

  it('of core.job_wait, a legacy-schema job, fail its job with the legacy wording', async () => {
    const socket = await admin();
    const jobId = (await socket.call('core.job_wait', [])).result as number;
    expect(jobId).toEqual(expect.any(Number));

    expect((await socket.call('core.set_options', [{ legacy_jobs: false }])).error).toBeUndefined();
    // Waiting for the failed job ends the same way (core.job_wait takes its outcome).
    expect(extra(await socket.call('core.job_wait', [jobId]))).toEqual([['id', 'attribute required', 22]]);
    const job = (await socket.call('core.get_jobs', [[['id', '=', jobId]], { get: true }])).result;
    expect(job).toMatchObject({ state: 'FAILED', exc_info: { type: 'VALIDATION', extra: [['id', 'attribute required', 22]] } });
    expect(extra(await socket.call('core.job_wait', [null]))).toEqual([['id', 'null not allowed', 22]]);
    expect(extra(await socket.call('core.job_wait', [1, 2]))).toEqual([['', 'Too many arguments (expected 1, found 2)', 22]]);
    socket.close();
  });
});
