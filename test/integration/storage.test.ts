import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DataSource, type DataSourceOptions } from 'typeorm';
import { afterAll, describe, expect, it } from 'vitest';
import { AcmeRegistrationCaBundle1764300000000 } from '../../migrations/1764300000000-acme-registration-ca-bundle.js';
import { AuthTokenOriginText1764460000000 } from '../../migrations/1764460000000-auth-token-origin-text.js';
import { BATCH, IssuerDn1766000000000 } from '../../migrations/1766000000000-issuer-dn.js';
import { MIGRATIONS } from '../../migrations/index.js';
import { certificateDetails } from '../../src/certs/details.js';
import { outsidePki, parsedIssuerDn } from '../helpers/issuer-dn.js';
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

/** Opens a database and applies `migrations`. */
async function migrated(connection: DataSourceOptions, migrations: readonly unknown[]): Promise<DataSource> {
  const db = new DataSource({ ...connection, migrations: [...migrations] as DataSourceOptions['migrations'], migrationsTransactionMode: 'each' });
  await db.initialize();
  await db.runMigrations();
  return db;
}

/** INSERT of one row as SQL both databases read (test data only: values are inlined). */
function insertSql(table: string, row: Record<string, string | number>): string {
  const literal = (value: string | number) => (typeof value === 'number' ? String(value) : `'${value.replace(/'/g, "''")}'`);
  return `INSERT INTO "${table}" (${Object.keys(row).map((column) => `"${column}"`).join(', ')}) VALUES (${Object.values(row).map(literal).join(', ')})`;
}

/**
 * Stores two registrations and one's CA bundle in the `setting` table, as before the migration to
 * the `ca_bundle` column; then migrates, checks, and reverts.
 */
async function exerciseCaBundleMigration(connection: DataSourceOptions): Promise<void> {
  const bundle = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
  const registration = (directory: string) => ({
    uri: `${directory}acct/1`,
    directory,
    new_account_uri: `${directory}new-account`,
    new_nonce_uri: `${directory}new-nonce`,
    new_order_uri: `${directory}new-order`,
    revoke_cert_uri: `${directory}revoke`,
    status: 'valid',
    account_key: 'v1:sealed',
    created_at: Date.now(),
  });
  const before = await migrated(connection, MIGRATIONS.slice(0, MIGRATIONS.indexOf(AcmeRegistrationCaBundle1764300000000)));
  await before.query(insertSql('acme_registration', registration('https://a.test/dir/')));
  await before.query(insertSql('acme_registration', registration('https://b.test/dir/')));
  const [trusting, plain] = ((await before.query('SELECT "id" FROM "acme_registration" ORDER BY "id"')) as Array<{ id: number }>).map((row) => row.id);
  await before.query(insertSql('setting', { key: `acme_ca_bundle:${trusting}`, value: bundle }));
  await before.query(insertSql('setting', { key: 'other', value: 'stays' }));
  await before.destroy();

  // Up to this migration only, so that undoing the last one undoes it whatever comes later.
  const after = await migrated(connection, MIGRATIONS.slice(0, MIGRATIONS.indexOf(AcmeRegistrationCaBundle1764300000000) + 1));
  const read = (sql: string) => after.query(sql) as Promise<unknown[]>;
  try {
    expect(await read('SELECT "id", "ca_bundle" FROM "acme_registration" ORDER BY "id"')).toEqual([
      { id: trusting, ca_bundle: bundle },
      { id: plain, ca_bundle: null },
    ]);
    expect(await read('SELECT "key", "value" FROM "setting" ORDER BY "key"')).toEqual([{ key: 'other', value: 'stays' }]);
    await after.undoLastMigration();
    expect(await read('SELECT "key", "value" FROM "setting" ORDER BY "key"')).toEqual([
      { key: `acme_ca_bundle:${trusting}`, value: bundle },
      { key: 'other', value: 'stays' },
    ]);
  } finally {
    await after.destroy();
  }
}

/** Details as a daemon wrote them before it stored the issuer DN. */
function olderDetails(pem: string): Record<string, unknown> {
  const { issuer_dn: _added, ...details } = certificateDetails(pem, null);
  return details;
}

