import { z } from 'zod';
import { defineMethod } from '../../src/api/define-method.js';
import { definePlugin, queryEvent } from '../../src/api/define-plugin.js';
import type { App } from '../../src/app.js';
import { assertAnAdministratorRemains } from '../../src/auth/administrators.js';
import { LOCAL_ADMINISTRATOR } from '../../src/auth/builtin-accounts.js';
import { GroupEntity, PrivilegeEntity, type PrivilegeRow } from '../../src/auth/entities.js';
import { ADMINISTRATORS_GID, groupEntry } from '../../src/auth/groups.js';
import { assertMayGrant } from '../../src/auth/privileges.js';
import { expandRoles, isRole, ROLES } from '../../src/auth/roles.js';
import { withChanges } from '../../src/db/entity-events.js';
import { CallError } from '../../src/errors/call-error.js';
import { ValidationErrors } from '../../src/errors/validation-errors.js';
import { getInstance, runQuery, type SqlQuerySpec } from '../../src/query/sql-query.js';
import { filterListAsync } from '../../src/query/filter-list.js';
import { QueryFilters, QueryOptions } from '../../src/query/schemas.js';

const NAMESPACE = 'privilege';

const DsGroup = z.union([z.number().int(), z.string().min(1).max(256)]);

const PRIVILEGE_FIELDS = {
  name: z.string().min(1).max(200).describe('A unique name.'),
  local_groups: z.array(z.number().int()).default([]).describe('GIDs of the local groups whose members gain the roles.'),
  ds_groups: z.array(DsGroup).default([]).describe('Directory-service groups (GID or SID); kept, though no directory service is joined here.'),
  roles: z.array(z.string().min(1).max(128)).default([]).describe('The roles granted.'),
  web_shell: z.boolean().describe('Accepted for TrueNAS clients; there is no shell here.'),
};

const PrivilegeCreate = z.strictObject(PRIVILEGE_FIELDS).describe('The new privilege.');
const PrivilegeUpdate = z
  .strictObject({
    name: PRIVILEGE_FIELDS.name.optional(),
    local_groups: z.array(z.number().int()).optional().describe('GIDs of the local groups whose members gain the roles.'),
    ds_groups: z.array(DsGroup).optional().describe('Directory-service groups (GID or SID).'),
    roles: z.array(z.string().min(1).max(128)).optional().describe('The roles granted.'),
    web_shell: z.boolean().optional().describe('Accepted; there is no shell here.'),
  })
  .describe('The fields to change.');

/** A group a privilege names that does not exist, shown as TrueNAS shows it. */
const unmapped = (gid: number | null, sid: string | null) => ({ gid, sid, group: null });

async function toEntry(app: App, row: PrivilegeRow) {
  const groups = await app.db.getRepository(GroupEntity).find();
  const local = [];
  for (const gid of row.local_groups) {
    const group = groups.find((candidate) => candidate.gid === gid);
    local.push(group ? await groupEntry(app.db.manager, group) : unmapped(gid, null));
  }
  return {
    id: row.id,
    builtin_name: row.builtin_name,
    name: row.name,
    local_groups: local,
    ds_groups: row.ds_groups.map((group) => (typeof group === 'number' ? unmapped(group, null) : unmapped(null, group))),
    roles: row.roles,
    web_shell: row.web_shell,
  };
}

function querySpec(app: App): SqlQuerySpec<PrivilegeRow, Awaited<ReturnType<typeof toEntry>>> {
  return {
    dataSource: app.db,
    entity: PrivilegeEntity,
    columns: {
      id: { column: 'id', kind: 'number' },
      name: { column: 'name', kind: 'string' },
      builtin_name: { column: 'builtin_name', kind: 'string' },
      web_shell: { column: 'web_shell', kind: 'boolean' },
    },
    toEntry: (row) => toEntry(app, row),
  };
}

const fetchPrivilege = (app: App, id: number) => getInstance(querySpec(app), id, `Privilege ${id} does not exist`);

/** TrueNAS's checks of a privilege, worded as it words them. */
async function validate(app: App, schema: string, data: Omit<PrivilegeRow, 'id' | 'builtin_name'>, id?: number): Promise<void> {
  const errors = new ValidationErrors();
  const same = await app.db.getRepository(PrivilegeEntity).findOneBy({ name: data.name });
  if (same && same.id !== id) errors.add(`${schema}.name`, 'Object with this name already exists');
  const gids = new Set((await app.db.getRepository(GroupEntity).find()).map((group) => group.gid));
  data.local_groups.forEach((gid, index) => {
    if (gids.has(gid)) return;
    errors.add(
      `${schema}.local_groups.${index}`,
      `${gid}: local group does not exist. This error may be addressed by either re-creating the missing group with the specified group id or removing this entry from the privilege.`,
    );
  });
  data.roles.forEach((role, index) => {
    if (!isRole(role)) errors.add(`${schema}.roles.${index}`, 'Invalid role');
  });
  errors.check();
}

const query = defineMethod({
  name: 'privilege.query',
  description: 'Privileges (roles granted to groups), filtered with the query language.',
  params: { filters: QueryFilters, options: QueryOptions },
  result: z.unknown(),
  roles: ['PRIVILEGE_READ'],
  handler: (ctx, { filters, options }) => runQuery(querySpec(ctx.app), filters, options),
});

