/**
 * No statement that creating, importing, updating, revoking, renewing or deleting a certificate
 * runs, nor what follows a change (alert checks, certificate files, CRLs, the entries answered),
 * reads a table that grows with use from end to end: every statement is captured as the daemon
 * runs it, and the database's own plan for it is read. SQLite plans without statistics (the daemon
 * never gathers any), so a small table shows the plan a large one gets; PostgreSQL is asked with
 * sequential scans disabled, which leaves one only where no index can serve the statement.
 */
import type { Logger, QueryRunner } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScaleIndexes1765800000000 } from '../../migrations/1765800000000-scale-indexes.js';
import { runAlertChecks } from '../../src/alerts/alerts.js';
import { alertSources } from '../../src/alerts/sources.js';
import type { App } from '../../src/app.js';
import { refreshDueCrls } from '../../src/certs/authority.js';
import { certificateFilesStatus } from '../../src/certs/files/certificate-files.js';
import type { CertmidClient } from '../../src/client/client.js';
import { adminClient, createIntermediateCa, createInternalCertificate, createRootCa, subjectParams, type Entry } from '../helpers/pki-client.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { databaseBackends, type TestDatabase } from '../helpers/services.js';

const EC = { key_type: 'EC', ec_curve: 'SECP256R1', key_length: undefined };
/** Tables whose rows pile up with certificates, changes and time; the others hold configuration or drain (alert_outbox). */
const GROWING = new Set(['certificate', 'certificate_version', 'alert', 'deploy_link', 'job', 'audit_entry']);

interface Statement {
  sql: string;
  parameters: unknown[];
  /** The operations that ran it. */
  during: Set<string>;
}

/** Resolves once the daemon's certificate files match the database: what a change sets off has run. */
async function filesSettled(app: App): Promise<void> {
  while (certificateFilesStatus(app).pending) await new Promise((resolve) => setImmediate(resolve));
}

/** Records every statement the data source runs while `during` names an operation. */
function captureStatements(app: App): { statements: Map<string, Statement>; operations: string[]; run(operation: string, work: () => Promise<unknown>): Promise<void>; stop(): void } {
  const statements = new Map<string, Statement>();
  const operations: string[] = [];
  const holder = app.db as unknown as { logger: Logger };
  const original = holder.logger;
  let during: string | null = null;
  const ignore = () => undefined;
  holder.logger = {
    logQuery(sql: string, parameters?: unknown[]) {
      if (during === null || /^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|START TRANSACTION|SET |SELECT pg_|PRAGMA)/i.test(sql)) return;
      const seen = statements.get(sql) ?? { sql, parameters: parameters ?? [], during: new Set<string>() };
      seen.during.add(during);
      statements.set(sql, seen);
    },
    logQueryError: ignore,
    logQuerySlow: ignore,
    logSchemaBuild: ignore,
    logMigration: ignore,
    log: ignore,
  };
  return {
    statements,
    operations,
    async run(operation, work) {
      operations.push(operation);
      during = operation;
      try {
        await work();
        // The files of what changed are written after the change: wait for that pass, not for a time.
        await filesSettled(app);
      } finally {
        during = null;
      }
    },
    stop: () => void (holder.logger = original),
  };
}

/** The growing tables a statement reads, by the name (or alias) its plan gives them. */
function growingTablesOf(sql: string): Map<string, string> {
  const names = new Map<string, string>();
  for (const match of sql.matchAll(/\b(?:FROM|JOIN|UPDATE|INTO)\s+"(\w+)"(?:\s+(?:AS\s+)?"(\w+)")?/gi)) {
    if (GROWING.has(match[1]!)) names.set(match[2] ?? match[1]!, match[1]!);
  }
  return names;
}

/** Names of the partial indexes: scanning one reads only the few rows in its state. */
async function partialIndexes(runner: QueryRunner, postgres: boolean): Promise<Set<string>> {
  const rows = postgres
    ? ((await runner.query(`SELECT indexname AS name FROM pg_indexes WHERE indexdef LIKE '% WHERE %'`)) as Array<{ name: string }>)
    : ((await runner.query(`SELECT name FROM sqlite_master WHERE type = 'index' AND sql LIKE '% WHERE %'`)) as Array<{ name: string }>);
  return new Set(rows.map((row) => row.name));
}

