/**
 * What keeps costs flat as certificates pile up, checked for correctness (its speed is the
 * benchmark's): query replies written with each CA entry once say exactly what the whole entries
 * say; the partial indexes exist on both databases; a CA's opened key, reused between creates, is
 * never used after the CA changed, also when another daemon sharing PostgreSQL changed it.
 */
import { WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertificateIndexes1765500000000 } from '../../migrations/1765500000000-certificate-indexes.js';
import { SignedCounts1765900000000 } from '../../migrations/1765900000000-signed-counts.js';
import type { CertmidClient } from '../../src/client/client.js';
import { stringify } from '../../src/client/ejson.js';
import { certificateDetails, detailColumns } from '../../src/certs/details.js';
import { CertificateAuthorityEntity } from '../../src/certs/entities.js';
import { loadPrivateKey } from '../../src/crypto/keys.js';
import { caSpec, certificateSpec, entryContext, keyAccessOf } from '../../src/certs/store.js';
import { runQuery } from '../../src/query/sql-query.js';
import { verifyChain, selfSignedCertificate } from '../helpers/openssl.js';
import { adminClient, createIntermediateCa, createInternalCertificate, createRootCa, subjectParams, validationErrorsOf, type Entry } from '../helpers/pki-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { countedRows, keptCounts } from '../helpers/signed-counts.js';
import { databaseBackends, postgresAvailable, redisAvailable, type TestDatabase } from '../helpers/services.js';
import { startSharedDaemons, type SharedDaemons } from '../helpers/shared-daemons.js';

const EC = { key_type: 'EC', ec_curve: 'SECP256R1', key_length: undefined };
const READER_PASSWORD = 'scale-reader-password';

/** The text of the reply to one call, as the socket received it, for a session logged in as `username`. */
async function replyText(url: string, username: string, password: string, method: string, params: unknown[]): Promise<string> {
  const ws = new WebSocket(url, { maxPayload: 2 ** 28 });
  const texts: string[] = [];
  const waiters: Array<(text: string) => void> = [];
  ws.on('message', (data) => {
    const text = data.toString();
    const waiter = waiters.shift();
    if (waiter) waiter(text);
    else texts.push(text);
  });
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const next = () => (texts.length > 0 ? Promise.resolve(texts.shift()!) : new Promise<string>((resolve) => waiters.push(resolve)));
  try {
    ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'auth.login_ex', params: [{ mechanism: 'PASSWORD_PLAIN', username, password }] }));
    expect(JSON.parse(await next())).toMatchObject({ id: 1, result: { response_type: 'SUCCESS' } });
    ws.send(JSON.stringify({ jsonrpc: '2.0', id: 2, method, params }));
    return await next();
  } finally {
    ws.close();
  }
}

