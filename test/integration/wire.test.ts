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

async function loggedIn(): Promise<RawSocket> {
  const socket = await RawSocket.open(server.url);
  await socket.login(server.admin.username, server.admin.password);
  return socket;
}

describe('envelope', () => {
  it('answers unparseable JSON with -32700 and id null', async () => {
    const socket = await RawSocket.open(server.url);
    socket.send('{"jsonrpc": "2.0", "id": 1,');
    const reply = await socket.next();
    expect(reply).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32700 } });
    expect(typeof (reply.error as { message: string }).message).toBe('string');
    socket.close();
  });

  it('rejects a batch', async () => {
    const socket = await RawSocket.open(server.url);
    socket.send([{ jsonrpc: '2.0', id: 1, method: 'core.ping' }]);
    expect(await socket.next()).toEqual({
      jsonrpc: '2.0',
      error: { code: -32700, message: 'Batch messages are not supported at this time' },
      id: null,
    });
    socket.close();
  });

  it('rejects a message that is not an object', async () => {
    const socket = await RawSocket.open(server.url);
    socket.send('42');
    expect(await socket.next()).toMatchObject({ error: { code: -32700, message: 'Invalid Message Format' }, id: null });
    socket.close();
  });

  it.each([
    [{ id: 1, method: 'core.ping' }, "Missing 'jsonrpc' member", 1],
    [{ jsonrpc: '1.0', id: 1, method: 'core.ping' }, "'jsonrpc' member must be of type string and must be exactly '2.0'", 1],
    [{ jsonrpc: null, id: 1, method: 'core.ping' }, "'jsonrpc' member must be of type string and must be exactly '2.0'", 1],
    [{ jsonrpc: '2.0', id: [1], method: 'core.ping' }, "'id' member must be of type null, string or number", null],
    [{ jsonrpc: '2.0', id: 1 }, "Missing 'method' member", 1],
    [{ jsonrpc: '2.0', id: 1, method: '' }, "'method' member must be of type string", 1],
    [{ jsonrpc: '2.0', id: 1, method: [] }, "'method' member must be of type string", 1],
    [{ jsonrpc: '2.0', id: 1, method: null }, "'method' member must be of type string", 1],
    [{ jsonrpc: '2.0', id: 1, method: 'core.ping', params: 1 }, "'params' member must be of type array", 1],
    [{ jsonrpc: '2.0', id: 1, method: 'core.ping', params: 'bad' }, "'params' member must be of type array", 1],
    [{ jsonrpc: '2.0', id: 1, method: 'core.ping', params: null }, "'params' member must be of type array", 1],
    [{}, "Missing 'jsonrpc' member", null],
  ])('answers %j with -32600 "%s"', async (message, text, id) => {
    const socket = await RawSocket.open(server.url);
    socket.send(message);
    expect(await socket.next()).toEqual({ jsonrpc: '2.0', error: { code: -32600, message: text }, id });
    socket.close();
  });

  it.each([1, 'abc', null])('accepts id %j and echoes it', async (id) => {
    const socket = await RawSocket.open(server.url);
    socket.send({ jsonrpc: '2.0', id, method: 'auth.mechanism_choices' });
    expect(await socket.next()).toEqual({ jsonrpc: '2.0', result: ['API_KEY_PLAIN', 'TOKEN_PLAIN', 'PASSWORD_PLAIN'], id });
    socket.close();
  });

  it('accepts params absent or empty', async () => {
    const socket = await loggedIn();
    expect((await socket.call('core.ping')).result).toBe('pong');
    socket.send({ jsonrpc: '2.0', id: 'x', method: 'core.ping' });
    expect(await socket.next()).toEqual({ jsonrpc: '2.0', result: 'pong', id: 'x' });
    socket.close();
  });

  it('answers an unknown method with -32601', async () => {
    const socket = await RawSocket.open(server.url);
    expect(await socket.call('nope.nothing', [], 5)).toEqual({
      jsonrpc: '2.0',
      error: { code: -32601, message: 'Method does not exist' },
      id: 5,
    });
    socket.close();
  });

  it('runs a notification without replying', async () => {
    const socket = await loggedIn();
    socket.send({ jsonrpc: '2.0', method: 'test.echo', params: ['ignored'] });
    socket.send({ jsonrpc: '2.0', id: 'after', method: 'core.ping' });
    expect(await socket.next()).toEqual({ jsonrpc: '2.0', result: 'pong', id: 'after' });
    socket.close();
  });
});

