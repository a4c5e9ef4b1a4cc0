import { In, type EntityManager } from 'typeorm';
import { z } from 'zod';
import type { CallContext } from '../../src/api/call-context.js';
import { defineMethod } from '../../src/api/define-method.js';
import { definePlugin, queryEvent } from '../../src/api/define-plugin.js';
import type { App } from '../../src/app.js';
import { assertAnAdministratorRemains } from '../../src/auth/administrators.js';
import { GroupEntity, GroupMembershipEntity, PrivilegeEntity, UserEntity, type GroupRow } from '../../src/auth/entities.js';
import { groupEntry, membersOf, nextGid, rolesOfGroups } from '../../src/auth/groups.js';
import { assertMayGrant } from '../../src/auth/privileges.js';
import { withChanges } from '../../src/db/entity-events.js';
import { CallError } from '../../src/errors/call-error.js';
import { ValidationErrors } from '../../src/errors/validation-errors.js';
import { getInstance, runQuery, type SqlQuerySpec } from '../../src/query/sql-query.js';
import { QueryFilters, QueryOptions } from '../../src/query/schemas.js';

const NAMESPACE = 'group';

type GroupEntry = Awaited<ReturnType<typeof groupEntry>>;

const GroupName = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9_][A-Za-z0-9_.$-]*$/, 'Valid characters are letters, digits, "_", ".", "$" and "-"; it may not start with "-" or "."')
  .describe('The group name.');
const UserIds = z.array(z.number().int()).describe('Ids of the member accounts (`id` from user.query).');
const Commands = z.array(z.string().min(1).max(1024)).describe('Accepted for TrueNAS clients; no commands run here.');

const GROUP_FIELDS = {
  name: GroupName,
  smb: z.boolean().default(true).describe('Accepted for TrueNAS clients; no SMB here.'),
  sudo_commands: Commands.default([]),
  sudo_commands_nopasswd: Commands.default([]),
  userns_idmap: z.union([z.literal('DIRECT'), z.number().int(), z.null()]).default(null).describe('Accepted for TrueNAS clients; ignored.'),
  users: UserIds.default([]),
};

const GroupCreate = z
  .strictObject({
    gid: z.number().int().min(0).max(2147483647).nullable().default(null).describe('The numeric group id; the next free one when null.'),
    ...GROUP_FIELDS,
  })
  .describe('The new group.');

const GroupUpdate = z
  .strictObject({
    name: GROUP_FIELDS.name.optional(),
    smb: z.boolean().optional().describe('Accepted for TrueNAS clients; no SMB here.'),
    sudo_commands: Commands.optional(),
    sudo_commands_nopasswd: Commands.optional(),
    userns_idmap: z.union([z.literal('DIRECT'), z.number().int(), z.null()]).optional().describe('Accepted; ignored.'),
    users: UserIds.optional(),
  })
  .describe('The fields to change.');

function querySpec(app: App): SqlQuerySpec<GroupRow, GroupEntry> {
  return {
    dataSource: app.db,
    entity: GroupEntity,
    columns: {
      id: { column: 'id', kind: 'number' },
      gid: { column: 'gid', kind: 'number' },
      name: { column: 'name', kind: 'string' },
      group: { column: 'name', kind: 'string' },
      builtin: { column: 'builtin', kind: 'boolean' },
    },
    toEntry: (row) => groupEntry(app.db.manager, row),
  };
}

const fetchGroup = (app: App, id: number) => getInstance(querySpec(app), id, `Group ${id} does not exist`);

