/**
 * ACME DNS authenticators (TrueNAS's `acme.dns.authenticator`): named DNS
 * provider credentials, sealed at rest, with how issuance waits for a challenge record to propagate.
 * `loadAuthenticator` turns one into a live provider for the issuance code.
 */
import { statSync } from 'node:fs';
import { IsNull, Not, type EntityManager } from 'typeorm';
import { z } from 'zod';
import type { Caller, CallContext } from '../api/call-context.js';
import type { App } from '../app.js';
import { expandRoles, hasAnyRole, type Role } from '../auth/roles.js';
import { CertificateEntity } from '../certs/entities.js';
import { withChanges } from '../db/entity-events.js';
import { DnsProviderError, type DnsProvider, type ProviderContext, type ProviderDefinition } from '../dns/provider.js';
import { validateCloudflare, type CloudflareAttributes } from '../dns/providers/cloudflare.js';
import { PROVIDERS, providerFor } from '../dns/providers/index.js';
import { validateShell } from '../dns/providers/shell.js';
import { CallError } from '../errors/call-error.js';
import { InstanceNotFoundError, ValidationErrors } from '../errors/validation-errors.js';
import { getInstance, runQuery, type SqlQuerySpec } from '../query/sql-query.js';
import { redactSecrets } from '../secrets.js';
import { DnsAuthenticatorEntity, type DnsAuthenticatorRow, type PropagationMode } from './entities.js';

/** The wire namespace; `<NAMESPACE>.query` is also the event name. */
export const NAMESPACE = 'acme.dns.authenticator';
/** Any one of these reads (TrueNAS guards the namespace with the network-interface roles; the ACME roles work too). */
export const READ_ROLES: readonly Role[] = ['NETWORK_INTERFACE_READ', 'ACME_READ'];
/** Any one of these writes, and sees secret attributes. */
export const WRITE_ROLES: readonly Role[] = ['NETWORK_INTERFACE_WRITE', 'ACME_WRITE'];

/** Not imported from certs/certificate-service.ts, which imports issuance, which imports this module. */
const CERTIFICATE_NAMESPACE = 'certificate';
/** Per-request timeout of provider calls unless the caller overrides it. */
const PROVIDER_TIMEOUT_MS = 30_000;
/** `verify` as a whole, whatever number of requests the provider makes. */
const VERIFY_TIMEOUT_MS = 60_000;
const DEFAULT_PROPAGATION_TIMEOUT = 300;
const PROPAGATION_MODES = ['check', 'delay', 'off'] as const satisfies readonly PropagationMode[];

// ---------------------------------------------------------------------------------------------
// Schemas

/** One provider's `attributes`: its own fields plus the `authenticator` tag; unknown keys refused. */
function attributesSchema(provider: ProviderDefinition) {
  return provider.schema
    .safeExtend({ authenticator: z.literal(provider.key).describe(`The DNS provider: ${provider.label}`) })
    .strict()
    .describe(provider.label);
}

const MEMBERS = PROVIDERS.map((provider) => ({ provider, schema: attributesSchema(provider) }));
type MemberSchema = (typeof MEMBERS)[number]['schema'];

/** Parsed attributes: the tag and the provider's fields with their defaults. */
export type Attributes = { authenticator: string } & Record<string, unknown>;

const ATTRIBUTES_DESCRIPTION = 'The provider (`authenticator`) and its credentials and settings; `authenticator_schemas` lists each provider\'s fields.';

/**
 * `attributes`: discriminated on `authenticator`, one member per provider of `PROVIDERS`. The
 * providers' shapes are generic here, so the output type is stated rather than inferred.
 */
export const AuthenticatorAttributes = z
  .discriminatedUnion('authenticator', MEMBERS.map((member) => member.schema) as [MemberSchema, ...MemberSchema[]])
  .describe(ATTRIBUTES_DESCRIPTION) as unknown as z.ZodType<Attributes>;

/** pydantic's `FilePath`: the path names an existing file (following links). */
function isFile(path: string): boolean {
  try {
    return statSync(path, { throwIfNoEntry: false })?.isFile() ?? false;
  } catch {
    return false;
  }
}

/**
 * What create and update accept: `AuthenticatorAttributes`, plus TrueNAS's schema-level check
 * that shell's `script` is a file (its pydantic `FilePath` in TrueNAS). Entries and
 * `verify` keep the plain union: a stored script may vanish, and `verify` reports that as a result.
 */
