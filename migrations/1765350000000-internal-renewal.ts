import { Table, TableColumn, TableIndex, type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Automatic renewal of certificates signed by a CA on this system (`auto_renew`, a new key by
 * default), and the versions a renewal replaced (`certificate_version`). SQL common to SQLite and PostgreSQL.
 */
export class InternalRenewal1765350000000 implements MigrationInterface {
  name = 'InternalRenewal1765350000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.addColumn('certificate', new TableColumn({ name: 'auto_renew', type: 'boolean', default: false }));
    // Certificates signed here renew with a new key unless told otherwise; ACME ones keep TrueNAS's reuse of the CSR.
    await queryRunner.query(`UPDATE "certificate" SET "rotate_key" = TRUE WHERE "acme_id" IS NULL AND "signedby_id" IS NOT NULL`);
    await queryRunner.createTable(
      new Table({
        name: 'certificate_version',
        columns: [
          { name: 'id', type: 'integer', isPrimary: true, isGenerated: true, generationStrategy: 'increment' },
          { name: 'certificate_id', type: 'integer' },
          { name: 'serial', type: 'varchar', length: '64', isNullable: true },
          { name: 'certificate', type: 'text' },
          { name: 'privatekey', type: 'text', isNullable: true },
          { name: 'not_before', type: 'bigint', isNullable: true },
          { name: 'not_after', type: 'bigint', isNullable: true },
          { name: 'replaced_at', type: 'bigint' },
          { name: 'superseded_at', type: 'bigint', isNullable: true },
        ],
      }),
    );
    await queryRunner.createIndex('certificate_version', new TableIndex({ name: 'IDX_certificate_version_certificate_id', columnNames: ['certificate_id'] }));
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropIndex('certificate_version', 'IDX_certificate_version_certificate_id');
    await queryRunner.dropTable('certificate_version');
    await queryRunner.dropColumn('certificate', 'auto_renew');
  }
}
