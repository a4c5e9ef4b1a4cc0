/**
 * Deploy targets as the API shows them (`certificate.deploy_target`): create, read, update, delete,
 * with each kind's attributes validated by its schema and sealed at rest, secrets never shown.
 */
import { z } from 'zod';
import type { CallContext } from '../api/call-context.js';
import { addZodIssues } from '../api/validate.js';
import type { App } from '../app.js';
import type { Role } from '../auth/roles.js';
import { CERT_TYPE_CSR, CertificateEntity, type CertificateRow } from '../certs/entities.js';
import { withChanges } from '../db/entity-events.js';
import { InstanceNotFoundError, ValidationErrors } from '../errors/validation-errors.js';
import { getInstance, runQuery, type SqlQuerySpec } from '../query/sql-query.js';
import { REDACTED } from '../secrets.js';
import { DeployTargetEntity, type DeployTargetRow } from './entities.js';
import type { DeployKind } from './kind.js';
import { DEPLOY_KINDS, deployKindFor } from './kinds/index.js';
import { currentSerial } from './material.js';

/** The wire namespace; `<NAMESPACE>.query` is also the event name. */
export const NAMESPACE = 'certificate.deploy_target';
export const READ_ROLES: readonly Role[] = ['CERTIFICATE_READ'];
export const WRITE_ROLES: readonly Role[] = ['CERTIFICATE_WRITE'];

export const STATES = ['PENDING', 'RUNNING', 'DEPLOYED', 'FAILED', 'DISABLED'] as const;
export type DeployState = (typeof STATES)[number];

// ---------------------------------------------------------------------------------------------
// Schemas

const Name = z.string().min(1).max(120).describe('A unique name for the target.');
const Kind = z.string().min(1).max(32).describe(`How the certificate is deployed: ${DEPLOY_KINDS.map((kind) => kind.key).join(', ')} (kind_choices lists them).`);
const Attributes = z.record(z.string(), z.unknown()).describe('The kind\'s settings (kind_schemas describes each); secrets may be sent back as "********" to keep them.');

export const TargetCreate = z
  .strictObject({
    name: Name,
    certificate: z.int().describe('The id of the certificate to deploy (issued, not a CSR).'),
    kind: Kind,
    attributes: Attributes,
    enabled: z.boolean().default(true).describe('Deploy automatically after every issue and renewal.'),
  })
  .describe('The new target.');
export type TargetCreate = z.output<typeof TargetCreate>;

export const TargetUpdate = z
  .strictObject({
    name: Name.optional(),
    certificate: z.int().optional().describe('Another certificate to deploy.'),
    attributes: Attributes.optional(),
    enabled: z.boolean().optional().describe('Deploy automatically after every issue and renewal.'),
  })
  .describe('The fields to change; `attributes`, when given, is complete (secrets "********" or absent keep their value). The kind cannot change.');
export type TargetUpdate = z.output<typeof TargetUpdate>;

const Time = z.string().nullable();

export const TargetEntry = z
  .object({
    id: z.number().describe('The target id.'),
    name: z.string().describe('The unique name.'),
    certificate: z.number().describe('The id of the certificate it deploys.'),
    kind: z.string().describe('LOCAL, WEBHOOK, SSH or TRUENAS.'),
    attributes: z.record(z.string(), z.unknown()).describe('The kind\'s settings, secrets as "********".'),
    enabled: z.boolean().describe('Whether it deploys automatically.'),
    state: z.enum(STATES).describe('PENDING (a serial not yet deployed), RUNNING, DEPLOYED (the current serial is deployed), FAILED (waiting for its retry), DISABLED.'),
    last_serial: z.string().nullable().describe('The serial (openssl hex) last deployed.'),
    last_deployed_at: Time.describe('When it was (ISO 8601).'),
    last_attempt_at: Time.describe('When a deploy was last tried (ISO 8601).'),
    last_error: z.string().nullable().describe('Why the last deploy failed; null after a success.'),
    attempts: z.number().describe('Failures in a row.'),
    next_attempt_at: Time.describe('No automatic retry before this time (ISO 8601), after a failure.'),
  })
  .describe('A deploy target.');
export type TargetEntry = z.input<typeof TargetEntry>;

// ---------------------------------------------------------------------------------------------
// Entries

/** The kind's attributes as stored (secrets in clear): only for the deploy job and updates. */
export function openAttributes(app: App, row: Pick<DeployTargetRow, 'attributes'>): Record<string, unknown> {
  return JSON.parse(app.secrets.decrypt(row.attributes)) as Record<string, unknown>;
}

function redacted(kind: DeployKind | undefined, attributes: Record<string, unknown>): Record<string, unknown> {
  // A kind this build does not have cannot say which fields are secret: hide every value.
  const secret = new Set(kind ? kind.secretFields : Object.keys(attributes));
  return Object.fromEntries(Object.entries(attributes).map(([key, value]) => [key, secret.has(key) && value !== undefined && value !== null ? REDACTED : value]));
}

