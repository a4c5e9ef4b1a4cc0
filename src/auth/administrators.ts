import type { EntityManager } from 'typeorm';
import { CallError } from '../errors/call-error.js';
import { effectiveRoles } from './effective-roles.js';
import { UserEntity } from './entities.js';
import { expandRoles } from './roles.js';

/**
 * Someone must always be able to administer the daemon. Called inside the transaction of a change
 * to accounts, groups or privileges, after its writes: throws (rolling the change back) when no
 * unlocked account that can log in with a password holds FULL_ADMIN any more.
 */
export async function assertAnAdministratorRemains(manager: EntityManager, what: string): Promise<void> {
  const users = await manager.getRepository(UserEntity).findBy({ locked: false, password_disabled: false });
  for (const user of users) {
    if (expandRoles(await effectiveRoles(manager, user)).has('FULL_ADMIN')) return;
  }
  throw new CallError(`The last full administrator cannot be ${what}`, 'EBUSY');
}
