import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Indexes for reads that scanned a whole table on every change or sweep, found by reading the
 * plan of each statement the create, update, revoke, delete and renewal paths run:
 * - ACME certificates by registration: the renewal sweep reads those whose CA suggests renewal
 *   windows (RFC 9773), whatever their expiry;
 * - alerts by the check that raised them: each check, run after every change, reconciles its own;
 * - one-time deploy links by certificate: deleting a certificate deletes its links (the foreign
 *   key's cascade), which searched every link.
 * SQLite and PostgreSQL both take this SQL.
 */
export class ScaleIndexes1765800000000 implements MigrationInterface {
  name = 'ScaleIndexes1765800000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE INDEX "IDX_certificate_acme" ON "certificate" ("acme_id") WHERE "acme_id" IS NOT NULL`);
    await queryRunner.query(`CREATE INDEX "IDX_alert_source" ON "alert" ("source")`);
    await queryRunner.query(`CREATE INDEX "IDX_deploy_link_certificate" ON "deploy_link" ("certificate_id")`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "IDX_deploy_link_certificate"`);
    await queryRunner.query(`DROP INDEX "IDX_alert_source"`);
    await queryRunner.query(`DROP INDEX "IDX_certificate_acme"`);
  }
}
