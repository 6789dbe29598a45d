/**
 * burnrate's PostgreSQL (DATABASE_URL): a Kysely over a `pg` pool, every table in the
 * configured schema (`DATABASE_SCHEMA`, default public), migrated at start.
 */
import { Kysely, PostgresDialect, sql } from 'kysely';
import { Migrator } from 'kysely/migration';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
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
  /** How long a query may wait for PostgreSQL's answer (ms; default 10 s). */
  queryTimeoutMs?: number | undefined;
}

/**
 * What copyIn needs of a handle openDatabase made: its pool, how its statements name a table,
 * and whether COPY works.
 */
interface CopyTarget {
  pool: pg.Pool;
  /** As Kysely's statements: `"<schema>".`, or nothing for public (search_path finds it). */
  tablePrefix: string;
  /** Settled on the first COPY: the server's version() says whether it takes one. */
  accepts?: Promise<boolean>;
}
const copyTargets = new WeakMap<Db, CopyTarget>();

/** A database handle; nothing connects until the first query. */
export function openDatabase(t: DatabaseTarget): Db {
  const pool = new pg.Pool({
    connectionString: t.url,
    max: t.max ?? 4,
    // A database that does not answer fails the query, never hangs the caller (the archiver
    // waits and retries; reads answer 503).
    connectionTimeoutMillis: 3000,
    query_timeout: t.queryTimeoutMs ?? 10_000,
  });
  // An idle connection that dies (the server restarted) is an event, not a crash.
  pool.on('error', () => {});
  const root = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  const schema = t.schema && t.schema !== 'public' ? t.schema : 'public';
  const db = schema === 'public' ? root : root.withSchema(schema);
  copyTargets.set(db, { pool, tablePrefix: schema === 'public' ? '' : `${pg.escapeIdentifier(schema)}.` });
  return db;
}

/**
 * `COPY <table> (<columns>) FROM STDIN` of `text`, rows in COPY's text format, as one statement:
 * all of it or none. The archiver's fast path (ledger-archive.ts): PostgreSQL takes a row by COPY
 * for well under half the CPU of an INSERT. False, having done nothing, where the server takes
 * no COPY: PGlite's socket does not speak COPY's sub-protocol (electric-sql/pglite#1028), so an
 * embedded database inserts instead.
 */
export async function copyIn(
  db: Db,
  table: string,
  columns: readonly string[],
  text: string | Buffer,
): Promise<boolean> {
  const target = copyTargets.get(db);
  if (!target) return false;
  target.accepts ??= target.pool
    .query<{ v: string }>('select version() as v')
    .then((r) => !/PGlite/.test(r.rows[0]?.v ?? ''));
  try {
    if (!(await target.accepts)) return false;
  } catch (err) {
    // The server down: the copy fails as any statement would, and the next asks again.
    target.accepts = undefined;
    throw err;
  }
  const client = await target.pool.connect();
  let broken: Error | undefined;
  try {
    const into = `${target.tablePrefix}${pg.escapeIdentifier(table)}`;
    const stream = client.query(
      copyFrom(`copy ${into} (${columns.map((c) => pg.escapeIdentifier(c)).join(', ')}) from stdin`),
    );
    await new Promise<void>((resolve, reject) => {
      stream.on('error', reject);
      stream.on('finish', resolve);
      stream.end(text);
    });
    return true;
  } catch (err) {
    // PostgreSQL refused the rows (it answered, and is ready for the next statement): the
    // connection is fine. Anything else (a timeout, a dropped socket) leaves it mid-COPY: the
    // pool closes it.
    if (!(err instanceof pg.DatabaseError)) broken = err as Error;
    throw err;
  } finally {
    client.release(broken);
  }
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
