/**
 * Revocation across daemons: a change made through one daemon ends the sessions another daemon
 * holds, when both share one PostgreSQL database and Redis (entity events travel over Redis).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawSocket, resultOf } from '../helpers/raw-socket.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createTestDatabase, dropQueuePrefix, postgresAvailable, REDIS_URL, redisAvailable, uniquePrefix } from '../helpers/services.js';

const PASSWORD = 'distributed-password-1';
const CLOSE_WITHIN_MS = 5000;

describe.runIf((await postgresAvailable()) && (await redisAvailable()))('two daemons sharing PostgreSQL and Redis', () => {
  const prefix = uniquePrefix();
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let one: TestServer;
  let two: TestServer;
  let admin: RawSocket;
  const sockets: RawSocket[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    const env = {
      DATABASE_URL: database.url,
      REDIS_URL,
      QUEUE_PREFIX: prefix,
      MASTER_KEY: Buffer.alloc(32, 7).toString('base64'),
      ADMIN_PASSWORD: 'distributed-admin-password',
    };
    // One after the other: the first creates the schema and the administrator.
    one = await startTestServer({ env });
    two = await startTestServer({ env });
    admin = await RawSocket.admin(one);
  }, 60_000);

  afterAll(async () => {
    sockets.forEach((socket) => socket.close());
    admin?.close();
    await one?.close();
    await two?.close();
    await database?.drop();
    await dropQueuePrefix(prefix);
  });


  async function open(server: TestServer): Promise<RawSocket> {
    const socket = await RawSocket.open(server.url);
    sockets.push(socket);
    return socket;
  }

  let counter = 0;
  async function newUser(roles: string[] = ['CERTIFICATE_READ']): Promise<{ id: number; username: string }> {
    const username = `far-${++counter}`;
    const { id } = resultOf(await admin.call('user.create', [{ username, password: PASSWORD, roles }])) as { id: number };
    return { id, username };
  }

  async function passwordSession(server: TestServer, username: string): Promise<RawSocket> {
    const socket = await open(server);
    await socket.login(username, PASSWORD);
    return socket;
  }

  async function expectClosed(socket: RawSocket): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('session still open')), CLOSE_WITHIN_MS)));
    try {
      expect((await Promise.race([socket.closed, timeout])).code).toBe(1008);
    } finally {
      clearTimeout(timer);
    }
  }

  it('a new password set through one daemon closes the sessions on the other', async () => {
    const user = await newUser();
    const far = await passwordSession(two, user.username);
    const near = await passwordSession(one, user.username);
    resultOf(await admin.call('user.update', [user.id, { password: 'changed-elsewhere' }]));
    await Promise.all([far, near].map(expectClosed));
    expect(resultOf(await admin.call('core.ping'))).toBe('pong');
  });

  it('an API key deleted through one daemon closes its sessions on the other', async () => {
    const user = await newUser();
    const key = resultOf(await admin.call('api_key.create', [{ name: `far-key-${++counter}`, username: user.username }])) as { id: number; key: string };
    const far = await open(two);
    expect(resultOf(await far.call('auth.login_with_api_key', [key.key]))).toBe(true);
    resultOf(await admin.call('api_key.delete', [key.id]));
    await expectClosed(far);
  });

  it('a token made on one daemon logs in on the other, and that session closes when the account is locked', async () => {
    const user = await newUser();
    const maker = await passwordSession(one, user.username);
    const token = resultOf(await maker.call('auth.generate_token', [600, {}, false])) as string;
    const far = await open(two);
    expect(resultOf(await far.call('auth.login_with_token', [token]))).toBe(true);
    resultOf(await admin.call('user.update', [user.id, { locked: true }]));
    await Promise.all([maker, far].map(expectClosed));
  });

  it('a token dies on every daemon when the session that made it logs out', async () => {
    const user = await newUser();
    const maker = await passwordSession(one, user.username);
    const token = resultOf(await maker.call('auth.generate_token', [600, {}, false])) as string;
    resultOf(await maker.call('auth.logout'));
    expect(resultOf(await (await open(two)).call('auth.login_with_token', [token]))).toBe(false);
  });

  it('a single-use token raced from both daemons logs in exactly one socket', async () => {
    const token = resultOf(await admin.call('auth.generate_token', [600, {}, false, true])) as string;
    const racers = await Promise.all(Array.from({ length: 8 }, (_, i) => RawSocket.open((i % 2 ? one : two).url, { localAddress: '127.0.0.8' })));
    sockets.push(...racers);
    const results = await Promise.all(racers.map(async (socket) => resultOf(await socket.call('auth.login_with_token', [token]))));
    expect(results.filter((ok) => ok === true)).toHaveLength(1);
  });

  it('fewer roles set through one daemon apply on the other', async () => {
    const user = await newUser(['ACCOUNT_READ']);
    const far = await passwordSession(two, user.username);
    resultOf(await far.call('user.query'));
    resultOf(await admin.call('user.update', [user.id, { roles: [] }]));
    await expect.poll(async () => (await far.call('user.query')).error, { timeout: CLOSE_WITHIN_MS }).toMatchObject({ data: { errname: 'EACCES' } });
  });
});
