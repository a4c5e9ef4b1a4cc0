import type { DataSource } from 'typeorm';

/** The signed counts the database keeps, as [CA id, count] pairs, those at zero left out. */
export async function keptCounts(db: DataSource): Promise<Array<[number, number]>> {
  const rows = (await db.query(`SELECT "ca_id", "certificates" FROM "signed_count" WHERE "certificates" <> 0 ORDER BY "ca_id"`)) as Array<{ ca_id: number | string; certificates: number | string }>;
  return rows.map((row) => [Number(row.ca_id), Number(row.certificates)]);
}

/** The same counted from the certificate rows. */
export async function countedRows(db: DataSource): Promise<Array<[number, number]>> {
  const rows = (await db.query(`SELECT "signedby_id", COUNT(*) AS "n" FROM "certificate" WHERE "signedby_id" IS NOT NULL GROUP BY "signedby_id" ORDER BY "signedby_id"`)) as Array<{ signedby_id: number | string; n: number | string }>;
  return rows.map((row) => [Number(row.signedby_id), Number(row.n)]);
}
