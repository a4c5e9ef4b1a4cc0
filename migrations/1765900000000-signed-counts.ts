import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * How many certificates each CA signed (`signed_certificates`), kept by the database itself: a
 * trigger on every insert, delete and change of signedby_id moves the count in the same
 * transaction, so it stays right whatever writes the rows (any daemon sharing PostgreSQL, a
 * restore, which deletes and inserts rows, a bulk load), and reading it is one row per CA instead
 * of a count of every row the CA signed. A CA's row here may outlive the CA, at zero: a CA that
 * signed anything cannot be deleted.
 */
export class SignedCounts1765900000000 implements MigrationInterface {
  name = 'SignedCounts1765900000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE TABLE "signed_count" ("ca_id" integer PRIMARY KEY NOT NULL, "certificates" integer NOT NULL)`);
    await queryRunner.query(
      `INSERT INTO "signed_count" ("ca_id", "certificates") SELECT "signedby_id", COUNT(*) FROM "certificate" WHERE "signedby_id" IS NOT NULL GROUP BY "signedby_id"`,
    );
    const add = `INSERT INTO "signed_count" ("ca_id", "certificates") VALUES (NEW."signedby_id", 1) ON CONFLICT ("ca_id") DO UPDATE SET "certificates" = "signed_count"."certificates" + 1`;
    const remove = `UPDATE "signed_count" SET "certificates" = "certificates" - 1 WHERE "ca_id" = OLD."signedby_id"`;
    if (queryRunner.connection.options.type === 'postgres') {
      await queryRunner.query(`CREATE FUNCTION "signed_count_follow"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('DELETE', 'UPDATE') AND OLD."signedby_id" IS NOT NULL THEN ${remove}; END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') AND NEW."signedby_id" IS NOT NULL THEN ${add}; END IF;
  RETURN NULL;
END $$`);
      await queryRunner.query(`CREATE TRIGGER "signed_count_insert_delete" AFTER INSERT OR DELETE ON "certificate" FOR EACH ROW EXECUTE FUNCTION "signed_count_follow"()`);
      await queryRunner.query(
        `CREATE TRIGGER "signed_count_move" AFTER UPDATE OF "signedby_id" ON "certificate" FOR EACH ROW WHEN (OLD."signedby_id" IS DISTINCT FROM NEW."signedby_id") EXECUTE FUNCTION "signed_count_follow"()`,
      );
      return;
    }
    const moved = `OLD."signedby_id" IS NOT NEW."signedby_id"`;
    await queryRunner.query(`CREATE TRIGGER "signed_count_insert" AFTER INSERT ON "certificate" WHEN NEW."signedby_id" IS NOT NULL BEGIN ${add}; END`);
    await queryRunner.query(`CREATE TRIGGER "signed_count_delete" AFTER DELETE ON "certificate" WHEN OLD."signedby_id" IS NOT NULL BEGIN ${remove}; END`);
    await queryRunner.query(`CREATE TRIGGER "signed_count_move_from" AFTER UPDATE OF "signedby_id" ON "certificate" WHEN ${moved} AND OLD."signedby_id" IS NOT NULL BEGIN ${remove}; END`);
    await queryRunner.query(`CREATE TRIGGER "signed_count_move_to" AFTER UPDATE OF "signedby_id" ON "certificate" WHEN ${moved} AND NEW."signedby_id" IS NOT NULL BEGIN ${add}; END`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    if (queryRunner.connection.options.type === 'postgres') {
      await queryRunner.query(`DROP TRIGGER "signed_count_move" ON "certificate"`);
      await queryRunner.query(`DROP TRIGGER "signed_count_insert_delete" ON "certificate"`);
      await queryRunner.query(`DROP FUNCTION "signed_count_follow"()`);
    } else {
      await queryRunner.query(`DROP TRIGGER "signed_count_move_to"`);
      await queryRunner.query(`DROP TRIGGER "signed_count_move_from"`);
      await queryRunner.query(`DROP TRIGGER "signed_count_delete"`);
      await queryRunner.query(`DROP TRIGGER "signed_count_insert"`);
    }
    await queryRunner.query(`DROP TABLE "signed_count"`);
  }
}