/** SQLite: the plan's steps that read a growing table whole (a scan not through a partial index, or an open-ended id range). */
async function sqliteWholeReads(runner: QueryRunner, statement: Statement, partial: Set<string>): Promise<string[]> {
  const tables = growingTablesOf(statement.sql);
  const steps = (await runner.query(`EXPLAIN QUERY PLAN ${statement.sql}`, statement.parameters)) as Array<{ detail: string }>;
  return steps
    .map((step) => step.detail)
    .filter((detail) => {
      const scan = /^SCAN (\w+)(?: USING (?:COVERING )?INDEX (\w+))?/.exec(detail);
      if (scan && tables.has(scan[1]!)) return !(scan[2] && partial.has(scan[2]));
      const range = /^SEARCH (\w+) USING INTEGER PRIMARY KEY \(rowid[<>]=?\?\)$/.exec(detail);
      return range !== null && tables.has(range[1]!);
    });
}

interface PostgresPlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Index Cond'?: string;
  Plans?: PostgresPlanNode[];
}

/** PostgreSQL: the plan's nodes that read a growing table whole (a sequential scan, or an index walked without a condition). */
async function postgresWholeReads(runner: QueryRunner, statement: Statement, partial: Set<string>): Promise<string[]> {
  const [explained] = (await runner.query(`EXPLAIN (FORMAT JSON) ${statement.sql}`, statement.parameters)) as Array<{ 'QUERY PLAN': Array<{ Plan: PostgresPlanNode }> }>;
  const plan = explained!['QUERY PLAN'];
  const found: string[] = [];
  const visit = (node: PostgresPlanNode) => {
    const table = node['Relation Name'];
    if (table && GROWING.has(table)) {
      const walksIndex = /Index/.test(node['Node Type']) && !node['Index Cond'] && !partial.has(node['Index Name'] ?? '');
      if (node['Node Type'] === 'Seq Scan' || walksIndex) found.push(`${node['Node Type']} on ${table}${node['Index Name'] ? ` using ${node['Index Name']}` : ''}`);
    }
    node.Plans?.forEach(visit);
  };
  visit(plan[0]!.Plan);
  return found;
}

/**
 * Operations on a CA itself: its entry lists what it signed (`signed_entries`), and revoking it
 * revokes all of that, so they read a CA's certificates by its index; no other path may.
 */
const CA_OPERATIONS = new Set(['get CA', 'create CA', 'rename CA', 'revoke CA']);

/** The index of certificates by signing CA (not partial): a read through it reads a share of the table, what one CA signed. */
/**
 * Runs `work` on a runner of its own; on PostgreSQL with sequential scans off, so that a plan shows
 * the index it can use rather than the scan the planner prefers for a small test table.
 */
async function withPlanner<T>(app: App, postgres: boolean, work: (runner: QueryRunner) => Promise<T>): Promise<T> {
  const runner = app.db.createQueryRunner();
  try {
    if (postgres) await runner.query('SET enable_seqscan = off');
    return await work(runner);
  } finally {
    if (postgres) await runner.query('RESET enable_seqscan');
    await runner.release();
  }
}

async function signedByIndex(runner: QueryRunner, postgres: boolean): Promise<string> {
  const rows = postgres
    ? ((await runner.query(`SELECT indexname AS name FROM pg_indexes WHERE tablename = 'certificate' AND indexdef LIKE '%(signedby_id)' AND indexdef NOT LIKE '% WHERE %'`)) as Array<{ name: string }>)
    : ((await runner.query(`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'certificate' AND sql LIKE '%("signedby_id")%' AND sql NOT LIKE '% WHERE %'`)) as Array<{ name: string }>);
  expect(rows).toHaveLength(1);
  return rows[0]!.name;
}

