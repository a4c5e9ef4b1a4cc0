import type { KeyObject } from 'node:crypto';
import { In, type EntityManager } from 'typeorm';
import { AcmeRegistrationEntity } from '../acme/entities.js';
import { registrationSummary } from '../acme/registration.js';
import type { App } from '../app.js';
import type { Caller } from '../api/call-context.js';
import { expandRoles, type Role } from '../auth/roles.js';
import type { CollectionUpdate } from '../events/event-bus.js';
import { exportPrivateKeyPem, loadPrivateKey } from '../crypto/keys.js';
import { placeholders } from '../db/row-statements.js';
import type { SqlQuerySpec, SyncEntrySpec } from '../query/sql-query.js';
import { CertificateAuthorityEntity, CertificateEntity, type CertificateAuthorityRow, type CertificateRow, type CertificateRowBase } from './entities.js';
import { caEntry, certificateEntry, sealedShown, type Entry, type EntryContext, type RevokedMember, type SignedMember } from './entry.js';
import { certificateUses, type CertificateUse } from './usage.js';
import { previousVersions, type PreviousVersion } from './versions.js';

/** Seals a private key (as unencrypted PKCS#8 PEM) for storage. */
export function sealKey(app: App, key: KeyObject): string {
  return app.secrets.encrypt(exportPrivateKeyPem(key));
}

/** The stored private key of a row, or null. */
export function openKey(app: App, row: { privatekey: string | null }): KeyObject | null {
  return row.privatekey === null ? null : loadPrivateKey(app.secrets.decrypt(row.privatekey));
}

/** Whether a caller sees private keys: FULL_ADMIN or the namespace's write role. */
export function mayReadKeys(caller: Caller | null, writeRole: Role): boolean {
  const roles = expandRoles(caller?.roles ?? []);
  return roles.has('FULL_ADMIN') || roles.has(writeRole);
}

/**
 * Which private keys an entry shows in clear, by the namespace of the row that holds the key, not
 * of the method: a certificate's key needs CERTIFICATE_WRITE, a CA's key (also when nested in a
 * certificate's `signedby` or `issuer`) CERTIFICATE_AUTHORITY_WRITE; FULL_ADMIN sees both.
 */
export interface KeyAccess {
  certificates: boolean;
  authorities: boolean;
}

/** Every key shown as "********". */
export const NO_KEYS: KeyAccess = Object.freeze({ certificates: false, authorities: false });

/** The keys `caller` may read. */
export function keyAccessOf(caller: Caller | null): KeyAccess {
  return { certificates: mayReadKeys(caller, 'CERTIFICATE_WRITE'), authorities: mayReadKeys(caller, 'CERTIFICATE_AUTHORITY_WRITE') };
}

/** What entries need beyond their own row; the same for every caller until a certificate or CA changes. */
interface CaData {
  caRows: CertificateAuthorityRow[];
  revokedMembers: RevokedMember[];
}

const CERTIFICATES = 'certificate.query';
const AUTHORITIES = 'certificateauthority.query';

/** Per process: the CA data and the signed counts by CA id, each dropped on the changes that can make it stale. */
interface CaCache {
  data: Promise<CaData> | null;
  /** The certificates among the revoked members of `data`, once it is read; null while it is read. */
  revokedIds: ReadonlySet<number> | null;
  counts: Map<number, number>;
  /** Advanced by every change of a count, so that a count read across one is not kept. */
  generation: number;
}

const caCaches = new WeakMap<App, CaCache>();

/**
 * Whether a change can make the CA data stale: a CA's row changed (not only what it signed), or a
 * certificate listed as revoked changed. A certificate newly revoked below a CA comes with that
 * CA's change (its CRL is signed again); one not revoked, or revoked without a CA here (not listed),
 * is in no CA's data. While the data is read, which certificates it lists is not known yet.
 */
function staleningCaData(update: CollectionUpdate, revokedIds: ReadonlySet<number> | null): boolean {
  if (update.collection === AUTHORITIES) return update.signedOnly !== true;
  return update.collection === CERTIFICATES && (revokedIds === null || revokedIds.has(Number(update.id)));
}

