import { EntitySchema } from 'typeorm';
import { jsonColumn, timestampColumn } from '../db/columns.js';

export interface UserRow {
  id: number;
  username: string;
  full_name: string;
  password_hash: string;
  /** Roles granted to the account itself, beside those its groups' privileges grant. */
  roles: string[];
  locked: boolean;
  created_at: Date;
  /** Numeric user id, as TrueNAS clients read it (`uid`, `pw_uid`). */
  uid: number;
  /** The primary group (a `group` row id), or null. */
  group_id: number | null;
  home: string;
  shell: string;
  email: string | null;
  /** The account cannot log in with a password (API keys and tokens still work). */
  password_disabled: boolean;
  /** Per-user web UI attributes (`auth.set_attribute`). */
  attributes: Record<string, unknown>;
}

export const UserEntity = new EntitySchema<UserRow>({
  name: 'user',
  tableName: 'user',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    username: { type: 'varchar', length: 128, unique: true },
    full_name: { type: 'varchar', length: 256, default: '' },
    password_hash: { type: 'varchar', length: 512 },
    roles: jsonColumn(),
    locked: { type: 'boolean', default: false },
    created_at: timestampColumn(),
    uid: { type: 'integer', default: 0 },
    group_id: { type: 'integer', nullable: true },
    home: { type: 'varchar', length: 1024, default: '/var/empty' },
    shell: { type: 'varchar', length: 1024, default: '/usr/sbin/nologin' },
    email: { type: 'varchar', length: 320, nullable: true },
    password_disabled: { type: 'boolean', default: false },
    attributes: jsonColumn(),
  },
});

/** A local group: its members hold the roles of the privileges granted to it. */
export interface GroupRow {
  id: number;
  gid: number;
  name: string;
  builtin: boolean;
  smb: boolean;
  sudo_commands: string[];
  sudo_commands_nopasswd: string[];
}

export const GroupEntity = new EntitySchema<GroupRow>({
  name: 'group',
  tableName: 'group',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    gid: { type: 'integer', unique: true },
    name: { type: 'varchar', length: 128, unique: true },
    builtin: { type: 'boolean', default: false },
    smb: { type: 'boolean', default: false },
    sudo_commands: jsonColumn(),
    sudo_commands_nopasswd: jsonColumn(),
  },
});

/** A user's membership of a group beside its primary one. */
export interface GroupMembershipRow {
  id: number;
  group_id: number;
  user_id: number;
}

export const GroupMembershipEntity = new EntitySchema<GroupMembershipRow>({
  name: 'group_membership',
  tableName: 'group_membership',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    group_id: { type: 'integer' },
    user_id: { type: 'integer' },
  },
  uniques: [{ name: 'UQ_group_membership', columns: ['group_id', 'user_id'] }],
});

/** Roles granted to groups, named by gid (local) or gid/SID (directory service). */
export interface PrivilegeRow {
  id: number;
  builtin_name: string | null;
  name: string;
  local_groups: number[];
  ds_groups: Array<number | string>;
  roles: string[];
  web_shell: boolean;
}

export const PrivilegeEntity = new EntitySchema<PrivilegeRow>({
  name: 'privilege',
  tableName: 'privilege',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    builtin_name: { type: 'varchar', length: 200, nullable: true },
    name: { type: 'varchar', length: 200, unique: true },
    local_groups: jsonColumn(),
    ds_groups: jsonColumn(),
    roles: jsonColumn(),
    web_shell: { type: 'boolean', default: false },
  },
});

export interface ApiKeyRow {
  id: number;
  name: string;
  username: string;
  key_hash: string;
  created_at: Date;
  expires_at: Date | null;
  revoked: boolean;
}

export const ApiKeyEntity = new EntitySchema<ApiKeyRow>({
  name: 'api_key',
  tableName: 'api_key',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    name: { type: 'varchar', length: 200, unique: true },
    username: { type: 'varchar', length: 128 },
    key_hash: { type: 'varchar', length: 128 },
    created_at: timestampColumn(),
    expires_at: timestampColumn(true),
    revoked: { type: 'boolean', default: false },
  },
});

export interface AuthTokenRow {
  id: number;
  token_hash: string;
  username: string;
  ttl_seconds: number;
  last_used_at: Date;
  single_use: boolean;
  origin: string | null;
  attributes: Record<string, unknown>;
  /** The session that made the token; it dies when that session logs out or is terminated. */
  session_id: string | null;
  /** What the making session's login rested on; the token dies when that is revoked. */
  credential: SessionCredential | null;
}

export const AuthTokenEntity = new EntitySchema<AuthTokenRow>({
  name: 'auth_token',
  tableName: 'auth_token',
  columns: {
    id: { type: 'integer', primary: true, generated: 'increment' },
    token_hash: { type: 'varchar', length: 128, unique: true },
    username: { type: 'varchar', length: 128 },
    ttl_seconds: { type: 'integer' },
    last_used_at: timestampColumn(),
    single_use: { type: 'boolean', default: false },
    origin: { type: 'text', nullable: true },
    attributes: jsonColumn(),
    session_id: { type: 'varchar', length: 64, nullable: true },
    credential: jsonColumn(true),
  },
  indices: [{ name: 'IDX_auth_token_session_id', columns: ['session_id'] }],
});

/**
 * What a login rests on, kept for an open session (and in the tokens it makes) so that revoking it
 * ends the session: the account, and the password or API key it was proven with, each as a stamp
 * that changes when the secret does.
 */
export interface SessionCredential {
  userId: number;
  username: string;
  /** Stamp of the password hash, when the login rests on the password. */
  passwordStamp: string | null;
  /** The API key, when the login rests on one. */
  apiKey: { id: number; stamp: string } | null;
  /** When the login was made (ms); absent in tokens made before it was recorded. */
  loginAt?: number;
}
