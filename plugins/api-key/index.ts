import { z } from 'zod';
import { defineMethod } from '../../src/api/define-method.js';
import { definePlugin, queryEvent } from '../../src/api/define-plugin.js';
import type { App } from '../../src/app.js';
import { newApiKeySecret } from '../../src/auth/credentials.js';
import { ApiKeyEntity, UserEntity, type ApiKeyRow } from '../../src/auth/entities.js';
import { effectiveRoles } from '../../src/auth/effective-roles.js';
import { assertMayManage } from '../../src/auth/privileges.js';
import { expandRoles } from '../../src/auth/roles.js';
import { withChanges } from '../../src/db/entity-events.js';
import { NotAuthorizedError } from '../../src/errors/call-error.js';
import { ValidationErrors } from '../../src/errors/validation-errors.js';
import { getInstance, runQuery, type SqlQuerySpec } from '../../src/query/sql-query.js';
import { QueryFilters, QueryOptions } from '../../src/query/schemas.js';
import type { CallContext } from '../../src/api/call-context.js';

const NAMESPACE = 'api_key';

const ApiKeyEntry = z
  .object({
    id: z.number().describe('The key id, the part before "-" in the key.'),
    name: z.string().describe('A name to recognise the key by.'),
    username: z.string().describe('The account the key logs in as.'),
    created_at: z.date().describe('When the key was made.'),
    expires_at: z.date().nullable().describe('When the key stops working; null for never.'),
    revoked: z.boolean().describe('A revoked key no longer works.'),
    key: z.string().optional().describe('The whole key, returned once by create and by update with reset.'),
  })
  .describe('An API key.');

type ApiKeyEntry = z.input<typeof ApiKeyEntry>;

const Name = z.string().min(1).max(200).describe('A name to recognise the key by.');
const ExpiresAt = z.date().nullable().describe('When the key stops working ({"$date": ms}); null for never.');

function toEntry(row: ApiKeyRow): ApiKeyEntry {
  return { id: row.id, name: row.name, username: row.username, created_at: row.created_at, expires_at: row.expires_at, revoked: row.revoked };
}

function querySpec(app: App): SqlQuerySpec<ApiKeyRow, ApiKeyEntry> {
  return {
    dataSource: app.db,
    entity: ApiKeyEntity,
    columns: {
      id: { column: 'id', kind: 'number' },
      name: { column: 'name', kind: 'string' },
      username: { column: 'username', kind: 'string' },
      revoked: { column: 'revoked', kind: 'boolean' },
    },
    toEntry,
  };
}

const fetchKey = (app: App, id: number) => getInstance(querySpec(app), id, `API key ${id} does not exist`);

/**
 * Refuses to touch the keys of `username` unless they are the caller's own, or the caller may write
 * API keys and holds every role that account holds (a key logs in with all of them).
 */
async function assertMayManageKeysOf(ctx: CallContext, username: string): Promise<void> {
  const caller = ctx.caller!;
  if (username === caller.username) return;
  if (!expandRoles(caller.roles).has('API_KEY_WRITE')) throw new NotAuthorizedError();
  const owner = await ctx.app.db.getRepository(UserEntity).findOneBy({ username });
  assertMayManage(caller, { username, roles: owner ? await effectiveRoles(ctx.app.db.manager, owner) : [] });
}

/** A key the caller may read: its own, or any with API_KEY_READ. */
async function fetchReadableKey(ctx: CallContext, id: number): Promise<ApiKeyEntry> {
  const key = await fetchKey(ctx.app, id);
  if (key.username !== ctx.caller?.username && !expandRoles(ctx.caller?.roles ?? []).has('API_KEY_READ')) throw new NotAuthorizedError();
  return key;
}

/** A key the caller may change or delete. */
async function fetchManageableKey(ctx: CallContext, id: number): Promise<ApiKeyEntry> {
  const key = await fetchKey(ctx.app, id);
  await assertMayManageKeysOf(ctx, key.username);
  return key;
}

/** TrueNAS refuses a key that would be born expired. */
function assertExpiryAhead(errors: ValidationErrors, schema: string, expiresAt: Date | null | undefined): void {
  if (expiresAt && expiresAt.getTime() <= Date.now()) errors.add(`${schema}.expires_at`, 'Expiration date is in the past');
}

async function assertNameFree(app: App, name: string, attribute: string, exceptId?: number): Promise<void> {
  const existing = await app.db.getRepository(ApiKeyEntity).findOneBy({ name });
  if (existing && existing.id !== exceptId) throw new ValidationErrors().add(attribute, 'API key with this name already exists', 'EEXIST');
}

const query = defineMethod({
  name: 'api_key.query',
  description: 'API keys (never their secrets), filtered with the query language. Without API_KEY_READ, only your own.',
  params: { filters: QueryFilters, options: QueryOptions },
  result: z.unknown(),
  roles: [],
  handler: (ctx, { filters, options }) => {
    const own = expandRoles(ctx.caller?.roles ?? []).has('API_KEY_READ') ? [] : [['username', '=', ctx.caller!.username]];
    return runQuery(querySpec(ctx.app), [...own, ...filters], options);
  },
});

