import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The failed renewals waiting for their next attempt, by when: what the renewal schedule reads
 * after each run to know when to come back, without scanning the whole table. SQLite and
 * PostgreSQL both take this SQL.
 */
export class RenewalRetryIndex1765700000000 implements MigrationInterface {
  name = 'RenewalRetryIndex1765700000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE INDEX "IDX_certificate_renewal_retry" ON "certificate" ("renewal_next_attempt") WHERE "renewal_next_attempt" IS NOT NULL`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "IDX_certificate_renewal_retry"`);
  }
}
