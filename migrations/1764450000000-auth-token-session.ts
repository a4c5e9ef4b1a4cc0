import { TableColumn, TableIndex, type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * An auth token remembers the session that made it (it dies when that session logs out or is
 * terminated) and the credential it derives from (it dies when that is revoked). Tokens made before
 * have neither and are dropped: they live minutes, and a token whose origin is unknown is refused.
 */
export class AuthTokenSession1764450000000 implements MigrationInterface {
  name = 'AuthTokenSession1764450000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query('DELETE FROM "auth_token"');
    await queryRunner.addColumns('auth_token', [
      new TableColumn({ name: 'session_id', type: 'varchar', length: '64', isNullable: true }),
      new TableColumn({ name: 'credential', type: 'text', isNullable: true }),
    ]);
    await queryRunner.createIndex('auth_token', new TableIndex({ name: 'IDX_auth_token_session_id', columnNames: ['session_id'] }));
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropIndex('auth_token', 'IDX_auth_token_session_id');
    await queryRunner.dropColumns('auth_token', ['credential', 'session_id']);
  }
}