/** TrueNAS's checks of a group's name, gid and members, worded as it words them. */
async function validate(app: App, schema: string, data: { name?: string; gid?: number | null; users?: number[] }, id?: number): Promise<void> {
  const errors = new ValidationErrors();
  const groups = app.db.getRepository(GroupEntity);
  if (data.name !== undefined) {
    const same = await groups.findOneBy({ name: data.name });
    if (same && same.id !== id) errors.add(`${schema}.name`, `A Group with the name "${data.name}" already exists.`, 'EEXIST');
  }
  if (data.gid != null) {
    const same = await groups.findOneBy({ gid: data.gid });
    if (same) errors.add(`${schema}.gid`, `Gid ${data.gid} is already used (group ${same.name} has it)`, 'EEXIST');
    const privilege = (await app.db.getRepository(PrivilegeEntity).find({ order: { id: 'ASC' } })).find((p) => p.local_groups.includes(data.gid!));
    if (privilege) errors.add(`${schema}.gid`, `A privilege '${privilege.name}' already uses this group ID.`);
  }
  if (data.users !== undefined && data.users.length > 0) {
    const found = new Set((await app.db.getRepository(UserEntity).findBy({ id: In(data.users) })).map((user) => user.id));
    const missing = data.users.filter((user) => !found.has(user));
    if (missing.length > 0) errors.add(`${schema}.users`, `Following users do not exist: ${missing.join(', ')}`);
  }
  errors.check();
}

/** Makes `users` the group's auxiliary members, besides those whose primary group it is. */
async function setMembers(manager: EntityManager, groupId: number, users: readonly number[]): Promise<void> {
  const memberships = manager.getRepository(GroupMembershipEntity);
  await memberships.delete({ group_id: groupId });
  const primary = new Set((await manager.getRepository(UserEntity).findBy({ group_id: groupId })).map((user) => user.id));
  const added = [...new Set(users)].filter((user) => !primary.has(user));
  if (added.length > 0) await memberships.insert(added.map((user_id) => ({ group_id: groupId, user_id })));
}

/** Changing who is in a group grants or withdraws its roles: the caller must hold them. */
async function assertMayChangeMembers(ctx: CallContext, groupId: number): Promise<void> {
  assertMayGrant(ctx.caller!, await rolesOfGroups(ctx.app.db.manager, [groupId]));
}

const query = defineMethod({
  name: 'group.query',
  description: 'Local groups, filtered with the query language.',
  params: { filters: QueryFilters, options: QueryOptions },
  result: z.unknown(),
  roles: ['ACCOUNT_READ'],
  handler: (ctx, { filters, options }) => runQuery(querySpec(ctx.app), filters, options),
});

const getInstanceMethod = defineMethod({
  name: 'group.get_instance',
  description: 'One local group by id.',
  params: { id: z.number().int().describe('The group id.'), options: QueryOptions },
  result: z.unknown(),
  roles: ['ACCOUNT_READ'],
  handler: (ctx, { id }) => fetchGroup(ctx.app, id),
});

const getNextGid = defineMethod({
  name: 'group.get_next_gid',
  description: 'The next free numeric group id.',
  params: {},
  result: z.number(),
  roles: ['ACCOUNT_READ'],
  handler: (ctx) => nextGid(ctx.app.db.manager),
});

const create = defineMethod({
  name: 'group.create',
  description: 'Create a local group; returns its id. Its members gain the roles of the privileges granted to it.',
  params: { group_create: GroupCreate },
  result: z.number(),
  roles: ['ACCOUNT_WRITE'],
  handler: async (ctx, { group_create: data }) => {
    await validate(ctx.app, 'group_create', data);
    return withChanges(ctx.app, async (manager, changes) => {
      const result = await manager.getRepository(GroupEntity).insert({
        gid: data.gid ?? (await nextGid(manager)),
        name: data.name,
        builtin: false,
        smb: data.smb,
        sudo_commands: data.sudo_commands,
        sudo_commands_nopasswd: data.sudo_commands_nopasswd,
      });
      const id = Number(result.identifiers[0]!.id);
      await setMembers(manager, id, data.users);
      changes.added(NAMESPACE, id);
      // Their roles did not change (a new gid has no privilege), but their entries' `groups` did.
      data.users.forEach((user) => changes.changed('user', user));
      return id;
    });
  },
});

