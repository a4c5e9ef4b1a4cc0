import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A token's origin becomes text: it is the connection's Origin header, which the client chooses,
 * and a host name of a few hundred characters overflowed varchar(256) on PostgreSQL. SQLite does
 * not enforce the length, so there is nothing to change there.
 */
export class AuthTokenOriginText1764460000000 implements MigrationInterface {
  name = 'AuthTokenOriginText1764460000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    if (queryRunner.connection.options.type !== 'postgres') return;
    await queryRunner.query('ALTER TABLE "auth_token" ALTER COLUMN "origin" TYPE text');
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    if (queryRunner.connection.options.type !== 'postgres') return;
    // Tokens live minutes; those bound to an origin too long for the old column are dropped.
    await queryRunner.query('DELETE FROM "auth_token" WHERE length("origin") > 256');
    await queryRunner.query('ALTER TABLE "auth_token" ALTER COLUMN "origin" TYPE varchar(256)');
  }
}
