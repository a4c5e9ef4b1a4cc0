/**
 * Who may set roles, passwords and API keys of whom. One rule, used by `user.*` and `api_key.*`:
 *
 * - a caller grants only roles it holds itself (compared after expansion, so ACCOUNT_WRITE may
 *   grant ACCOUNT_READ, and READONLY_ADMIN every `_READ` role);
 * - a caller acts on another account (its name, password, roles, lock, deletion, API keys) only
 *   when that account holds no role the caller lacks. FULL_ADMIN holds every role.
 *
 * Everything else is refused with EACCES.
 */
import type { Caller } from '../api/call-context.js';
import { NotAuthorizedError } from '../errors/call-error.js';
import { expandRoles } from './roles.js';

/** Those of `roles` that amount to something `caller` does not hold (FULL_ADMIN alone, not all it expands to). */
export function rolesBeyond(caller: Caller, roles: Iterable<string>): string[] {
  const held = expandRoles(caller.roles);
  return [...new Set(roles)].filter((role) => [...expandRoles([role])].some((granted) => !held.has(granted)));
}

/** Refuses to grant roles the caller does not hold. */
export function assertMayGrant(caller: Caller, roles: Iterable<string>): void {
  const beyond = rolesBeyond(caller, roles);
  if (beyond.length > 0) throw new NotAuthorizedError(`Not authorized to grant roles you do not hold: ${beyond.join(', ')}`);
}

/** Refuses to act on an account that holds a role the caller lacks; its own account is always in reach. */
export function assertMayManage(caller: Caller, account: { username: string; roles: readonly string[] }): void {
  if (account.username === caller.username) return;
  // The account's roles are not named: a caller may not be allowed to read them.
  if (rolesBeyond(caller, account.roles).length > 0) throw new NotAuthorizedError('Not authorized to manage an account that holds roles you do not hold');
}