/**
 * Stores an outside CA, a certificate with its chain, a CSR, a row that has its issuer DN already, and
 * more rows than two batches, as before the issuer DN was stored; then migrates, checks, and reverts.
 */
async function exerciseIssuerDnMigration(connection: DataSourceOptions): Promise<void> {
  const outside = await outsidePki();
  const chain = outside.leafPem + outside.caPem;
  const row = (name: string, certificate: string | null, details: Record<string, unknown>) => ({
    type: certificate ? 0x08 : 0x20,
    name,
    ...(certificate ? { certificate } : { csr: 'a request' }),
    details: JSON.stringify(details),
    created_at: Date.now(),
  });
  const before = await migrated(connection, MIGRATIONS.slice(0, MIGRATIONS.indexOf(IssuerDn1766000000000)));
  await before.query(insertSql('certificate_authority', { ...row('outside-ca', outside.caPem, olderDetails(outside.caPem)), type: 0x01 }));
  await before.query(insertSql('certificate', row('chain', chain, olderDetails(chain))));
  await before.query(insertSql('certificate', row('request', null, { parsed: true, common: 'request' })));
  await before.query(insertSql('certificate', row('kept', outside.leafPem, { ...olderDetails(outside.leafPem), issuer_dn: '/CN=kept' })));
  const bulk = insertSql('certificate', row('bulk', outside.leafPem, olderDetails(outside.leafPem)));
  await before.transaction(async (manager) => {
    for (let n = 0; n < 2 * BATCH + 1; n++) await manager.query(bulk.replace(`'bulk'`, `'bulk-${n}'`));
  });
  await before.destroy();

  const after = await migrated(connection, MIGRATIONS.slice(0, MIGRATIONS.indexOf(IssuerDn1766000000000) + 1));
  const details = async (table: string) =>
    new Map(((await after.query(`SELECT "name", "details" FROM "${table}"`)) as Array<{ name: string; details: string }>).map((r) => [r.name, JSON.parse(r.details) as Record<string, unknown>]));
  try {
    const leafIssuer = parsedIssuerDn(outside.leafPem);
    expect(leafIssuer).toContain(' + ');
    expect((await details('certificate_authority')).get('outside-ca')).toEqual({ ...olderDetails(outside.caPem), issuer_dn: parsedIssuerDn(outside.caPem) });
    const certificates = await details('certificate');
    expect(certificates.get('chain')).toEqual({ ...olderDetails(chain), issuer_dn: leafIssuer });
    expect(certificates.get('request')).toEqual({ parsed: true, common: 'request', issuer_dn: null });
    expect(certificates.get('kept')!.issuer_dn).toBe('/CN=kept');
    const bulk = [...certificates].filter(([name]) => name.startsWith('bulk-'));
    expect(bulk).toHaveLength(2 * BATCH + 1);
    expect(bulk.filter(([, stored]) => stored.issuer_dn !== leafIssuer)).toEqual([]);
    // What the daemon itself stores for the same certificates.
    expect(certificateDetails(chain, null).issuer_dn).toBe(leafIssuer);

    await after.undoLastMigration();
    const reverted = await details('certificate');
    expect([...reverted.values()].filter((stored) => 'issuer_dn' in stored)).toEqual([]);
    expect(reverted.get('chain')).toEqual(olderDetails(chain));
    expect((await details('certificate_authority')).get('outside-ca')).toEqual(olderDetails(outside.caPem));
  } finally {
    await after.destroy();
  }
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

  it('moves ACME CA bundles from the setting table onto their registrations, and back on revert', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'certmid-migration-'));
    cleanups.push(() => fs.rmSync(dataDir, { recursive: true, force: true }));
    await exerciseCaBundleMigration({ type: 'better-sqlite3', database: path.join(dataDir, 'certmid.db') });
  });

  it('stores the issuer DN with the rows written without it, in batches, and drops it on revert', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'certmid-migration-'));
    cleanups.push(() => fs.rmSync(dataDir, { recursive: true, force: true }));
    await exerciseIssuerDnMigration({ type: 'better-sqlite3', database: path.join(dataDir, 'certmid.db') });
  });
});

