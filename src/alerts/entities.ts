import { EntitySchema } from 'typeorm';
import { jsonColumn, timestampColumn } from '../db/columns.js';

/** What fills a class's text template. */
export type AlertArgs = Record<string, string | number | boolean | null>;

/** An alert in force: one per class and key, shared by every daemon, kept across restarts. */
export interface AlertRow {
  id: number;
  uuid: string;
  klass: string;
  /** What the alert is about within its class (a certificate's name, a CA's id), so it is raised once. */
  key: string;
  /** The check that raised it; it clears the alert when the condition ends. */
  source: string;
  args: AlertArgs;
  datetime: Date;
  last_occurrence: Date;
  dismissed: boolean;
}

export const AlertEntity = new EntitySchema<AlertRow>({
  name: 'alert',
  tableName: 'alert',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    uuid: { type: 'varchar', length: 36, unique: true },
    klass: { type: 'varchar', length: 64 },
    key: { type: 'varchar', length: 512 },
    source: { type: 'varchar', length: 64 },
    args: jsonColumn(),
    datetime: timestampColumn(),
    last_occurrence: timestampColumn(),
    dismissed: { type: 'boolean', default: false },
  },
  uniques: [{ name: 'UQ_alert_klass_key', columns: ['klass', 'key'] }],
});
