import { z } from 'zod';
import { defineMethod } from '../../src/api/define-method.js';
import { definePlugin, queryEvent } from '../../src/api/define-plugin.js';
import type { App } from '../../src/app.js';
import type { EntityManager } from 'typeorm';
import type { CallContext } from '../../src/api/call-context.js';
import { assertAnAdministratorRemains } from '../../src/auth/administrators.js';
import { effectiveRoles } from '../../src/auth/effective-roles.js';
import { ApiKeyEntity, AuthTokenEntity, GroupEntity, GroupMembershipEntity, UserEntity, type UserRow } from '../../src/auth/entities.js';
import { existingGroupIds, membersOf, nextGid, nextUid, primaryGroupOf, rolesOfGroups } from '../../src/auth/groups.js';
import { hashPassword, randomSecret } from '../../src/auth/passwords.js';
import { assertMayGrant, assertMayManage } from '../../src/auth/privileges.js';
import { sessionCredentials } from '../../src/auth/session-credentials.js';
import { ROLES } from '../../src/auth/roles.js';
import { withChanges, type ChangeSet } from '../../src/db/entity-events.js';
import { CallError } from '../../src/errors/call-error.js';
import { ValidationErrors } from '../../src/errors/validation-errors.js';
import { getInstance, runQuery, type SqlQuerySpec } from '../../src/query/sql-query.js';
import { QueryFilters, QueryOptions } from '../../src/query/schemas.js';

const NAMESPACE = 'user';