function caCacheOf(app: App): CaCache {
  let cache = caCaches.get(app);
  if (!cache) {
    const fresh: CaCache = { data: null, revokedIds: null, counts: new Map(), generation: 0 };
    app.events.onUpdate((update) => {
      if (update.collection !== CERTIFICATES && update.collection !== AUTHORITIES) return;
      // A count is one indexed row per CA: read again after any change rather than reasoned about.
      fresh.counts.clear();
      fresh.generation++;
      if (staleningCaData(update, fresh.revokedIds)) {
        fresh.data = null;
        fresh.revokedIds = null;
      }
    });
    caCaches.set(app, (cache = fresh));
  }
  return cache;
}

/**
 * CA data, cached per process until a change that can make it stale (heard from this process at
 * once, from others through the event bus). Inside a transaction it is read fresh.
 */
function cachedCaData(app: App, manager?: EntityManager): Promise<CaData> {
  if (manager) return loadCaData(manager);
  const current = caCacheOf(app);
  if (!current.data) {
    const loading = loadCaData(app.db.manager);
    current.data = loading;
    loading.then(
      (data) => {
        if (current.data === loading) current.revokedIds = new Set(data.revokedMembers.flatMap((m) => (m.cert_type === 'CERTIFICATE' ? [m.id] : [])));
      },
      () => {
        if (current.data === loading) current.data = null;
      },
    );
  }
  return current.data;
}

/** Signed counts, kept per process as the CA data is: those not kept are counted. Inside a transaction they are read fresh. */
async function cachedSignedCertificateCounts(app: App, manager: EntityManager | undefined, caIds: readonly number[]): Promise<ReadonlyMap<number, number>> {
  if (manager) return signedCertificateCounts(manager, caIds);
  const cache = caCacheOf(app);
  const result = new Map(caIds.flatMap((id) => (cache.counts.has(id) ? [[id, cache.counts.get(id)!] as const] : [])));
  const missing = caIds.filter((id) => !result.has(id));
  const generation = cache.generation;
  const counted = await signedCertificateCounts(app.db.manager, missing);
  for (const id of missing) {
    const n = counted.get(id) ?? 0;
    result.set(id, n);
    if (cache.generation === generation) cache.counts.set(id, n);
  }
  return result;
}

/** What an entry context is for: certificate entries, or CA entries (which also list what each CA signed). */
export type EntryKind = 'certificate' | 'authority';

/**
 * Loads what entries need beyond their rows: all CAs and revoked members; what concerns some rows
 * only (signed counts, uses, previous versions, ACME registrations) is read for the rows being
 * built. Only CA entries list what each CA signed (`signed_entries`): that list grows with the
 * table, and a certificate's nested `signedby`/`issuer` would carry it in every entry. `newRow`:
 * the context is for the entry of that row, just stored.
 */
export async function entryContext(app: App, keys: KeyAccess | false, manager?: EntityManager, kind: EntryKind = 'certificate', newRow?: CertificateRow): Promise<EntryContext> {
  const reader = manager ?? app.db.manager;
  const { caRows, revokedMembers } = await cachedCaData(app, manager);
  return {
    now: new Date(),
    keys: keys || NO_KEYS,
    decrypt: (sealed) => app.secrets.decrypt(sealed),
    decryptMany: (sealed) => app.secrets.decryptMany(sealed),
    opened: new Map(),
    caKeys: new Map(),
    certificatesDir: app.config.certificatesDir,
    publicBaseUrl: app.publicUrl,
    caRows: new Map(caRows.map((row) => [row.id, row])),
    signedCertificateCounts: new Map(),
    loadSignedCertificateCounts: (caIds) => cachedSignedCertificateCounts(app, manager, caIds),
    revokedMembers,
    caEntries: new Map(),
    acmeRegistrations: new Map(),
    loadAcmeRegistrations: (ids) => acmeRegistrations(reader, ids),
    uses: new Map(),
    // A row just stored is used by nothing yet and has no previous versions (both name stored rows).
    loadUses: (ids) => (newRow ? Promise.resolve(new Map()) : certificateUses(app, manager, ids)),
    previousVersions: new Map(),
    loadPreviousVersions: (ids) => (newRow ? Promise.resolve(new Map()) : previousVersions(reader, ids)),
    ...(kind === 'authority' ? { signedBy: new Map(), loadSignedBy: async (caIds: readonly number[]) => signedByCa(caRows, await signedCertificates(reader, caIds)) } : {}),
  };
}

