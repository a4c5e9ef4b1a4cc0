/**
 * What an account may do, as TrueNAS composes it: the roles of every privilege granted to one of its
 * groups (primary or auxiliary), plus the roles granted to the account itself (certmid's own
 * extra, kept so that accounts made before groups existed keep their access).
 */
import type { EntityManager } from 'typeorm';
import { In } from 'typeorm';
import { GroupEntity, GroupMembershipEntity, PrivilegeEntity, type PrivilegeRow, type UserRow } from './entities.js';
import { isRole, type Role } from './roles.js';

type Reader = Pick<EntityManager, 'getRepository'>;

/** The group rows (ids) an account belongs to: its primary group and its memberships. */
export async function groupIdsOf(db: Reader, user: Pick<UserRow, 'id' | 'group_id'>): Promise<number[]> {
  const memberships = await db.getRepository(GroupMembershipEntity).findBy({ user_id: user.id });
  const ids = new Set(memberships.map((membership) => membership.group_id));
  if (user.group_id !== null) ids.add(user.group_id);
  return [...ids].sort((a, b) => a - b);
}

/** The privileges that name any of these groups (by group row id) among their local groups. */
export async function privilegesOfGroups(db: Reader, groupIds: readonly number[]): Promise<PrivilegeRow[]> {
  if (groupIds.length === 0) return [];
  const gids = new Set((await db.getRepository(GroupEntity).findBy({ id: In([...groupIds]) })).map((group) => group.gid));
  const privileges = await db.getRepository(PrivilegeEntity).find({ order: { id: 'ASC' } });
  return privileges.filter((privilege) => privilege.local_groups.some((gid) => gids.has(gid)));
}

/** The privileges an account holds through its groups. */
export async function privilegesOf(db: Reader, user: Pick<UserRow, 'id' | 'group_id'>): Promise<PrivilegeRow[]> {
  return privilegesOfGroups(db, await groupIdsOf(db, user));
}

/** The union of roles granted directly and through privileges, as granted (not expanded). */
export function unionOfRoles(direct: readonly string[], privileges: readonly Pick<PrivilegeRow, 'roles'>[]): Role[] {
  const roles = new Set<string>(direct);
  for (const privilege of privileges) privilege.roles.forEach((role) => roles.add(role));
  return [...roles].filter(isRole).sort();
}

/** Every role an account holds, as granted. */
export async function effectiveRoles(db: Reader, user: Pick<UserRow, 'id' | 'group_id' | 'roles'>): Promise<Role[]> {
  return unionOfRoles(user.roles, await privilegesOf(db, user));
}
