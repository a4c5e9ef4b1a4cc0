import { EntitySchema } from 'typeorm';
import { jsonColumn, timestampColumn } from '../db/columns.js';

/** One audit record: an authentication or a call, as TrueNAS's `audit.query` shows it, plus its link in the chain. */
export interface AuditEntryRow {
  /** Order of the chain: each entry's digest covers the one with the next lower id. */
  id: number;
  audit_id: string;
  /** When it was written, in whole seconds (TrueNAS `message_timestamp`). */
  message_timestamp: number;
  timestamp: Date;
  address: string;
  username: string;
  session: string;
  service: string;
  service_data: Record<string, unknown>;
  event: string;
  /** `event_data.method` of METHOD_CALL entries, in its own column so that filters on it run in SQL. */
  method: string | null;
  event_data: Record<string, unknown>;
  success: boolean;
  /** Digest of the previous entry (or the chain's anchor), and this entry's own. */
  prev_digest: string;
  digest: string;
}

export const AuditEntryEntity = new EntitySchema<AuditEntryRow>({
  name: 'audit_entry',
  tableName: 'audit_entry',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    audit_id: { type: 'varchar', length: 36, unique: true },
    message_timestamp: { type: 'bigint', transformer: { to: (v: number) => v, from: (v: string | number) => Number(v) } },
    timestamp: timestampColumn(),
    address: { type: 'varchar', length: 64 },
    username: { type: 'varchar', length: 1024 },
    session: { type: 'varchar', length: 36 },
    service: { type: 'varchar', length: 16 },
    service_data: jsonColumn(),
    event: { type: 'varchar', length: 32 },
    method: { type: 'varchar', length: 256, nullable: true },
    event_data: jsonColumn(),
    success: { type: 'boolean' },
    prev_digest: { type: 'varchar', length: 64 },
    digest: { type: 'varchar', length: 64 },
  },
});

/**
 * The chain's single state row (id 1): its head, the anchor left by retention (entries up to
 * `anchor_id` were removed, the first one kept must follow `anchor_digest`), and the settings.
 */
export interface AuditChainRow {
  id: number;
  head_id: number;
  head_digest: string;
  anchor_id: number;
  anchor_digest: string;
  /** Days an entry is kept. */
  retention: number;
  /** MAC of the head and the anchor under the chain's key. */
  seal: string;
}

export const AuditChainEntity = new EntitySchema<AuditChainRow>({
  name: 'audit_chain',
  tableName: 'audit_chain',
  columns: {
    id: { type: 'integer', primary: true },
    head_id: { type: 'integer' },
    head_digest: { type: 'varchar', length: 64 },
    anchor_id: { type: 'integer' },
    anchor_digest: { type: 'varchar', length: 64 },
    retention: { type: 'integer' },
    seal: { type: 'varchar', length: 64 },
  },
});

export const AUDIT_ENTITIES = [AuditEntryEntity, AuditChainEntity];
