/**
 * Failed-login throttling is atomic (logins sent in parallel cannot all be checked), keyed so that
 * one address's failures lock nobody else out, and its refusal says how long to wait.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawSocket, resultOf } from '../helpers/raw-socket.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
let admin: RawSocket;
const logLines: string[] = [];
const sockets: RawSocket[] = [];

beforeAll(async () => {
  server = await startTestServer({ logLines });
  admin = await RawSocket.admin(server);
});

afterAll(async () => {
  sockets.forEach((socket) => socket.close());
  admin?.close();
  await server?.close();
});

async function open(localAddress: string): Promise<RawSocket> {
  const socket = await RawSocket.open(server.url, { localAddress });
  sockets.push(socket);
  return socket;
}


/** Sends every call at once, then reads the replies (RawSocket.call is for one call at a time). */
async function callAll(socket: RawSocket, calls: Array<[string, unknown[]]>): Promise<Array<Record<string, unknown>>> {
  calls.forEach(([method, params], id) => socket.send({ jsonrpc: '2.0', id, method, params }));
  const replies: Array<Record<string, unknown>> = [];
  while (replies.length < calls.length) replies.push(await socket.next(20_000));
  return replies;
}

const failedLogins = (address: string) => logLines.filter((line) => line.includes('"failed login"') && line.includes(`"${address}"`)).length;

const REFUSAL = /^\[EBUSY\] Rate Limit Exceeded; try again in ([1-9]\d*) seconds?$/;

function expectRefusal(reply: Record<string, unknown>): number {
  expect(reply.error).toMatchObject({ code: -32001, data: { error: 16, errname: 'EBUSY' } });
  const { reason, extra } = (reply.error as { data: { reason: string; extra: { retry_after: number } } }).data;
  const seconds = Number(REFUSAL.exec(reason)?.[1]);
  expect(seconds).toBeGreaterThan(0);
  expect(seconds).toBeLessThanOrEqual(60);
  expect(extra).toEqual({ retry_after: seconds });
  return seconds;
}

describe('100 wrong passwords sent in parallel from one address', () => {
  let replies: Array<Record<string, unknown>>;

  beforeAll(async () => {
    // Five sockets, twenty calls each: every call is in flight before the first password is checked.
    const attackers = await Promise.all(Array.from({ length: 5 }, () => open('127.0.0.2')));
    const perSocket = await Promise.all(
      attackers.map((socket, s) => callAll(socket, Array.from({ length: 20 }, (_, i) => ['auth.login', ['admin', `guess-${s}-${i}`]]))),
    );
    replies = perSocket.flat();
  });

  it('checks only as many as the limit allows and refuses the rest before hashing them', () => {
    const checked = replies.filter((reply) => reply.result === false);
    const refused = replies.filter((reply) => reply.error);
    expect(checked).toHaveLength(10);
    expect(refused).toHaveLength(90);
    refused.forEach(expectRefusal);
    expect(failedLogins('127.0.0.2')).toBe(10);
  });

  it('keeps refusing that address, even the right password', async () => {
    const socket = await open('127.0.0.2');
    expectRefusal(await socket.call('auth.login', ['admin', server.admin.password]));
    expectRefusal(await socket.call('auth.login_ex', [{ mechanism: 'TOKEN_PLAIN', token: 'x' }]));
  });

  it('does not lock the administrator out of API-key, token or password logins from another address', async () => {
    const key = resultOf(await admin.call('api_key.create', [{ name: 'from-elsewhere' }])) as { key: string };
    const token = resultOf(await admin.call('auth.generate_token', [600, {}, false])) as string;
    const byKey = await open('127.0.0.1');
    expect(resultOf(await byKey.call('auth.login_ex', [{ mechanism: 'API_KEY_PLAIN', username: 'admin', api_key: key.key }]))).toMatchObject({ response_type: 'SUCCESS' });
    const byToken = await open('127.0.0.1');
    expect(resultOf(await byToken.call('auth.login_with_token', [token]))).toBe(true);
    const byPassword = await open('127.0.0.1');
    expect(resultOf(await byPassword.call('auth.login', ['admin', server.admin.password]))).toBe(true);
  });
});

describe('wrong passwords for one account from many addresses', () => {
  it('lock only password logins of that account, not its API keys nor other accounts', async () => {
    // A role each: as in TrueNAS, an account without any gets no API key.
    resultOf(await admin.call('user.create', [{ username: 'victim', password: 'victim-password', roles: ['CERTIFICATE_READ'] }]));
    resultOf(await admin.call('user.create', [{ username: 'bystander', password: 'bystander-password', roles: ['CERTIFICATE_READ'] }]));
    const key = resultOf(await admin.call('api_key.create', [{ name: 'victim-key', username: 'victim' }])) as { key: string };
    // Eight addresses, eight failures each: no address reaches its own limit.
    const addresses = Array.from({ length: 8 }, (_, i) => `127.0.1.${i + 1}`);
    const replies = await Promise.all(
      addresses.map(async (address) => {
        const socket = await open(address);
        return callAll(socket, Array.from({ length: 8 }, (_, i) => ['auth.login', ['victim', `guess-${i}`]]));
      }),
    );
    const all = replies.flat();
    expect(all.filter((reply) => reply.result === false)).toHaveLength(30);
    all.filter((reply) => reply.error).forEach(expectRefusal);

    const elsewhere = await open('127.0.2.1');
    expectRefusal(await elsewhere.call('auth.login', ['victim', 'victim-password']));
    expect(resultOf(await elsewhere.call('auth.login_with_api_key', [key.key]))).toBe(true);
    expect(resultOf(await (await open('127.0.2.1')).call('auth.login', ['bystander', 'bystander-password']))).toBe(true);
  });
});

describe('many right passwords sent in parallel from one address', () => {
  it('all log in: attempts past the limit wait for those in flight instead of being refused', async () => {
    const sockets = await Promise.all(Array.from({ length: 12 }, () => open('127.0.3.1')));
    const replies = await Promise.all(sockets.map((socket) => socket.call('auth.login', ['admin', server.admin.password])));
    expect(replies.map((reply) => reply.result)).toEqual(Array(12).fill(true));
  });
});
