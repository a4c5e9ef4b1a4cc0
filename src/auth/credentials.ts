import fs from 'node:fs';
import path from 'node:path';
import type { App } from '../app.js';
import type { Caller } from '../api/call-context.js';
import { transaction } from '../db/transaction.js';
import { ensureBuiltinAdministrators } from './builtin-accounts.js';
import { ADMINISTRATORS_GID, nextUid } from './groups.js';
import { ApiKeyEntity, AuthTokenEntity, GroupEntity, GroupMembershipEntity, UserEntity, type ApiKeyRow, type SessionCredential, type UserRow } from './entities.js';
import { hashPassword, hashSecret, randomSecret, sameDigest, verifyPassword } from './passwords.js';
import { effectiveRoles } from './effective-roles.js';
import type { Role } from './roles.js';

function callerOf(user: UserRow, roles: Role[], credentialType: Caller['credentialType']): Caller {
  return { username: user.username, roles, credentialType, loginAt: Date.now() };
}

/** A successful login: who it is, what it rests on, and when that stops working (ms; null for never). */
export interface Login {
  caller: Caller;
  credential: SessionCredential;
  expiresAt: number | null;
}

/** A short digest that changes whenever a stored secret's hash does. */
export function stampOf(storedHash: string): string {
  return hashSecret(storedHash).slice(0, 32);
}

/** Finds an unlocked user. */
async function activeUser(app: App, username: string): Promise<UserRow | null> {
  const user = await app.db.getRepository(UserEntity).findOneBy({ username });
  return user && !user.locked ? user : null;
}

const isExpired = (key: ApiKeyRow) => key.expires_at !== null && key.expires_at.getTime() <= Date.now();

/** The login for a username and password, or null. Unknown users cost as much time as known ones. */
export async function authenticatePassword(app: App, username: string, password: string): Promise<Login | null> {
  const user = await activeUser(app, username);
  const ok = await verifyPassword(password, user?.password_hash ?? DUMMY_HASH);
  if (!user || !ok || user.password_disabled) return null;
  const credential = { userId: user.id, username: user.username, passwordStamp: stampOf(user.password_hash), apiKey: null, loginAt: Date.now() };
  return { caller: callerOf(user, await effectiveRoles(app.db, user), 'LOGIN_PASSWORD'), credential, expiresAt: null };
}

// A real scrypt hash of a random password, so a miss takes as long as a hit.
const DUMMY_HASH = await hashPassword(randomSecret(16));

/** The login for an API key `<id>-<secret>`, or null (unknown, revoked, expired, or wrong owner). */
export async function authenticateApiKey(app: App, apiKey: string, username?: string): Promise<Login | null> {
  const match = /^(\d+)-(.+)$/.exec(apiKey);
  if (!match) return null;
  const key = await app.db.getRepository(ApiKeyEntity).findOneBy({ id: Number(match[1]) });
  if (!key || key.revoked || isExpired(key)) return null;
  if (!sameDigest(hashSecret(match[2]!), key.key_hash)) return null;
  if (username !== undefined && username !== key.username) return null;
  const user = await activeUser(app, key.username);
  if (!user) return null;
  const credential = { userId: user.id, username: user.username, passwordStamp: null, apiKey: { id: key.id, stamp: stampOf(key.key_hash) }, loginAt: Date.now() };
  return { caller: callerOf(user, await effectiveRoles(app.db, user), 'API_KEY'), credential, expiresAt: key.expires_at?.getTime() ?? null };
}

/** Why a credential no longer holds, or the account and expiry it still grants. */
export type CredentialCheck = { valid: true; user: UserRow; roles: Role[]; expiresAt: number | null } | { valid: false; reason: string };

/** Checks what a session's login rests on against the database, as it is now. */
export async function checkCredential(app: App, credential: SessionCredential): Promise<CredentialCheck> {
  const user = await app.db.getRepository(UserEntity).findOneBy({ id: credential.userId });
  if (!user || user.username !== credential.username) return { valid: false, reason: 'the account was deleted' };
  if (user.locked) return { valid: false, reason: 'the account was locked' };
  if (credential.passwordStamp !== null && stampOf(user.password_hash) !== credential.passwordStamp) {
    return { valid: false, reason: 'the password was changed' };
  }
  if (credential.passwordStamp !== null && user.password_disabled) return { valid: false, reason: 'password login was disabled' };
  const roles = await effectiveRoles(app.db, user);
  if (credential.apiKey === null) return { valid: true, user, roles, expiresAt: null };
  const key = await app.db.getRepository(ApiKeyEntity).findOneBy({ id: credential.apiKey.id });
  if (!key || key.username !== user.username || key.revoked || stampOf(key.key_hash) !== credential.apiKey.stamp) {
    return { valid: false, reason: 'the API key was revoked' };
  }
  if (isExpired(key)) return { valid: false, reason: 'the API key expired' };
  return { valid: true, user, roles, expiresAt: key.expires_at?.getTime() ?? null };
}