const getInstanceMethod = defineMethod({
  name: 'privilege.get_instance',
  description: 'One privilege by id.',
  params: { id: z.number().int().describe('The privilege id.'), options: QueryOptions },
  result: z.unknown(),
  roles: ['PRIVILEGE_READ'],
  handler: (ctx, { id }) => fetchPrivilege(ctx.app, id),
});

const RoleEntry = z.object({
  name: z.string().describe('The role.'),
  title: z.string().describe('Its name for people.'),
  includes: z.array(z.string()).describe('The roles it includes.'),
  builtin: z.boolean().describe('Always false: every role here may be granted.'),
  stig: z.null().describe('Always null.'),
});

const roles = defineMethod({
  name: 'privilege.roles',
  description: 'The roles a privilege may grant, with the roles each includes.',
  params: { filters: QueryFilters, options: QueryOptions },
  result: z.unknown(),
  roles: ['PRIVILEGE_READ'],
  handler: (_ctx, { filters, options }) => {
    const entries = ROLES.map((role) => ({
      name: role,
      title: role.replace(/_/g, ' ').toLowerCase().replace(/^./, (first) => first.toUpperCase()),
      includes: [...expandRoles([role])].filter((included) => included !== role).sort(),
      builtin: false,
      stig: null,
    }) satisfies z.input<typeof RoleEntry>);
    return filterListAsync(entries, filters, options);
  },
});

const create = defineMethod({
  name: 'privilege.create',
  description: 'Grant roles to local groups. The caller may grant only roles it holds.',
  params: { privilege_create: PrivilegeCreate },
  result: z.unknown(),
  roles: ['PRIVILEGE_WRITE'],
  handler: async (ctx, { privilege_create: data }) => {
    await validate(ctx.app, 'privilege_create', data);
    assertMayGrant(ctx.caller!, data.roles);
    const id = await withChanges(ctx.app, async (manager, changes) => {
      const result = await manager.getRepository(PrivilegeEntity).insert({ ...data, builtin_name: null });
      const newId = Number(result.identifiers[0]!.id);
      changes.added(NAMESPACE, newId);
      return newId;
    });
    return fetchPrivilege(ctx.app, id);
  },
});

const update = defineMethod({
  name: 'privilege.update',
  description: 'Change a privilege. The caller must hold its roles, before and after.',
  params: { id: z.number().int().describe('The privilege id.'), privilege_update: PrivilegeUpdate },
  result: z.unknown(),
  roles: ['PRIVILEGE_WRITE'],
  handler: async (ctx, { id, privilege_update: data }) => {
    const old = await ctx.app.db.getRepository(PrivilegeEntity).findOneBy({ id });
    if (!old) await fetchPrivilege(ctx.app, id);
    const { id: _id, builtin_name, ...current } = old!;
    const next = { ...current, ...data };
    const errors = new ValidationErrors();
    if (builtin_name !== null) {
      if (next.name !== old!.name) errors.add('privilege_update.name', 'This field is read-only for built-in privileges');
      if (JSON.stringify(next.roles) !== JSON.stringify(old!.roles)) errors.add('privilege_update.roles', 'This field is read-only for built-in privileges');
      if (builtin_name === LOCAL_ADMINISTRATOR && !next.local_groups.includes(ADMINISTRATORS_GID)) {
        errors.add('privilege_update.local_groups', 'The group builtin_administrators must be among grantees of the "Local Administrator" privilege.');
      }
    }
    errors.check();
    await validate(ctx.app, 'privilege_update', next, id);
    // Whoever changes a privilege changes who holds its roles, old and new.
    assertMayGrant(ctx.caller!, [...old!.roles, ...next.roles]);
    await withChanges(ctx.app, async (manager, changes) => {
      await manager.getRepository(PrivilegeEntity).update({ id }, next as never);
      await assertAnAdministratorRemains(manager, 'demoted');
      changes.changed(NAMESPACE, id);
    });
    return fetchPrivilege(ctx.app, id);
  },
});

const remove = defineMethod({
  name: 'privilege.delete',
  description: 'Delete a privilege; its groups\' members lose its roles. Built-in privileges cannot be deleted.',
  params: { id: z.number().int().describe('The privilege id.') },
  result: z.literal(true),
  roles: ['PRIVILEGE_WRITE'],
  handler: async (ctx, { id }) => {
    const privilege = await fetchPrivilege(ctx.app, id);
    if (privilege.builtin_name !== null) throw new CallError('Unable to delete built-in privilege', 'EPERM');
    assertMayGrant(ctx.caller!, privilege.roles);
    await withChanges(ctx.app, async (manager, changes) => {
      await manager.getRepository(PrivilegeEntity).delete({ id });
      await assertAnAdministratorRemains(manager, 'demoted');
      changes.removed(NAMESPACE, id);
    });
    return true as const;
  },
});

export const privilegePlugin = definePlugin({
  namespace: NAMESPACE,
  description: 'Privileges: roles granted to the members of local groups.',
  dependsOn: ['group'],
  // A pydantic-model namespace in TrueNAS 25.04 (api/v25_04_2/privilege.py).
  validation: 'pydantic',
  entities: [PrivilegeEntity],
  events: [queryEvent(NAMESPACE, ['PRIVILEGE_READ'], 'a privilege')],
  methods: [query, getInstanceMethod, roles, create, update, remove],
});
