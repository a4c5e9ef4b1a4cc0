import type { EntityManager, EntityTarget, ObjectLiteral, QueryDeepPartialEntity } from 'typeorm';

/**
 * Inserts one row and returns the id the database gave it. TypeORM's own insert reads the new row
 * back for its columns with defaults (a second statement); the caller has every value already.
 */
export async function insertRow<Row extends ObjectLiteral>(manager: EntityManager, entity: EntityTarget<Row>, values: QueryDeepPartialEntity<Row>): Promise<number> {
  const query = manager.createQueryBuilder().insert().into(entity).values(values).updateEntity(false);
  if (manager.connection.options.type === 'postgres') {
    const result = await query.returning('id').execute();
    return Number((result.raw as Array<{ id: number | string }>)[0]!.id);
  }
  // better-sqlite3 answers an INSERT with the row id it gave.
  return Number((await query.execute()).raw);
}