const AuthenticatorInputAttributes = z
  .discriminatedUnion(
    'authenticator',
    MEMBERS.map(({ provider, schema }) => {
      if (provider.key !== 'shell') return schema;
      const script = schema.shape.script as z.ZodString;
      return schema.safeExtend({
        // A relative path is the schema's own error; only an absolute one is looked up.
        script: script.refine((path) => !path.startsWith('/') || isFile(path), { error: 'Path does not point to a file' }).describe(script.description ?? 'Script'),
      });
    }) as [MemberSchema, ...MemberSchema[]],
  )
  .describe(ATTRIBUTES_DESCRIPTION) as unknown as z.ZodType<Attributes>;

const Mode = z
  .enum(PROPAGATION_MODES)
  .describe('check: poll the zone\'s authoritative servers until the record shows; delay: sleep `delay` seconds; off: neither');
const Timeout = z.int().min(1).max(3600).describe('check mode: seconds to wait for the record before failing');
const Delay = z.int().min(0).max(3600).describe('delay mode: seconds to sleep after publishing the record');

const PropagationInput = z
  .strictObject({ mode: Mode.optional(), timeout: Timeout.optional(), delay: Delay.optional() })
  .describe(
    'certmid extension: how issuance waits for challenge records. Defaults: check with a 300 s timeout; ' +
      'for shell (which may publish anywhere) delay with its `delay` attribute, as TrueNAS does.',
  );

const Name = z.string().min(1).max(64).describe('A unique name for the authenticator.');

/** `dns_authenticator_create`: TrueNAS's `{name, attributes}` plus the optional `propagation`. */
export const AuthenticatorCreate = z
  .strictObject({ name: Name, attributes: AuthenticatorInputAttributes, propagation: PropagationInput.optional() })
  .describe('The new authenticator.');
export type AuthenticatorCreate = z.output<typeof AuthenticatorCreate>;

/** `dns_authenticator_update`: every field optional; `attributes` complete when given. */
export const AuthenticatorUpdate = z
  .strictObject({ name: Name.optional(), attributes: AuthenticatorInputAttributes.optional(), propagation: PropagationInput.optional() })
  .describe('The fields to change. `attributes`, when given, is complete and replaces the stored ones; `propagation` fields change one by one.');
export type AuthenticatorUpdate = z.output<typeof AuthenticatorUpdate>;

/** `dns_authenticator_verify`: a saved id or unsaved attributes. */
export const AuthenticatorVerify = z
  .strictObject({
    id: z.int().optional().describe('A saved authenticator to check.'),
    attributes: AuthenticatorAttributes.optional(),
  })
  .describe('What to check: a saved authenticator (`id`) or unsaved `attributes`, exactly one of them.');
export type AuthenticatorVerify = z.output<typeof AuthenticatorVerify>;

/** What `query`, `get_instance`, `create` and `update` return: TrueNAS's entry plus `propagation`. */
export const AuthenticatorEntry = z
  .object({
    id: z.number().describe('The authenticator id, as certificates\' `dns_mapping` name it.'),
    name: z.string().describe('The unique name.'),
    attributes: AuthenticatorAttributes.describe(
      'The provider and its settings. Secret fields read "********" for callers without NETWORK_INTERFACE_WRITE or ACME_WRITE.',
    ),
    propagation: z
      .object({ mode: Mode, timeout: Timeout, delay: Delay })
      .describe('certmid extension: how issuance waits for challenge records to propagate.'),
  })
  .describe('A DNS authenticator.');
export type AuthenticatorEntry = z.input<typeof AuthenticatorEntry>;

/** What `verify` returns. */
export const VerifyResult = z
  .object({
    valid: z.boolean().describe('Whether the provider accepted the credentials.'),
    error: z.string().nullable().describe('Why not, in the provider\'s words; null when valid.'),
  })
  .describe('The outcome, shaped like TrueNAS\'s `cloudsync.credentials.verify`.');

// ---------------------------------------------------------------------------------------------
// Storage and entries

type Propagation = AuthenticatorEntry['propagation'];

/** Callers who see secret attributes: FULL_ADMIN or a write role (TrueNAS's Secret rule). */
export function mayReadSecrets(caller: Caller | null): boolean {
  return hasAnyRole(expandRoles(caller?.roles ?? []), WRITE_ROLES);
}

function sealAttributes(app: App, { authenticator: _tag, ...fields }: Attributes): string {
  return app.secrets.encrypt(JSON.stringify(fields));
}

function openAttributes(app: App, row: DnsAuthenticatorRow): Record<string, unknown> {
  return JSON.parse(app.secrets.decrypt(row.attributes)) as Record<string, unknown>;
}

