/**
 * A list's private keys are opened a page at a time, in one batch on the crypto pool, and the
 * entries show what the batch opened: the same text as keys opened one by one, no key opened for a
 * caller who may not read it, a tampered key failing the list as it always did, and a pool that
 * stops during a batch leaving the keys to be opened on the event loop.
 */
import { WebSocket } from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { CertmidClient } from '../../src/client/client.js';
import { CryptoPool } from '../../src/crypto/crypto-pool.js';
import { CertificateEntity, type CertificateRow } from '../../src/certs/entities.js';
import type { EntryContext } from '../../src/certs/entry.js';
import { certificateSpec, entryContext, type KeyAccess } from '../../src/certs/store.js';
import { queryPages, runQuery } from '../../src/query/sql-query.js';
import { entriesStream, entriesText, JsonText } from '../../src/rpc/json-text.js';
import { REDACTED } from '../../src/secrets.js';
import { adminClient, createInternalCertificate, createRootCa, rpcErrorOf, subjectParams, type Entry } from '../helpers/pki-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { databaseBackends, type TestDatabase } from '../helpers/services.js';

const CERTIFICATE_KEYS: KeyAccess = { certificates: true, authorities: false };
const NO_KEYS: KeyAccess = { certificates: false, authorities: false };
/** Certificates made besides the daemon's own. */
const MADE = 20;

