import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RawSocket } from '../helpers/raw-socket.js';
import { startTestServer } from '../helpers/server.js';
import { createTestDatabase, postgresAvailable } from '../helpers/services.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/** Creates, reads, changes and deletes through the API, then restarts the daemon and reads again. */
async function exerciseStorage(databaseEnv: Record<string, string>): Promise<void> {
  const env = { ...databaseEnv, ADMIN_PASSWORD: 'storage-test-password' };
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'certmid-storage-'));
  cleanups.push(() => fs.rmSync(dataDir, { recursive: true, force: true }));
  const first = await startTestServer({ env, dataDir });
  const socket = await RawSocket.open(first.url);
  await socket.login(first.admin.username, first.admin.password);
  for (const name of ['Zoë', 'alice', 'Bob', 'carol']) {
    const reply = await socket.call('user.create', [{ username: name.normalize('NFC').replace('ë', 'e'), full_name: name, password: 'a-long-password', roles: ['CERTIFICATE_READ'] }]);
    expect(reply.error).toBeUndefined();
  }
  const carol = (await socket.call('user.query', [[['username', '=', 'carol']], { get: true }])).result as { id: number };
  await socket.call('user.update', [carol.id, { locked: true }]);
  await socket.call('user.delete', [carol.id]);
  const before = (await socket.call('user.query', [[['username', '!=', 'admin']], { order_by: ['username'], select: ['username', 'full_name'] }])).result;
  expect(before).toEqual([
    { username: 'Bob', full_name: 'Bob' },
    { username: 'Zoe', full_name: 'Zoë' },
    { username: 'alice', full_name: 'alice' },
  ]);
  socket.close();
  await first.daemon.stop();

  const second = await startTestServer({ env, dataDir });
  cleanups.push(() => second.close());
  const again = await RawSocket.open(second.url);
  await again.login(second.admin.username, second.admin.password);
  expect((await again.call('user.query', [[['username', '!=', 'admin']], { order_by: ['username'], select: ['username', 'full_name'] }])).result).toEqual(before);
  expect((await again.call('user.query', [[['full_name', 'C^', 'zo']], { count: true }])).result).toBe(1);
  again.close();
}

describe('storage on SQLite', () => {
  it('keeps data across restarts in WAL mode with foreign keys on', async () => {
    await exerciseStorage({});
  });

  it('runs migrations once and records them', async () => {
    const server = await startTestServer();
    cleanups.push(() => server.close());
    const rows = (await server.daemon.app.db.query('SELECT name FROM migrations')) as Array<{ name: string }>;
    expect(rows.map((r) => r.name)).toContain('UsersAndCredentials1764000000000');
    const [journal] = (await server.daemon.app.db.query('PRAGMA journal_mode')) as Array<{ journal_mode: string }>;
    expect(journal?.journal_mode).toBe('wal');
    const [fk] = (await server.daemon.app.db.query('PRAGMA foreign_keys')) as Array<{ foreign_keys: number }>;
    expect(fk?.foreign_keys).toBe(1);
  });
});

describe.runIf(await postgresAvailable())('storage on PostgreSQL', () => {
  it('keeps data across restarts', async () => {
    const database = await createTestDatabase();
    cleanups.push(() => database.drop());
    await exerciseStorage({ DATABASE_URL: database.url });
  });
});
