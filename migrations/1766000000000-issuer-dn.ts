import type { MigrationInterface, QueryRunner } from 'typeorm';
import { opensslIssuerDn } from '../src/crypto/certificates.js';
import { placeholders } from '../src/db/row-statements.js';

/** Rows read, and written back in one statement, at a time: a large table never sits in memory whole. */
export const BATCH = 500;
const TABLES = ['certificate', 'certificate_authority'] as const;

interface StoredRow {
  id: number;
  certificate: string | null;
  details: string;
}

/** The row's details as they should be stored, or null to leave the row as it is. */
type DetailsChange = (row: StoredRow, details: Record<string, unknown>) => Record<string, unknown> | null;

/**
 * The issuer DN of every certificate and CA (`issuer_dn` among the `details`), which the daemon now
 * stores when it writes a row, filled in for the rows written before: entries read it from there,
 * so no list parses certificates after an upgrade. Read by OpenSSL, as entries read it until now.
 * SQL common to SQLite and PostgreSQL (restored backups are brought up to date on SQLite too).
 */
export class IssuerDn1766000000000 implements MigrationInterface {
  name = 'IssuerDn1766000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const fill: DetailsChange = (row, details) => ('issuer_dn' in details ? null : { ...details, issuer_dn: row.certificate ? opensslIssuerDn(row.certificate) : null });
    for (const table of TABLES) await changeDetails(queryRunner, table, fill);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    const drop: DetailsChange = (_row, { issuer_dn, ...details }) => (issuer_dn === undefined ? null : details);
    for (const table of TABLES) await changeDetails(queryRunner, table, drop);
  }
}

/** Applies `change` to the details of every row of `table`, a batch of rows at a time in id order. */
async function changeDetails(queryRunner: QueryRunner, table: string, change: DetailsChange): Promise<void> {
  for (let after = 0; ; ) {
    const rows = (await queryRunner.query(placeholders(queryRunner.manager, `SELECT "id", "certificate", "details" FROM "${table}" WHERE "id" > ? ORDER BY "id" LIMIT ${BATCH}`), [after])) as StoredRow[];
    if (rows.length === 0) return;
    const changed = rows.flatMap((row) => {
      const details = change(row, JSON.parse(row.details) as Record<string, unknown>);
      return details ? [{ id: row.id, details: JSON.stringify(details) }] : [];
    });
    if (changed.length > 0) await writeDetails(queryRunner, table, changed);
    after = rows[rows.length - 1]!.id;
  }
}

/** Sets the details of several rows in one UPDATE. */
async function writeDetails(queryRunner: QueryRunner, table: string, rows: ReadonlyArray<{ id: number; details: string }>): Promise<void> {
  const cases = rows.map(() => 'WHEN ? THEN ?').join(' ');
  const ids = rows.map(() => '?').join(', ');
  const sql = `UPDATE "${table}" SET "details" = CASE "id" ${cases} END WHERE "id" IN (${ids})`;
  await queryRunner.query(placeholders(queryRunner.manager, sql), [...rows.flatMap((row) => [row.id, row.details]), ...rows.map((row) => row.id)]);
}