describe('files under DATA_DIR', () => {
  const mode = (file: string) => fs.statSync(file).mode & 0o777;
  /** The database file with its WAL and shared-memory files, those that exist. */
  const databaseFiles = (dataDir: string) =>
    ['certmid.db', 'certmid.db-wal', 'certmid.db-shm'].map((name) => path.join(dataDir, name)).filter((file) => fs.existsSync(file));

  function expectPrivate(dataDir: string): void {
    expect(mode(dataDir)).toBe(0o700);
    const files = [...databaseFiles(dataDir), path.join(dataDir, 'master.key')];
    expect(files.map((file) => [path.basename(file), mode(file)])).toEqual(files.map((file) => [path.basename(file), 0o600]));
  }

  it('keeps DATA_DIR 0700 and the database and master key 0600, also when they were looser', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'certmid-modes-'));
    cleanups.push(() => fs.rmSync(dataDir, { recursive: true, force: true }));
    fs.chmodSync(dataDir, 0o755);
    const env = { ADMIN_PASSWORD: 'modes-test-password' };
    const first = await startTestServer({ env, dataDir });
    const socket = await RawSocket.admin(first);
    await socket.call('user.create', [{ username: 'writer', password: 'a-long-password', roles: ['CERTIFICATE_READ'] }]);
    socket.close();
    expect(databaseFiles(dataDir).map((file) => path.basename(file))).toEqual(['certmid.db', 'certmid.db-wal', 'certmid.db-shm']);
    expectPrivate(dataDir);
    await first.daemon.stop();

    // As an earlier version left them: readable by everyone.
    fs.chmodSync(dataDir, 0o755);
    for (const file of [...databaseFiles(dataDir), path.join(dataDir, 'master.key')]) fs.chmodSync(file, 0o644);
    const second = await startTestServer({ env, dataDir });
    cleanups.push(() => second.close());
    const again = await RawSocket.admin(second);
    await again.call('user.create', [{ username: 'another-writer', password: 'a-long-password', roles: ['CERTIFICATE_READ'] }]);
    again.close();
    expectPrivate(dataDir);
  });
});

describe.runIf(await postgresAvailable())('storage on PostgreSQL', () => {
  it('keeps data across restarts', async () => {
    const database = await createTestDatabase();
    cleanups.push(() => database.drop());
    await exerciseStorage({ DATABASE_URL: database.url });
  });

  it('moves ACME CA bundles from the setting table onto their registrations, and back on revert', async () => {
    const database = await createTestDatabase();
    cleanups.push(() => database.drop());
    await exerciseCaBundleMigration({ type: 'postgres', url: database.url });
  });

  it('stores the issuer DN with the rows written without it, in batches, and drops it on revert', async () => {
    const database = await createTestDatabase();
    cleanups.push(() => database.drop());
    await exerciseIssuerDnMigration({ type: 'postgres', url: database.url });
  });

  it("widens auth tokens' origin to text, and on revert drops the tokens that no longer fit", async () => {
    const database = await createTestDatabase();
    cleanups.push(() => database.drop());
    const db = await migrated({ type: 'postgres', url: database.url }, MIGRATIONS.slice(0, MIGRATIONS.indexOf(AuthTokenOriginText1764460000000) + 1));
    try {
      const token = (hash: string, origin: string) => insertSql('auth_token', { token_hash: hash, username: 'admin', ttl_seconds: 600, last_used_at: Date.now(), origin, attributes: '{}' });
      await db.query(token('short', 'http://a.test'));
      await db.query(token('long', `http://${'a'.repeat(300)}.test`));
      await db.undoLastMigration();
      expect(await db.query('SELECT "token_hash" FROM "auth_token"')).toEqual([{ token_hash: 'short' }]);
      await expect(db.query(token('again', `http://${'a'.repeat(300)}.test`))).rejects.toThrow(/too long/);
    } finally {
      await db.destroy();
    }
  });
});
