import { Table, TableIndex, type MigrationInterface, type QueryRunner } from 'typeorm';

/**
 * Job records live in the database, written by whoever runs the job, so every daemon lists the
 * same jobs and they survive restarts; ids come from the table (AUTOINCREMENT on SQLite, a sequence
 * on PostgreSQL), so none is ever given twice. `job_runner` holds each daemon's and worker's
 * heartbeat: the jobs of a runner that stopped beating are ended as interrupted. A job whose effect
 * (a certificate row) committed is marked in that same transaction, so it can only end SUCCESS.
 */
export class Jobs1764500000000 implements MigrationInterface {
  name = 'Jobs1764500000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.createTable(
      new Table({
        name: 'job',
        columns: [
          { name: 'id', type: 'integer', isPrimary: true, isGenerated: true, generationStrategy: 'increment' },
          { name: 'method', type: 'varchar', length: '256' },
          { name: 'arguments', type: 'text' },
          { name: 'state', type: 'varchar', length: '16' },
          { name: 'progress', type: 'text' },
          { name: 'result', type: 'text', isNullable: true },
          { name: 'error', type: 'text', isNullable: true },
          { name: 'exception', type: 'text', isNullable: true },
          { name: 'exc_info', type: 'text', isNullable: true },
          { name: 'abortable', type: 'boolean' },
          { name: 'time_started', type: 'bigint' },
          { name: 'time_finished', type: 'bigint', isNullable: true },
          { name: 'owner', type: 'varchar', length: '128', isNullable: true },
          { name: 'credential_type', type: 'varchar', length: '32', isNullable: true },
          { name: 'login_at', type: 'bigint', isNullable: true },
          { name: 'backend', type: 'varchar', length: '16' },
          { name: 'runner', type: 'varchar', length: '64', isNullable: true },
          { name: 'effect_committed', type: 'boolean', default: false },
        ],
        indices: [
          new TableIndex({ name: 'IDX_job_state', columnNames: ['state'] }),
          new TableIndex({ name: 'IDX_job_runner', columnNames: ['runner'] }),
        ],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'job_runner',
        columns: [
          { name: 'id', type: 'varchar', length: '64', isPrimary: true },
          { name: 'kind', type: 'varchar', length: '16' },
          { name: 'name', type: 'varchar', length: '512' },
          { name: 'host', type: 'varchar', length: '255' },
          { name: 'pid', type: 'integer' },
          { name: 'process_space', type: 'varchar', length: '128', isNullable: true },
          { name: 'started_at', type: 'bigint' },
          { name: 'heartbeat_at', type: 'bigint' },
          { name: 'heartbeat_interval_ms', type: 'integer' },
        ],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('job_runner');
    await queryRunner.dropTable('job');
  }
}
