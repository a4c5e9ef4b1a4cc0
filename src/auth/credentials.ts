import fs from 'node:fs';
import path from 'node:path';
import type { App } from '../app.js';
import type { Caller } from '../api/call-context.js';
import { ApiKeyEntity, AuthTokenEntity, UserEntity, type UserRow } from './entities.js';
import { hashPassword, hashSecret, randomSecret, sameDigest, verifyPassword } from './passwords.js';
import { isRole, type Role } from './roles.js';

function callerOf(user: UserRow, credentialType: Caller['credentialType']): Caller {
  return { username: user.username, roles: user.roles.filter(isRole) as Role[], credentialType, loginAt: Date.now() };
}

/** Finds an unlocked user. */
async function activeUser(app: App, username: string): Promise<UserRow | null> {
  const user = await app.db.getRepository(UserEntity).findOneBy({ username });
  return user && !user.locked ? user : null;
}

/** The caller for a username and password, or null. Unknown users cost as much time as known ones. */
export async function authenticatePassword(app: App, username: string, password: string): Promise<Caller | null> {
  const user = await activeUser(app, username);
  const ok = await verifyPassword(password, user?.password_hash ?? DUMMY_HASH);
  return user && ok ? callerOf(user, 'LOGIN_PASSWORD') : null;
}

// A real scrypt hash of a random password, so a miss takes as long as a hit.
const DUMMY_HASH = await hashPassword(randomSecret(16));

/** The caller for an API key `<id>-<secret>`, or null (unknown, revoked, expired, or wrong owner). */
export async function authenticateApiKey(app: App, apiKey: string, username?: string): Promise<Caller | null> {
  const match = /^(\d+)-(.+)$/.exec(apiKey);
  if (!match) return null;
  const key = await app.db.getRepository(ApiKeyEntity).findOneBy({ id: Number(match[1]) });
  if (!key || key.revoked || (key.expires_at && key.expires_at.getTime() < Date.now())) return null;
  if (!sameDigest(hashSecret(match[2]!), key.key_hash)) return null;
  if (username !== undefined && username !== key.username) return null;
  const user = await activeUser(app, key.username);
  return user ? callerOf(user, 'API_KEY') : null;
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

/** Issues a token that logs in as `caller` until it is unused for `ttlSeconds`. */
export async function issueToken(app: App, caller: Caller, options: TokenOptions): Promise<string> {
  const token = randomSecret(48);
  await app.db.getRepository(AuthTokenEntity).insert({
    token_hash: hashSecret(token),
    username: caller.username,
    ttl_seconds: options.ttlSeconds,
    last_used_at: new Date(),
    single_use: options.singleUse,
    origin: options.origin,
    attributes: options.attributes as never,
  });
  return token;
}

/** The caller for a token, or null; refreshes its inactivity timer or spends it if single-use. */
export async function authenticateToken(app: App, token: string, origin: string | null): Promise<Caller | null> {
  const tokens = app.db.getRepository(AuthTokenEntity);
  const row = await tokens.findOneBy({ token_hash: hashSecret(token) });
  if (!row) return null;
  if (row.last_used_at.getTime() + row.ttl_seconds * 1000 < Date.now() || (row.origin !== null && row.origin !== origin)) {
    await tokens.delete({ id: row.id });
    return null;
  }
  if (row.single_use) await tokens.delete({ id: row.id });
  else await tokens.update({ id: row.id }, { last_used_at: new Date() });
  const user = await activeUser(app, row.username);
  return user ? callerOf(user, 'TOKEN') : null;
}

/**
 * Creates the administrator on first start. Without ADMIN_PASSWORD a random one is generated,
 * printed once and written to DATA_DIR/admin-password (0600).
 */
export async function ensureAdminUser(app: App): Promise<void> {
  const users = app.db.getRepository(UserEntity);
  if ((await users.count()) > 0) return;
  const { adminUsername, adminPassword, dataDir } = app.config;
  const password = adminPassword ?? randomSecret(18);
  await users.insert({
    username: adminUsername,
    full_name: 'Administrator',
    password_hash: await hashPassword(password),
    roles: ['FULL_ADMIN'],
    locked: false,
    created_at: new Date(),
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