function toEntry(app: App, row: DnsAuthenticatorRow, revealSecrets: boolean): AuthenticatorEntry {
  const fields = openAttributes(app, row);
  // A provider that no longer exists cannot say which fields are secret: hide them all.
  const secret = new Set(providerFor(row.authenticator)?.secretFields ?? Object.keys(fields));
  return {
    id: row.id,
    name: row.name,
    attributes: { authenticator: row.authenticator, ...(revealSecrets ? fields : (redactSecrets(fields, secret) as Record<string, unknown>)) },
    propagation: { mode: row.propagation_mode, timeout: row.propagation_timeout, delay: row.propagation_delay },
  };
}

/**
 * How `query` reads authenticators. Entries are built (and redacted) before any in-memory filter
 * runs, so a reader cannot probe a secret with filters; `id`, `name` and `attributes.authenticator`
 * have columns of their own and filter and sort in SQL.
 */
export function authenticatorQuerySpec(app: App, revealSecrets: boolean): SqlQuerySpec<DnsAuthenticatorRow, AuthenticatorEntry> {
  return {
    dataSource: app.db,
    entity: DnsAuthenticatorEntity,
    columns: {
      id: { column: 'id', kind: 'number' },
      name: { column: 'name', kind: 'string' },
      'attributes.authenticator': { column: 'authenticator', kind: 'string' },
    },
    toEntry: (row) => toEntry(app, row, revealSecrets),
  };
}

const notFound = (id: unknown) => `DNS Authenticator ${String(id)} does not exist`;

/** `acme.dns.authenticator.query`. */
export function queryAuthenticators(ctx: CallContext, filters: unknown, options: unknown) {
  return runQuery(authenticatorQuerySpec(ctx.app, mayReadSecrets(ctx.caller)), filters, options);
}

/** `acme.dns.authenticator.get_instance`; InstanceNotFound (ENOENT) for an unknown id. */
export function getAuthenticator(ctx: CallContext, id: number, options: object = {}): Promise<AuthenticatorEntry> {
  return getInstance(authenticatorQuerySpec(ctx.app, mayReadSecrets(ctx.caller)), id, notFound(id), options);
}

async function fetchRow(app: App, id: number): Promise<DnsAuthenticatorRow> {
  const row = await app.db.getRepository(DnsAuthenticatorEntity).findOneBy({ id });
  if (!row) throw new InstanceNotFoundError(notFound(id));
  return row;
}

// ---------------------------------------------------------------------------------------------
// Validation

/**
 * TrueNAS's provider `validate_credentials`, raised on its own before other checks and with bare
 * attribute names, as TrueNAS raises them. Only cloudflare and shell have
 * rules beyond their schemas. `verify` leaves out shell's: checking the script and its user is
 * what verifying a shell authenticator does, and it reports the outcome as a result.
 */
async function checkCredentials(attributes: Attributes, { shell = true } = {}): Promise<void> {
  let problems: Array<[string, string]> = [];
  if (attributes.authenticator === 'cloudflare') problems = validateCloudflare(attributes as unknown as CloudflareAttributes);
  else if (attributes.authenticator === 'shell' && shell) problems = await validateShell(attributes as unknown as { script: string; user: string });
  const errors = new ValidationErrors();
  for (const [attribute, message] of problems) errors.add(attribute, message);
  errors.check();
}

async function assertNameFree(app: App, name: string, attribute: string, exceptId?: number): Promise<void> {
  const existing = await app.db.getRepository(DnsAuthenticatorEntity).findOneBy({ name });
  if (existing && existing.id !== exceptId) throw new ValidationErrors().add(attribute, 'Specified name is already in use');
}

/** TrueNAS's shell sleeps its `delay`; every other provider is checked on its servers. */
function defaultPropagation(attributes: Attributes): Propagation {
  return attributes.authenticator === 'shell'
    ? { mode: 'delay', timeout: DEFAULT_PROPAGATION_TIMEOUT, delay: attributes.delay as number }
    : { mode: 'check', timeout: DEFAULT_PROPAGATION_TIMEOUT, delay: 0 };
}

function withPropagation(base: Propagation, given: Partial<Propagation> = {}): Propagation {
  return { mode: given.mode ?? base.mode, timeout: given.timeout ?? base.timeout, delay: given.delay ?? base.delay };
}

const propagationColumns = (propagation: Propagation) => ({
  propagation_mode: propagation.mode,
  propagation_timeout: propagation.timeout,
  propagation_delay: propagation.delay,
});