async function acmeRegistrations(manager: EntityManager, ids: readonly number[]): Promise<Map<number, Entry>> {
  if (ids.length === 0) return new Map();
  const rows = await manager.getRepository(AcmeRegistrationEntity).find({ where: { id: In([...ids]) } });
  return new Map(rows.map((row) => [row.id, registrationSummary(row)]));
}

/**
 * How many certificates each of the CAs `caIds` signed: the count the database keeps by trigger
 * (migration SignedCounts), one row per CA, however many rows each CA signed.
 */
async function signedCertificateCounts(manager: EntityManager, caIds: readonly number[]): Promise<Map<number, number>> {
  if (caIds.length === 0) return new Map();
  // Fixed SQL with the ids as parameters (the query builder writes them into the text on SQLite), so that it stays prepared.
  const sql = placeholders(manager, `SELECT "ca_id" AS "ca", "certificates" AS "n" FROM "signed_count" WHERE "ca_id" IN (${caIds.map(() => '?').join(', ')})`);
  const counts = (await manager.query(sql, [...caIds])) as Array<{
    ca: number | string;
    n: string | number;
  }>;
  return new Map(counts.map((c) => [Number(c.ca), Number(c.n)]));
}

/** The CAs `ids` and every CA above them: those whose entries a reply nests. */
function withIssuers(ids: Iterable<number | null>, caRows: ReadonlyMap<number, CertificateAuthorityRow>): number[] {
  const found = new Set<number>();
  for (let id of ids) {
    while (id !== null && !found.has(id)) {
      found.add(id);
      id = caRows.get(id)?.signedby_id ?? null;
    }
  }
  return [...found];
}

/** CAs and the revoked members: certificates revoked below a CA here (through the partial index), and revoked CAs. */
async function loadCaData(manager: EntityManager): Promise<CaData> {
  const caRows = await manager.getRepository(CertificateAuthorityEntity).find({ order: { id: 'ASC' } });
  // Whole rows: a CA's revoked_certs lists full entries, as TrueNAS does.
  // Those without a CA here are listed by no CA (an ACME certificate revoked at its CA).
  const revokedCertificates = await manager.getRepository(CertificateEntity).createQueryBuilder('c').where('c.revoked_date IS NOT NULL AND c.signedby_id IS NOT NULL').getMany();
  // In id order, as a scan of the table gave them; sorted here so that the partial index serves the read.
  revokedCertificates.sort((a, b) => a.id - b.id);
  const revokedMembers: RevokedMember[] = [
    ...revokedCertificates.map((c) => member(c, 'CERTIFICATE')),
    ...caRows.filter((ca) => ca.revoked_date !== null).map((ca) => member(ca, 'CA')),
  ];
  return { caRows, revokedMembers };
}

/** The certificates the CAs `caIds` signed, through the index on signedby_id: only the CAs a reply lists, not every signed row. */
async function signedCertificates(manager: EntityManager, caIds: readonly number[]): Promise<Array<Pick<CertificateRow, 'id' | 'name' | 'signedby_id'>>> {
  if (caIds.length === 0) return [];
  const rows = await manager.getRepository(CertificateEntity).createQueryBuilder('c').select(['c.id', 'c.name', 'c.signedby_id']).where('c.signedby_id IN (:...caIds)', { caIds }).getMany();
  return rows.sort((a, b) => a.id - b.id);
}

/** What each CA signed directly: its certificates, then its intermediate CAs, each by id order. */
function signedByCa(caRows: readonly CertificateAuthorityRow[], certificates: ReadonlyArray<Pick<CertificateRow, 'id' | 'name' | 'signedby_id'>>): Map<number, SignedMember[]> {
  const byCa = new Map<number, SignedMember[]>();
  const add = (caId: number, member: SignedMember) => {
    const list = byCa.get(caId);
    if (list) list.push(member);
    else byCa.set(caId, [member]);
  };
  for (const row of certificates) add(row.signedby_id!, { id: row.id, name: row.name, type: 'CERTIFICATE' });
  for (const row of caRows) if (row.signedby_id !== null) add(row.signedby_id, { id: row.id, name: row.name, type: 'CA' });
  return byCa;
}

