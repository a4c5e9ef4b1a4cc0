import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CertmidClient } from '../../src/client/client.js';
import { adminClient, createInternalCertificate, createRootCa } from '../helpers/pki-client.js';
import { RawSocket } from '../helpers/raw-socket.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { databaseBackends } from '../helpers/services.js';

/**
 * Queries an attacker holding only CERTIFICATE_READ can send in one 64 KB message. Each must end
 * with a result or a validation error naming `filters`/`options`, and while it runs another
 * connection's `core.ping` must answer within a second. Without the guards each one keeps the
 * event loop busy for many seconds (or for ever), so the bound is not a matter of timing luck.
 */
const READER = { username: 'reader', password: 'reader-password' };
const PING_BOUND_MS = 1000;
const REPLY_BOUND_MS = 20_000;
/** The largest message an authenticated caller may send. */
const MAX_MESSAGE = 65_536;
/** The certificates each backend holds: three made here and the daemon's own. */
const ALL = ['hostile-a', 'hostile-b', 'hostile-c', 'truenas_default'];

interface Reply {
  result?: unknown;
  error?: { code: number; message: string; data?: { errname?: string; reason?: string; extra?: Array<[string, string, number]> } };
}

const backends = await databaseBackends();

describe.each(backends.filter(([, , available]) => available))('hostile queries on %s', (_backend, database) => {
  let server: TestServer;
  let admin: CertmidClient;
  let attacker: RawSocket;
  let observer: RawSocket;
  let drop: () => Promise<void> = async () => {};
  let attacks = 0;

  beforeAll(async () => {
    const db = await database();
    drop = db.drop;
    server = await startTestServer({ env: db.env });
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
   * Sends `certificate.query(params)` from the attacker and pings from the observer, one ping
   * after another, until the attacker's reply arrives; returns that reply and the slowest ping.
   */
  async function attack(params: unknown[]): Promise<{ reply: Reply; slowestPingMs: number }> {
    const id = `hostile-${++attacks}`;
    const message = JSON.stringify({ jsonrpc: '2.0', id, method: 'certificate.query', params });
    expect(message.length).toBeLessThanOrEqual(MAX_MESSAGE);
    attacker.send(message);
    let answered = false;
    const reply = (async () => {
      for (;;) {
        const received = await attacker.next(REPLY_BOUND_MS);
        if (received.id === id) return received as Reply;
      }
    })().finally(() => {
      answered = true;
    });
    reply.catch(() => {});
    let slowestPingMs = 0;
    do {
      const started = performance.now();
      const pong = await observer.call('core.ping', []);
      slowestPingMs = Math.max(slowestPingMs, performance.now() - started);
      expect(pong.result).toBe('pong');
    } while (!answered);
    return { reply: await reply, slowestPingMs };
  }

  /** The attack ends with a result (returned) while the observer's pings stay fast. */
  async function survivedWithResult(params: unknown[]): Promise<unknown> {
    const { reply, slowestPingMs } = await attack(params);
    expect(slowestPingMs).toBeLessThan(PING_BOUND_MS);
    expect(reply.error).toBeUndefined();
    return reply.result;
  }

  /** The attack ends with a -32602 validation error at `attribute` (returned: its message). */
  async function survivedWithValidationError(params: unknown[], attribute: string): Promise<string> {
    const { reply, slowestPingMs } = await attack(params);
    expect(slowestPingMs).toBeLessThan(PING_BOUND_MS);
    expect(reply.error?.code).toBe(-32602);
    const [where, message] = reply.error?.data?.extra?.[0] ?? [];
    expect(where).toBe(attribute);
    return message ?? '';
  }

  /** As many copies of `condition` as fit in one message. */
  const fitting = (condition: unknown[]) => Math.floor((MAX_MESSAGE - 200) / (JSON.stringify(condition).length + 1));
  const conditions = (condition: unknown[]) => Array.from({ length: fitting(condition) }, () => condition);
  const names = (result: unknown) => (result as Array<{ name: string }>).map((entry) => entry.name).sort();

  it('matches the catastrophic-backtracking pattern of the issue in linear time', async () => {
    const pattern = '-----BEGIN CERTIFICATE-----\n([A-Za-z0-9+/]+)+!';
    expect(await survivedWithResult([[['certificate', '~', pattern]]])).toEqual([]);
    expect(names(await survivedWithResult([[['certificate', '~', '-----BEGIN CERTIFICATE-----\n([A-Za-z0-9+/]+\n)+']]]))).toEqual(ALL);
  });

  it('refuses a regular expression whose program would be large, and too many together', async () => {
    expect(await survivedWithValidationError([[['certificate', '~', '(?s)(?:.*a.{999}c){9}']]], 'filters')).toMatch(
      /invalid regular expression: pattern too complex/,
    );
    const heavy = (n: number) => ['certificate', '~', `(?s).*M.{500}${n}`];
    expect(await survivedWithValidationError([[['OR', [heavy(1), heavy(2), heavy(3)]]]], 'filters')).toMatch(/too complex together/);
  });

  it('answers 4,000 conditions on stored columns, all pushed to SQL or not', async () => {
    expect(fitting(['id', '>', 0])).toBeGreaterThan(4000);
    expect(names(await survivedWithResult([conditions(['id', '>', 0])]))).toEqual(ALL);
    expect(names(await survivedWithResult([conditions(['name', '!=', ''])]))).toEqual(ALL);
    expect(await survivedWithResult([[['OR', conditions(['name', '=', ''])]]])).toEqual([]);
    expect(names(await survivedWithResult([[['OR', conditions([['name', '^', 'h'], ['id', '>', 1]])]]]))).toEqual(ALL.slice(0, 3));
    expect(names(await survivedWithResult([conditions(['name', 'C!=', 'x'])]))).toEqual(ALL);
    expect(names(await survivedWithResult([conditions(['name', '!^', 'z'])]))).toEqual(ALL);
    expect(await survivedWithResult([conditions(['revoked_date.$date', '>', '2020-01-01'])])).toEqual([]);
    expect(await survivedWithResult([conditions(['created_at.$date', '>', '2020-01-01'])])).toEqual([]);
    expect(await survivedWithResult([conditions(['id', '!=', 0]), { count: true }])).toBe(4);
    expect(await survivedWithResult([conditions(['id', '>', 0]), { get: true, select: ['id'] }])).toEqual({ id: 1 });
  });

  it('answers huge in and nin lists', async () => {
    const ids = Array.from({ length: 1000 }, (_, i) => i % 10);
    expect(names(await survivedWithResult([Array.from({ length: 30 }, () => ['id', 'in', ids])]))).toEqual(ALL);
    const days = Array.from({ length: 15_000 }, (_, i) => i % 1000);
    expect(names(await survivedWithResult([[['days_left', 'in', days]]]))).toEqual(ALL);
    expect(names(await survivedWithResult([[['name', 'nin', Array.from({ length: 12_000 }, (_, i) => `n${i % 10}`)]]]))).toEqual(ALL);
    expect(names(await survivedWithResult([[['name', 'Cnin', Array.from({ length: 9000 }, (_, i) => `N${i % 10}`)]]]))).toEqual(ALL);
  });

  it('answers long dotted paths and wildcards', async () => {
    expect(names(await survivedWithResult([[[`name${'.x'.repeat(30_000)}`, '=', 'hostile-a']]]))).toEqual(['hostile-a']);
    expect(names(await survivedWithResult([[[`san${'.*'.repeat(30_000)}`, '=', 'DNS:domain1']]]))).toEqual(ALL.slice(0, 3));
    expect(await survivedWithResult([[], { order_by: [`name${'.x'.repeat(30_000)}`], select: ['name'], limit: 1 }])).toEqual([{ name: 'hostile-a' }]);
  });

  it('refuses thousands of order_by and select keys at options', async () => {
    const keys = (count: number, key: string) => Array.from({ length: count }, () => key);
    expect(await survivedWithValidationError([[], { order_by: keys(5000, 'days_left') }], 'options.order_by')).toMatch(/at most/);
    expect(await survivedWithValidationError([[], { select: keys(5000, 'name') }], 'options.select')).toMatch(/at most/);
  });
});
