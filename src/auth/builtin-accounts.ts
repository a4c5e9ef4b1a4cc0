import type { App } from '../app.js';
import { transaction } from '../db/transaction.js';
import { GroupEntity, GroupMembershipEntity, PrivilegeEntity, UserEntity } from './entities.js';
import { ADMINISTRATORS_GID } from './groups.js';

/** TrueNAS's built-in privilege that makes the administrators group full administrators. */
export const LOCAL_ADMINISTRATOR = 'LOCAL_ADMINISTRATOR';

/**
 * Makes the built-in administrators group (gid 544) and its "Local Administrator" privilege
 * (FULL_ADMIN) when they are missing. Several daemons may start at once on one database: a loser of
 * that race finds the rows the winner made when it looks again.
 */
export async function ensureBuiltinAdministrators(app: App): Promise<void> {
  try {
    await transaction(app.db, async (manager) => {
      const groups = manager.getRepository(GroupEntity);
      if (!(await groups.existsBy({ gid: ADMINISTRATORS_GID }))) {
        const result = await groups.insert({ gid: ADMINISTRATORS_GID, name: 'builtin_administrators', builtin: true, smb: false, sudo_commands: [], sudo_commands_nopasswd: [] });
        // Accounts made full administrators before groups existed are its first members.
        const admins = (await manager.getRepository(UserEntity).find()).filter((user) => user.roles.includes('FULL_ADMIN'));
        const groupId = Number(result.identifiers[0]!.id);
        if (admins.length > 0) await manager.getRepository(GroupMembershipEntity).insert(admins.map((user) => ({ group_id: groupId, user_id: user.id })));
      }
      const privileges = manager.getRepository(PrivilegeEntity);
      if (!(await privileges.existsBy({ builtin_name: LOCAL_ADMINISTRATOR }))) {
        await privileges.insert({
          builtin_name: LOCAL_ADMINISTRATOR,
          name: 'Local Administrator',
          local_groups: [ADMINISTRATORS_GID],
          ds_groups: [],
          roles: ['FULL_ADMIN'],
          web_shell: true,
        });
      }
    });
  } catch (error) {
    const made = await app.db.getRepository(PrivilegeEntity).existsBy({ builtin_name: LOCAL_ADMINISTRATOR });
    if (!made) throw error;
  }
}