const iso = (date: Date | null) => (date ? date.toISOString() : null);

/** The state shown, derived from the row and the certificate's current serial. */
export function stateOf(row: DeployTargetRow, serial: string | null, now = new Date()): DeployState {
  if (!row.enabled) return 'DISABLED';
  if (row.lease_until && row.lease_until > now) return 'RUNNING';
  if (row.last_error !== null && row.attempts > 0) return 'FAILED';
  if (serial !== null && row.last_serial === serial) return 'DEPLOYED';
  return 'PENDING';
}

function toEntry(app: App, row: DeployTargetRow, serials: ReadonlyMap<number, string | null>): TargetEntry {
  return {
    id: row.id,
    name: row.name,
    certificate: row.certificate_id,
    kind: row.kind,
    attributes: redacted(deployKindFor(row.kind), openAttributes(app, row)),
    enabled: row.enabled,
    state: stateOf(row, serials.get(row.certificate_id) ?? null),
    last_serial: row.last_serial,
    last_deployed_at: iso(row.last_deployed_at),
    last_attempt_at: iso(row.last_attempt_at),
    last_error: row.last_error,
    attempts: row.attempts,
    next_attempt_at: iso(row.next_attempt_at),
  };
}

/** Every certificate's current serial (openssl hex), for the states. */
async function certificateSerials(app: App): Promise<Map<number, string | null>> {
  const rows = await app.db.getRepository(CertificateEntity).find({ select: { id: true, serial: true, certificate: true, type: true } });
  return new Map(rows.map((row) => [row.id, currentSerial(row)]));
}

async function querySpec(app: App): Promise<SqlQuerySpec<DeployTargetRow, TargetEntry>> {
  const serials = await certificateSerials(app);
  return {
    dataSource: app.db,
    entity: DeployTargetEntity,
    columns: {
      id: { column: 'id', kind: 'number' },
      name: { column: 'name', kind: 'string' },
      certificate: { column: 'certificate_id', kind: 'number' },
      kind: { column: 'kind', kind: 'string' },
      enabled: { column: 'enabled', kind: 'boolean' },
    },
    toEntry: (row) => toEntry(app, row, serials),
  };
}

const notFound = (id: unknown) => `Deploy target ${String(id)} does not exist`;

export async function queryTargets(ctx: CallContext, filters: unknown, options: unknown) {
  return runQuery(await querySpec(ctx.app), filters, options);
}

export async function getTarget(app: App, id: number, options: object = {}): Promise<TargetEntry> {
  return getInstance(await querySpec(app), id, notFound(id), options);
}

export async function fetchTarget(app: App, id: number): Promise<DeployTargetRow> {
  const row = await app.db.getRepository(DeployTargetEntity).findOneBy({ id });
  if (!row) throw new InstanceNotFoundError(notFound(id));
  return row;
}

// ---------------------------------------------------------------------------------------------
// Validation

/**
 * Parses attributes with the kind's schema, then its own checks, every problem named under
 * `<root>.attributes`. `previous` (on update) supplies secrets sent back as "********" or left out.
 */
function checkAttributes(kind: DeployKind, given: Record<string, unknown>, root: string, errors: ValidationErrors, previous?: Record<string, unknown>): Record<string, unknown> | null {
  const merged = { ...given };
  for (const field of kind.secretFields) {
    if (merged[field] === REDACTED || (merged[field] === undefined && previous?.[field] !== undefined)) {
      if (previous?.[field] !== undefined) merged[field] = previous[field];
      else if (merged[field] === REDACTED) errors.add(`${root}.attributes.${field}`, 'No stored value to keep: send the secret itself');
    }
  }
  const parsed = kind.schema.strict().safeParse(merged);
  if (!parsed.success) {
    addZodIssues(errors, `${root}.attributes`, parsed.error.issues);
    return null;
  }
  const attributes = parsed.data as Record<string, unknown>;
  for (const [field, message] of kind.validate?.(attributes) ?? []) errors.add(`${root}.attributes.${field}`, message);
  return attributes;
}

async function checkCertificate(app: App, id: number, attribute: string, errors: ValidationErrors): Promise<void> {
  const row: CertificateRow | null = await app.db.getRepository(CertificateEntity).findOneBy({ id });
  if (!row) errors.add(attribute, `Certificate ${id} does not exist`, 'ENOENT');
  else if (!row.certificate || row.type & CERT_TYPE_CSR) errors.add(attribute, `${row.name} is a CSR: only an issued certificate can be deployed`);
}

async function checkName(app: App, name: string, attribute: string, errors: ValidationErrors, exceptId?: number): Promise<void> {
  const existing = await app.db.getRepository(DeployTargetEntity).findOneBy({ name });
  if (existing && existing.id !== exceptId) errors.add(attribute, 'A deploy target with this name already exists');
}

