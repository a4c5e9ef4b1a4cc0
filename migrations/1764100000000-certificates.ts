import { Table, TableForeignKey, TableIndex, type MigrationInterface, type QueryRunner, type TableColumnOptions } from 'typeorm';

const baseColumns: TableColumnOptions[] = [
  { name: 'id', type: 'integer', isPrimary: true, isGenerated: true, generationStrategy: 'increment' },
  { name: 'type', type: 'integer' },
  { name: 'name', type: 'varchar', length: '120', isUnique: true },
  { name: 'certificate', type: 'text', isNullable: true },
  { name: 'privatekey', type: 'text', isNullable: true },
  { name: 'csr', type: 'text', isNullable: true },
  { name: 'signedby_id', type: 'integer', isNullable: true },
  { name: 'revoked_date', type: 'bigint', isNullable: true },
  { name: 'revoked_reason', type: 'varchar', length: '32', isNullable: true },
  { name: 'add_to_trusted_store', type: 'boolean', default: false },
  { name: 'details', type: 'text' },
  { name: 'serial', type: 'varchar', length: '64', isNullable: true },
  { name: 'not_after', type: 'bigint', isNullable: true },
  { name: 'created_at', type: 'bigint' },
];

/** Certificates, CSRs and certificate authorities with each CA's current CRL, and daemon settings. */
export class Certificates1764100000000 implements MigrationInterface {
  name = 'Certificates1764100000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: 'certificate_authority',
        columns: [
          ...baseColumns,
          { name: 'next_serial', type: 'bigint', default: 1 },
          { name: 'crl_number', type: 'integer', default: 0 },
          { name: 'crl_pem', type: 'text', isNullable: true },
          { name: 'crl_updated_at', type: 'bigint', isNullable: true },
          { name: 'crl_next_update', type: 'bigint', isNullable: true },
        ],
        foreignKeys: [
          new TableForeignKey({ columnNames: ['signedby_id'], referencedTableName: 'certificate_authority', referencedColumnNames: ['id'] }),
        ],
        indices: [new TableIndex({ columnNames: ['signedby_id'] })],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'certificate',
        columns: [
          ...baseColumns,
          { name: 'acme_uri', type: 'varchar', length: '200', isNullable: true },
          { name: 'domains_authenticators', type: 'text', isNullable: true },
          { name: 'renew_days', type: 'integer', isNullable: true },
          { name: 'acme_id', type: 'integer', isNullable: true },
        ],
        foreignKeys: [
          new TableForeignKey({ columnNames: ['signedby_id'], referencedTableName: 'certificate_authority', referencedColumnNames: ['id'] }),
        ],
        indices: [new TableIndex({ columnNames: ['signedby_id'] }), new TableIndex({ columnNames: ['not_after'] })],
      }),
    );

    await queryRunner.createTable(
      new Table({
        name: 'setting',
        columns: [
          { name: 'key', type: 'varchar', length: '128', isPrimary: true },
          { name: 'value', type: 'text' },
        ],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('setting');
    await queryRunner.dropTable('certificate');
    await queryRunner.dropTable('certificate_authority');
  }
}
