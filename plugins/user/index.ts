import { z } from 'zod';
import { defineMethod } from '../../src/api/define-method.js';
import { definePlugin, queryEvent } from '../../src/api/define-plugin.js';
import type { App } from '../../src/app.js';
import { ApiKeyEntity, AuthTokenEntity, UserEntity, type UserRow } from '../../src/auth/entities.js';
import { hashPassword } from '../../src/auth/passwords.js';
import { assertMayGrant, assertMayManage } from '../../src/auth/privileges.js';
import { sessionCredentials } from '../../src/auth/session-credentials.js';
import { ROLES } from '../../src/auth/roles.js';
import { withChanges } from '../../src/db/entity-events.js';
import { CallError } from '../../src/errors/call-error.js';
import { ValidationErrors } from '../../src/errors/validation-errors.js';
import { getInstance, runQuery, type SqlQuerySpec } from '../../src/query/sql-query.js';
import { QueryFilters, QueryOptions } from '../../src/query/schemas.js';

const NAMESPACE = 'user';

export const UserEntry = z
  .object({
    id: z.number().describe('The user id.'),
    username: z.string().describe('The account name used to log in.'),
    full_name: z.string().describe('The person or system behind the account.'),
    roles: z.array(z.string()).describe('Roles granted to the account.'),
    locked: z.boolean().describe('A locked account cannot log in.'),
    created_at: z.date().describe('When the account was created.'),
  })
  .describe('A local account.');

const Username = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9_][A-Za-z0-9_.@-]*$/, 'Valid characters are letters, digits, "_", ".", "@" and "-"; it may not start with "-" or "."')
  .describe('The account name used to log in.');
const Password = z.string().min(8, 'Must be at least 8 characters long').max(1024).describe('The password.');
const Roles = z.array(z.enum(ROLES)).describe('Roles granted to the account.');

const UserCreate = z
  .strictObject({
    username: Username,
    full_name: z.string().max(256).default('').describe('The person or system behind the account.'),
    password: Password,
    roles: Roles.default([]),
    locked: z.boolean().default(false).describe('A locked account cannot log in.'),
  })
  .describe('The new account.');

const UserUpdate = z
  .strictObject({
    full_name: z.string().max(256).optional().describe('The person or system behind the account.'),
    password: Password.optional(),
    roles: Roles.optional(),
    locked: z.boolean().optional().describe('A locked account cannot log in.'),
  })
  .describe('The fields to change.');

function toEntry(row: UserRow): z.input<typeof UserEntry> {
  return { id: row.id, username: row.username, full_name: row.full_name, roles: row.roles, locked: row.locked, created_at: row.created_at };
}

function querySpec(app: App): SqlQuerySpec<UserRow, z.input<typeof UserEntry>> {
  return {
    dataSource: app.db,
    entity: UserEntity,
    columns: {
      id: { column: 'id', kind: 'number' },
      username: { column: 'username', kind: 'string' },
      full_name: { column: 'full_name', kind: 'string' },
      locked: { column: 'locked', kind: 'boolean' },
    },
    toEntry,
  };
}

const fetchUser = (app: App, id: number) => getInstance(querySpec(app), id, `User ${id} does not exist`);

/** Someone must always be able to administer the daemon: the last unlocked FULL_ADMIN stays one. */
async function assertNotLastAdmin(app: App, user: { id: number; roles: string[]; locked: boolean }, what: string): Promise<void> {
  if (!user.roles.includes('FULL_ADMIN') || user.locked) return;
  const admins = (await app.db.getRepository(UserEntity).find()).filter((u) => u.roles.includes('FULL_ADMIN') && !u.locked);
  if (admins.every((admin) => admin.id === user.id)) throw new CallError(`The last full administrator cannot be ${what}`, 'EBUSY');
}

const query = defineMethod({
  name: 'user.query',
  description: 'Local accounts, filtered with the query language.',
  params: { filters: QueryFilters, options: QueryOptions },
  result: z.unknown(),
  roles: ['ACCOUNT_READ'],
  handler: (ctx, { filters, options }) => runQuery(querySpec(ctx.app), filters, options),
});

const getInstanceMethod = defineMethod({
  name: 'user.get_instance',
  description: 'One local account by id.',
  params: { id: z.number().int().describe('The user id.'), options: QueryOptions },
  result: UserEntry,
  roles: ['ACCOUNT_READ'],
  handler: (ctx, { id }) => fetchUser(ctx.app, id),
});

