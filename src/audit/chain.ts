/**
 * The audit log is a hash chain: each entry's digest is an HMAC-SHA256, under a key derived from
 * the master key, of the previous entry's digest and the entry's own fields. Changing, removing or
 * reordering an entry breaks every digest after it, and without the master key nobody can compute
 * digests that would hide it. The chain's state row holds the head (so removing the newest entries
 * shows) and the anchor retention leaves (so removing more than retention did shows), sealed with
 * the same key.
 */
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { LessThan, MoreThan, type EntityManager } from 'typeorm';
import type { App } from '../app.js';
import { insertRow, updateWhere } from '../db/row-statements.js';
import { transaction } from '../db/transaction.js';
import { AuditChainEntity, AuditEntryEntity, type AuditChainRow, type AuditEntryRow } from './entities.js';

/** The digest before the first entry. */
export const GENESIS_DIGEST = '0'.repeat(64);
/** Days entries are kept unless `audit.update` says otherwise (TrueNAS's default). */
export const DEFAULT_RETENTION_DAYS = 7;
const CHAIN_ID = 1;
const VERIFY_BATCH = 1000;

/** An entry as recorded, before it is linked into the chain. */
export type AuditDraft = Omit<AuditEntryRow, 'id' | 'audit_id' | 'message_timestamp' | 'timestamp' | 'prev_digest' | 'digest'>;

/** What `audit.verify` answers. */
export interface ChainVerdict {
  valid: boolean;
  /** Entries checked. */
  entries: number;
  /** The first entry that does not fit, or null when the break is in the chain's state itself. */
  first_invalid: { id: number; audit_id: string } | null;
  reason: string | null;
}

/** Derived once per master key: every audited call appends an entry. */
const chainKeys = new WeakMap<object, Buffer>();

function chainKey(app: App): Buffer {
  let key = chainKeys.get(app.secrets);
  if (!key) chainKeys.set(app.secrets, (key = app.secrets.deriveKey('audit chain')));
  return key;
}

/** JSON with object keys sorted at every level, so the same entry always hashes the same. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).filter(([, item]) => item !== undefined);
    return `{${entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** The digest of one entry: what it says and what came before it (not its row id, which the database gives). */
function entryDigest(key: Buffer, row: Omit<AuditEntryRow, 'id' | 'digest'>): string {
  const said = {
    audit_id: row.audit_id,
    message_timestamp: row.message_timestamp,
    timestamp: row.timestamp.getTime(),
    address: row.address,
    username: row.username,
    session: row.session,
    service: row.service,
    service_data: row.service_data,
    event: row.event,
    method: row.method,
    event_data: row.event_data,
    success: row.success,
  };
  return createHmac('sha256', key).update(row.prev_digest).update('\n').update(canonicalJson(said)).digest('hex');
}

function chainSeal(key: Buffer, chain: Omit<AuditChainRow, 'seal' | 'retention' | 'id'>): string {
  return createHmac('sha256', key)
    .update(canonicalJson({ head_id: chain.head_id, head_digest: chain.head_digest, anchor_id: chain.anchor_id, anchor_digest: chain.anchor_digest }))
    .digest('hex');
}

