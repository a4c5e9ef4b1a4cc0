import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A partial index on revoked certificates by their CA: CA entries (`revoked_certs`) and CRLs read
 * the revoked ones only, which was a scan of the whole table on every create. SQLite and
 * PostgreSQL both take this SQL.
 */
export class CertificateIndexes1765500000000 implements MigrationInterface {
  name = 'CertificateIndexes1765500000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE INDEX "IDX_certificate_revoked" ON "certificate" ("signedby_id") WHERE "revoked_date" IS NOT NULL`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "IDX_certificate_revoked"`);
  }
}
