import { Table, type MigrationInterface, type QueryRunner } from 'typeorm';

const id = { name: 'id', type: 'integer', isPrimary: true, isGenerated: true, generationStrategy: 'increment' as const };

/** Users, API keys and login tokens. */
export class UsersAndCredentials1764000000000 implements MigrationInterface {
  name = 'UsersAndCredentials1764000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: 'user',
        columns: [
          id,
          { name: 'username', type: 'varchar', length: '128', isUnique: true },
          { name: 'full_name', type: 'varchar', length: '256', default: "''" },
          { name: 'password_hash', type: 'varchar', length: '512' },
          { name: 'roles', type: 'text' },
          { name: 'locked', type: 'boolean', default: false },
          { name: 'created_at', type: 'bigint' },
        ],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'api_key',
        columns: [
          id,
          { name: 'name', type: 'varchar', length: '200', isUnique: true },
          { name: 'username', type: 'varchar', length: '128' },
          { name: 'key_hash', type: 'varchar', length: '128' },
          { name: 'created_at', type: 'bigint' },
          { name: 'expires_at', type: 'bigint', isNullable: true },
          { name: 'revoked', type: 'boolean', default: false },
        ],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'auth_token',
        columns: [
          id,
          { name: 'token_hash', type: 'varchar', length: '128', isUnique: true },
          { name: 'username', type: 'varchar', length: '128' },
          { name: 'ttl_seconds', type: 'integer' },
          { name: 'last_used_at', type: 'bigint' },
          { name: 'single_use', type: 'boolean', default: false },
          { name: 'origin', type: 'varchar', length: '256', isNullable: true },
          { name: 'attributes', type: 'text' },
        ],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('auth_token');
    await queryRunner.dropTable('api_key');
    await queryRunner.dropTable('user');
  }
}
