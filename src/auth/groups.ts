/**
 * Groups as TrueNAS shows them (`group.query` entries, the `group` of a user entry, the
 * `local_groups` of a privilege) and the numbering of new users and groups.
 */
import type { EntityManager } from 'typeorm';
import { In } from 'typeorm';
import { GroupEntity, GroupMembershipEntity, PrivilegeEntity, UserEntity, type GroupRow } from './entities.js';
import { privilegesOfGroups, unionOfRoles } from './effective-roles.js';

type Reader = Pick<EntityManager, 'getRepository'>;

/** The built-in administrators group: its members hold the "Local Administrator" privilege. */
export const ADMINISTRATORS_GID = 544;

/** TrueNAS numbers new users and groups from 3000 (NAS-117892), taking the first free number. */
const FIRST_ID = 3000;

function firstFree(used: ReadonlySet<number>): number {
  let next = FIRST_ID;
  while (used.has(next)) next++;
  return next;
}

/** The next free gid: not used by a group, nor named by a privilege (it would inherit its roles). */
export async function nextGid(db: Reader): Promise<number> {
  const used = new Set((await db.getRepository(GroupEntity).find()).map((group) => group.gid));
  for (const privilege of await db.getRepository(PrivilegeEntity).find()) privilege.local_groups.forEach((gid) => used.add(gid));
  return firstFree(used);
}

/** The next free uid. */
export async function nextUid(db: Reader): Promise<number> {
  return firstFree(new Set((await db.getRepository(UserEntity).find({ select: { uid: true } })).map((user) => user.uid)));
}

/** The user ids in a group: those it is the primary group of, and its members. */
export async function membersOf(db: Reader, groupId: number): Promise<number[]> {
  const primary = await db.getRepository(UserEntity).find({ select: { id: true }, where: { group_id: groupId } });
  const members = await db.getRepository(GroupMembershipEntity).findBy({ group_id: groupId });
  return [...new Set([...primary.map((user) => user.id), ...members.map((member) => member.user_id)])].sort((a, b) => a - b);
}

/** The roles a group's members gain through privileges. */
export async function rolesOfGroups(db: Reader, groupIds: readonly number[]): Promise<string[]> {
  return unionOfRoles([], await privilegesOfGroups(db, groupIds));
}

/** A `group.query` entry. */
export async function groupEntry(db: Reader, row: GroupRow) {
  return {
    id: row.id,
    gid: row.gid,
    name: row.name,
    group: row.name,
    builtin: row.builtin,
    sudo_commands: row.sudo_commands,
    sudo_commands_nopasswd: row.sudo_commands_nopasswd,
    smb: row.smb,
    userns_idmap: null,
    id_type_both: false,
    local: true,
    sid: null,
    roles: await rolesOfGroups(db, [row.id]),
    users: await membersOf(db, row.id),
  };
}

/** A user entry's primary `group`, in the datastore shape TrueNAS returns there. */
export async function primaryGroupOf(db: Reader, groupId: number | null) {
  const group = groupId === null ? null : await db.getRepository(GroupEntity).findOneBy({ id: groupId });
  if (!group) return null;
  return { id: group.id, bsdgrp_gid: group.gid, bsdgrp_group: group.name, bsdgrp_builtin: group.builtin, bsdgrp_smb: group.smb };
}

/** The groups with these ids that exist. */
export async function existingGroupIds(db: Reader, ids: readonly number[]): Promise<Set<number>> {
  if (ids.length === 0) return new Set();
  return new Set((await db.getRepository(GroupEntity).findBy({ id: In([...ids]) })).map((group) => group.id));
}
