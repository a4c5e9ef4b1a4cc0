import { Table, TableColumn, type MigrationInterface, type QueryRunner } from 'typeorm';

const id = { name: 'id', type: 'integer', isPrimary: true, isGenerated: true, generationStrategy: 'increment' as const };

/**
 * TrueNAS's account model: groups, group memberships and privileges (roles granted to groups), and
 * the user fields TrueNAS clients send and read. Accounts keep the roles granted to them directly,
 * so everyone's access stays as it was. The built-in administrators group and its privilege are
 * made at start (src/auth/builtin-accounts.ts), not here, so that restoring a backup, which runs
 * the migrations over an empty database, finds no rows in the way. SQL common to SQLite and PostgreSQL.
 */
export class GroupsPrivileges1765600000000 implements MigrationInterface {
  name = 'GroupsPrivileges1765600000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.addColumns('user', [
      new TableColumn({ name: 'uid', type: 'integer', default: 0 }),
      new TableColumn({ name: 'group_id', type: 'integer', isNullable: true }),
      new TableColumn({ name: 'home', type: 'varchar', length: '1024', default: "'/var/empty'" }),
      new TableColumn({ name: 'shell', type: 'varchar', length: '1024', default: "'/usr/sbin/nologin'" }),
      new TableColumn({ name: 'email', type: 'varchar', length: '320', isNullable: true }),
      new TableColumn({ name: 'password_disabled', type: 'boolean', default: false }),
      new TableColumn({ name: 'attributes', type: 'text', default: "'{}'" }),
    ]);
    // New accounts are numbered from 3000, as TrueNAS numbers them.
    await queryRunner.query('UPDATE "user" SET "uid" = 2999 + "id"');
    await queryRunner.createTable(
      new Table({
        name: 'group',
        columns: [
          id,
          { name: 'gid', type: 'integer', isUnique: true },
          { name: 'name', type: 'varchar', length: '128', isUnique: true },
          { name: 'builtin', type: 'boolean', default: false },
          { name: 'smb', type: 'boolean', default: false },
          { name: 'sudo_commands', type: 'text' },
          { name: 'sudo_commands_nopasswd', type: 'text' },
        ],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'group_membership',
        columns: [id, { name: 'group_id', type: 'integer' }, { name: 'user_id', type: 'integer' }],
        uniques: [{ name: 'UQ_group_membership', columnNames: ['group_id', 'user_id'] }],
      }),
    );
    await queryRunner.createTable(
      new Table({
        name: 'privilege',
        columns: [
          id,
          { name: 'builtin_name', type: 'varchar', length: '200', isNullable: true },
          { name: 'name', type: 'varchar', length: '200', isUnique: true },
          { name: 'local_groups', type: 'text' },
          { name: 'ds_groups', type: 'text' },
          { name: 'roles', type: 'text' },
          { name: 'web_shell', type: 'boolean', default: false },
        ],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('privilege');
    await queryRunner.dropTable('group_membership');
    await queryRunner.dropTable('group');
    await queryRunner.dropColumns('user', ['attributes', 'password_disabled', 'email', 'shell', 'home', 'group_id', 'uid']);
  }
}