const update = defineMethod({
  name: 'group.update',
  description: 'Change a local group: its name or members; returns its id.',
  params: { id: z.number().int().describe('The group id.'), group_update: GroupUpdate },
  result: z.number(),
  roles: ['ACCOUNT_WRITE'],
  handler: async (ctx, { id, group_update: data }) => {
    const group = await fetchGroup(ctx.app, id);
    await validate(ctx.app, 'group_update', data, id);
    if (group.builtin && data.name !== undefined && data.name !== group.name) {
      throw new ValidationErrors().add('group_update.name', 'This attribute cannot be changed');
    }
    if (data.users !== undefined) await assertMayChangeMembers(ctx, id);
    return withChanges(ctx.app, async (manager, changes) => {
      const row: Partial<GroupRow> = {};
      if (data.name !== undefined) row.name = data.name;
      if (data.smb !== undefined) row.smb = data.smb;
      if (data.sudo_commands !== undefined) row.sudo_commands = data.sudo_commands;
      if (data.sudo_commands_nopasswd !== undefined) row.sudo_commands_nopasswd = data.sudo_commands_nopasswd;
      if (Object.keys(row).length > 0) await manager.getRepository(GroupEntity).update({ id }, row as never);
      if (data.users !== undefined) {
        await setMembers(manager, id, data.users);
        await assertAnAdministratorRemains(manager, 'removed from the administrators');
        new Set([...group.users, ...data.users]).forEach((user) => changes.changed('user', user));
      }
      changes.changed(NAMESPACE, id);
      return id;
    });
  },
});

const remove = defineMethod({
  name: 'group.delete',
  description: 'Delete a local group; returns its id. A group a privilege names must first be removed from it.',
  params: {
    id: z.number().int().describe('The group id.'),
    options: z
      .strictObject({ delete_users: z.boolean().default(false).describe('Delete the accounts whose primary group this is.') })
      .default({ delete_users: false })
      .describe('Options.'),
  },
  result: z.number(),
  roles: ['ACCOUNT_WRITE'],
  handler: async (ctx, { id, options }) => {
    const group = await fetchGroup(ctx.app, id);
    if (group.builtin) throw new CallError('A built-in group cannot be deleted.', 'EACCES');
    const privilege = (await ctx.app.db.getRepository(PrivilegeEntity).find({ order: { id: 'ASC' } })).find((p) => p.local_groups.includes(group.gid));
    if (privilege) {
      throw new CallError(`This group is used by privilege '${privilege.name}'. Please remove it from that privilege first, then delete the group.`, 'EACCES');
    }
    const primaryOf = await ctx.app.db.getRepository(UserEntity).findBy({ group_id: id });
    if (options.delete_users && primaryOf.some((user) => user.username === ctx.caller?.username)) {
      throw new CallError('Cannot delete the currently active user', 'EINVAL');
    }
    return withChanges(ctx.app, async (manager, changes) => {
      const users = manager.getRepository(UserEntity);
      for (const user of primaryOf) {
        if (options.delete_users) {
          await manager.getRepository(GroupMembershipEntity).delete({ user_id: user.id });
          await users.delete({ id: user.id });
          changes.removed('user', user.id);
        } else {
          await users.update({ id: user.id }, { group_id: null });
          changes.changed('user', user.id);
        }
      }
      for (const member of await membersOf(manager, id)) changes.changed('user', member);
      await manager.getRepository(GroupMembershipEntity).delete({ group_id: id });
      await manager.getRepository(GroupEntity).delete({ id });
      await assertAnAdministratorRemains(manager, 'deleted');
      changes.removed(NAMESPACE, id);
      return id;
    });
  },
});

export const groupPlugin = definePlugin({
  namespace: NAMESPACE,
  description: 'Local groups; privileges grant roles to their members.',
  dependsOn: ['user'],
  // A pydantic-model namespace in TrueNAS 25.04 (api/v25_04_2/group.py).
  validation: 'pydantic',
  entities: [GroupEntity, GroupMembershipEntity],
  events: [queryEvent(NAMESPACE, ['ACCOUNT_READ'], 'a group')],
  methods: [query, getInstanceMethod, getNextGid, create, update, remove],
});