/** A new API key for `username`: the key shown once, and its row. */
export function newApiKeySecret(): { secret: string; hash: string } {
  const secret = randomSecret(48);
  return { secret, hash: hashSecret(secret) };
}

export interface TokenOptions {
  ttlSeconds: number;
  singleUse: boolean;
  origin: string | null;
  attributes: Record<string, unknown>;
}

/**
 * Issues a token that logs in as the making session's account until it is unused for `ttlSeconds`.
 * It rests on the same credential as that session, and remembers the session.
 */
export async function issueToken(app: App, sessionId: string, credential: SessionCredential, options: TokenOptions): Promise<string> {
  const token = randomSecret(48);
  await app.db.getRepository(AuthTokenEntity).insert({
    token_hash: hashSecret(token),
    username: credential.username,
    ttl_seconds: options.ttlSeconds,
    last_used_at: new Date(),
    single_use: options.singleUse,
    origin: options.origin,
    attributes: options.attributes as never,
    session_id: sessionId,
    credential: credential as never,
  });
  return token;
}

/** Deletes the tokens a session made (it logged out, was terminated or lost its credential). */
export async function dropTokensOf(app: App, sessionId: string): Promise<void> {
  await app.db.getRepository(AuthTokenEntity).delete({ session_id: sessionId });
}

/** A token login, with the attributes the token was made with. */
export interface TokenLogin extends Login {
  attributes: Record<string, unknown>;
}

/**
 * The login for a token, or null; refreshes its inactivity timer, or spends it if single-use (only
 * one of any number of racing logins can delete the row, so only one succeeds). A token made for
 * one job's file (`attributes.job`, from `core.download`) serves only the download of that file
 * (`jobId`), never a login: a leaked download link must not open a session.
 */
export async function authenticateToken(app: App, token: string, origin: string | null, jobId: number | null = null): Promise<TokenLogin | null> {
  const tokens = app.db.getRepository(AuthTokenEntity);
  const row = await tokens.findOneBy({ token_hash: hashSecret(token) });
  if (!row) return null;
  if ((row.attributes?.job ?? null) !== jobId) return null;
  const stale = row.last_used_at.getTime() + row.ttl_seconds * 1000 < Date.now();
  if (stale || row.credential === null || (row.origin !== null && row.origin !== origin)) {
    await tokens.delete({ id: row.id });
    return null;
  }
  if (row.single_use) {
    if ((await tokens.delete({ id: row.id })).affected !== 1) return null;
  } else {
    await tokens.update({ id: row.id }, { last_used_at: new Date() });
  }
  const check = await checkCredential(app, row.credential);
  if (!check.valid) {
    await tokens.delete({ id: row.id });
    return null;
  }
  return { caller: callerOf(check.user, check.roles, 'TOKEN'), credential: row.credential, expiresAt: check.expiresAt, attributes: row.attributes ?? {} };
}

/**
 * Creates the administrator on first start. Without ADMIN_PASSWORD a random one is generated,
 * printed once and written to DATA_DIR/admin-password (0600).
 */
export async function ensureAdminUser(app: App): Promise<void> {
  await ensureBuiltinAdministrators(app);
  const users = app.db.getRepository(UserEntity);
  if ((await users.count()) > 0) return;
  const { adminUsername, adminPassword, dataDir } = app.config;
  const password = adminPassword ?? randomSecret(18);
  const passwordHash = await hashPassword(password);
  // The administrator is in the built-in administrators group, as TrueNAS's is; its own FULL_ADMIN
  // keeps it one in databases restored from backups made before groups existed.
  await transaction(app.db, async (manager) => {
    const result = await manager.getRepository(UserEntity).insert({
      username: adminUsername,
      uid: await nextUid(manager),
      full_name: 'Administrator',
      password_hash: passwordHash,
      roles: ['FULL_ADMIN'],
      locked: false,
      attributes: {},
      created_at: new Date(),
    });
    const administrators = await manager.getRepository(GroupEntity).findOneByOrFail({ gid: ADMINISTRATORS_GID });
    await manager.getRepository(GroupMembershipEntity).insert({ group_id: administrators.id, user_id: Number(result.identifiers[0]!.id) });
  });
  if (!adminPassword) {
    const file = path.join(dataDir, 'admin-password');
    fs.mkdirSync(dataDir, { recursive: true });
    fs.writeFileSync(file, password + '\n', { mode: 0o600 });
    // Printed on stdout, not through the logger, so it never lands in a log pipeline.
    process.stdout.write(`Generated password for ${adminUsername}: ${password} (also in ${file})\n`);
  }
  app.logger.info({ username: adminUsername }, 'administrator account created');
}
