import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CertmidClient } from '../../src/client/client.js';
import { adminClient, createInternalCertificate, createRootCa } from '../helpers/pki-client.js';
import { RawSocket } from '../helpers/raw-socket.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { createTestDatabase, postgresAvailable } from '../helpers/services.js';

/**
 * Queries an attacker holding only CERTIFICATE_READ can send in one 64 KB message. Each must end
 * with a result or a validation error naming `filters`/`options`, and while it runs another
 * connection's `core.ping` must answer within a second. Without the guards each one keeps the
 * event loop busy for many seconds (or for ever), so the bound is not a matter of timing luck.
 */
const READER = { username: 'reader', password: 'reader-password' };
const PING_BOUND_MS = 1000;
const REPLY_BOUND_MS = 20_000;

interface Reply {
  result?: unknown;
  error?: { code: number; message: string; data?: { errname?: string; reason?: string; extra?: Array<[string, string, number]> } };
}

interface Backend {
  name: string;
  env(): Promise<{ env: Record<string, string>; drop(): Promise<void> }>;
}

const BACKENDS: Backend[] = [
  { name: 'SQLite', env: async () => ({ env: {}, drop: async () => {} }) },
  {
    name: 'PostgreSQL',
    env: async () => {
      const database = await createTestDatabase();
      return { env: { DATABASE_URL: database.url }, drop: () => database.drop() };
    },
  },
];

const postgres = await postgresAvailable();

describe.each(BACKENDS.filter((backend) => backend.name === 'SQLite' || postgres))('hostile queries on $name', (backend) => {
  let server: TestServer;
  let admin: CertmidClient;
  let attacker: RawSocket;
  let observer: RawSocket;
  let drop: () => Promise<void> = async () => {};

  beforeAll(async () => {
    const database = await backend.env();
    drop = database.drop;
    server = await startTestServer({ env: database.env });
    admin = await adminClient(server);
    await admin.call('user.create', { ...READER, roles: ['CERTIFICATE_READ'] });
    const ca = await createRootCa(admin, 'hostile-root', { key_type: 'EC', ec_curve: 'SECP256R1' });
    for (const name of ['hostile-a', 'hostile-b', 'hostile-c']) {
      await createInternalCertificate(admin, name, ca.id, { key_type: 'EC', ec_curve: 'SECP256R1' });
    }
    attacker = await RawSocket.open(server.url);
    await attacker.login(READER.username, READER.password);
    observer = await RawSocket.open(server.url);
    await observer.login(READER.username, READER.password);
  });

  afterAll(async () => {
    attacker?.close();
    observer?.close();
    await admin?.close();
    await server?.close();
    await drop();
  });

  /**
   * Sends `method(params)` from the attacker, then pings from the observer; returns the
   * attacker's reply once the ping has been timed.
   */
  async function sendWhilePinging(method: string, params: unknown[]): Promise<{ reply: Reply; pingMs: number }> {
    const id = `hostile-${Math.random()}`;
    const reply = attacker.call(method, params, id);
    reply.catch(() => {});
    const started = performance.now();
    const pong = await observer.call('core.ping', []);
    const pingMs = performance.now() - started;
    expect(pong.result).toBe('pong');
    return { reply: (await withDeadline(reply, REPLY_BOUND_MS)) as Reply, pingMs };
  }

  it('matches the catastrophic-backtracking pattern of the issue in linear time', async () => {
    const pattern = '-----BEGIN CERTIFICATE-----\n([A-Za-z0-9+/]+)+!';
    const { reply, pingMs } = await sendWhilePinging('certificate.query', [[['certificate', '~', pattern]]]);
    expect(pingMs).toBeLessThan(PING_BOUND_MS);
    expect(reply.error).toBeUndefined();
    expect(reply.result).toEqual([]);
  });
});

async function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no reply within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
