/**
 * burnrate's PostgreSQL (DATABASE_URL): a Kysely over a `pg` pool, every table in the
 * configured schema (`DATABASE_SCHEMA`, default public), migrated at start.
 */
import { Kysely, PostgresDialect, sql } from 'kysely';
import { Migrator } from 'kysely/migration';
import pg from 'pg';
import { migrationProvider } from './migrations.js';
import type { Database } from './schema.js';

// int8 (bigint) columns are read as strings by default, which is what schema.ts says; units
// fit a JavaScript number (MAX_REQUEST_UNITS and every balance are far below 2^53), and the
// readers convert them with Number() where they need arithmetic.

export type Db = Kysely<Database>;

export interface DatabaseTarget {
  url: string;
  /** The schema of every table (tests give each file its own). */
  schema?: string | undefined;
  /** Connections in the pool. */
  max?: number | undefined;
}

/** A database handle; nothing connects until the first query. */
export function openDatabase(t: DatabaseTarget): Db {
  const pool = new pg.Pool({
    connectionString: t.url,
    max: t.max ?? 4,
    // A database that does not answer fails the query, never hangs the caller (the archiver
    // waits and retries; reads answer 503).
    connectionTimeoutMillis: 3000,
    query_timeout: 10_000,
  });
  // An idle connection that dies (the server restarted) is an event, not a crash.
  pool.on('error', () => {});
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return t.schema && t.schema !== 'public' ? db.withSchema(t.schema) : db;
}

/** Creates the schema if needed and applies every migration not applied yet. */
export async function migrateToLatest(db: Db, schema = 'public'): Promise<void> {
  await sql`create schema if not exists ${sql.id(schema)}`.execute(db);
  const migrator = new Migrator({ db, provider: migrationProvider, migrationTableSchema: schema });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) {
    const why = error instanceof Error ? error.message : String(error ?? failed?.migrationName);
    throw new Error(`database migration failed: ${why}`);
  }
}
