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
  },
});
