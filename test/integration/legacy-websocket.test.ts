import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawSocket } from '../helpers/raw-socket.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

type Message = Record<string, unknown>;

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server.close();
});

const legacyUrl = () => `ws://127.0.0.1:${server.port}/websocket`;

/** A legacy-protocol connection: calls are matched by id, and other messages stay queued in order. */
class LegacySocket {
  private readonly held: Message[] = [];
  private calls = 0;

  private constructor(readonly raw: RawSocket) {}

  static async open(): Promise<LegacySocket> {
    return new LegacySocket(await RawSocket.open(legacyUrl()));
  }

  /** Opened and past the `connect` handshake. */
  static async connected(): Promise<LegacySocket> {
    const socket = await LegacySocket.open();
    socket.send({ msg: 'connect', version: '1', support: ['1'] });
    expect((await socket.next()).msg).toBe('connected');
    return socket;
  }

  /** Connected and logged in with `auth.login`. */
  static async as(username: string, password: string): Promise<LegacySocket> {
    const socket = await LegacySocket.connected();
    expect((await socket.call('auth.login', [username, password])).result).toBe(true);
    return socket;
  }

  static admin(): Promise<LegacySocket> {
    return LegacySocket.as(server.admin.username, server.admin.password);
  }

  send(message: object): void {
    this.raw.send(message);
  }

  next(timeoutMs?: number): Promise<Message> {
    const held = this.held.shift();
    return held ? Promise.resolve(held) : this.raw.next(timeoutMs);
  }

  /** The first message `matches` accepts; the ones before it stay queued. */
  async until(matches: (message: Message) => boolean): Promise<Message> {
    const skipped: Message[] = [];
    for (;;) {
      const message = await this.next();
      if (matches(message)) {
        this.held.unshift(...skipped);
        return message;
      }
      skipped.push(message);
    }
  }

  /** Sends a `method` message and returns its `result` message. */
  call(method: string, params: unknown[] = [], id = `call-${++this.calls}`): Promise<Message> {
    this.send({ id, msg: 'method', method, params });
    return this.until((message) => message.msg === 'result' && message.id === id);
  }

  close(): void {
    this.raw.close();
  }
}

/** A logged-in legacy connection of a new account with the given roles. */
async function userWith(roles: string[]): Promise<LegacySocket> {
  const admin = await LegacySocket.admin();
  const username = `legacy-${randomUUID().slice(0, 8)}`;
  await admin.call('user.create', [{ username, password: 'a-long-password', roles }]);
  admin.close();
  return LegacySocket.as(username, 'a-long-password');
}

/** The error object of a refusal that has no traceback, as TrueNAS's `send_error` builds it. */
function plainError(errno: number, errname: string, reason: string): Message {
  return { error: errno, errname, type: null, reason, trace: null, extra: null };
}

