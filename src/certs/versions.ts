import { EntitySchema, In, IsNull, type EntityManager } from 'typeorm';
import type { App } from '../app.js';
import { timestampColumn } from '../db/columns.js';
import { withChanges } from '../db/entity-events.js';
import { selectRows } from '../db/row-statements.js';
import { CertificateEntity, type CertificateRow } from './entities.js';
import { usesOf } from './usage.js';

/** A certificate as it was before a renewal replaced it in its row. */
export interface CertificateVersionRow {
  id: number;
  certificate_id: number;
  /** Decimal text, as `certificate.serial`. */
  serial: string | null;
  certificate: string;
  /**
   * The key it was issued for, sealed, kept while the version is not superseded (a service still
   * holding it can be given it again) and dropped once it is.
   */
  privatekey: string | null;
  not_before: Date | null;
  not_after: Date | null;
  replaced_at: Date;
  /** When every use of the certificate that tells a serial held a newer one; null until then. */
  superseded_at: Date | null;
}

export const CertificateVersionEntity = new EntitySchema<CertificateVersionRow>({
  name: 'certificate_version',
  tableName: 'certificate_version',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    certificate_id: { type: 'integer' },
    serial: { type: 'varchar', length: 64, nullable: true },
    certificate: { type: 'text' },
    privatekey: { type: 'text', nullable: true },
    not_before: timestampColumn(true),
    not_after: timestampColumn(true),
    replaced_at: timestampColumn(),
    superseded_at: timestampColumn(true),
  },
});

/** A previous version as certificate entries show it (`previous_versions`), without PEM or key. */
export interface PreviousVersion {
  serial: number | string | null;
  from: string | null;
  until: string | null;
  replaced_at: string;
  superseded: boolean;
  superseded_at: string | null;
}

/**
 * Keeps `row` as it stands (before the caller overwrites it with its renewal) as a previous
 * version, inside the caller's transaction so that the renewal and the record commit together.
 */
export async function keepPreviousVersion(manager: EntityManager, row: CertificateRow, replacedAt: Date): Promise<void> {
  if (!row.certificate) return;
  const notBefore = row.details.not_before === null ? null : new Date(row.details.not_before);
  await manager.getRepository(CertificateVersionEntity).insert({
    certificate_id: row.id,
    serial: row.serial,
    certificate: row.certificate,
    privatekey: row.privatekey,
    not_before: notBefore,
    not_after: row.not_after,
    replaced_at: replacedAt,
    superseded_at: null,
  });
}

/** Up to this many certificates, their versions are read by id; a longer list reads every version at once. */
const VERSIONS_BY_ID_LIMIT = 500;

/** What entries show of a previous version (not its PEM or key). */
const SUMMARY_COLUMNS = ['id', 'certificate_id', 'serial', 'not_before', 'not_after', 'replaced_at', 'superseded_at'] as const;

/** Previous versions of the certificates `ids`, newest first, by certificate id. */
export async function previousVersions(manager: EntityManager, ids: readonly number[]): Promise<Map<number, PreviousVersion[]>> {
  if (ids.length === 0) return new Map();
  // Fixed SQL with the ids as parameters (the query builder writes them into the text on SQLite):
  // pages of a list, each with as many ids, and single entries reuse one prepared statement.
  const where = ids.length <= VERSIONS_BY_ID_LIMIT ? `"certificate_id" IN (${ids.map(() => '?').join(', ')})` : '1 = 1';
  const rows = await selectRows(manager, CertificateVersionEntity, where, ids.length <= VERSIONS_BY_ID_LIMIT ? ids : [], SUMMARY_COLUMNS);
  rows.sort((a, b) => b.id - a.id);
  const byCertificate = new Map<number, PreviousVersion[]>();
  for (const row of rows) {
    const list = byCertificate.get(row.certificate_id) ?? [];
    list.push({
      serial: serialValue(row.serial),
      from: row.not_before?.toISOString() ?? null,
      until: row.not_after?.toISOString() ?? null,
      replaced_at: row.replaced_at.toISOString(),
      superseded: row.superseded_at !== null,
      superseded_at: row.superseded_at?.toISOString() ?? null,
    });
    byCertificate.set(row.certificate_id, list);
  }
  return byCertificate;
}

/** As entries show serials: a number up to 2^53, else decimal text. */
function serialValue(serial: string | null): number | string | null {
  if (serial === null) return null;
  const n = Number(serial);
  return Number.isSafeInteger(n) ? n : serial;
}

/** Whether a use's serial (openssl's hex) is the certificate's (decimal text). */
export function sameSerial(hex: string, decimal: string | null): boolean {
  if (decimal === null || !/^[0-9a-fA-F]+$/.test(hex)) return false;
  return BigInt(`0x${hex}`) === BigInt(decimal);
}

/** openssl's hex form of a decimal serial (`openssl x509 -serial`: upper case, whole octets). */
export function hexSerial(decimal: string): string {
  const hex = BigInt(decimal).toString(16).toUpperCase();
  return hex.length % 2 === 0 ? hex : `0${hex}`;
}

/**
 * Marks the certificate's previous versions superseded once every use of it that tells a serial
 * holds the current one (at once when no use tells), dropping their keys, and announces the change.
 * Idempotent and safe to run from several daemons at once (the UPDATE only takes versions not yet
 * superseded). Called after a renewal, on every certificate change event, and by whatever changes
 * a use's serial (the daemon's HTTPS after presenting a certificate; deploy targets after a deploy).
 * Returns whether anything was marked.
 */
export async function refreshSuperseded(app: App, certificateId: number): Promise<boolean> {
  // Most change events are of certificates with nothing waiting: no transaction for them.
  if (!(await app.db.getRepository(CertificateVersionEntity).existsBy({ certificate_id: certificateId, superseded_at: IsNull() }))) return false;
  return withChanges(app, async (manager, changes) => {
    const versions = manager.getRepository(CertificateVersionEntity);
    const pending = await versions.find({ select: { id: true }, where: { certificate_id: certificateId, superseded_at: IsNull() } });
    if (pending.length === 0) return false;
    const row = await manager.getRepository(CertificateEntity).findOne({ select: { id: true, serial: true }, where: { id: certificateId } });
    if (!row) return false;
    const telling = (await usesOf(app, certificateId, manager)).filter((use) => use.serial !== undefined);
    if (!telling.every((use) => use.serial !== null && use.serial !== undefined && sameSerial(use.serial, row.serial))) return false;
    const result = await versions.update(
      { id: In(pending.map((version) => version.id)), superseded_at: IsNull() },
      { superseded_at: new Date(), privatekey: null },
    );
    if (!result.affected) return false;
    changes.changed('certificate', certificateId);
    return true;
  });
}

/** Deletes a certificate's previous versions with it (inside the delete's transaction). */
export async function deleteVersions(manager: EntityManager, certificateId: number): Promise<void> {
  await manager.getRepository(CertificateVersionEntity).delete({ certificate_id: certificateId });
}

/**
 * Re-checks a certificate's previous versions on each of its change events (a renewal, a use
 * that moved to another certificate, a restore), on this daemon or another. Returns what stops it.
 */
export function watchSuperseded(app: App): () => void {
  let stopped = false;
  app.events.onUpdate((update) => {
    if (stopped || update.collection !== 'certificate.query' || update.msg !== 'changed' || typeof update.id !== 'number') return;
    refreshSuperseded(app, update.id).catch((error: unknown) => {
      if (!stopped) app.logger.error({ err: error, certificate: update.id }, 'could not check whether replaced certificate versions are still in use');
    });
  });
  return () => {
    stopped = true;
  };
}
