import { EntitySchema } from 'typeorm';
import { timestampColumn } from '../db/columns.js';

export interface DeployTargetRow {
  id: number;
  name: string;
  certificate_id: number;
  /** The kind's key (`LOCAL`, `WEBHOOK`, …). */
  kind: string;
  /** Sealed JSON of the kind's attributes, secrets included. */
  attributes: string;
  enabled: boolean;
  /** The serial (openssl hex) last deployed, null before the first success. */
  last_serial: string | null;
  last_deployed_at: Date | null;
  last_attempt_at: Date | null;
  /** The last failure for the operator; null after a success. */
  last_error: string | null;
  /** Failures in a row. */
  attempts: number;
  /** Backoff after a failure: no automatic run before this time. */
  next_attempt_at: Date | null;
  /** Set when a daemon claims the target for a run; no other daemon claims it until the run ends or this passes. */
  lease_until: Date | null;
  created_at: Date;
}

export const DeployTargetEntity = new EntitySchema<DeployTargetRow>({
  name: 'deploy_target',
  tableName: 'deploy_target',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    name: { type: 'varchar', length: 120, unique: true },
    certificate_id: { type: 'integer' },
    kind: { type: 'varchar', length: 32 },
    attributes: { type: 'text' },
    enabled: { type: 'boolean', default: true },
    last_serial: { type: 'varchar', length: 128, nullable: true },
    last_deployed_at: timestampColumn(true),
    last_attempt_at: timestampColumn(true),
    last_error: { type: 'text', nullable: true },
    attempts: { type: 'integer', default: 0 },
    next_attempt_at: timestampColumn(true),
    lease_until: timestampColumn(true),
    created_at: timestampColumn(),
  },
});

/** A one-time fetch link a webhook announced (`delivery: 'LINK'`); only the token's hash is kept. */
export interface DeployLinkRow {
  id: number;
  /** SHA-256 hex of the token in the URL. */
  token_hash: string;
  certificate_id: number;
  include_private_key: boolean;
  expires_at: Date;
  created_at: Date;
}

export const DeployLinkEntity = new EntitySchema<DeployLinkRow>({
  name: 'deploy_link',
  tableName: 'deploy_link',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    token_hash: { type: 'varchar', length: 64, unique: true },
    certificate_id: { type: 'integer' },
    include_private_key: { type: 'boolean', default: false },
    expires_at: timestampColumn(),
    created_at: timestampColumn(),
  },
});