// ---------------------------------------------------------------------------------------------
// Create, update, delete

/** `acme.dns.authenticator.create`. */
export async function createAuthenticator(ctx: CallContext, data: AuthenticatorCreate): Promise<AuthenticatorEntry> {
  const { app } = ctx;
  await checkCredentials(data.attributes);
  await assertNameFree(app, data.name, 'dns_authenticator_create.name');
  const propagation = withPropagation(defaultPropagation(data.attributes), data.propagation);
  const id = await withChanges(app, async (manager, changes) => {
    const result = await manager.getRepository(DnsAuthenticatorEntity).insert({
      name: data.name,
      authenticator: data.attributes.authenticator,
      attributes: sealAttributes(app, data.attributes),
      ...propagationColumns(propagation),
      created_at: new Date(),
    });
    const newId = Number(result.identifiers[0]!.id);
    changes.added(NAMESPACE, newId);
    return newId;
  });
  return getAuthenticator(ctx, id);
}

/** `acme.dns.authenticator.update`: TrueNAS's checks in TrueNAS's order. */
export async function updateAuthenticator(ctx: CallContext, id: number, data: AuthenticatorUpdate): Promise<AuthenticatorEntry> {
  const { app } = ctx;
  const row = await fetchRow(app, id);
  const attributes = data.attributes ?? { authenticator: row.authenticator, ...openAttributes(app, row) };
  if (attributes.authenticator !== row.authenticator) {
    throw new ValidationErrors().add('dns_authenticator_update.attributes.authenticator', 'Authenticator cannot be changed');
  }
  await checkCredentials(attributes);
  if (data.name !== undefined) await assertNameFree(app, data.name, 'dns_authenticator_update.name', id);
  const stored: Propagation = { mode: row.propagation_mode, timeout: row.propagation_timeout, delay: row.propagation_delay };
  // For shell, setting the `delay` attribute sets the delay, as in TrueNAS.
  const base = data.attributes && row.authenticator === 'shell' ? { ...stored, delay: defaultPropagation(attributes).delay } : stored;
  const propagation = withPropagation(base, data.propagation);
  await withChanges(app, async (manager, changes) => {
    await manager.getRepository(DnsAuthenticatorEntity).update(
      { id },
      {
        name: data.name ?? row.name,
        ...(data.attributes ? { attributes: sealAttributes(app, data.attributes) } : {}),
        ...propagationColumns(propagation),
      },
    );
    changes.changed(NAMESPACE, id);
  });
  return getAuthenticator(ctx, id);
}

/**
 * `acme.dns.authenticator.delete`: first drops the id from every certificate's domain → authenticator
 * mapping (TrueNAS's `certificate.delete_domains_authenticator`), then deletes; never refused for use.
 */
export async function deleteAuthenticator(ctx: CallContext, id: number): Promise<true> {
  const { app } = ctx;
  await fetchRow(app, id);
  await withChanges(app, async (manager, changes) => {
    for (const certificateId of await removeFromMappings(app, manager, id)) changes.changed(CERTIFICATE_NAMESPACE, certificateId);
    await manager.getRepository(DnsAuthenticatorEntity).delete({ id });
    changes.removed(NAMESPACE, id);
  });
  return true;
}

/** Removes every `domain: id` entry from certificates' sealed mappings; the ids of the certificates changed. */
async function removeFromMappings(app: App, manager: EntityManager, id: number): Promise<number[]> {
  const certificates = manager.getRepository(CertificateEntity);
  const rows = await certificates.find({ select: { id: true, domains_authenticators: true }, where: { domains_authenticators: Not(IsNull()) } });
  const changed: number[] = [];
  for (const row of rows) {
    const mapping = JSON.parse(app.secrets.decrypt(row.domains_authenticators!)) as Record<string, unknown>;
    const kept = Object.entries(mapping).filter(([, authenticator]) => authenticator !== id);
    if (kept.length === Object.keys(mapping).length) continue;
    await certificates.update({ id: row.id }, { domains_authenticators: app.secrets.encrypt(JSON.stringify(Object.fromEntries(kept))) });
    changed.push(row.id);
  }
  return changed;
}

// ---------------------------------------------------------------------------------------------
// Schemas for forms

type JsonSchema = Record<string, unknown>;

/**
 * One provider's attributes as JSON Schema with the annotations TrueNAS's `add_attrs` puts on
 * for its web forms (`title`, `_name_`, `_required_`, `_attrs_order_`), `authenticator` first.
 */
