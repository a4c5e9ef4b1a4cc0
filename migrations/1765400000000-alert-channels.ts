import { Table, TableIndex, type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Alert channels (TrueNAS's alertservice, attributes sealed), the SMTP settings (mail.config,
 * password sealed) and the outbox of alerts waiting to be sent through each channel.
 */
export class AlertChannels1765400000000 implements MigrationInterface {
  name = 'AlertChannels1765400000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: 'alert_service',
        columns: [
          { name: 'id', type: 'integer', isPrimary: true, isGenerated: true, generationStrategy: 'increment' },
          { name: 'name', type: 'varchar', length: '120' },
          { name: 'type', type: 'varchar', length: '20' },
          { name: 'attributes', type: 'text' },
          { name: 'level', type: 'varchar', length: '20' },
          { name: 'enabled', type: 'boolean', default: true },
          { name: 'last_error', type: 'text', isNullable: true },
        ],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'alert_outbox',
        columns: [
          { name: 'id', type: 'integer', isPrimary: true, isGenerated: true, generationStrategy: 'increment' },
          { name: 'service_id', type: 'integer' },
          { name: 'event', type: 'varchar', length: '8' },
          { name: 'alert_uuid', type: 'varchar', length: '36' },
          { name: 'klass', type: 'varchar', length: '64' },
          { name: 'level', type: 'varchar', length: '20' },
          { name: 'formatted', type: 'text' },
          { name: 'raised_at', type: 'bigint' },
          { name: 'due_at', type: 'bigint' },
          { name: 'next_attempt_at', type: 'bigint' },
          { name: 'attempts', type: 'integer', default: 0 },
          { name: 'lease_until', type: 'bigint', isNullable: true },
        ],
        indices: [new TableIndex({ name: 'IDX_alert_outbox_due', columnNames: ['due_at', 'next_attempt_at'] })],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'mail_config',
        columns: [
          { name: 'id', type: 'integer', isPrimary: true },
          { name: 'fromemail', type: 'varchar', length: '120', default: "''" },
          { name: 'fromname', type: 'varchar', length: '120', default: "''" },
          { name: 'outgoingserver', type: 'varchar', length: '255', default: "''" },
          { name: 'port', type: 'integer', default: 25 },
          { name: 'security', type: 'varchar', length: '8', default: "'PLAIN'" },
          { name: 'smtp', type: 'boolean', default: false },
          { name: 'user', type: 'varchar', length: '255', isNullable: true },
          { name: 'pass', type: 'text', isNullable: true },
          { name: 'oauth', type: 'text', isNullable: true },
        ],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('mail_config');
    await queryRunner.dropTable('alert_outbox');
    await queryRunner.dropTable('alert_service');
  }
}
