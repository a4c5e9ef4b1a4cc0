import { EntitySchema } from 'typeorm';
import { timestampColumn } from '../../db/columns.js';

/** A configured alert channel (TrueNAS's `system.alertservice`). */
export interface AlertServiceRow {
  id: number;
  name: string;
  type: string;
  /** The type's attributes as JSON, sealed with the master key: most hold a token or a secret URL. */
  attributes: string;
  /** The least severe level sent through it. */
  level: string;
  enabled: boolean;
  /** Why the last send failed, without secrets; null once a send succeeds. */
  last_error: string | null;
}

export const AlertServiceEntity = new EntitySchema<AlertServiceRow>({
  name: 'alert_service',
  tableName: 'alert_service',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    name: { type: 'varchar', length: 120 },
    type: { type: 'varchar', length: 20 },
    attributes: { type: 'text' },
    level: { type: 'varchar', length: 20 },
    enabled: { type: 'boolean', default: true },
    last_error: { type: 'text', nullable: true },
  },
});

/**
 * One alert raised or cleared, waiting to be sent through one channel. The daemon whose reconcile
 * raised the alert writes these in the same transaction; any daemon may send them, after claiming
 * them with a conditional update, so each is sent once and survives a crash before sending.
 */
export interface AlertOutboxRow {
  id: number;
  service_id: number;
  /** `new` when the alert was raised, `gone` when it cleared. */
  event: string;
  alert_uuid: string;
  klass: string;
  level: string;
  formatted: string;
  raised_at: Date;
  /** Not before this: now for IMMEDIATELY, the next full hour or day for HOURLY and DAILY. */
  due_at: Date;
  next_attempt_at: Date;
  attempts: number;
  /** A daemon sending it holds it until then; after that another may take it over. */
  lease_until: Date | null;
}

export const AlertOutboxEntity = new EntitySchema<AlertOutboxRow>({
  name: 'alert_outbox',
  tableName: 'alert_outbox',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    service_id: { type: 'integer' },
    event: { type: 'varchar', length: 8 },
    alert_uuid: { type: 'varchar', length: 36 },
    klass: { type: 'varchar', length: 64 },
    level: { type: 'varchar', length: 20 },
    formatted: { type: 'text' },
    raised_at: timestampColumn(),
    due_at: timestampColumn(),
    next_attempt_at: timestampColumn(),
    attempts: { type: 'integer', default: 0 },
    lease_until: timestampColumn(true),
  },
});

/** The SMTP settings (TrueNAS's `system.email`): one row, id 1. */
export interface MailConfigRow {
  id: number;
  fromemail: string;
  fromname: string;
  outgoingserver: string;
  port: number;
  security: string;
  smtp: boolean;
  user: string | null;
  /** Sealed with the master key. */
  pass: string | null;
  /** TrueNAS's OAuth settings as JSON, sealed; stored, not used. */
  oauth: string | null;
}

export const MailConfigEntity = new EntitySchema<MailConfigRow>({
  name: 'mail_config',
  tableName: 'mail_config',
  columns: {
    id: { type: 'integer', primary: true },
    fromemail: { type: 'varchar', length: 120, default: '' },
    fromname: { type: 'varchar', length: 120, default: '' },
    outgoingserver: { type: 'varchar', length: 255, default: '' },
    port: { type: 'integer', default: 25 },
    security: { type: 'varchar', length: 8, default: 'PLAIN' },
    smtp: { type: 'boolean', default: false },
    user: { type: 'varchar', length: 255, nullable: true },
    pass: { type: 'text', nullable: true },
    oauth: { type: 'text', nullable: true },
  },
});
