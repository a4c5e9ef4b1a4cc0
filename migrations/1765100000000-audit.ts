import { Table, TableIndex, type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * The audit log: one row per login attempt or audited call, in chain order (`id`), each with the
 * MAC that links it to the one before; `audit_chain` holds the chain's head, the anchor retention
 * leaves, and the retention itself. Its row is made by the daemon on first use: its seal needs the
 * master key.
 */
export class Audit1765100000000 implements MigrationInterface {
  name = 'Audit1765100000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: 'audit_entry',
        columns: [
          { name: 'id', type: 'integer', isPrimary: true, isGenerated: true, generationStrategy: 'increment' },
          { name: 'audit_id', type: 'varchar', length: '36', isUnique: true },
          { name: 'message_timestamp', type: 'bigint' },
          { name: 'timestamp', type: 'bigint' },
          { name: 'address', type: 'varchar', length: '64' },
          { name: 'username', type: 'varchar', length: '1024' },
          { name: 'session', type: 'varchar', length: '36' },
          { name: 'service', type: 'varchar', length: '16' },
          { name: 'service_data', type: 'text' },
          { name: 'event', type: 'varchar', length: '32' },
          { name: 'method', type: 'varchar', length: '256', isNullable: true },
          { name: 'event_data', type: 'text' },
          { name: 'success', type: 'boolean' },
          { name: 'prev_digest', type: 'varchar', length: '64' },
          { name: 'digest', type: 'varchar', length: '64' },
        ],
        indices: [
          new TableIndex({ name: 'IDX_audit_entry_timestamp', columnNames: ['timestamp'] }),
          new TableIndex({ name: 'IDX_audit_entry_username', columnNames: ['username'] }),
          new TableIndex({ name: 'IDX_audit_entry_method', columnNames: ['method'] }),
        ],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'audit_chain',
        columns: [
          { name: 'id', type: 'integer', isPrimary: true },
          { name: 'head_id', type: 'integer' },
          { name: 'head_digest', type: 'varchar', length: '64' },
          { name: 'anchor_id', type: 'integer' },
          { name: 'anchor_digest', type: 'varchar', length: '64' },
          { name: 'retention', type: 'integer' },
          { name: 'seal', type: 'varchar', length: '64' },
        ],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('audit_chain');
    await queryRunner.dropTable('audit_entry');
  }
}
