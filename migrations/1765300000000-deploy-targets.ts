import { Table, TableForeignKey, TableIndex, type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Deploy targets: where each certificate is copied after every issue or renewal, with the last
 * result and the lease a daemon holds while it runs one. A certificate with targets cannot be
 * deleted (the API refuses), and the foreign key keeps it so. `deploy_link` holds the one-time
 * fetch links webhooks announce, gone with their certificate.
 */
export class DeployTargets1765300000000 implements MigrationInterface {
  name = 'DeployTargets1765300000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: 'deploy_target',
        columns: [
          { name: 'id', type: 'integer', isPrimary: true, isGenerated: true, generationStrategy: 'increment' },
          { name: 'name', type: 'varchar', length: '120', isUnique: true },
          { name: 'certificate_id', type: 'integer' },
          { name: 'kind', type: 'varchar', length: '32' },
          { name: 'attributes', type: 'text' },
          { name: 'enabled', type: 'boolean', default: true },
          { name: 'last_serial', type: 'varchar', length: '128', isNullable: true },
          { name: 'last_deployed_at', type: 'bigint', isNullable: true },
          { name: 'last_attempt_at', type: 'bigint', isNullable: true },
          { name: 'last_error', type: 'text', isNullable: true },
          { name: 'attempts', type: 'integer', default: 0 },
          { name: 'next_attempt_at', type: 'bigint', isNullable: true },
          { name: 'lease_until', type: 'bigint', isNullable: true },
          { name: 'created_at', type: 'bigint' },
        ],
        foreignKeys: [new TableForeignKey({ columnNames: ['certificate_id'], referencedTableName: 'certificate', referencedColumnNames: ['id'] })],
        indices: [new TableIndex({ name: 'IDX_deploy_target_certificate', columnNames: ['certificate_id'] })],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'deploy_link',
        columns: [
          { name: 'id', type: 'integer', isPrimary: true, isGenerated: true, generationStrategy: 'increment' },
          { name: 'token_hash', type: 'varchar', length: '64', isUnique: true },
          { name: 'certificate_id', type: 'integer' },
          { name: 'include_private_key', type: 'boolean', default: false },
          { name: 'expires_at', type: 'bigint' },
          { name: 'created_at', type: 'bigint' },
        ],
        foreignKeys: [
          new TableForeignKey({ columnNames: ['certificate_id'], referencedTableName: 'certificate', referencedColumnNames: ['id'], onDelete: 'CASCADE' }),
        ],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('deploy_link');
    await queryRunner.dropTable('deploy_target');
  }
}