function sameDigest(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

/**
 * The chain's state, locked until the transaction ends so that appends from several daemons take
 * turns. The first use makes it: its seal needs the master key, which migrations do not have.
 */
async function lockChain(app: App, manager: EntityManager): Promise<AuditChainRow> {
  const select = () => {
    const query = manager.getRepository(AuditChainEntity).createQueryBuilder('chain').where('chain.id = :id', { id: CHAIN_ID });
    // SQLite has one writer at a time already; PostgreSQL needs the row lock.
    if (manager.connection.options.type === 'postgres') query.setLock('pessimistic_write');
    return query.getOne();
  };
  const found = await select();
  if (found) return found;
  const fresh = { id: CHAIN_ID, head_id: 0, head_digest: GENESIS_DIGEST, anchor_id: 0, anchor_digest: GENESIS_DIGEST, retention: DEFAULT_RETENTION_DAYS };
  // Another daemon may make it at the same moment; then its row is the one.
  await manager.createQueryBuilder().insert().into(AuditChainEntity).values({ ...fresh, seal: chainSeal(chainKey(app), fresh) }).orIgnore().execute();
  return (await select())!;
}

/** Writes the locked chain row back (an UPDATE: `save` would read the row again first). */
async function saveChain(app: App, manager: EntityManager, chain: AuditChainRow): Promise<void> {
  const { id, ...columns } = chain;
  await updateWhere(manager, AuditChainEntity, { ...columns, seal: chainSeal(chainKey(app), chain) }, '"id" = ?', [id]);
}

/** An entry waiting to be appended, and who waits for it. */
interface Waiting {
  draft: AuditDraft;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** Per process: entries waiting for the batch being written to end, and that batch. */
const appenders = new WeakMap<App, { waiting: Waiting[]; writing: boolean }>();

/**
 * Links one entry into the chain and stores it; resolves once it is committed. Entries recorded
 * while a batch is being written go together into the next one: one read and write of the chain
 * and one commit for all of them, rather than a transaction each.
 */
export function appendAuditEntry(app: App, draft: AuditDraft): Promise<void> {
  let appender = appenders.get(app);
  if (!appender) appenders.set(app, (appender = { waiting: [], writing: false }));
  const state = appender;
  return new Promise<void>((resolve, reject) => {
    state.waiting.push({ draft, resolve, reject });
    if (!state.writing) void writeWaiting(app, state);
  });
}

async function writeWaiting(app: App, state: { waiting: Waiting[]; writing: boolean }): Promise<void> {
  state.writing = true;
  try {
    for (let batch = state.waiting.splice(0); batch.length > 0; batch = state.waiting.splice(0)) {
      try {
        await appendEntries(app, batch.map((item) => item.draft));
        batch.forEach((item) => item.resolve());
      } catch (error) {
        if (batch.length === 1) batch[0]!.reject(error);
        // One entry that cannot be written fails alone: the others are appended one by one.
        else for (const item of batch) await appendEntries(app, [item.draft]).then(item.resolve, item.reject);
      }
    }
  } finally {
    state.writing = false;
  }
}

/** Links `drafts` into the chain, in order, and stores them in one transaction. */
async function appendEntries(app: App, drafts: readonly AuditDraft[]): Promise<void> {
  const key = chainKey(app);
  await transaction(app.db, async (manager) => {
    let chain = await lockChain(app, manager);
    for (const draft of drafts) {
      const now = new Date();
      const linked = { ...draft, audit_id: randomUUID(), message_timestamp: Math.floor(now.getTime() / 1000), timestamp: now, prev_digest: chain.head_digest };
      const digest = entryDigest(key, linked);
      const id = await insertRow(manager, AuditEntryEntity, { ...linked, digest } as never);
      chain = { ...chain, head_id: id, head_digest: digest };
    }
    await saveChain(app, manager, chain);
  });
}

/** Checks every entry from the anchor to the head. */
export async function verifyAuditChain(app: App): Promise<ChainVerdict> {
  const key = chainKey(app);
  const chain = await app.db.getRepository(AuditChainEntity).findOneBy({ id: CHAIN_ID });
  const broken = (reason: string, row: AuditEntryRow | null, entries: number): ChainVerdict => ({
    valid: false,
    entries,
    first_invalid: row ? { id: row.id, audit_id: row.audit_id } : null,
    reason,
  });
  const entries = app.db.getRepository(AuditEntryEntity);
  if (!chain) return (await entries.count()) === 0 ? { valid: true, entries: 0, first_invalid: null, reason: null } : broken('The chain state was removed', null, 0);
  if (!sameDigest(chain.seal, chainSeal(key, chain))) return broken('The chain state was changed outside certmid', null, 0);
  let expected = chain.anchor_digest;
  let lastId = chain.anchor_id;
  let checked = 0;
  for (;;) {
    const batch = await entries.find({ where: { id: MoreThan(lastId) }, order: { id: 'ASC' }, take: VERIFY_BATCH });
    for (const row of batch) {
      if (row.id > chain.head_id) return broken('An entry was added after the chain head outside certmid', row, checked);
      if (!sameDigest(row.prev_digest, expected)) return broken('An entry before this one was removed or changed', row, checked);
      if (!sameDigest(row.digest, entryDigest(key, row))) return broken('This entry was changed', row, checked);
      expected = row.digest;
      lastId = row.id;
      checked++;
    }
    if (batch.length < VERIFY_BATCH) break;
  }
  if (lastId !== chain.head_id || !sameDigest(expected, chain.head_digest)) return broken('The newest entries were removed', null, checked);
  return { valid: true, entries: checked, first_invalid: null, reason: null };
}

/** Removes entries older than the retention; the chain's anchor moves to the last one removed. */
export async function pruneAuditEntries(app: App, now = new Date()): Promise<number> {
  return await transaction(app.db, async (manager) => {
    const chain = await lockChain(app, manager);
    const entries = manager.getRepository(AuditEntryEntity);
    const cutoff = new Date(now.getTime() - chain.retention * 86_400_000);
    // The newest entry past the cutoff; everything up to it goes, so the kept ones stay a chain.
    const last = await entries.findOne({ where: { timestamp: LessThan(cutoff) }, order: { id: 'DESC' } });
    if (!last) return 0;
    const removed = await entries.createQueryBuilder().delete().where('id <= :id', { id: last.id }).execute();
    await saveChain(app, manager, { ...chain, anchor_id: last.id, anchor_digest: last.digest });
    return removed.affected ?? 0;
  });
}

/** The retention in days. */
export async function auditRetention(app: App): Promise<number> {
  return (await app.db.getRepository(AuditChainEntity).findOneBy({ id: CHAIN_ID }))?.retention ?? DEFAULT_RETENTION_DAYS;
}

export async function setAuditRetention(app: App, days: number): Promise<void> {
  await transaction(app.db, async (manager) => {
    const chain = await lockChain(app, manager);
    await saveChain(app, manager, { ...chain, retention: days });
  });
}
