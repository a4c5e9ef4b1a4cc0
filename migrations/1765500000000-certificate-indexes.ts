import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Partial indexes that keep reads of the few rows in some state from scanning the whole table:
 * revoked certificates by their CA (CA entries' `revoked_certs` and CRLs, read after every
 * create) and certificates whose renewal failed (the alert check after changes). SQLite and
 * PostgreSQL both take this SQL.
 */
export class CertificateIndexes1765500000000 implements MigrationInterface {
  name = 'CertificateIndexes1765500000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE INDEX "IDX_certificate_revoked" ON "certificate" ("signedby_id") WHERE "revoked_date" IS NOT NULL`);
    await queryRunner.query(`CREATE INDEX "IDX_certificate_renewal_failed" ON "certificate" ("id") WHERE "renewal_error" IS NOT NULL`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "IDX_certificate_renewal_failed"`);
    await queryRunner.query(`DROP INDEX "IDX_certificate_revoked"`);
  }
}