function member(row: CertificateRowBase, certType: 'CERTIFICATE' | 'CA'): RevokedMember {
  return {
    id: row.id,
    name: row.name,
    serial: row.serial,
    revoked_date: row.revoked_date!,
    revoked_reason: row.revoked_reason,
    cert_type: certType,
    signedby_id: row.signedby_id,
    row,
  };
}

/** Columns that hold exactly what the entry shows, so filters on them run in SQL. */
const SHARED_COLUMNS = {
  id: { column: 'id', kind: 'number' },
  type: { column: 'type', kind: 'number' },
  name: { column: 'name', kind: 'string' },
  certificate: { column: 'certificate', kind: 'string' },
  CSR: { column: 'CSR', kind: 'string' },
  add_to_trusted_store: { column: 'add_to_trusted_store', kind: 'boolean' },
  revoked_date: { column: 'revoked_date', kind: 'date' },
} as const;

/** What one certificate's entry needs that its id alone tells, read while its row is. */
interface PrefetchedEntry {
  id: number;
  previousVersions: Promise<ReadonlyMap<number, readonly PreviousVersion[]>>;
  uses: Promise<ReadonlyMap<number, readonly CertificateUse[]>>;
}

export function certificateSpec(app: App, ctx: EntryContext): SyncEntrySpec<CertificateRow, Entry> {
  let prefetched: PrefetchedEntry | null = null;
  return {
    dataSource: app.db,
    entity: CertificateEntity,
    columns: SHARED_COLUMNS,
    prefetchEntry: (id) => {
      prefetched = { id, previousVersions: ctx.loadPreviousVersions([id]), uses: ctx.loadUses([id]) };
      // Awaited by beforeEntries once the row is read; when there is no such row, nothing awaits them.
      prefetched.previousVersions.catch(() => undefined);
      prefetched.uses.catch(() => undefined);
    },
    beforeEntries: async (rows) => {
      const ids = rows.map((row) => row.id);
      const early = prefetched !== null && ids.length === 1 && ids[0] === prefetched.id ? prefetched : null;
      prefetched = null;
      const registrations = [...new Set(rows.flatMap((row) => (row.acme_id === null ? [] : [row.acme_id])))];
      // Side by side: on PostgreSQL each read is a round trip. The secrets go first, so that a pool
      // thread opens them while the reads run.
      [ctx.opened, ctx.previousVersions, ctx.signedCertificateCounts, ctx.uses, ctx.acmeRegistrations] = await Promise.all([
        ctx.decryptMany(rows.flatMap((row) => sealedShown(row, ctx))),
        early?.previousVersions ?? ctx.loadPreviousVersions(ids),
        ctx.loadSignedCertificateCounts(withIssuers(new Set(rows.map((row) => row.signedby_id)), ctx.caRows)),
        early?.uses ?? ctx.loadUses(ids),
        ctx.loadAcmeRegistrations(registrations),
      ]);
    },
    toEntry: (row) => certificateEntry(row, ctx),
  };
}

/**
 * The entry of a certificate row just stored, built as a read of it would build it (same context,
 * same steps) from the row the writer holds, not from the row read back.
 */
export async function newCertificateEntry(app: App, row: CertificateRow, keys: KeyAccess | false): Promise<Entry> {
  const spec = certificateSpec(app, await entryContext(app, keys, undefined, 'certificate', row));
  await spec.beforeEntries!([row]);
  return spec.toEntry(row);
}

export function caSpec(app: App, ctx: EntryContext): SqlQuerySpec<CertificateAuthorityRow, Entry> {
  return {
    dataSource: app.db,
    entity: CertificateAuthorityEntity,
    columns: SHARED_COLUMNS,
    beforeEntries: async (rows) => {
      // The CAs above them too: their entries are nested (signedby) and must list what a list shows.
      const nested = withIssuers(rows.map((row) => row.id), ctx.caRows);
      ctx.signedCertificateCounts = await ctx.loadSignedCertificateCounts(nested);
      if (ctx.loadSignedBy) ctx.signedBy = await ctx.loadSignedBy(nested);
    },
    toEntry: (row) => caEntry(row, ctx),
  };
}