describe('errors', () => {
  it('refuses an anonymous caller with ENOTAUTHENTICATED', async () => {
    const socket = await RawSocket.open(server.url);
    expect(await socket.call('core.ping', [], 3)).toEqual({
      jsonrpc: '2.0',
      id: 3,
      error: {
        code: -32001,
        message: 'Method call error',
        data: { error: 207, errname: 'ENOTAUTHENTICATED', reason: '[ENOTAUTHENTICATED] Not authenticated', trace: null, extra: null },
      },
    });
    socket.close();
  });

  it('reports invalid params with attribute paths, in the legacy wording for legacy-schema methods', async () => {
    const socket = await loggedIn();
    // core.get_jobs is validated by TrueNAS 25.04's legacy schema layer.
    const reply = await socket.call('core.get_jobs', ['not-a-list', { bogus: 1 }]);
    const error = reply.error as { code: number; message: string; data: { error: number; errname: string; reason: string; extra: unknown[] } };
    expect(error.code).toBe(-32602);
    expect(error.message).toBe('Invalid params');
    expect(error.data.error).toBe(22);
    expect(error.data.errname).toBe('EINVAL');
    expect(error.data.extra).toContainEqual(['filters', 'Not a list', 22]);
    expect(error.data.extra).toContainEqual(['options.bogus', 'Field was not expected', 22]);
    expect(error.data.reason).toContain('[EINVAL] filters: Not a list\n');
    socket.close();
  });

  it('reports too many arguments', async () => {
    const socket = await loggedIn();
    const reply = await socket.call('core.ping', [1]);
    expect(reply.error).toMatchObject({ code: -32602, data: { extra: [['', 'Too many arguments (expected 0, found 1)', 22]] } });
    socket.close();
  });

  it('reports wrong types without crashing', async () => {
    const socket = await loggedIn();
    const reply = await socket.call('core.subscribe', [{ nested: ['x'] }]);
    expect(reply.error).toMatchObject({ code: -32602, data: { extra: [['event', 'Input should be a valid string', 22]] } });
    expect((await socket.call('core.ping')).result).toBe('pong');
    socket.close();
  });

  it('words the errors of pydantic-model methods as pydantic does, with the same envelope', async () => {
    const socket = await loggedIn();
    expect((await socket.call('api_key.create', [{ name: 'k', foo: 1 }], 9)).error).toEqual({
      code: -32602,
      message: 'Invalid params',
      data: {
        error: 22,
        errname: 'EINVAL',
        reason: '[EINVAL] api_key_create.foo: Extra inputs are not permitted\n',
        trace: null,
        extra: [['api_key_create.foo', 'Extra inputs are not permitted', 22]],
      },
    });
    expect((await socket.call('core.set_options', [{ legacy_jobs: 'no', not_an_option: 1 }])).error).toMatchObject({
      code: -32602,
      data: { extra: [['options.legacy_jobs', 'Input should be a valid boolean', 22]] },
    });
    expect((await socket.call('core.unsubscribe', [])).error).toMatchObject({ code: -32602, data: { extra: [['id_', 'Field required', 22]] } });
    expect((await socket.call('core.subscribe', ['e'.repeat(1025)])).error).toMatchObject({
      code: -32602,
      data: { extra: [['event', 'String should have at most 1024 characters', 22]] },
    });
    socket.close();
  });

  it('refuses more than 20 concurrent calls per connection with -32000', async () => {
    const socket = await loggedIn();
    // With legacy_jobs off a job call stays in flight until its job ends.
    socket.send({ jsonrpc: '2.0', id: 'opts', method: 'core.set_options', params: [{ legacy_jobs: false }] });
    await socket.next();
    for (let i = 0; i < 21; i++) socket.send({ jsonrpc: '2.0', id: `slow-${i}`, method: 'test.job_slow', params: [1500] });
    const outcomes: Array<Record<string, unknown>> = [];
    while (outcomes.length < 21) {
      const message = await socket.next(10_000);
      if (typeof message.id === 'string' && message.id.startsWith('slow-')) outcomes.push(message);
    }
    const refused = outcomes.filter((m) => (m.error as { code?: number } | undefined)?.code === -32000);
    expect(refused).toHaveLength(1);
    expect(refused[0]!.error).toEqual({ code: -32000, message: 'Maximum number of concurrent calls (20) has exceeded' });
    socket.close();
  });
});

describe('ejson', () => {
  it('decodes {"$date": ms} from clients and encodes dates the same way', async () => {
    const socket = await loggedIn();
    const reply = await socket.call('test.echo', [{ when: { $date: 1_700_000_000_000 } }]);
    expect(reply.result).toEqual({ when: { $date: 1_700_000_000_000 } });
    socket.close();
  });
});

describe('message size limits', () => {
  it('closes an anonymous connection that sends more than 8 KiB with 1007', async () => {
    const socket = await RawSocket.open(server.url);
    socket.send({ jsonrpc: '2.0', id: 1, method: 'core.ping', params: ['x'.repeat(9000)] });
    expect(await socket.closed).toEqual({ code: 1007, reason: 'Anonymous connection max message length is 8 kB' });
  });

  it('accepts up to 64 KiB after login and closes beyond with 1009', async () => {
    const socket = await loggedIn();
    const fine = await socket.call('test.echo', ['x'.repeat(60_000)]);
    expect(fine.result).toHaveLength(60_000);
    socket.send({ jsonrpc: '2.0', id: 1, method: 'test.echo', params: ['x'.repeat(70_000)] });
    expect(await socket.closed).toEqual({ code: 1009, reason: 'Max message length is 64 kB' });
  });

  it('closes on a binary frame with 1003', async () => {
    const socket = await RawSocket.open(server.url);
    socket.ws.send(Buffer.from('{"jsonrpc":"2.0"}'), { binary: true });
    expect((await socket.closed).code).toBe(1003);
  });
});

describe('endpoints', () => {
  it('serves the versioned path as the same API', async () => {
    const socket = await RawSocket.open(server.url.replace('/api/current', '/api/v25.04.2'));
    expect((await socket.call('auth.mechanism_choices')).result).toEqual(['API_KEY_PLAIN', 'TOKEN_PLAIN', 'PASSWORD_PLAIN']);
    socket.close();
  });

  it('lists API versions over HTTP', async () => {
    const response = await fetch(`http://127.0.0.1:${server.port}/api/versions`);
    expect(await response.json()).toEqual(['v25.04.0', 'v25.04.1', 'v25.04.2']);
  });
});