export const UserEntry = z
  .object({
    id: z.number().describe('The user id.'),
    uid: z.number().describe('Numeric user id.'),
    username: z.string().describe('The account name used to log in.'),
    full_name: z.string().describe('The person or system behind the account.'),
    email: z.string().nullable().describe('Email address.'),
    home: z.string().describe('Home directory (kept for TrueNAS clients; unused here).'),
    shell: z.string().describe('Shell (kept for TrueNAS clients; unused here).'),
    group: z.record(z.string(), z.unknown()).nullable().describe('The primary group, in TrueNAS\'s datastore shape.'),
    groups: z.array(z.number()).describe('Ids of the other groups the account belongs to.'),
    roles: z.array(z.string()).describe('Every role the account holds: its own and those of its groups\' privileges.'),
    direct_roles: z.array(z.string()).describe('Roles granted to the account itself.'),
    locked: z.boolean().describe('A locked account cannot log in.'),
    password_disabled: z.boolean().describe('The account cannot log in with a password.'),
    builtin: z.boolean().describe('Always false: no account is built in.'),
    local: z.boolean().describe('Always true.'),
    immutable: z.boolean().describe('Always false.'),
    smb: z.boolean().describe('Always false: no SMB here.'),
    ssh_password_enabled: z.boolean().describe('Always false.'),
    sshpubkey: z.null().describe('Always null.'),
    sudo_commands: z.array(z.string()).describe('Always empty.'),
    sudo_commands_nopasswd: z.array(z.string()).describe('Always empty.'),
    userns_idmap: z.null().describe('Always null.'),
    id_type_both: z.boolean().describe('Always false.'),
    sid: z.null().describe('Always null.'),
    twofactor_auth_configured: z.boolean().describe('Always false: no second factor here.'),
    last_password_change: z.null().describe('Not tracked.'),
    password_age: z.null().describe('Not tracked.'),
    password_change_required: z.boolean().describe('Always false.'),
    api_keys: z.array(z.number()).describe('Ids of the account\'s API keys.'),
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
const Roles = z.array(z.enum(ROLES)).describe('Roles granted to the account itself (beside those of its groups).');
const GroupIds = z.array(z.number().int()).describe('Ids of the other groups the account belongs to.');
const FullName = z.string().max(256).describe('The person or system behind the account.');

/** TrueNAS fields that have no meaning here: accepted so its clients work, and not kept. */
const IGNORED_FIELDS = {
  home_create: z.boolean().optional().describe('Ignored.'),
  home_mode: z.string().max(16).optional().describe('Ignored.'),
  smb: z.boolean().optional().describe('Ignored: no SMB here.'),
  ssh_password_enabled: z.boolean().optional().describe('Ignored.'),
  sshpubkey: z.string().max(65536).nullable().optional().describe('Ignored.'),
  sudo_commands: z.array(z.string().max(1024)).optional().describe('Ignored.'),
  sudo_commands_nopasswd: z.array(z.string().max(1024)).optional().describe('Ignored.'),
  userns_idmap: z.union([z.literal('DIRECT'), z.number().int(), z.null()]).optional().describe('Ignored.'),
};

const KEPT_FIELDS = {
  full_name: FullName.optional(),
  email: z.string().max(320).nullable().optional().describe('Email address.'),
  home: z.string().min(1).max(1024).optional().describe('Home directory (kept, unused).'),
  shell: z.string().min(1).max(1024).optional().describe('Shell (kept, unused).'),
  group: z.number().int().nullable().optional().describe('The primary group id.'),
  groups: GroupIds.optional(),
  password: Password.nullable().optional().describe('The password; required on create unless random_password or password_disabled.'),
  random_password: z.boolean().default(false).describe('Generate a 20-character password, returned once in `password`.'),
  password_disabled: z.boolean().optional().describe('The account cannot log in with a password.'),
  roles: Roles.optional(),
  locked: z.boolean().optional().describe('A locked account cannot log in.'),
};

const UserCreate = z
  .strictObject({
    username: Username,
    uid: z.number().int().min(0).max(2147483647).nullable().optional().describe('Numeric user id; the next free one when omitted.'),
    group_create: z.boolean().default(false).describe('Create a group named after the user as its primary group.'),
    ...KEPT_FIELDS,
    ...IGNORED_FIELDS,
  })
  .describe('The new account.');

const UserUpdate = z.strictObject({ ...KEPT_FIELDS, ...IGNORED_FIELDS }).describe('The fields to change.');

type UserCreateData = z.output<typeof UserCreate>;
type UserUpdateData = z.output<typeof UserUpdate>;

async function toEntry(app: App, row: UserRow): Promise<z.input<typeof UserEntry>> {
  const memberships = await app.db.getRepository(GroupMembershipEntity).findBy({ user_id: row.id });
  const keys = await app.db.getRepository(ApiKeyEntity).find({ select: { id: true }, where: { username: row.username } });
  return {
    id: row.id,
    uid: row.uid,
    username: row.username,
    full_name: row.full_name,
    email: row.email,
    home: row.home,
    shell: row.shell,
    group: await primaryGroupOf(app.db.manager, row.group_id),
    groups: memberships.map((membership) => membership.group_id).sort((a, b) => a - b),
    roles: await effectiveRoles(app.db.manager, row),
    direct_roles: row.roles,
    locked: row.locked,
    password_disabled: row.password_disabled,
    builtin: false,
    local: true,
    immutable: false,
    smb: false,
    ssh_password_enabled: false,
    sshpubkey: null,
    sudo_commands: [],
    sudo_commands_nopasswd: [],
    userns_idmap: null,
    id_type_both: false,
    sid: null,
    twofactor_auth_configured: false,
    last_password_change: null,
    password_age: null,
    password_change_required: false,
    api_keys: keys.map((key) => key.id).sort((a, b) => a - b),
    created_at: row.created_at,
  };
}

function querySpec(app: App): SqlQuerySpec<UserRow, z.input<typeof UserEntry>> {
  return {
    dataSource: app.db,
    entity: UserEntity,
    columns: {
      id: { column: 'id', kind: 'number' },
      uid: { column: 'uid', kind: 'number' },
      username: { column: 'username', kind: 'string' },
      full_name: { column: 'full_name', kind: 'string' },
      locked: { column: 'locked', kind: 'boolean' },
      password_disabled: { column: 'password_disabled', kind: 'boolean' },
    },
    toEntry: (row) => toEntry(app, row),
  };
}

const fetchUser = (app: App, id: number) => getInstance(querySpec(app), id, `User ${id} does not exist`);

/** TrueNAS's checks common to create and update, worded as it words them. */
async function validateCommon(app: App, schema: string, data: UserUpdateData, errors: ValidationErrors): Promise<void> {
  if (data.full_name !== undefined && data.full_name.includes(':')) errors.add(`${schema}.full_name`, 'The ":" character is not allowed in a "Full Name".');
  if (data.full_name !== undefined && data.full_name.includes('\n')) errors.add(`${schema}.full_name`, 'The "\\n" character is not allowed in a "Full Name".');
  if (data.email && !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(data.email)) errors.add(`${schema}.email`, 'value is not a valid email address');
  if (data.password_disabled && data.password) errors.add(`${schema}.password_disabled`, 'Leave "Password" blank when "Disable password login" is checked.');
  if (data.groups && data.groups.length > 64) errors.add(`${schema}.groups`, 'A user cannot belong to more than 64 auxiliary groups.');
  const wanted = [...(data.group != null ? [data.group] : []), ...(data.groups ?? [])];
  const existing = await existingGroupIds(app.db.manager, wanted);
  if (data.group != null && !existing.has(data.group)) errors.add(`${schema}.group`, `Group ${data.group} not found`, 'ENOENT');
  (data.groups ?? []).forEach((id, index) => {
    if (!existing.has(id)) errors.add(`${schema}.groups.${index}`, `Group ${id} not found`, 'ENOENT');
  });
}

/** Refuses roles, direct or through groups, that the caller does not hold. */
async function assertMayGrantAccess(ctx: CallContext, roles: readonly string[], groupIds: readonly number[]): Promise<void> {
  assertMayGrant(ctx.caller!, [...roles, ...(await rolesOfGroups(ctx.app.db.manager, groupIds))]);
}

/** Sets the account's auxiliary groups to exactly `groupIds`. */
async function setGroups(manager: EntityManager, userId: number, groupIds: readonly number[]): Promise<void> {
  const memberships = manager.getRepository(GroupMembershipEntity);
  await memberships.delete({ user_id: userId });
  const unique = [...new Set(groupIds)];
  if (unique.length > 0) await memberships.insert(unique.map((group_id) => ({ group_id, user_id: userId })));
}

/** The primary group a new account gets: the one named, one made for it (`group_create`), or none. */
async function primaryGroupFor(manager: EntityManager, changes: ChangeSet, data: UserCreateData): Promise<number | null> {
  if (!data.group_create) return data.group ?? null;
  const groups = manager.getRepository(GroupEntity);
  const existing = await groups.findOneBy({ name: data.username });
  if (existing) return existing.id;
  const result = await groups.insert({ gid: await nextGid(manager), name: data.username, builtin: false, smb: false, sudo_commands: [], sudo_commands_nopasswd: [] });
  const id = Number(result.identifiers[0]!.id);
  changes.added('group', id);
  return id;
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

const getNextUid = defineMethod({
  name: 'user.get_next_uid',
  description: 'The next free numeric user id.',
  params: {},
  result: z.number(),
  roles: ['ACCOUNT_READ'],
  handler: (ctx) => nextUid(ctx.app.db.manager),
});

const UserWithPassword = UserEntry.extend({ password: z.string().nullable().describe('The generated password (random_password), shown once; else null.') });

const create = defineMethod({
  name: 'user.create',
  description: 'Create a local account; it holds the roles given to it and those of its groups\' privileges.',
  params: { user_create: UserCreate },
  result: UserWithPassword,
  roles: ['ACCOUNT_WRITE'],
  handler: async (ctx, { user_create: data }) => {
    const errors = new ValidationErrors();
    if (data.group != null && data.group_create) errors.add('user_create.group', 'Enter either a group name or create a new group to continue.');
    if (!data.password && !data.password_disabled && !data.random_password) errors.add('user_create.password', 'Password is required');
    await validateCommon(ctx.app, 'user_create', data, errors);
    const users = ctx.app.db.getRepository(UserEntity);
    if (await users.existsBy({ username: data.username })) errors.add('user_create.username', `The username "${data.username}" already exists.`, 'EEXIST');
    const sameUid = data.uid != null ? await users.findOneBy({ uid: data.uid }) : null;
    if (sameUid) errors.add('user_create.uid', `Uid ${data.uid} is already used (user ${sameUid.username} has it)`, 'EEXIST');
    errors.check();
    await assertMayGrantAccess(ctx, data.roles ?? [], [...(data.group != null ? [data.group] : []), ...(data.groups ?? [])]);
    const generated = data.random_password ? randomPassword() : null;
    const password = generated ?? data.password ?? randomSecret(32);
    const passwordHash = await hashPassword(password);
    const id = await withChanges(ctx.app, async (manager, changes) => {
      const result = await manager.getRepository(UserEntity).insert({
        username: data.username,
        uid: data.uid ?? (await nextUid(manager)),
        full_name: data.full_name ?? '',
        email: data.email ?? null,
        home: data.home ?? '/var/empty',
        shell: data.shell ?? '/usr/bin/zsh',
        group_id: await primaryGroupFor(manager, changes, data),
        password_hash: passwordHash,
        password_disabled: data.password_disabled ?? false,
        roles: data.roles ?? [],
        locked: data.locked ?? false,
        attributes: {},
        created_at: new Date(),
      });
      const newId = Number(result.identifiers[0]!.id);
      await setGroups(manager, newId, data.groups ?? []);
      changes.added(NAMESPACE, newId);
      return newId;
    });
    return { ...(await fetchUser(ctx.app, id)), password: generated };
  },
});

/** The row changes an update asks for (the password is hashed by the caller). */
function rowChanges(data: UserUpdateData): Partial<UserRow> {
  const changes: Partial<UserRow> = {};
  if (data.full_name !== undefined) changes.full_name = data.full_name;
  if (data.email !== undefined) changes.email = data.email;
  if (data.home !== undefined) changes.home = data.home;
  if (data.shell !== undefined) changes.shell = data.shell;
  if (data.group !== undefined) changes.group_id = data.group;
  if (data.password_disabled !== undefined) changes.password_disabled = data.password_disabled;
  if (data.roles !== undefined) changes.roles = data.roles;
  if (data.locked !== undefined) changes.locked = data.locked;
  return changes;
}

const update = defineMethod({
  name: 'user.update',
  description: 'Change a local account: name, password, roles, groups or lock. Someone must stay a full administrator.',
  params: { id: z.number().int().describe('The user id.'), user_update: UserUpdate },
  result: UserWithPassword,
  roles: ['ACCOUNT_WRITE'],
  handler: async (ctx, { id, user_update: data }) => {
    const user = await fetchUser(ctx.app, id);
    assertMayManage(ctx.caller!, user);
    const errors = new ValidationErrors();
    await validateCommon(ctx.app, 'user_update', data, errors);
    errors.check();
    // Joining or leaving a group grants or withdraws its roles: both need the caller to hold them.
    const before = [...(user.group ? [Number(user.group.id)] : []), ...user.groups];
    const after = [...(data.group !== undefined ? (data.group === null ? [] : [data.group]) : user.group ? [Number(user.group.id)] : []), ...(data.groups ?? user.groups)];
    const touched = [...before.filter((g) => !after.includes(g)), ...after.filter((g) => !before.includes(g))];
    await assertMayGrantAccess(ctx, data.roles ?? [], touched);
    const changes = rowChanges(data);
    const generated = data.random_password ? randomPassword() : null;
    const password = generated ?? data.password ?? null;
    if (password !== null) changes.password_hash = await hashPassword(password);
    // Other sessions resting on the old password end when the change is announced; this one set it.
    const undo = changes.password_hash ? sessionCredentials(ctx.app).restampPassword(ctx.app.sessions.get(ctx.sessionId), user, changes.password_hash) : null;
    try {
      await withChanges(ctx.app, async (manager, events) => {
        if (Object.keys(changes).length > 0) await manager.getRepository(UserEntity).update({ id }, changes as never);
        if (data.groups !== undefined) await setGroups(manager, id, data.groups);
        // Tokens would otherwise come back to life when the account is unlocked.
        if (data.locked === true) await manager.getRepository(AuthTokenEntity).delete({ username: user.username });
        await assertAnAdministratorRemains(manager, 'locked or demoted');
        events.changed(NAMESPACE, id);
      });
    } catch (error) {
      undo?.();
      throw error;
    }
    return { ...(await fetchUser(ctx.app, id)), password: generated };
  },
});

const remove = defineMethod({
  name: 'user.delete',
  description: 'Delete a local account, its API keys and tokens, and its primary group when no one else uses it. The caller cannot delete itself.',
  params: {
    id: z.number().int().describe('The user id.'),
    options: z
      .strictObject({ delete_group: z.boolean().default(true).describe('Delete the primary group if no other account uses it.') })
      .default({ delete_group: true })
      .describe('Options.'),
  },
  result: z.literal(true),
  roles: ['ACCOUNT_WRITE'],
  handler: async (ctx, { id, options }) => {
    const user = await fetchUser(ctx.app, id);
    if (user.username === ctx.caller?.username) throw new CallError('Cannot delete the currently active user', 'EINVAL');
    assertMayManage(ctx.caller!, user);
    await withChanges(ctx.app, async (manager, events) => {
      await manager.getRepository(ApiKeyEntity).delete({ username: user.username });
      await manager.getRepository(AuthTokenEntity).delete({ username: user.username });
      await manager.getRepository(GroupMembershipEntity).delete({ user_id: id });
      await manager.getRepository(UserEntity).delete({ id });
      await assertAnAdministratorRemains(manager, 'deleted');
      const primary = user.group ? Number(user.group.id) : null;
      if (options.delete_group && primary !== null && !user.group!.bsdgrp_builtin && (await membersOf(manager, primary)).length === 0) {
        if (!(await rolesOfGroups(manager, [primary])).length) {
          await manager.getRepository(GroupEntity).delete({ id: primary });
          events.removed('group', primary);
        }
      }
      events.removed(NAMESPACE, id);
    });
    return true as const;
  },
});

/** A 20-character password, as TrueNAS's `random_password` makes. */
function randomPassword(): string {
  return randomSecret(15).slice(0, 20);
}

export const userPlugin = definePlugin({
  namespace: NAMESPACE,
  description: 'Local accounts and the roles they hold.',
  dependsOn: ['auth'],
  // A pydantic-model namespace in TrueNAS 25.04 (api/v25_04_2/user.py).
  validation: 'pydantic',
  entities: [UserEntity],
  events: [queryEvent(NAMESPACE, ['ACCOUNT_READ'], 'an account')],
  methods: [query, getInstanceMethod, getNextUid, create, update, remove],
});
