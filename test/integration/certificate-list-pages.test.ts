/**
 * A plain certificate.query list is read and sent in pages. The pages give what the general path
 * (every row at once) gives, character for character, for varied certificates on SQLite and
 * PostgreSQL; a reply sent in pages holds back the replies that come meanwhile; and a change made
 * through another daemon on the same PostgreSQL database shows in the next list.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CertmidClient } from '../../src/client/client.js';
import { CertificateEntity } from '../../src/certs/entities.js';
import { CertificateVersionEntity } from '../../src/certs/versions.js';
import { certificateSpec, entryContext } from '../../src/certs/store.js';
import { queryPages, runQuery } from '../../src/query/sql-query.js';
import { parse, stringify } from '../../src/client/ejson.js';
import { entriesStream, entriesText, JsonText } from '../../src/rpc/json-text.js';
import { adminClient, createInternalCertificate, createIntermediateCa, createRootCa, subjectParams, validationErrorsOf, type Entry } from '../helpers/pki-client.js';
import { RawSocket } from '../helpers/raw-socket.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { databaseBackends, postgresAvailable, redisAvailable, type TestDatabase } from '../helpers/services.js';
import { startSharedDaemons, type SharedDaemons } from '../helpers/shared-daemons.js';

const ALL_KEYS = { certificates: true, authorities: true };

/** Where two long texts first differ, with a little of each around it; null when they are equal. */
function firstDifference(actual: string, expected: string): string | null {
  if (actual === expected) return null;
  let at = 0;
  while (actual[at] === expected[at]) at++;
  return `at ${at}: ${JSON.stringify(actual.slice(at - 20, at + 40))} against ${JSON.stringify(expected.slice(at - 20, at + 40))}`;
}

