/**
 * What one send carries, and its text as TrueNAS words it: the alerts raised and those cleared
 * since the last send through that channel, under a "<product> @ <host>" heading.
 */
import os from 'node:os';

/** One alert raised or cleared. */
export interface AlertNotice {
  uuid: string;
  klass: string;
  level: string;
  formatted: string;
  datetime: Date;
}

export interface AlertBatch {
  new: AlertNotice[];
  gone: AlertNotice[];
  /** `alertservice.test`'s message, which reads only "This is a test alert". */
  test: boolean;
}

export const PRODUCT = 'certmid';

export function hostname(): string {
  return os.hostname();
}

/** The plain text TrueNAS's channels send (its list items as "* " lines). */
export function batchText(batch: AlertBatch): string {
  let text = `${PRODUCT} @ ${hostname()}\n\n`;
  if (batch.test) return `${text}This is a test alert\n`;
  const list = (notices: AlertNotice[]) => notices.map((notice) => `* ${notice.formatted}\n`).join('');
  if (batch.new.length > 0) text += `${batch.new.length === 1 ? 'New alert' : 'New alerts'}:\n${list(batch.new)}\n`;
  if (batch.gone.length > 0) {
    text += `${batch.gone.length === 1 ? 'The following alert has been cleared' : 'These alerts have been cleared'}:\n${list(batch.gone)}\n`;
  }
  return text;
}

/** A one-line summary: the alert itself when there is one, else counts. */
export function batchTitle(batch: AlertBatch): string {
  if (batch.test) return 'Test alert';
  if (batch.new.length === 1 && batch.gone.length === 0) return batch.new[0]!.formatted;
  if (batch.new.length === 0 && batch.gone.length === 1) return `Alert cleared: ${batch.gone[0]!.formatted}`;
  const parts: string[] = [];
  if (batch.new.length > 0) parts.push(`${batch.new.length} new alert${batch.new.length === 1 ? '' : 's'}`);
  if (batch.gone.length > 0) parts.push(`${batch.gone.length} cleared`);
  return parts.join(', ');
}

const LEVEL_ORDER = ['INFO', 'NOTICE', 'WARNING', 'ERROR', 'CRITICAL', 'ALERT', 'EMERGENCY'];

/** The most severe level among the new alerts (cleared ones count as INFO). */
export function batchLevel(batch: AlertBatch): string {
  const levels = batch.new.map((notice) => LEVEL_ORDER.indexOf(notice.level));
  return LEVEL_ORDER[Math.max(0, ...levels)]!;
}