describe.each(await databaseBackends())('certificate.query private keys on %s', (_name, openDatabase, available) => {
  let database: TestDatabase;
  let server: TestServer;
  let admin: CertmidClient;
  /** Every certificate row, in id order. */
  let rows: CertificateRow[];
  /** Every certificate's sealed key, in id order. */
  let keys: string[];
  /** Half the rows, rounded up: two pages, each with more keys than open on the event loop. */
  let pageRows: number;

  beforeAll(async () => {
    if (!available) return;
    database = await openDatabase();
    server = await startTestServer({ env: database.env });
    admin = await adminClient(server);
    const root = await createRootCa(admin, 'secrets-root', subjectParams({ key_type: 'EC', ec_curve: 'SECP256R1', key_length: undefined }));
    const made = await createInternalCertificate(admin, 'secrets-0', root.id, subjectParams({ key_type: 'EC', ec_curve: 'SECP256R1', key_length: undefined }));
    // The rest as a restore writes rows: each key sealed on its own, so that every row holds a distinct
    // sealed text; every fifth as an ACME certificate, with its sealed DNS mapping.
    const app = server.daemon.app;
    const repository = app.db.getRepository(CertificateEntity);
    const { id: _id, ...fields } = (await repository.findOneByOrFail({ id: made.id })) as unknown as Record<string, unknown>;
    const acme = (name: string) => ({ acme_id: 4242, acme_uri: 'https://acme.example/directory', domains_authenticators: app.secrets.encrypt(JSON.stringify({ [`${name}.example`]: 1 })) });
    await repository.insert(
      Array.from({ length: MADE - 1 }, (_, i) => ({ ...fields, name: `secrets-${i + 1}`, privatekey: app.secrets.encrypt(made.privatekey!), ...(i % 5 === 0 ? acme(`secrets-${i + 1}`) : {}) })) as never[],
    );
    rows = await repository.find({ order: { id: 'ASC' } });
    keys = rows.map((row) => row.privatekey!);
    pageRows = Math.ceil(keys.length / 2);
  }, 120_000);

  afterAll(async () => {
    await admin?.close();
    await server?.close();
    await database?.drop();
  });

  afterEach(() => {
    vi.restoreAllMocks();
  });

  /** The reply text of a plain list read in pages of `pageRows` through `ctx`. */
  async function pagedText(ctx: EntryContext): Promise<string> {
    const written = await entriesStream(queryPages(certificateSpec(server.daemon.app, ctx), [], {}, pageRows)!);
    if (written instanceof JsonText) return written.text;
    let text = '';
    for await (const piece of written.pieces) text += piece;
    return text;
  }

  /**
   * An entry context whose openings of sealed texts, one at a time or in a batch, are counted (and
   * passed on): only what a list through it opens, not what the daemon opens meanwhile (its files,
   * its HTTPS certificate).
   */
  async function watchedContext(keys: KeyAccess) {
    const ctx = await entryContext(server.daemon.app, keys);
    const one = vi.fn(ctx.decrypt);
    const many = vi.fn(ctx.decryptMany);
    ctx.decrypt = one;
    ctx.decryptMany = many;
    return { ctx, one, many };
  }

  it.runIf(available)('opens the keys of each page in one batch, and writes what keys opened one by one give', async () => {
    const app = server.daemon.app;
    const opening = await watchedContext(CERTIFICATE_KEYS);
    const paged = await pagedText(opening.ctx);
    const shown = (page: CertificateRow[]) => page.flatMap((row) => [row.privatekey!, ...(row.domains_authenticators ? [row.domains_authenticators] : [])]);
    expect(opening.many.mock.calls.map(([sealed]) => sealed)).toEqual([shown(rows.slice(0, pageRows)), shown(rows.slice(pageRows))]);
    // Entries take their keys from the batches (opened on the pool): none is opened again.
    expect(opening.one).not.toHaveBeenCalled();
    vi.restoreAllMocks();

    const oneByOne = await entryContext(app, CERTIFICATE_KEYS);
    oneByOne.decryptMany = async () => new Map();
    expect(paged).toBe(await pagedText(oneByOne));
    expect(paged).toBe(entriesText(await runQuery(certificateSpec(app, await entryContext(app, CERTIFICATE_KEYS)), [], {})).text);
    const listed = JSON.parse(paged) as Entry[];
    expect(listed.map((entry) => entry.privatekey)).toEqual(keys.map((sealed) => app.secrets.decrypt(sealed)));
    expect(listed.filter((entry) => entry.acme_uri).map((entry) => entry.domains_authenticators)).toEqual(
      rows.flatMap((row) => (row.domains_authenticators ? [{ [`${row.name}.example`]: 1 }] : [])),
    );
  });

  it.runIf(available)('opens no key for a caller who may not read them, only the DNS mappings every caller sees', async () => {
    const opening = await watchedContext(NO_KEYS);
    const listed = JSON.parse(await pagedText(opening.ctx)) as Entry[];
    expect(listed.map((entry) => entry.privatekey)).toEqual(keys.map(() => REDACTED));
    const mappings = (page: CertificateRow[]) => page.flatMap((row) => (row.domains_authenticators ? [row.domains_authenticators] : []));
    expect(opening.many.mock.calls.map(([sealed]) => sealed)).toEqual([mappings(rows.slice(0, pageRows)), mappings(rows.slice(pageRows))]);
    // The batches hold the mappings only (fewer than eight a page open on the event loop), and the
    // entries open nothing more: no key is opened.
    expect(opening.one).not.toHaveBeenCalled();
  });

  it.runIf(available)('writes the same text when the pool is closed or its thread stops during a page’s batch', async () => {
    const app = server.daemon.app;
    const expected = await pagedText(await entryContext(app, CERTIFICATE_KEYS));
    const closed = new CryptoPool({ threads: 1, keyThreads: 1 });
    await closed.close();
    const stopping = new CryptoPool({ threads: 1, keyThreads: 1 }, new URL('../fakes/exiting-crypto-worker.mjs', import.meta.url));
    try {
      for (const pool of [closed, stopping]) {
        const ctx = await entryContext(app, CERTIFICATE_KEYS);
        ctx.decryptMany = (sealed) => app.secrets.decryptMany(sealed, pool);
        expect(await pagedText(ctx)).toBe(expected);
      }
    } finally {
      await stopping.close();
    }
  });

  it.runIf(available)('fails the list and get_instance on a tampered key as before, and lists it hidden to a caller who may not read keys', async () => {
    const app = server.daemon.app;
    const repository = app.db.getRepository(CertificateEntity);
    const row = await repository.findOneByOrFail({ name: 'secrets-7' });
    const raw = Buffer.from(row.privatekey!.slice('v1:'.length), 'base64');
    raw[raw.length - 1]! ^= 1;
    await repository.update({ id: row.id }, { privatekey: `v1:${raw.toString('base64')}` });
    try {
      const listError = await rpcErrorOf(admin.call('certificate.query'));
      const getError = await rpcErrorOf(admin.call('certificate.get_instance', row.id));
      expect({ code: listError.code, message: listError.message }).toEqual({ code: TAMPERED_ERROR.code, message: TAMPERED_ERROR.message });
      expect({ code: getError.code, message: getError.message }).toEqual({ code: TAMPERED_ERROR.code, message: TAMPERED_ERROR.message });

      await admin.call('user.create', { username: 'secrets-reader', password: 'secrets-reader-password', roles: ['CERTIFICATE_READ'] });
      const reader = await CertmidClient.connect(server.url, { WebSocket });
      try {
        await reader.login('secrets-reader', 'secrets-reader-password');
        const listed = await reader.call<Entry[]>('certificate.query');
        expect(listed.find((entry) => entry.id === row.id)?.privatekey).toBe(REDACTED);
      } finally {
        await reader.close();
      }
    } finally {
      await repository.update({ id: row.id }, { privatekey: row.privatekey });
    }
  });
});

/** What a call whose entry holds a key that does not open fails with, as it did before keys were opened in batches. */
const TAMPERED_ERROR = { code: -32001, message: '[EFAULT] Internal error' };