/** Whether the plan of a statement reads through the index `index`. */
async function readsThrough(runner: QueryRunner, postgres: boolean, statement: Statement, index: string): Promise<boolean> {
  if (!postgres) {
    const steps = (await runner.query(`EXPLAIN QUERY PLAN ${statement.sql}`, statement.parameters)) as Array<{ detail: string }>;
    return steps.some((step) => new RegExp(`USING (COVERING )?INDEX ${index}\\b`).test(step.detail));
  }
  const [explained] = (await runner.query(`EXPLAIN (FORMAT JSON) ${statement.sql}`, statement.parameters)) as Array<{ 'QUERY PLAN': Array<{ Plan: PostgresPlanNode }> }>;
  const uses = (node: PostgresPlanNode): boolean => node['Index Name'] === index || (node.Plans ?? []).some(uses);
  return uses(explained!['QUERY PLAN'][0]!.Plan);
}

describe.each(await databaseBackends())('statement plans on %s', (name, open, available) => {
  const postgres = name === 'PostgreSQL';
  let database: TestDatabase;
  let server: TestServer;
  let client: CertmidClient;
  let statements: Map<string, Statement>;
  let operations: string[];

  beforeAll(async () => {
    if (!available) return;
    database = await open();
    server = await startTestServer({ env: database.env });
    client = await adminClient(server);
    const { app } = server.daemon;
    const root = await createRootCa(client, 'plan-root', EC);
    const intermediate = await createIntermediateCa(client, 'plan-intermediate', root.id, EC);
    for (const n of [1, 2, 3]) await createInternalCertificate(client, `plan-existing-${n}`, intermediate.id, EC);

    // The full pass at start reads every row, as it must; it is not one of the paths under test.
    await filesSettled(app);
    const capture = captureStatements(app);
    const { run } = capture;
    try {
      let made: Entry | undefined;
      await run('create', async () => (made = await createInternalCertificate(client, 'plan-made', intermediate.id, EC)));
      const { lifetime: _lifetime, ...csrFields } = subjectParams(EC);
      let csr: Entry | undefined;
      await run('create CSR', async () => (csr = await client.callJob<Entry>('certificate.create', [{ ...csrFields, name: 'plan-csr', create_type: 'CERTIFICATE_CREATE_CSR' }])));
      await run('import', () => client.callJob('certificate.create', [{ name: 'plan-imported', create_type: 'CERTIFICATE_CREATE_IMPORTED', certificate: made!.certificate, privatekey: made!.privatekey }]));
      await run('import CSR', () => client.callJob('certificate.create', [{ name: 'plan-imported-csr', create_type: 'CERTIFICATE_CREATE_IMPORTED_CSR', CSR: csr!.CSR, privatekey: csr!.privatekey }]));
      await run('sign CSR', () => client.call('certificateauthority.ca_sign_csr', { ca_id: intermediate.id, csr_cert_id: csr!.id, name: 'plan-signed' }));
      await run('get', () => client.call('certificate.get_instance', made!.id));
      await run('get CA', () => client.call('certificateauthority.get_instance', intermediate.id));
      await run('rename', () => client.callJob('certificate.update', [made!.id, { name: 'plan-renamed' }]));
      await run('opt in to renewal', () => client.callJob('certificate.update', [made!.id, { auto_renew: true, renew_days: 5 }]));
      await run('trust', () => client.callJob('certificate.update', [made!.id, { add_to_trusted_store: true }]));
      await run('distrust', () => client.callJob('certificate.update', [made!.id, { add_to_trusted_store: false }]));
      const due = await createInternalCertificate(client, 'plan-due', intermediate.id, { ...EC, lifetime: 3, auto_renew: true, renew_days: 3 });
      await run('renewal sweep', async () => expect(await client.callJob('certificate.renew_certs', [])).toEqual({ renewed: [due.id], failed: [] }));
      await run('revoke', () => client.callJob('certificate.update', [made!.id, { revoked: true, revoked_reason: 'KEY_COMPROMISE' }]));
      await run('delete', () => client.callJob('certificate.delete', [due.id]));
      await run('alert checks', () => runAlertChecks(app, alertSources(new Date())));
      await run('CRL refresh', () => refreshDueCrls(app));
      await run('create CA', () => createRootCa(client, 'plan-root-2', EC));
      await run('rename CA', () => client.call('certificateauthority.update', root.id, { name: 'plan-root-renamed' }));
      const doomed = await createIntermediateCa(client, 'plan-doomed', root.id, EC);
      await createInternalCertificate(client, 'plan-below-doomed', doomed.id, EC);
      await run('revoke CA', () => client.call('certificateauthority.update', doomed.id, { revoked: true }));
    } finally {
      capture.stop();
    }
    statements = capture.statements;
    operations = capture.operations;
  }, 180_000);

  afterAll(async () => {
    await client?.close();
    await server?.close();
    await database?.drop();
  });

  it.skipIf(!available)('reads no growing table whole in any statement of those paths', async () => {
    const captured = new Set([...statements.values()].flatMap((statement) => [...statement.during]));
    expect(operations.filter((operation) => !captured.has(operation))).toEqual([]);
    const wholeReads: string[] = [];
    await withPlanner(server.daemon.app, postgres, async (runner) => {
      const partial = await partialIndexes(runner, postgres);
      for (const statement of statements.values()) {
        if (growingTablesOf(statement.sql).size === 0) continue;
        const found = postgres ? await postgresWholeReads(runner, statement, partial) : await sqliteWholeReads(runner, statement, partial);
        if (found.length > 0) wholeReads.push(`${found.join(', ')} in ${[...statement.during].join(', ')}: ${statement.sql}`);
      }
    });
    expect(wholeReads).toEqual([]);
  });

  it.skipIf(!available)('reads no CA\'s certificates through the index by CA, but in operations on the CA itself', async () => {
    const found: string[] = [];
    await withPlanner(server.daemon.app, postgres, async (runner) => {
      const index = await signedByIndex(runner, postgres);
      for (const statement of statements.values()) {
        const during = [...statement.during].filter((operation) => !CA_OPERATIONS.has(operation));
        if (during.length === 0 || ![...growingTablesOf(statement.sql).values()].includes('certificate')) continue;
        if (await readsThrough(runner, postgres, statement, index)) found.push(`${during.join(', ')}: ${statement.sql}`);
      }
    });
    expect(found).toEqual([]);
  });

  it.skipIf(!available)('finds ACME certificates by registration through their index; the migration goes down and up again', async () => {
    const { db } = server.daemon.app;
    const runner = db.createQueryRunner();
    try {
      const sweep = { sql: `SELECT "id" FROM "certificate" WHERE "acme_id" IN (${postgres ? '$1, $2' : '?, ?'}) AND "revoked_date" IS NULL`, parameters: [1, 2], during: new Set<string>() };
      if (postgres) await runner.query('SET enable_seqscan = off');
      const partial = await partialIndexes(runner, postgres);
      expect(postgres ? await postgresWholeReads(runner, sweep, partial) : await sqliteWholeReads(runner, sweep, partial)).toEqual([]);
      if (postgres) await runner.query('RESET enable_seqscan');
      const names = async () =>
        postgres
          ? ((await runner.query(`SELECT indexname AS name FROM pg_indexes WHERE indexname IN ('IDX_certificate_acme', 'IDX_alert_source', 'IDX_deploy_link_certificate') ORDER BY indexname`)) as Array<{ name: string }>).map((row) => row.name)
          : ((await runner.query(`SELECT name FROM sqlite_master WHERE name IN ('IDX_certificate_acme', 'IDX_alert_source', 'IDX_deploy_link_certificate') ORDER BY name`)) as Array<{ name: string }>).map((row) => row.name);
      expect(await names()).toEqual(['IDX_alert_source', 'IDX_certificate_acme', 'IDX_deploy_link_certificate']);
      await new ScaleIndexes1765800000000().down(runner);
      expect(await names()).toEqual([]);
      await new ScaleIndexes1765800000000().up(runner);
      expect(await names()).toEqual(['IDX_alert_source', 'IDX_certificate_acme', 'IDX_deploy_link_certificate']);
    } finally {
      await runner.release();
    }
  });
});
