import { TableColumn, type MigrationInterface, type QueryRunner } from 'typeorm';

/** Where the per-registration bundles were kept: the `setting` row `acme_ca_bundle:<id>`. */
const SETTING_PREFIX = 'acme_ca_bundle:';
const settingKey = (idColumn: string) => `'${SETTING_PREFIX}' || CAST(${idColumn} AS VARCHAR(20))`;

/**
 * The CA bundle an ACME registration trusts moves from the `setting` table to its own nullable
 * column, so it is read with the registration. SQL common to SQLite and PostgreSQL.
 */
export class AcmeRegistrationCaBundle1764300000000 implements MigrationInterface {
  name = 'AcmeRegistrationCaBundle1764300000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.addColumn('acme_registration', new TableColumn({ name: 'ca_bundle', type: 'text', isNullable: true }));
    await queryRunner.query(
      `UPDATE "acme_registration" SET "ca_bundle" = (SELECT "value" FROM "setting" WHERE "key" = ${settingKey('"acme_registration"."id"')})`,
    );
    // Not LIKE: "_" is a wildcard there.
    await queryRunner.query(`DELETE FROM "setting" WHERE substr("key", 1, ${SETTING_PREFIX.length}) = '${SETTING_PREFIX}'`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`INSERT INTO "setting" ("key", "value") SELECT ${settingKey('"id"')}, "ca_bundle" FROM "acme_registration" WHERE "ca_bundle" IS NOT NULL`);
    await queryRunner.dropColumn('acme_registration', 'ca_bundle');
  }
}