const create = defineMethod({
  name: 'user.create',
  description: 'Create a local account with the given roles.',
  params: { user_create: UserCreate },
  result: UserEntry,
  roles: ['ACCOUNT_WRITE'],
  handler: async (ctx, { user_create: data }) => {
    assertMayGrant(ctx.caller!, data.roles);
    const users = ctx.app.db.getRepository(UserEntity);
    if (await users.existsBy({ username: data.username })) {
      throw new ValidationErrors().add('user_create.username', 'A user with this username already exists', 'EEXIST');
    }
    const passwordHash = await hashPassword(data.password);
    const id = await withChanges(ctx.app, async (manager, changes) => {
      const result = await manager.getRepository(UserEntity).insert({
        username: data.username,
        full_name: data.full_name,
        password_hash: passwordHash,
        roles: data.roles,
        locked: data.locked,
        created_at: new Date(),
      });
      const newId = Number(result.identifiers[0]!.id);
      changes.added(NAMESPACE, newId);
      return newId;
    });
    return fetchUser(ctx.app, id);
  },
});

const update = defineMethod({
  name: 'user.update',
  description: 'Change a local account: name, password, roles or lock. The last full administrator cannot be locked or demoted.',
  params: { id: z.number().int().describe('The user id.'), user_update: UserUpdate },
  result: UserEntry,
  roles: ['ACCOUNT_WRITE'],
  handler: async (ctx, { id, user_update: data }) => {
    const user = await fetchUser(ctx.app, id);
    assertMayManage(ctx.caller!, user);
    if (data.roles !== undefined) assertMayGrant(ctx.caller!, data.roles);
    if (data.locked === true || (data.roles !== undefined && !data.roles.includes('FULL_ADMIN'))) await assertNotLastAdmin(ctx.app, user, 'locked or demoted');
    const changes: Partial<UserRow> = {};
    if (data.full_name !== undefined) changes.full_name = data.full_name;
    if (data.roles !== undefined) changes.roles = data.roles;
    if (data.locked !== undefined) changes.locked = data.locked;
    if (data.password !== undefined) changes.password_hash = await hashPassword(data.password);
    // Other sessions resting on the old password end when the change is announced; this one set it.
    const undo = changes.password_hash ? sessionCredentials(ctx.app).restampPassword(ctx.app.sessions.get(ctx.sessionId), user, changes.password_hash) : null;
    try {
      await withChanges(ctx.app, async (manager, events) => {
        if (Object.keys(changes).length > 0) await manager.getRepository(UserEntity).update({ id }, changes as never);
        // Tokens would otherwise come back to life when the account is unlocked.
        if (data.locked === true) await manager.getRepository(AuthTokenEntity).delete({ username: user.username });
        events.changed(NAMESPACE, id);
      });
    } catch (error) {
      undo?.();
      throw error;
    }
    return fetchUser(ctx.app, id);
  },
});

const remove = defineMethod({
  name: 'user.delete',
  description: 'Delete a local account, its API keys and tokens. The last full administrator cannot be deleted.',
  params: { id: z.number().int().describe('The user id.') },
  result: z.literal(true),
  roles: ['ACCOUNT_WRITE'],
  handler: async (ctx, { id }) => {
    const user = await fetchUser(ctx.app, id);
    assertMayManage(ctx.caller!, user);
    await assertNotLastAdmin(ctx.app, user, 'deleted');
    await withChanges(ctx.app, async (manager, events) => {
      await manager.getRepository(ApiKeyEntity).delete({ username: user.username });
      await manager.getRepository(AuthTokenEntity).delete({ username: user.username });
      await manager.getRepository(UserEntity).delete({ id });
      events.removed(NAMESPACE, id);
    });
    return true as const;
  },
});

export const userPlugin = definePlugin({
  namespace: NAMESPACE,
  description: 'Local accounts and the roles they hold.',
  dependsOn: ['auth'],
  // A pydantic-model namespace in TrueNAS 25.04 (api/v25_04_2/user.py).
  validation: 'pydantic',
  entities: [UserEntity],
  events: [queryEvent(NAMESPACE, ['ACCOUNT_READ'], 'an account')],
  methods: [query, getInstanceMethod, create, update, remove],
});
