import { EntitySchema } from 'typeorm';
import { jsonColumn, timestampColumn } from '../db/columns.js';

export interface UserRow {
  id: number;
  username: string;
  full_name: string;
  password_hash: string;
  roles: string[];
  locked: boolean;
  created_at: Date;
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
}
