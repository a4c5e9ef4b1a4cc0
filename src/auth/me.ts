/**
 * The logged-in user as TrueNAS's `auth.me` shows it (the `user_info` of a login too): the account
 * (`user.get_user_obj`'s fields), its composed privilege, how it logged in, and its web UI attributes.
 */
import type { App } from '../app.js';
import type { Caller } from '../api/call-context.js';
import { groupIdsOf, privilegesOf } from './effective-roles.js';
import { GroupEntity, UserEntity } from './entities.js';
import { expandRoles, hasAnyRole, type Role } from './roles.js';
import { In } from 'typeorm';

/** One entry of a privilege's allowlist: a method to call or an event to subscribe to ("*" for all). */
export interface AllowlistEntry {
  method: 'CALL' | 'SUBSCRIBE' | '*';
  resource: string;
}

/** What the roles allow, as TrueNAS lists it: everything for FULL_ADMIN, else each method and event. */
export function allowlistOf(app: App, roles: readonly Role[]): AllowlistEntry[] {
  const held = expandRoles(roles);
  if (held.has('FULL_ADMIN')) return [{ method: '*', resource: '*' }];
  const granted = (required: readonly Role[]) => required.length > 0 && hasAnyRole(held, required);
  return [
    ...app.registry
      .allMethods()
      .filter((method) => !method.public && granted(method.roles))
      .map((method) => ({ method: 'CALL' as const, resource: method.name })),
    ...app.registry
      .allEvents()
      .filter((event) => granted(event.roles))
      .map((event) => ({ method: 'SUBSCRIBE' as const, resource: event.name })),
  ];
}

/** The account flags TrueNAS reports (`account_attributes`): where the account lives and how it logged in. */
function accountAttributes(app: App, caller: Caller): string[] {
  const flags = ['LOCAL'];
  // TrueNAS marks its own administrator account (root or truenas_admin) SYS_ADMIN.
  if (caller.username === app.config.adminUsername) flags.push('SYS_ADMIN');
  if (caller.credentialType === 'API_KEY') flags.push('API_KEY');
  return flags;
}

/** `auth.me` for a logged-in caller. */
export async function currentUser(app: App, caller: Caller) {
  const user = await app.db.getRepository(UserEntity).findOneBy({ username: caller.username });
  const groupIds = user ? await groupIdsOf(app.db.manager, user) : [];
  const groups = groupIds.length > 0 ? await app.db.getRepository(GroupEntity).findBy({ id: In(groupIds) }) : [];
  const primary = groups.find((group) => group.id === user?.group_id);
  const privileges = user ? await privilegesOf(app.db.manager, user) : [];
  const roles = [...expandRoles(caller.roles)].sort();
  return {
    pw_name: caller.username,
    pw_gecos: user?.full_name ?? '',
    pw_dir: user?.home ?? '/var/empty',
    pw_shell: user?.shell ?? '/usr/sbin/nologin',
    pw_uid: user?.uid ?? 0,
    pw_gid: primary?.gid ?? 0,
    grouplist: groups.map((group) => group.gid).sort((a, b) => a - b),
    sid: null,
    source: 'LOCAL',
    local: true,
    attributes: user?.attributes ?? {},
    two_factor_config: { provisioning_uri: null, secret_configured: false, interval: 30, otp_digits: 6 },
    privilege: {
      roles,
      allowlist: allowlistOf(app, caller.roles),
      web_shell: privileges.some((privilege) => privilege.web_shell),
      webui_access: roles.length > 0,
    },
    account_attributes: accountAttributes(app, caller),
  };
}
