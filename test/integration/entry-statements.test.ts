/**
 * Entries are read with statements whose text does not name the rows read: get_instance of one
 * certificate runs the texts get_instance of another runs, and each page of a long list the texts
 * of the page before, so the database keeps them prepared (TypeORM's query builder writes numbers
 * into the text on SQLite, which made every id and every page a statement of its own).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Logger } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.js';
import { getCertificate } from '../../src/certs/certificate-service.js';
import { certificateSpec, entryContext } from '../../src/certs/store.js';
import type { CertmidClient } from '../../src/client/client.js';
import { queryPages } from '../../src/query/sql-query.js';
import { adminClient, createInternalCertificate, createRootCa, type Entry } from '../helpers/pki-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { databaseBackends, type TestDatabase } from '../helpers/services.js';

const ALL_KEYS = { certificates: true, authorities: true };

/** Marks the statements `work` runs itself, apart from what the daemon runs meanwhile (alert checks, files). */
const running = new AsyncLocalStorage<Set<string>>();

/** The texts of the statements `work` runs (transaction control left out). */
async function statementTexts(app: App, work: () => Promise<unknown>): Promise<Set<string>> {
  const texts = new Set<string>();
  const holder = app.db as unknown as { logger: Logger };
  const original = holder.logger;
  const ignore = () => undefined;
  holder.logger = {
    logQuery(sql: string) {
      if (!/^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|START TRANSACTION|SET |PRAGMA)/i.test(sql)) running.getStore()?.add(sql);
    },
    logQueryError: ignore,
    logQuerySlow: ignore,
    logSchemaBuild: ignore,
    logMigration: ignore,
    log: ignore,
  };
  try {
    await running.run(texts, work);
  } finally {
    holder.logger = original;
  }
  return texts;
}

/** Whether a statement compares a column with a number written into its text (`"id" = 7`, `"certificate_id" IN (7, 8)`). */
const namesANumber = (sql: string): boolean => /"\s*(=|<|>|<=|>=)\s*\d|"\s+IN\s*\(\s*\d/i.test(sql);

describe.each(await databaseBackends())('statements of entries on %s', (_name, openDatabase) => {
  let database: TestDatabase;
  let server: TestServer;
  let client: CertmidClient;
  const certificates: Entry[] = [];

  beforeAll(async () => {
    database = await openDatabase();
    server = await startTestServer({ env: database.env });
    client = await adminClient(server);
    const root = await createRootCa(client, 'statements-root');
    for (const name of ['statements-a', 'statements-b', 'statements-c', 'statements-d']) certificates.push(await createInternalCertificate(client, name, root.id));
  }, 120_000);

  afterAll(async () => {
    await client?.close();
    await server?.close();
    await database?.drop();
  });

  it('reads certificates by id with the id a parameter, not in the text', async () => {
    const app = server.daemon.app;
    const texts = await statementTexts(app, async () => {
      for (const certificate of certificates) await getCertificate(app, certificate.id, ALL_KEYS);
    });
    expect([...texts].filter((sql) => /\bFROM "certificate"/.test(sql)).length).toBeGreaterThan(0);
    expect([...texts].filter(namesANumber)).toEqual([]);
  });

  it('reads the pages of a list with the ids they continue after and read for as parameters', async () => {
    const app = server.daemon.app;
    const pages = queryPages(certificateSpec(app, await entryContext(app, ALL_KEYS)), [], {}, 1)!;
    let read = 0;
    const texts = await statementTexts(app, async () => {
      for await (const page of pages) for (const _entry of page) read++;
    });
    expect(read).toBeGreaterThanOrEqual(certificates.length);
    expect([...texts].filter((sql) => /"id" > \?|"id" > \$\d/.test(sql)).length).toBeGreaterThan(0);
    expect([...texts].filter(namesANumber)).toEqual([]);
  });
});
