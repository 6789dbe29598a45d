/**
 * The run's PostgreSQL (global-setup.ts) as a test reaches it: a schema of the test's own,
 * migrated, so that test files never see each other's rows and can run in any order.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { inject } from 'vitest';
import { type Db, migrateToLatest, openDatabase } from '../../src/db/database.js';

export interface TestDatabase {
  db: Db;
  url: string;
  schema: string;
  /** DATABASE_URL and DATABASE_SCHEMA for a process or startTestApi's env. */
  env: Record<string, string>;
  /** Drops the schema and closes the pool. */
  close(): Promise<void>;
}

export function testDatabaseUrl(): string {
  return inject('databaseUrl');
}

export async function testDatabase(url = testDatabaseUrl()): Promise<TestDatabase> {
  const schema = `t_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const db = openDatabase({ url, schema });
  await migrateToLatest(db, schema);
  return {
    db,
    url,
    schema,
    env: { DATABASE_URL: url, DATABASE_SCHEMA: schema },
    async close() {
      await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(db).catch(() => {});
      await db.destroy();
    },
  };
}