describe.each(await databaseBackends())('certificate.query in pages on %s', (_name, openDatabase, available) => {
  let database: TestDatabase;
  let server: TestServer;
  let client: CertmidClient;

  beforeAll(async () => {
    database = await openDatabase();
    server = await startTestServer({ env: database.env });
    client = await adminClient(server);
    const root = await createRootCa(client, 'pages-root');
    const intermediate = await createIntermediateCa(client, 'pages-intermediate', root.id);
    const leaf = await createInternalCertificate(client, 'pages-leaf', intermediate.id, { renew_days: 10, auto_renew: true });
    await createInternalCertificate(client, 'pages-rsa', root.id);
    await createInternalCertificate(client, 'pages-ec', root.id, subjectParams({ key_type: 'EC', ec_curve: 'SECP384R1', key_length: undefined, san: ['ec.example'] }));
    const revoked = await createInternalCertificate(client, 'pages-revoked', intermediate.id);
    await client.callJob('certificate.update', [revoked.id, { revoked: true, revoked_reason: 'KEY_COMPROMISE' }]);
    await client.callJob('certificate.create', [{ ...subjectParams({ lifetime: undefined, san: ['csr.example'] }), name: 'pages-csr', create_type: 'CERTIFICATE_CREATE_CSR' }]);
    // Imported with its chain in the certificate text, so that chain_list comes from its own blocks.
    await client.callJob('certificate.create', [
      { name: 'pages-imported-chain', create_type: 'CERTIFICATE_CREATE_IMPORTED', certificate: `${leaf.certificate!.trim()}\n${intermediate.certificate!.trim()}\n`, privatekey: leaf.privatekey },
    ]);
    await client.callJob('certificate.create', [{ name: 'pages-imported', create_type: 'CERTIFICATE_CREATE_IMPORTED', certificate: leaf.certificate, privatekey: leaf.privatekey }]);
  }, 120_000);

  afterAll(async () => {
    await client?.close();
    await server?.close();
    await database?.drop();
  });

  /** The reply text of a query through the pages (of `pageRows` rows) and through the general path, from one entry context. */
  async function bothPaths(filters: unknown, options: unknown, pageRows: number): Promise<{ paged: string | null; whole: string }> {
    const app = server.daemon.app;
    const spec = certificateSpec(app, await entryContext(app, ALL_KEYS));
    const result = await runQuery(spec, filters, options);
    const whole = entriesText(result).text;
    // What both paths are held to: the text ejson's stringify gives the same entries.
    expect(whole).toBe(stringify(result));
    const pages = queryPages(spec, filters, options, pageRows);
    if (!pages) return { paged: null, whole };
    const written = await entriesStream(pages);
    if (written instanceof JsonText) return { paged: written.text, whole };
    let paged = '';
    for await (const piece of written.pieces) paged += piece;
    return { paged, whole };
  }

  it.runIf(available)('gives the general path’s text for plain lists, select, offset and limit, and pushed-down filters', async () => {
    const queries: Array<[unknown, unknown]> = [
      [[], {}],
      [[], { select: ['id', 'name', 'signedby', 'chain_list', 'revoked'] }],
      [[], { offset: 1, limit: 3 }],
      [[], { offset: 2 }],
      [[], { limit: 5 }],
      [[['name', '^', 'pages-i']], {}],
      [[['id', '>', 2]], { select: ['name'] }],
    ];
    for (const [filters, options] of queries) {
      for (const pageRows of [1, 2, 3, 500]) {
        const { paged, whole } = await bothPaths(filters, options, pageRows);
        expect(paged, JSON.stringify({ filters, options, pageRows })).toBe(whole);
      }
    }
    expect(JSON.parse((await bothPaths([], {}, 2)).whole)).toHaveLength(8);
  });

  it.runIf(available)('gives each entry in pages what is read for its page alone (previous versions), as the general path does', async () => {
    // A renewal's record, written as a restore would: one entry among the pages shows a previous version.
    const app = server.daemon.app;
    const leaf = await app.db.getRepository(CertificateEntity).findOneByOrFail({ name: 'pages-leaf' });
    const versions = app.db.getRepository(CertificateVersionEntity);
    await versions.insert({ certificate_id: leaf.id, serial: '4242', certificate: leaf.certificate!, privatekey: null, not_before: new Date(0), not_after: new Date(86_400_000), replaced_at: new Date(172_800_000), superseded_at: null });
    try {
      for (const pageRows of [1, 2, 3]) {
        const { paged, whole } = await bothPaths([], {}, pageRows);
        expect(paged, `pages of ${pageRows}`).toBe(whole);
        const listed = (JSON.parse(whole) as Entry[]).find((entry) => entry.id === leaf.id)!;
        expect(listed.previous_versions).toEqual([expect.objectContaining({ serial: 4242, replaced_at: new Date(172_800_000).toISOString() })]);
      }
    } finally {
      await versions.delete({ certificate_id: leaf.id });
    }
  });

  it.runIf(available)('leaves to the general path what pages cannot answer: other orders, computed fields, count and get', async () => {
    for (const [filters, options] of [
      [[], { order_by: ['-id'] }],
      [[], { order_by: ['name'] }],
      [[['cert_type', '=', 'CERTIFICATE']], {}],
      [[], { count: true }],
      [[['id', '=', 1]], { get: true }],
      [[], { offset: -2 }],
    ] as Array<[unknown, unknown]>) {
      expect((await bothPaths(filters, options, 2)).paged, JSON.stringify({ filters, options })).toBeNull();
    }
  });

  it.runIf(available)('get_instance gives each entry as the list does, and names an id no row has', async () => {
    const list = await client.call<Entry[]>('certificate.query');
    for (const entry of list) expect(await client.call('certificate.get_instance', entry.id)).toEqual(entry);
    for (const id of [999_999, 2 ** 40, -1]) {
      expect(await validationErrorsOf(client.call('certificate.get_instance', id))).toEqual([[null, `Certificate ${id} does not exist`, 2]]);
    }
  });

  it.runIf(available)('get_instance of a certificate or CA writes its reply as ejson would, character for character', async () => {
    const raw = await RawSocket.admin(server);
    try {
      for (const namespace of ['certificate', 'certificateauthority']) {
        for (const entry of await client.call<Entry[]>(`${namespace}.query`)) {
          const text = await raw.callText(`${namespace}.get_instance`, [entry.id]);
          const reply = parse(text) as { id: number; result: Entry };
          // The entry as the list gives it, keys in the same order.
          expect(firstDifference(stringify(reply.result), stringify(entry)), `${namespace} ${entry.id} against the list`).toBeNull();
          expect(firstDifference(text, stringify({ jsonrpc: '2.0', result: reply.result, id: reply.id })), `${namespace} ${entry.id}`).toBeNull();
        }
      }
    } finally {
      raw.close();
    }
  });

  it.runIf(available)('sends a list of many pages whole, and the replies asked for meanwhile after it', async () => {
    // Rows added as a restore would, so that the list runs to several pages of the daemon's size.
    const repository = server.daemon.app.db.getRepository(CertificateEntity);
    const template = (await repository.findOneByOrFail({ name: 'pages-imported' })) as unknown as Record<string, unknown>;
    const { id: _id, ...fields } = template;
    for (let batch = 0; batch < 6; batch++) {
      await repository.insert(Array.from({ length: 200 }, (_, i) => ({ ...fields, name: `pages-copy-${batch * 200 + i}` })) as never[]);
    }
    const [plain, ping, ordered] = await Promise.all([
      client.call<Entry[]>('certificate.query'),
      client.call('core.ping'),
      client.call<Entry[]>('certificate.query', [], { order_by: ['id'] }),
    ]);
    expect(ping).toBe('pong');
    expect(plain).toHaveLength(1208);
    expect(plain).toEqual(ordered);
    await repository.delete(plain.filter((entry) => entry.name.startsWith('pages-copy-')).map((entry) => entry.id));
  }, 60_000);
});

describe.runIf((await postgresAvailable()) && (await redisAvailable()))('certificate.query across two daemons on one PostgreSQL database', () => {
  let daemons: SharedDaemons;
  let viaOne: CertmidClient;
  let viaTwo: CertmidClient;

  beforeAll(async () => {
    daemons = await startSharedDaemons({ adminPassword: 'pages-admin-password', masterKeyFill: 9, worker: true });
    ({ near: viaOne, far: viaTwo } = daemons);
  }, 60_000);

  afterAll(async () => {
    await daemons?.stop();
  });

  it('shows in the next list a change the other daemon made', async () => {
    const root = await createRootCa(viaOne, 'far-root');
    const leaf = await createInternalCertificate(viaOne, 'far-leaf', root.id);
    const byName = async () => new Map((await viaTwo.call<Entry[]>('certificate.query')).map((entry) => [entry.name, entry]));
    expect((await byName()).get('far-leaf')).toMatchObject({ id: leaf.id, revoked: false });

    await viaOne.callJob('certificate.update', [leaf.id, { name: 'far-leaf-renamed' }]);
    await viaOne.callJob('certificate.update', [leaf.id, { revoked: true, revoked_reason: 'SUPERSEDED' }]);
    const after = await byName();
    expect(after.has('far-leaf')).toBe(false);
    expect(after.get('far-leaf-renamed')).toMatchObject({ id: leaf.id, revoked: true, revoked_reason: 'SUPERSEDED' });
    expect(await viaTwo.call('certificate.get_instance', leaf.id)).toMatchObject({ name: 'far-leaf-renamed', revoked: true });
  }, 60_000);
});