const getInstanceMethod = defineMethod({
  name: 'api_key.get_instance',
  description: 'One API key by id.',
  params: { id: z.number().int().describe('The key id.'), options: QueryOptions },
  result: ApiKeyEntry,
  roles: [],
  handler: (ctx, { id }) => fetchReadableKey(ctx, id),
});

const create = defineMethod({
  name: 'api_key.create',
  description: 'Create an API key; the reply holds the whole key, shown this once.',
  params: {
    api_key_create: z
      .strictObject({
        name: Name,
        username: z.string().min(1).max(128).nullable().default(null).describe('The account the key logs in as; the caller when omitted.'),
        expires_at: ExpiresAt.default(null),
      })
      .describe('The new key.'),
  },
  result: ApiKeyEntry,
  roles: [],
  audit: true,
  handler: async (ctx, { api_key_create: data }) => {
    const username = data.username ?? ctx.caller!.username;
    await assertMayManageKeysOf(ctx, username);
    const errors = new ValidationErrors();
    const owner = await ctx.app.db.getRepository(UserEntity).findOneBy({ username });
    if (!owner) errors.add('api_key_create.username', 'User does not exist');
    else if ((await effectiveRoles(ctx.app.db.manager, owner)).length === 0) errors.add('api_key_create.username', 'User lacks privilege role membership');
    assertExpiryAhead(errors, 'api_key_create', data.expires_at);
    errors.check();
    await assertNameFree(ctx.app, data.name, 'api_key_create.name');
    const { secret, hash } = newApiKeySecret();
    const id = await withChanges(ctx.app, async (manager, changes) => {
      const result = await manager.getRepository(ApiKeyEntity).insert({
        name: data.name,
        username,
        key_hash: hash,
        created_at: new Date(),
        expires_at: data.expires_at,
        revoked: false,
      });
      const newId = Number(result.identifiers[0]!.id);
      changes.added(NAMESPACE, newId);
      return newId;
    });
    return { ...(await fetchKey(ctx.app, id)), key: `${id}-${secret}` };
  },
});

const update = defineMethod({
  name: 'api_key.update',
  description: 'Rename a key, change its expiry, revoke it, or reset it to a new secret (returned once).',
  params: {
    id: z.number().int().describe('The key id.'),
    api_key_update: z
      .strictObject({
        name: Name.optional(),
        reset: z.boolean().default(false).describe('Replace the secret; the old key stops working.'),
        expires_at: ExpiresAt.optional(),
        revoked: z.boolean().optional().describe('true revokes the key at once: the sessions and tokens it logged in die with it. Only reset makes it work again.'),
      })
      .describe('The fields to change.'),
  },
  result: ApiKeyEntry,
  roles: [],
  audit: true,
  handler: async (ctx, { id, api_key_update: data }) => {
    const key = await fetchManageableKey(ctx, id);
    if (key.revoked && data.revoked === false && !data.reset) {
      // Revocation is for good, so that what the key logged in stays dead; a reset makes a new secret.
      throw new ValidationErrors().add('api_key_update.revoked', 'A revoked key cannot be un-revoked; reset it to get a new secret');
    }
    const errors = new ValidationErrors();
    assertExpiryAhead(errors, 'api_key_update', data.expires_at);
    errors.check();
    if (data.name !== undefined) await assertNameFree(ctx.app, data.name, 'api_key_update.name', id);
    const changes: Partial<ApiKeyRow> = {};
    if (data.name !== undefined) changes.name = data.name;
    if (data.expires_at !== undefined) changes.expires_at = data.expires_at;
    if (data.revoked === true) changes.revoked = true;
    const fresh = data.reset ? newApiKeySecret() : null;
    if (fresh) Object.assign(changes, { key_hash: fresh.hash, revoked: false });
    await withChanges(ctx.app, async (manager, events) => {
      if (Object.keys(changes).length > 0) await manager.getRepository(ApiKeyEntity).update({ id }, changes as never);
      events.changed(NAMESPACE, id);
    });
    const entry = await fetchKey(ctx.app, id);
    return fresh ? { ...entry, key: `${id}-${fresh.secret}` } : entry;
  },
});

const remove = defineMethod({
  name: 'api_key.delete',
  description: 'Delete an API key; it stops working at once.',
  params: { id: z.number().int().describe('The key id.') },
  result: z.literal(true),
  roles: [],
  audit: true,
  handler: async (ctx, { id }) => {
    await fetchManageableKey(ctx, id);
    await withChanges(ctx.app, async (manager, events) => {
      await manager.getRepository(ApiKeyEntity).delete({ id });
      events.removed(NAMESPACE, id);
    });
    return true as const;
  },
});

export const apiKeyPlugin = definePlugin({
  namespace: NAMESPACE,
  description: 'API keys: long-lived credentials for scripts, stored hashed.',
  dependsOn: ['user'],
  // A pydantic-model namespace in TrueNAS 25.04 (api/v25_04_2/api_key.py).
  validation: 'pydantic',
  entities: [ApiKeyEntity],
  events: [queryEvent(NAMESPACE, ['API_KEY_READ'], 'an API key')],
  methods: [query, getInstanceMethod, create, update, remove],
});