describe('handshake', () => {
  it('answers connect with connected and a session id', async () => {
    const socket = await LegacySocket.open();
    socket.send({ msg: 'connect', version: '1', support: ['1'] });
    expect(await socket.next()).toEqual({ msg: 'connected', session: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    socket.close();
  });

  it('answers another version with failed, and still accepts version 1 after', async () => {
    const socket = await LegacySocket.open();
    socket.send({ msg: 'connect', version: '2', support: ['2'] });
    expect(await socket.next()).toEqual({ msg: 'failed', version: '1' });
    socket.send({ msg: 'connect', version: '1', support: ['1'] });
    expect((await socket.next()).msg).toBe('connected');
    socket.close();
  });

  it('answers any message before connect with failed', async () => {
    const socket = await LegacySocket.open();
    socket.send({ id: 'early', msg: 'method', method: 'auth.mechanism_choices', params: [] });
    expect(await socket.next()).toEqual({ msg: 'failed', version: '1' });
    socket.send({ msg: 'sub', id: 'early-sub', name: 'core.get_jobs' });
    expect(await socket.next()).toEqual({ msg: 'failed', version: '1' });
    socket.close();
  });

  it('accepts the PY_EXCEPTIONS feature and sends no pickled exceptions', async () => {
    const socket = await LegacySocket.open();
    socket.send({ msg: 'connect', version: '1', support: ['1'], features: ['PY_EXCEPTIONS'] });
    expect((await socket.next()).msg).toBe('connected');
    const reply = await socket.call('core.ping');
    expect(reply.error).toEqual(plainError(207, 'ENOTAUTHENTICATED', '[ENOTAUTHENTICATED] Not authenticated'));
    socket.close();
  });

  it('ignores ping, as the 25.04 handler does', async () => {
    const socket = await LegacySocket.connected();
    socket.send({ msg: 'ping', id: 'p1' });
    socket.send({ id: 'after', msg: 'method', method: 'auth.mechanism_choices', params: [] });
    expect(await socket.next()).toEqual({ id: 'after', msg: 'result', result: ['API_KEY_PLAIN', 'TOKEN_PLAIN', 'PASSWORD_PLAIN'] });
    socket.close();
  });
});

describe('login', () => {
  it('logs in with auth.login', async () => {
    const socket = await LegacySocket.connected();
    expect(await socket.call('auth.login', [server.admin.username, server.admin.password], 'login')).toEqual({
      id: 'login',
      msg: 'result',
      result: true,
    });
    expect((await socket.call('core.ping')).result).toBe('pong');
    socket.close();
  });

  it('logs in with auth.login_with_api_key and a key from api_key.create', async () => {
    const admin = await LegacySocket.admin();
    const created = (await admin.call('api_key.create', [{ name: `legacy-${randomUUID()}` }])).result as { key: string };
    admin.close();
    const socket = await LegacySocket.connected();
    expect((await socket.call('auth.login_with_api_key', [created.key])).result).toBe(true);
    expect((await socket.call('core.ping')).result).toBe('pong');
    socket.close();
  });
});

describe('calls', () => {
  it('records a refused call of an audited method in the audit log, as the JSON-RPC endpoint does', async () => {
    const anonymous = await LegacySocket.connected();
    expect(await anonymous.call('certificateauthority.delete', [4242], 'refused')).toMatchObject({ msg: 'result', error: { errname: 'ENOTAUTHENTICATED' } });
    anonymous.close();
    const admin = await LegacySocket.admin();
    const recorded = async () =>
      (await admin.call('audit.query', [{ 'query-filters': [['event_data.method', '=', 'certificateauthority.delete']] }])).result as Message[];
    await expect.poll(recorded).toHaveLength(1);
    expect((await recorded())[0]).toMatchObject({
      username: '',
      success: false,
      event_data: { authenticated: false, authorized: false, params: ['(not read)'] },
    });
    admin.close();
  });

  it('answers a call with its result, encoded as ejson', async () => {
    const socket = await LegacySocket.admin();
    const value = { when: { $date: 1_700_000_000_000 }, items: [1, 'two', null] };
    expect(await socket.call('test.echo', [value], 'echo')).toEqual({ id: 'echo', msg: 'result', result: value });
    socket.close();
  });

  it('answers a job method with its job id, even after core.set_options asks for results', async () => {
    const socket = await LegacySocket.admin();
    expect((await socket.call('core.set_options', [{ legacy_jobs: false }])).result).toMatchObject({ legacy_jobs: true });
    expect((await socket.call('test.job_with_progress', [1, 0])).result).toEqual(expect.any(Number));
    socket.close();
  });

  it('treats absent params as none', async () => {
    const socket = await LegacySocket.admin();
    socket.send({ id: 'bare', msg: 'method', method: 'core.ping' });
    expect(await socket.until((m) => m.id === 'bare')).toEqual({ id: 'bare', msg: 'result', result: 'pong' });
    socket.close();
  });
});

describe('errors', () => {
  it('refuses a call before login with ENOTAUTHENTICATED', async () => {
    const socket = await LegacySocket.connected();
    expect(await socket.call('certificate.query', [], 'anon')).toEqual({
      msg: 'result',
      id: 'anon',
      error: plainError(207, 'ENOTAUTHENTICATED', '[ENOTAUTHENTICATED] Not authenticated'),
    });
    socket.close();
  });

  it('refuses a caller without the role with EACCES', async () => {
    const socket = await userWith([]);
    expect((await socket.call('test.echo', [1])).error).toEqual(plainError(13, 'EACCES', '[EACCES] Not authorized'));
    socket.close();
  });

  it.each([
    ['test.nothing', "[ENOMETHOD] Method 'nothing' not found in 'test'"],
    ['nowhere.nothing', "[ENOMETHOD] Service 'nowhere' not found"],
  ])('answers the unknown method %s with ENOMETHOD', async (method, reason) => {
    const socket = await LegacySocket.connected();
    expect((await socket.call(method)).error).toEqual(plainError(201, 'ENOMETHOD', reason));
    socket.close();
  });

  it('answers a method name without a dot with EBADMSG', async () => {
    const socket = await LegacySocket.connected();
    expect((await socket.call('ping')).error).toEqual(plainError(74, 'EBADMSG', '[EBADMSG] Invalid method name'));
    socket.close();
  });

  it('answers a message without method, or with params that are not a list, with EINVAL', async () => {
    const socket = await LegacySocket.admin();
    socket.send({ id: 'no-method', msg: 'method', params: [] });
    expect(await socket.next()).toEqual({
      msg: 'result',
      id: 'no-method',
      error: plainError(22, 'EINVAL', "Message is malformed: 'method' is absent."),
    });
    socket.send({ id: 'bad-params', msg: 'method', method: 'core.ping', params: { a: 1 } });
    expect(await socket.next()).toEqual({ msg: 'result', id: 'bad-params', error: plainError(22, 'EINVAL', '`params` must be a list.') });
    socket.close();
  });

  it('reports ValidationErrors as EAGAIN with type VALIDATION and the [attribute, message, errno] list', async () => {
    const socket = await LegacySocket.admin();
    const reason = '[EINVAL] : Too many arguments (expected 0, found 1)\n';
    expect((await socket.call('core.ping', [1])).error).toEqual({
      error: 11,
      errname: 'EAGAIN',
      type: 'VALIDATION',
      reason,
      trace: { class: 'ValidationErrors', frames: [], formatted: reason, repr: reason },
      extra: [['', 'Too many arguments (expected 0, found 1)', 22]],
    });
    socket.close();
  });

  it('carries the pydantic wording of pydantic-model methods and the legacy wording of the others', async () => {
    const socket = await LegacySocket.admin();
    const reason = '[EINVAL] user_create.username: Field required\n[EINVAL] user_create.colour: Extra inputs are not permitted\n';
    expect((await socket.call('user.create', [{ password: 'a-long-password', colour: 'red' }])).error).toEqual({
      error: 11,
      errname: 'EAGAIN',
      type: 'VALIDATION',
      reason,
      trace: { class: 'ValidationErrors', frames: [], formatted: reason, repr: reason },
      extra: [
        ['user_create.username', 'Field required', 22],
        ['user_create.colour', 'Extra inputs are not permitted', 22],
      ],
    });
    expect((await socket.call('core.get_jobs', [[], { bogus: true }])).error).toMatchObject({
      type: 'VALIDATION',
      extra: [['options.bogus', 'Field was not expected', 22]],
    });
    socket.close();
  });

  it('reports a single ValidationError (instance not found) with its own errno', async () => {
    const socket = await LegacySocket.admin();
    const reason = '[ENOENT] None: User 987654 does not exist';
    expect((await socket.call('user.get_instance', [987654])).error).toEqual({
      error: 2,
      errname: 'ENOENT',
      type: 'VALIDATION',
      reason,
      trace: { class: 'ValidationError', frames: [], formatted: reason, repr: reason },
      extra: [[null, 'User 987654 does not exist', 2]],
    });
    socket.close();
  });

  it('reports a CallError with its errno and type null', async () => {
    const socket = await LegacySocket.admin();
    expect((await socket.call('core.subscribe', ['nothing.here'])).error).toEqual(
      plainError(2, 'ENOENT', '[ENOENT] Event nothing.here does not exist'),
    );
    socket.close();
  });

  it('refuses more than 20 concurrent calls with ETOOMANYREFS', async () => {
    const socket = await LegacySocket.admin();
    // Each login hashes a password off the event loop, so all 21 are in flight together.
    for (let i = 0; i < 21; i++) {
      socket.send({ id: `login-${i}`, msg: 'method', method: 'auth.login', params: [server.admin.username, server.admin.password] });
    }
    const outcomes: Message[] = [];
    while (outcomes.length < 21) {
      const message = await socket.next(10_000);
      if (typeof message.id === 'string' && message.id.startsWith('login-')) outcomes.push(message);
    }
    const refused = outcomes.filter((m) => m.error !== undefined);
    expect(refused).toHaveLength(1);
    expect(refused[0]!.error).toEqual(plainError(109, 'ETOOMANYREFS', 'Maximum number of concurrent calls (20) has exceeded.'));
    socket.close();
  });
});

describe('subscriptions', () => {
  it('answers sub with ready and sends a job from added through changed to SUCCESS', async () => {
    const socket = await LegacySocket.admin();
    socket.send({ msg: 'sub', id: 'jobs', name: 'core.get_jobs' });
    expect(await socket.next()).toEqual({ msg: 'ready', subs: ['jobs'] });

    const jobId = (await socket.call('test.job_with_progress', [3, 10])).result;
    expect(jobId).toEqual(expect.any(Number));
    const ofJob = (m: Message) => m.collection === 'core.get_jobs' && m.id === jobId;

    const added = await socket.until(ofJob);
    expect(Object.keys(added)).toEqual(['msg', 'collection', 'id', 'fields']);
    expect(added).toMatchObject({ msg: 'added', fields: { id: jobId, method: 'test.job_with_progress', state: 'WAITING' } });

    const changes: Message[] = [];
    let fields: Message;
    do {
      const changed = await socket.until(ofJob);
      changes.push(changed);
      fields = changed.fields as Message;
    } while (fields.state !== 'SUCCESS');
    expect(changes.every((m) => m.msg === 'changed')).toBe(true);
    expect(changes.map((m) => (m.fields as Message).state)).toContain('RUNNING');
    expect(changes.map((m) => (m.fields as { progress: { percent: number } }).progress.percent)).toEqual(expect.arrayContaining([25, 50, 75]));
    expect(fields).toMatchObject({ result: { steps: 3 }, progress: { percent: 100 }, time_finished: { $date: expect.any(Number) } });
    socket.close();
  });

  it('sends id-only CRUD events for user.query, and none after unsub', async () => {
    const watcher = await LegacySocket.admin();
    watcher.send({ msg: 'sub', id: 'users', name: 'user.query' });
    expect(await watcher.next()).toEqual({ msg: 'ready', subs: ['users'] });

    const writer = await LegacySocket.admin();
    const created = (await writer.call('user.create', [{ username: `legacy-${randomUUID().slice(0, 8)}`, password: 'a-long-password' }]))
      .result as { id: number };
    expect(await watcher.next()).toEqual({ msg: 'added', collection: 'user.query', id: created.id });

    watcher.send({ msg: 'unsub', id: 'users' });
    await writer.call('user.create', [{ username: `legacy-${randomUUID().slice(0, 8)}`, password: 'a-long-password' }]);
    // The reply comes next: no event about the second user arrived before it.
    watcher.send({ id: 'after', msg: 'method', method: 'core.ping', params: [] });
    expect(await watcher.next()).toEqual({ id: 'after', msg: 'result', result: 'pong' });
    writer.close();
    watcher.close();
  });

  it('refuses with EACCES a sub the caller may not receive', async () => {
    const anonymous = await LegacySocket.connected();
    anonymous.send({ msg: 'sub', id: 'anon-jobs', name: 'core.get_jobs' });
    expect(await anonymous.next()).toEqual({ msg: 'result', id: 'anon-jobs', error: plainError(13, 'EACCES', 'Not authorized') });
    anonymous.close();

    const limited = await userWith([]);
    limited.send({ msg: 'sub', id: 'users', name: 'user.query' });
    expect(await limited.next()).toEqual({ msg: 'result', id: 'users', error: plainError(13, 'EACCES', 'Not authorized') });
    limited.send({ msg: 'sub', id: 'own-jobs', name: 'core.get_jobs' });
    expect(await limited.next()).toEqual({ msg: 'ready', subs: ['own-jobs'] });
    limited.close();
  });

  it('ends subscriptions on logout with nosub naming ENOTAUTHENTICATED', async () => {
    const socket = await LegacySocket.admin();
    socket.send({ msg: 'sub', id: 'users', name: 'user.query' });
    await socket.next();
    socket.send({ id: 'bye', msg: 'method', method: 'auth.logout', params: [] });
    expect(await socket.next()).toEqual({
      msg: 'nosub',
      collection: 'user.query',
      error: plainError(207, 'ENOTAUTHENTICATED', '[ENOTAUTHENTICATED] Not authenticated'),
    });
    expect(await socket.next()).toEqual({ id: 'bye', msg: 'result', result: true });
    socket.close();
  });
});

describe('framing', () => {
  it('closes with 1011 naming a key the message lacks', async () => {
    const socket = await LegacySocket.open();
    socket.send({ version: '1' });
    expect(await socket.raw.closed).toEqual({ code: 1011, reason: "'msg'" });
  });

  it('closes with 1007 on text that is not JSON', async () => {
    const socket = await LegacySocket.open();
    socket.raw.send('{"msg": ');
    const closed = await socket.raw.closed;
    expect(closed.code).toBe(1007);
    expect(closed.reason).not.toBe('');
  });

  it('closes with 1007 on a batch', async () => {
    const socket = await LegacySocket.open();
    socket.send([{ msg: 'connect', version: '1' }]);
    expect(await socket.raw.closed).toEqual({ code: 1007, reason: 'Batch messages are not supported at this time' });
  });

  it('closes an anonymous connection that sends more than 8 KiB with 1007', async () => {
    const socket = await LegacySocket.connected();
    socket.send({ id: 'big', msg: 'method', method: 'test.echo', params: ['x'.repeat(9000)] });
    expect(await socket.raw.closed).toEqual({ code: 1007, reason: 'Anonymous connection max message length is 8 kB' });
  });

  it('closes on a binary frame with 1003', async () => {
    const socket = await LegacySocket.open();
    socket.raw.ws.send(Buffer.from('{"msg":"connect","version":"1"}'), { binary: true });
    expect((await socket.raw.closed).code).toBe(1003);
  });
});

describe('endpoints', () => {
  it('serves /api/v24.10 as the current JSON-RPC API', async () => {
    const socket = await RawSocket.open(server.url.replace('/api/current', '/api/v24.10'));
    expect((await socket.call('auth.mechanism_choices')).result).toEqual(['API_KEY_PLAIN', 'TOKEN_PLAIN', 'PASSWORD_PLAIN']);
    socket.close();
  });
});
