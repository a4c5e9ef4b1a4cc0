import { Table, TableColumn, TableIndex, type MigrationInterface, type QueryRunner } from 'typeorm';

/** ACME DNS authenticators and accounts, and the renewal state of ACME certificates. */
export class Acme1764200000000 implements MigrationInterface {
  name = 'Acme1764200000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: 'acme_dns_authenticator',
        columns: [
          { name: 'id', type: 'integer', isPrimary: true, isGenerated: true, generationStrategy: 'increment' },
          { name: 'name', type: 'varchar', length: '64', isUnique: true },
          { name: 'authenticator', type: 'varchar', length: '64' },
          { name: 'attributes', type: 'text' },
          { name: 'propagation_mode', type: 'varchar', length: '16', default: "'check'" },
          { name: 'propagation_timeout', type: 'integer', default: 300 },
          { name: 'propagation_delay', type: 'integer', default: 0 },
          { name: 'created_at', type: 'bigint' },
        ],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'acme_registration',
        columns: [
          { name: 'id', type: 'integer', isPrimary: true, isGenerated: true, generationStrategy: 'increment' },
          { name: 'uri', type: 'varchar', length: '500' },
          { name: 'directory', type: 'varchar', length: '500', isUnique: true },
          { name: 'tos', type: 'varchar', length: '500', default: "''" },
          { name: 'new_account_uri', type: 'varchar', length: '500' },
          { name: 'new_nonce_uri', type: 'varchar', length: '500' },
          { name: 'new_order_uri', type: 'varchar', length: '500' },
          { name: 'revoke_cert_uri', type: 'varchar', length: '500' },
          { name: 'renewal_info_uri', type: 'varchar', length: '500', isNullable: true },
          { name: 'status', type: 'varchar', length: '32' },
          { name: 'account_key', type: 'text' },
          { name: 'eab_kid', type: 'varchar', length: '256', isNullable: true },
          { name: 'created_at', type: 'bigint' },
        ],
      }),
    );
    await queryRunner.addColumns('certificate', [
      new TableColumn({ name: 'rotate_key', type: 'boolean', default: false }),
      new TableColumn({ name: 'renewal_error', type: 'text', isNullable: true }),
      new TableColumn({ name: 'renewal_attempts', type: 'integer', default: 0 }),
      new TableColumn({ name: 'renewal_next_attempt', type: 'bigint', isNullable: true }),
    ]);
    await queryRunner.createIndex('certificate', new TableIndex({ columnNames: ['acme_id'] }));
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropIndex('certificate', 'IDX_certificate_acme_id');
    await queryRunner.dropColumns('certificate', ['rotate_key', 'renewal_error', 'renewal_attempts', 'renewal_next_attempt']);
    await queryRunner.dropTable('acme_registration');
    await queryRunner.dropTable('acme_dns_authenticator');
  }
}
