/**
 * TrueNAS's `alertservice` entries: named channels with a type, its attributes (sealed at rest,
 * secrets shown as "********"), the least severe level sent and whether it is enabled.
 */
import { z } from 'zod';
import type { CallContext } from '../../api/call-context.js';
import type { App } from '../../app.js';
import { withChanges } from '../../db/entity-events.js';
import { InstanceNotFoundError, ValidationErrors } from '../../errors/validation-errors.js';
import { getInstance, runQuery, type SqlQuerySpec } from '../../query/sql-query.js';
import { REDACTED } from '../../secrets.js';
import { ALERT_LEVELS } from '../classes.js';
import { AlertOutboxEntity, AlertServiceEntity, type AlertServiceRow } from './entities.js';
import { channelKind, CHANNEL_KINDS } from './kinds.js';

export const NAMESPACE = 'alertservice';

/** What create accepts: TrueNAS 25.04's `{name, type, attributes, level, enabled}`; `type` may also sit in `attributes` (as later TrueNAS has it). */
export const AlertServiceCreate = z
  .strictObject({
    name: z.string().min(1).max(120).describe('A name for the channel.'),
    type: z.string().optional().describe(`The kind of channel: ${CHANNEL_KINDS.map((kind) => kind.type).join(', ')}.`),
    attributes: z.record(z.string(), z.unknown()).describe("The type's settings (README: Alert channels)."),
    level: z.string().describe(`The least severe level sent: ${ALERT_LEVELS.join(', ')}.`),
    enabled: z.boolean().default(true).describe('Whether alerts are sent through it.'),
  })
  .describe('An alert channel.');
export type AlertServiceCreate = z.output<typeof AlertServiceCreate>;

export const AlertServiceUpdate = z
  .strictObject({
    name: z.string().min(1).max(120).optional().describe('A name for the channel.'),
    type: z.string().optional().describe('The kind of channel.'),
    attributes: z.record(z.string(), z.unknown()).optional().describe('The settings, complete; a secret given as "********" keeps its stored value.'),
    level: z.string().optional().describe('The least severe level sent.'),
    enabled: z.boolean().optional().describe('Whether alerts are sent through it.'),
  })
  .describe('The fields to change.');
export type AlertServiceUpdate = z.output<typeof AlertServiceUpdate>;

export const AlertServiceEntry = z
  .object({
    id: z.number().describe('The channel id.'),
    name: z.string().describe('Its name.'),
    type: z.string().describe('Its kind.'),
    attributes: z.record(z.string(), z.unknown()).describe('Its settings with `type`; secret ones read "********".'),
    level: z.string().describe('The least severe level sent.'),
    enabled: z.boolean().describe('Whether alerts are sent through it.'),
    type__title: z.string().describe("The kind's title."),
    last_error: z.string().nullable().describe('certmid: why the last send failed; null after a success.'),
  })
  .describe('An alert channel.');
export type AlertServiceEntry = z.input<typeof AlertServiceEntry>;

function openAttributes(app: App, row: Pick<AlertServiceRow, 'attributes'>): Record<string, unknown> {
  return JSON.parse(app.secrets.decrypt(row.attributes)) as Record<string, unknown>;
}

/** The stored attributes with secrets open, for sending. */
export function channelAttributes(app: App, row: AlertServiceRow): Record<string, unknown> {
  return openAttributes(app, row);
}

function toEntry(app: App, row: AlertServiceRow): AlertServiceEntry {
  const kind = channelKind(row.type);
  const fields = openAttributes(app, row);
  const secret = new Set(kind?.secrets ?? Object.keys(fields));
  const shown = Object.fromEntries(Object.entries(fields).map(([key, value]) => [key, secret.has(key) && value !== '' && value !== null ? REDACTED : value]));
  return {
    id: row.id,
    name: row.name,
    type: row.type,
    attributes: { type: row.type, ...shown },
    level: row.level,
    enabled: row.enabled,
    type__title: kind?.title ?? '<Unknown>',
    last_error: row.last_error,
  };
}

function querySpec(app: App): SqlQuerySpec<AlertServiceRow, AlertServiceEntry> {
  return {
    dataSource: app.db,
    entity: AlertServiceEntity,
    columns: {
      id: { column: 'id', kind: 'number' },
      name: { column: 'name', kind: 'string' },
      type: { column: 'type', kind: 'string' },
      level: { column: 'level', kind: 'string' },
      enabled: { column: 'enabled', kind: 'boolean' },
    },
    toEntry: (row) => toEntry(app, row),
  };
}

const notFound = (id: unknown) => `Alert service ${String(id)} does not exist`;

export function queryAlertServices(app: App, filters: unknown, options: unknown) {
  return runQuery(querySpec(app), filters, options);
}

export function getAlertService(app: App, id: number, options: object = {}): Promise<AlertServiceEntry> {
  return getInstance(querySpec(app), id, notFound(id), options);
}

async function fetchRow(app: App, id: number): Promise<AlertServiceRow> {
  const row = await app.db.getRepository(AlertServiceEntity).findOneBy({ id });
  if (!row) throw new InstanceNotFoundError(notFound(id));
  return row;
}