function formSchema(provider: ProviderDefinition, schema: MemberSchema): JsonSchema {
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  const properties = (json.properties ?? {}) as Record<string, JsonSchema>;
  const required = (json.required ?? []) as string[];
  const order = ['authenticator', ...Object.keys(properties).filter((name) => name !== 'authenticator')];
  return {
    type: 'object',
    title: 'attributes',
    description: provider.label,
    additionalProperties: false,
    required,
    properties: Object.fromEntries(
      order.map((name) => [
        name,
        {
          ...properties[name],
          title: name,
          _name_: name,
          _required_: required.includes(name),
          // Lets forms mask secrets without guessing from the name.
          ...(provider.secretFields.includes(name) ? { writeOnly: true } : {}),
        },
      ]),
    ),
    _name_: 'attributes',
    _required_: true,
    _attrs_order_: order,
  };
}

/** `acme.dns.authenticator.authenticator_schemas`: every provider, TrueNAS's five first in its order. */
export function authenticatorSchemas(): Array<{ key: string; schema: JsonSchema }> {
  return MEMBERS.map(({ provider, schema }) => ({ key: provider.key, schema: formSchema(provider, schema) }));
}

// ---------------------------------------------------------------------------------------------
// Live providers

/** A saved authenticator made ready for issuance. */
export interface LoadedAuthenticator {
  id: number;
  name: string;
  /** The provider key, e.g. 'cloudflare'. */
  key: string;
  /** Created with ProviderContext `{ timeoutMs: 30_000 }` unless overridden. */
  provider: DnsProvider;
  /** From the authenticator's `propagation`; for shell, `delaySeconds` defaults to its `delay` attribute. */
  propagation: { mode: PropagationMode; timeoutSeconds: number; delaySeconds: number };
}

function createProvider(attributes: Record<string, unknown>, key: string, context: Partial<ProviderContext>): DnsProvider {
  const definition = providerFor(key);
  if (!definition) throw new CallError(`Unable to locate '${key}' authenticator.`, 'ENOENT');
  const parsed = definition.schema.safeParse(attributes);
  if (!parsed.success) throw new CallError(`The stored ${key} attributes are no longer valid: ${z.prettifyError(parsed.error)}`, 'EINVAL');
  return definition.create(parsed.data, { timeoutMs: PROVIDER_TIMEOUT_MS, ...context });
}

/**
 * The provider of saved authenticator `id` with its propagation settings. `context` overrides the
 * provider context (tests point `baseUrl` at a local server speaking the provider's API).
 * @throws CallError ENOENT "DNS Authenticator <id> does not exist".
 */
export async function loadAuthenticator(app: App, id: number, context: Partial<ProviderContext> = {}): Promise<LoadedAuthenticator> {
  const row = await app.db.getRepository(DnsAuthenticatorEntity).findOneBy({ id });
  if (!row) throw new CallError(notFound(id), 'ENOENT');
  return {
    id: row.id,
    name: row.name,
    key: row.authenticator,
    provider: createProvider(openAttributes(app, row), row.authenticator, context),
    propagation: { mode: row.propagation_mode, timeoutSeconds: row.propagation_timeout, delaySeconds: row.propagation_delay },
  };
}

/**
 * `acme.dns.authenticator.verify`: asks the provider whether the credentials work, changing
 * nothing. A refusal is a result (`valid: false`), not an error; bad input still is.
 */
export async function verifyAuthenticator(ctx: CallContext, data: AuthenticatorVerify): Promise<z.input<typeof VerifyResult>> {
  const provider = await providerToVerify(ctx.app, data);
  const deadline = AbortSignal.timeout(VERIFY_TIMEOUT_MS);
  try {
    await provider.verify(deadline);
    return { valid: true, error: null };
  } catch (error) {
    if (error instanceof DnsProviderError) return { valid: false, error: error.message };
    if (deadline.aborted) return { valid: false, error: `No answer within ${VERIFY_TIMEOUT_MS / 1000} s` };
    throw error;
  }
}

async function providerToVerify(app: App, { id, attributes }: AuthenticatorVerify): Promise<DnsProvider> {
  if (attributes && id === undefined) {
    await checkCredentials(attributes, { shell: false });
    const { authenticator, ...fields } = attributes;
    return createProvider(fields, authenticator, {});
  }
  if (id !== undefined && !attributes) return (await loadAuthenticator(app, id)).provider;
  throw new ValidationErrors().add('dns_authenticator_verify', 'Specify either "id" or "attributes"');
}