describe.each(await databaseBackends())('query replies and indexes on %s', (name, open, available) => {
  let database: TestDatabase;
  let server: TestServer;
  let client: CertmidClient;
  let root: Entry;
  let intermediate: Entry;
  let revokedLeaf: Entry;

  beforeAll(async () => {
    if (!available) return;
    database = await open();
    server = await startTestServer({ env: database.env });
    client = await adminClient(server);
    root = await createRootCa(client, 'scale-root', EC);
    intermediate = await createIntermediateCa(client, 'scale-intermediate', root.id, EC);
    await createInternalCertificate(client, 'scale-leaf-1', intermediate.id, EC);
    revokedLeaf = await createInternalCertificate(client, 'scale-leaf-2', intermediate.id, EC);
    await createInternalCertificate(client, 'scale-leaf-3', root.id, { ...EC, auto_renew: true });
    const { lifetime: _lifetime, ...csrFields } = subjectParams(EC);
    await client.callJob('certificate.create', [{ ...csrFields, name: 'scale-csr', create_type: 'CERTIFICATE_CREATE_CSR' }]);
    await client.callJob('certificate.update', [revokedLeaf.id, { revoked: true, revoked_reason: 'KEY_COMPROMISE' }]);
    await client.call('user.create', { username: 'scale-reader', password: READER_PASSWORD, roles: ['CERTIFICATE_READ', 'CERTIFICATE_AUTHORITY_READ'] });
  }, 120_000);

  afterAll(async () => {
    await client?.close();
    await server?.close();
    await database?.drop();
  });

  it.skipIf(!available)('writes query replies exactly as the whole entries serialised one by one, for each role', async () => {
    const { app } = server.daemon;
    const callers = [
      { username: server.admin.username, password: server.admin.password, keys: keyAccessOf({ roles: ['FULL_ADMIN'] } as never) },
      { username: 'scale-reader', password: READER_PASSWORD, keys: keyAccessOf({ roles: ['CERTIFICATE_READ', 'CERTIFICATE_AUTHORITY_READ'] } as never) },
    ];
    for (const caller of callers) {
      const certificates = await runQuery(certificateSpec(app, await entryContext(app, caller.keys)), [], {});
      const certificateReply = await replyText(server.url, caller.username, caller.password, 'certificate.query', []);
      expect(certificateReply).toBe(stringify({ jsonrpc: '2.0', result: certificates, id: 2 }));
      const authorities = await runQuery(caSpec(app, await entryContext(app, caller.keys, undefined, 'authority')), [], {});
      const authorityReply = await replyText(server.url, caller.username, caller.password, 'certificateauthority.query', []);
      expect(authorityReply).toBe(stringify({ jsonrpc: '2.0', result: authorities, id: 2 }));
    }
    const reader = JSON.parse(await replyText(server.url, 'scale-reader', READER_PASSWORD, 'certificate.query', [[['name', '^', 'scale-leaf']]])).result as Entry[];
    expect(reader.map((entry) => [entry.name, entry.privatekey, (entry.signedby as Entry).privatekey])).toEqual([
      ['scale-leaf-1', '********', '********'],
      ['scale-leaf-2', '********', '********'],
      ['scale-leaf-3', '********', '********'],
    ]);
  });

  it.skipIf(!available)('nests each CA the same way in signedby and issuer; only CA entries list what they signed', async () => {
    const leaf = await client.call<Entry>('certificate.get_instance', revokedLeaf.id);
    expect(leaf.issuer).toEqual(leaf.signedby);
    const nested = leaf.signedby as Entry;
    const ca = await client.call<Entry>('certificateauthority.get_instance', intermediate.id);
    expect(ca.signed_entries).toEqual([
      { id: revokedLeaf.id - 1, name: 'scale-leaf-1', type: 'CERTIFICATE' },
      { id: revokedLeaf.id, name: 'scale-leaf-2', type: 'CERTIFICATE' },
    ]);
    expect(nested).not.toHaveProperty('signed_entries');
    // The CA entry as certificateauthority.* gives it, but for what it and its own issuer signed.
    const { signed_entries: _listed, signedby, issuer, ...rest } = ca;
    const { signed_entries: _parentListed, ...parent } = signedby as Entry;
    expect(issuer).toEqual(signedby);
    expect(nested).toEqual({ ...rest, signedby: parent, issuer: parent });
    expect(nested.signed_certificates).toBe(2);
    expect((nested.revoked_certs as Entry[]).map((member) => [member.name, member.revoked_reason])).toEqual([['scale-leaf-2', 'KEY_COMPROMISE']]);
  });

  it.skipIf(!available)('counts what each CA signed, for the CAs a reply names, from the counts the database keeps', async () => {
    const countRoot = await createRootCa(client, 'count-root', EC);
    const countIntermediate = await createIntermediateCa(client, 'count-intermediate', countRoot.id, EC);
    const direct = await createInternalCertificate(client, 'count-direct', countRoot.id, EC);
    const below: Entry[] = [];
    for (const n of [1, 2, 3]) below.push(await createInternalCertificate(client, `count-below-${n}`, countIntermediate.id, EC));
    const counts = async () => {
      const authorities = await client.call<Entry[]>('certificateauthority.query', [['name', '^', 'count-']], { order_by: ['id'] });
      const leaf = await client.call<Entry>('certificate.get_instance', below[0]!.id);
      const nested = leaf.signedby as Entry;
      return {
        query: authorities.map((ca) => [ca.name, ca.signed_certificates]),
        get: (await client.call<Entry>('certificateauthority.get_instance', countIntermediate.id)).signed_certificates,
        nested: [nested.name, nested.signed_certificates, (nested.signedby as Entry).name, (nested.signedby as Entry).signed_certificates],
        filtered: (await client.call<Entry[]>('certificateauthority.query', [['signed_certificates', '=', 1]])).map((ca) => ca.name),
      };
    };
    expect(await counts()).toEqual({
      query: [['count-root', 1], ['count-intermediate', 3]],
      get: 3,
      nested: ['count-intermediate', 3, 'count-root', 1],
      filtered: expect.arrayContaining(['count-root']),
    });
    await client.callJob('certificate.delete', [below[1]!.id]);
    await client.callJob('certificate.delete', [direct.id]);
    expect(await counts()).toMatchObject({ query: [['count-root', 0], ['count-intermediate', 2]], get: 2, nested: ['count-intermediate', 2, 'count-root', 0] });
    // The database's own counts, kept by trigger, are what a count of the rows gives.
    expect(await keptCounts(server.daemon.app.db)).toEqual(await countedRows(server.daemon.app.db));
  });

  it.skipIf(!available)('counts the rows already stored when the counts migration runs; it goes down and up again', async () => {
    const { db } = server.daemon.app;
    const before = await countedRows(db);
    expect(before.length).toBeGreaterThan(0);
    const runner = db.createQueryRunner();
    try {
      await new SignedCounts1765900000000().down(runner);
      await expect(keptCounts(db)).rejects.toThrow();
      await new SignedCounts1765900000000().up(runner);
    } finally {
      await runner.release();
    }
    expect(await keptCounts(db)).toEqual(before);
    // And the triggers follow again.
    const extra = await createInternalCertificate(client, 'count-after-migration', intermediate.id, EC);
    await client.callJob('certificate.delete', [extra.id]);
    await createInternalCertificate(client, 'count-after-migration-2', intermediate.id, EC);
    expect(await keptCounts(db)).toEqual(await countedRows(db));
    expect(await keptCounts(db)).not.toEqual(before);
  });

  it.skipIf(!available)('has the partial indexes, and the revoked read uses its own', async () => {
    const { db } = server.daemon.app;
    const definitions = async (): Promise<string[]> =>
      name === 'SQLite'
        ? ((await db.query(`SELECT sql FROM sqlite_master WHERE name IN ('IDX_certificate_revoked', 'IDX_certificate_renewal_failed') ORDER BY name`)) as Array<{ sql: string }>).map((row) => row.sql)
        : ((await db.query(`SELECT indexdef AS sql FROM pg_indexes WHERE indexname IN ('IDX_certificate_revoked', 'IDX_certificate_renewal_failed') ORDER BY indexname`)) as Array<{ sql: string }>).map((row) => row.sql);
    const found = await definitions();
    expect(found).toHaveLength(2);
    expect(found[0]).toMatch(/renewal_error"? IS NOT NULL/);
    expect(found[1]).toMatch(/revoked_date"? IS NOT NULL/);
    if (name === 'SQLite') {
      const plan = (await db.query(`EXPLAIN QUERY PLAN SELECT "id", "signedby_id" FROM "certificate" WHERE "revoked_date" IS NOT NULL`)) as Array<{ detail: string }>;
      expect(plan.map((step) => step.detail).join('\n')).toContain('IDX_certificate_revoked');
    }
    // Down and up again leave the schema as the migration makes it.
    const runner = db.createQueryRunner();
    try {
      await new CertificateIndexes1765500000000().down(runner);
      expect(await definitions()).toEqual([]);
      await new CertificateIndexes1765500000000().up(runner);
      expect(await definitions()).toEqual(found);
    } finally {
      await runner.release();
    }
  });
});

/**
 * Without Redis, each daemon runs its own jobs, so the second daemon signs in its own process; and
 * no change event reaches it, so only what it reads with the CA's row can tell it of the change.
 */
describe.runIf(await postgresAvailable())('a CA changed through another daemon on the same PostgreSQL', () => {
  let daemons: SharedDaemons;
  let one: TestServer;
  let near: CertmidClient;
  let far: CertmidClient;

  beforeAll(async () => {
    daemons = await startSharedDaemons({ adminPassword: 'scale-admin-password', masterKeyFill: 9 });
    ({ one, near, far } = daemons);
  }, 60_000);

  afterAll(async () => {
    await daemons?.stop();
  });

  it('signs the next certificate with the CA as it now is: a new key and certificate, then revoked', async () => {
    const ca = await createRootCa(near, 'moving-root', EC);
    const before = await createInternalCertificate(far, 'before-change', ca.id, EC);
    expect((await verifyChain(before.certificate!, [ca.certificate!])).ok).toBe(true);

    // The CA's key and certificate are replaced in its row through the first daemon.
    const replacement = await selfSignedCertificate('moving-root replaced', 30);
    const { app } = one.daemon;
    await app.db.getRepository(CertificateAuthorityEntity).update(
      { id: ca.id },
      {
        certificate: replacement.certificate,
        privatekey: app.secrets.encrypt(replacement.privatekey),
        ...detailColumns(certificateDetails(replacement.certificate, loadPrivateKey(replacement.privatekey))),
      } as never,
    );
    const after = await createInternalCertificate(far, 'after-change', ca.id, EC);
    expect((await verifyChain(after.certificate!, [replacement.certificate])).ok).toBe(true);
    expect((await verifyChain(after.certificate!, [ca.certificate!])).ok).toBe(false);

    await near.call('certificateauthority.update', ca.id, { revoked: true });
    expect(await validationErrorsOf(createInternalCertificate(far, 'after-revocation', ca.id, EC))).toEqual([
      ['certificate_create.signedby', 'The signing certificate authority has been revoked', 22],
    ]);
  }, 120_000);
});

/**
 * Signed counts and revoked lists read by one daemon while another, sharing PostgreSQL and Redis,
 * makes the changes: each daemon keeps what CA entries need between changes, and only the
 * changes it hears of through Redis tell it what went stale.
 */
describe.runIf((await postgresAvailable()) && (await redisAvailable()))('CA entries on a daemon while another changes what the CA signed', () => {
  let daemons: SharedDaemons;
  let one: TestServer;
  let near: CertmidClient;
  let far: CertmidClient;
  /** The CA events the second daemon sent its session, as the wire carried them. */
  const heard: Array<Record<string, unknown>> = [];
  const waiters: Array<() => void> = [];

  /** Resolves once the second daemon has sent `count` events about CA `id`: it has heard of the changes by then. */
  async function heardOf(id: number, count: number): Promise<void> {
    while (heard.filter((event) => event.id === id).length < count) await new Promise<void>((resolve) => waiters.push(resolve));
  }

  beforeAll(async () => {
    // Jobs (creates, imports, deletes, updates) run on a worker: both daemons hear of them through Redis.
    daemons = await startSharedDaemons({ adminPassword: 'counts-admin-password', masterKeyFill: 5, worker: true });
    ({ one, near, far } = daemons);
    await far.subscribe('certificateauthority.query', (event) => {
      heard.push({ ...event });
      waiters.splice(0).forEach((wake) => wake());
    });
  }, 90_000);

  afterAll(async () => {
    await daemons?.stop();
  });

  it('counts creates and deletes made through the other daemon, and lists its revocations', async () => {
    const root = await createRootCa(near, 'counted-root', EC);
    const other = await createRootCa(near, 'counted-other', EC);
    const made = await createInternalCertificate(near, 'counted-made', root.id, EC);
    // The second daemon reads the CA entries now, and keeps what it read until it hears of a change.
    const caOf = async (id: number) => await far.call<Entry>('certificateauthority.get_instance', id);
    const nestedOf = async (id: number) => (await far.call<Entry>('certificate.get_instance', id)).signedby as Entry;
    expect((await caOf(root.id)).signed_certificates).toBe(1);
    expect((await nestedOf(made.id)).signed_certificates).toBe(1);
    const heardBefore = heard.filter((event) => event.id === root.id).length;

    const second = await createInternalCertificate(near, 'counted-second', root.id, EC);
    // Imported, it is signed by no CA here (as in TrueNAS): no count moves.
    await near.callJob('certificate.create', [{ name: 'counted-imported', create_type: 'CERTIFICATE_CREATE_IMPORTED', certificate: made.certificate, privatekey: made.privatekey }]);
    await near.callJob('certificate.delete', [made.id]);
    await heardOf(root.id, heardBefore + 2);
    expect((await caOf(root.id)).signed_certificates).toBe(1);
    expect((await nestedOf(second.id)).signed_certificates).toBe(1);
    expect((await caOf(other.id)).signed_certificates).toBe(0);
    // What TrueNAS sends: the id, nothing of why the CA changed.
    expect(heard.every((event) => Object.keys(event).sort().join() === 'collection,id,msg')).toBe(true);

    // A revocation through the first daemon shows in the second's CA entries; deleting the revoked one takes it away.
    expect((await caOf(root.id)).revoked_certs).toEqual([]);
    await near.callJob('certificate.update', [second.id, { revoked: true, revoked_reason: 'KEY_COMPROMISE' }]);
    await heardOf(root.id, heardBefore + 3);
    expect(((await caOf(root.id)).revoked_certs as Entry[]).map((member) => member.id)).toEqual([second.id]);
    expect(((await nestedOf(second.id)).revoked_certs as Entry[]).map((member) => member.id)).toEqual([second.id]);
    await near.callJob('certificate.delete', [second.id]);
    await heardOf(root.id, heardBefore + 4);
    expect(await caOf(root.id)).toMatchObject({ signed_certificates: 0, revoked_certs: [] });

    // Rows moved to another CA by hand (as a repair would) move their counts with them.
    const third = await createInternalCertificate(near, 'counted-third', root.id, EC);
    const [imported] = await near.call<Entry[]>('certificate.query', [['name', '=', 'counted-imported']]);
    const { db } = one.daemon.app;
    await db.query(`UPDATE "certificate" SET "signedby_id" = $1 WHERE "id" IN ($2, $3)`, [other.id, third.id, imported!.id]);
    expect(await keptCounts(db)).toEqual(await countedRows(db));
    expect((await keptCounts(db)).filter(([ca]) => ca === root.id || ca === other.id)).toEqual([[other.id, 2]]);
  }, 120_000);
});