/** A channel as given, checked: its type, level and type-specific attributes (with defaults). */
export interface CheckedChannel {
  name: string;
  type: string;
  attributes: Record<string, unknown>;
  level: string;
  enabled: boolean;
}

/**
 * Checks a channel's fields, naming each bad attribute under `schema` (`alert_service_create.attributes.email`).
 * `stored` fills secrets given back as "********".
 */
export function checkChannel(schema: string, data: AlertServiceCreate, stored: Record<string, unknown> | null = null): CheckedChannel {
  const errors = new ValidationErrors();
  const { type: innerType, ...given } = data.attributes;
  const type = data.type ?? (typeof innerType === 'string' ? innerType : undefined);
  if (data.type !== undefined && innerType !== undefined && innerType !== data.type) errors.add(`${schema}.attributes.type`, 'Does not match type');
  if (!(ALERT_LEVELS as readonly string[]).includes(data.level)) errors.add(`${schema}.level`, `Level must be one of ${JSON.stringify(ALERT_LEVELS)}`);
  const kind = type === undefined ? undefined : channelKind(type);
  if (type === undefined) errors.add(`${schema}.type`, 'This field is required');
  else if (!kind) errors.add(`${schema}.type`, `This field has invalid value: must be one of ${CHANNEL_KINDS.map((item) => item.type).join(', ')}`);
  let attributes: Record<string, unknown> = {};
  if (kind) {
    const filled = Object.fromEntries(
      Object.entries(given).map(([key, value]) => [key, value === REDACTED && kind.secrets.includes(key) && stored && key in stored ? stored[key] : value]),
    );
    const parsed = kind.schema.safeParse(filled);
    if (parsed.success) attributes = parsed.data as Record<string, unknown>;
    for (const issue of parsed.error?.issues ?? []) {
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) errors.add(`${schema}.attributes.${key}`, 'Extra inputs are not permitted');
        continue;
      }
      const path = [`${schema}.attributes`, ...issue.path.map(String)].join('.');
      const missing = issue.code === 'invalid_type' && filled[String(issue.path[0])] === undefined;
      errors.add(path, missing ? 'This field is required' : issue.message);
    }
  }
  errors.check();
  return { name: data.name, type: type!, attributes, level: data.level, enabled: data.enabled };
}

async function assertNameFree(app: App, name: string, attribute: string, exceptId?: number): Promise<void> {
  const existing = await app.db.getRepository(AlertServiceEntity).findOneBy({ name });
  if (existing && existing.id !== exceptId) throw new ValidationErrors().add(attribute, 'Alert service with this name already exists');
}

function columns(app: App, channel: CheckedChannel) {
  return { name: channel.name, type: channel.type, attributes: app.secrets.encrypt(JSON.stringify(channel.attributes)), level: channel.level, enabled: channel.enabled };
}

export async function createAlertService(ctx: CallContext, data: AlertServiceCreate): Promise<AlertServiceEntry> {
  const channel = checkChannel('alert_service_create', data);
  await assertNameFree(ctx.app, channel.name, 'alert_service_create.name');
  const id = await withChanges(ctx.app, async (manager, changes) => {
    const result = await manager.getRepository(AlertServiceEntity).insert({ ...columns(ctx.app, channel), last_error: null });
    const newId = Number(result.identifiers[0]!.id);
    changes.added(NAMESPACE, newId);
    return newId;
  });
  return getAlertService(ctx.app, id);
}

/** The stored channel with `data`'s fields over it, checked. */
export async function mergedChannel(app: App, schema: string, id: number, data: AlertServiceUpdate): Promise<{ row: AlertServiceRow; channel: CheckedChannel }> {
  const row = await fetchRow(app, id);
  const stored = openAttributes(app, row);
  const type = data.type ?? (typeof data.attributes?.type === 'string' ? data.attributes.type : row.type);
  const merged: AlertServiceCreate = {
    name: data.name ?? row.name,
    type,
    attributes: data.attributes ?? (type === row.type ? stored : {}),
    level: data.level ?? row.level,
    enabled: data.enabled ?? row.enabled,
  };
  return { row, channel: checkChannel(schema, merged, type === row.type ? stored : null) };
}

export async function updateAlertService(ctx: CallContext, id: number, data: AlertServiceUpdate): Promise<AlertServiceEntry> {
  const { channel } = await mergedChannel(ctx.app, 'alert_service_update', id, data);
  await assertNameFree(ctx.app, channel.name, 'alert_service_update.name', id);
  await withChanges(ctx.app, async (manager, changes) => {
    await manager.getRepository(AlertServiceEntity).update({ id }, columns(ctx.app, channel));
    // What waits to be sent through it is tried again at once with the new settings.
    await manager.getRepository(AlertOutboxEntity).update({ service_id: id }, { next_attempt_at: new Date() });
    changes.changed(NAMESPACE, id);
  });
  return getAlertService(ctx.app, id);
}

export async function deleteAlertService(ctx: CallContext, id: number): Promise<true> {
  await fetchRow(ctx.app, id);
  await withChanges(ctx.app, async (manager, changes) => {
    await manager.getRepository(AlertOutboxEntity).delete({ service_id: id });
    await manager.getRepository(AlertServiceEntity).delete({ id });
    changes.removed(NAMESPACE, id);
  });
  return true;
}
