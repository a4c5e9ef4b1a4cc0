import { Table, TableUnique, type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Alerts in force, one per class and key (the unique pair lets daemons that check at the same time
 * raise each alert once); they outlive restarts, and a dismissal lasts while the alert does.
 */
export class Alerts1765200000000 implements MigrationInterface {
  name = 'Alerts1765200000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: 'alert',
        columns: [
          { name: 'id', type: 'integer', isPrimary: true, isGenerated: true, generationStrategy: 'increment' },
          { name: 'uuid', type: 'varchar', length: '36', isUnique: true },
          { name: 'klass', type: 'varchar', length: '64' },
          { name: 'key', type: 'varchar', length: '512' },
          { name: 'source', type: 'varchar', length: '64' },
          { name: 'args', type: 'text' },
          { name: 'datetime', type: 'bigint' },
          { name: 'last_occurrence', type: 'bigint' },
          { name: 'dismissed', type: 'boolean', default: false },
        ],
        uniques: [new TableUnique({ name: 'UQ_alert_klass_key', columnNames: ['klass', 'key'] })],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('alert');
  }
}