// ---------------------------------------------------------------------------------------------
// Create, update, delete

export async function createTarget(ctx: CallContext, data: TargetCreate): Promise<TargetEntry> {
  const { app } = ctx;
  const root = 'certificate_deploy_target_create';
  const errors = new ValidationErrors();
  const kind = deployKindFor(data.kind);
  if (!kind) errors.add(`${root}.kind`, `Unknown kind ${JSON.stringify(data.kind)}: one of ${DEPLOY_KINDS.map((k) => k.key).join(', ')}`);
  const attributes = kind ? checkAttributes(kind, data.attributes, root, errors) : null;
  await checkName(app, data.name, `${root}.name`, errors);
  await checkCertificate(app, data.certificate, `${root}.certificate`, errors);
  errors.check();
  const id = await withChanges(app, async (manager, changes) => {
    const result = await manager.getRepository(DeployTargetEntity).insert({
      name: data.name,
      certificate_id: data.certificate,
      kind: kind!.key,
      attributes: app.secrets.encrypt(JSON.stringify(attributes)),
      enabled: data.enabled,
      attempts: 0,
      created_at: new Date(),
    });
    const newId = Number(result.identifiers[0]!.id);
    changes.added(NAMESPACE, newId);
    // Its `used_by` changed.
    changes.changed('certificate', data.certificate);
    return newId;
  });
  app.logger.info({ target: id, kind: kind!.key, certificate: data.certificate }, 'deploy target created');
  return getTarget(app, id);
}

export async function updateTarget(ctx: CallContext, id: number, data: TargetUpdate): Promise<TargetEntry> {
  const { app } = ctx;
  const root = 'certificate_deploy_target_update';
  const row = await fetchTarget(app, id);
  const errors = new ValidationErrors();
  const kind = deployKindFor(row.kind);
  let attributes: Record<string, unknown> | null = null;
  if (data.attributes !== undefined) {
    if (!kind) errors.add(`${root}.attributes`, `Kind ${row.kind} is not available in this version`);
    else attributes = checkAttributes(kind, data.attributes, root, errors, openAttributes(app, row));
  }
  if (data.name !== undefined) await checkName(app, data.name, `${root}.name`, errors, id);
  if (data.certificate !== undefined) await checkCertificate(app, data.certificate, `${root}.certificate`, errors);
  errors.check();
  await withChanges(app, async (manager, changes) => {
    await manager.getRepository(DeployTargetEntity).update(
      { id },
      {
        ...(data.name !== undefined ? { name: data.name } : {}),
        ...(data.certificate !== undefined ? { certificate_id: data.certificate } : {}),
        ...(attributes ? { attributes: app.secrets.encrypt(JSON.stringify(attributes)) } : {}),
        ...(data.enabled !== undefined ? { enabled: data.enabled } : {}),
        // New settings deserve a try now rather than after the backoff of the old ones.
        ...(attributes || data.certificate !== undefined || data.enabled ? { next_attempt_at: null } : {}),
      },
    );
    changes.changed(NAMESPACE, id);
    for (const certificate of new Set([row.certificate_id, data.certificate ?? row.certificate_id])) changes.changed('certificate', certificate);
  });
  return getTarget(app, id);
}

export async function deleteTarget(ctx: CallContext, id: number): Promise<true> {
  const { app } = ctx;
  const row = await fetchTarget(app, id);
  await withChanges(app, async (manager, changes) => {
    await manager.getRepository(DeployTargetEntity).delete({ id });
    changes.removed(NAMESPACE, id);
    changes.changed('certificate', row.certificate_id);
  });
  return true;
}

// ---------------------------------------------------------------------------------------------
// Forms

/** `kind_choices`: key → label. */
export function kindChoices(): Record<string, string> {
  return Object.fromEntries(DEPLOY_KINDS.map((kind) => [kind.key, kind.label]));
}

/** `kind_schemas`: each kind's attributes as JSON Schema, secrets marked `writeOnly`. */
export function kindSchemas(): Array<{ key: string; label: string; schema: Record<string, unknown> }> {
  return DEPLOY_KINDS.map((kind) => {
    const json = z.toJSONSchema(kind.schema.strict(), { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
    const properties = (json.properties ?? {}) as Record<string, Record<string, unknown>>;
    const required = (json.required ?? []) as string[];
    return {
      key: kind.key,
      label: kind.label,
      schema: {
        ...json,
        title: 'attributes',
        description: kind.label,
        properties: Object.fromEntries(
          Object.entries(properties).map(([name, property]) => [
            name,
            { ...property, title: name, _required_: required.includes(name), ...(kind.secretFields.includes(name) ? { writeOnly: true } : {}) },
          ]),
        ),
        _attrs_order_: Object.keys(properties),
      },
    };
  });
}
