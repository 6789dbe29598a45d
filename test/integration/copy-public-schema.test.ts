/**
 * The archiver's COPY (copyIn, src/db/database.ts) where the tables are in `public`, as a
 * deployment without DATABASE_SCHEMA has them: the table is named unqualified, as Kysely's
 * statements name it, and the rows land where the ledger views read them. The other tests
 * each have a schema of their own, so this one has a database of its own, made and dropped
 * here. A server that takes COPY is needed (PGlite takes none): on the embedded one, the
 * answer is false and nothing is written.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyIn, type Db, migrateToLatest, openDatabase } from '../../src/db/database.js';
import { COPY_COLUMNS } from '../../src/db/ledger-copy.js';
import { testDatabaseUrl } from '../support/db.js';

const name = `burnrate_public_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
let admin: pg.Client | undefined;
let db: Db;
let pglite = false;

beforeAll(async () => {
  const url = new URL(testDatabaseUrl());
  admin = new pg.Client({ connectionString: url.toString() });
  await admin.connect();
  pglite = /PGlite/.test((await admin.query<{ v: string }>('select version() as v')).rows[0]!.v);
  if (!pglite) {
    await admin.query(`create database ${pg.escapeIdentifier(name)}`);
    url.pathname = `/${name}`;
  } else {
    // PGlite has one database: the public schema of a file's own would be everyone's.
    await admin.end();
    admin = undefined;
  }
  db = openDatabase({ url: url.toString() });
  if (!pglite) await migrateToLatest(db);
});
afterAll(async () => {
  await db?.destroy();
  if (admin) {
    await admin.query(`drop database if exists ${pg.escapeIdentifier(name)}`);
    await admin.end();
  }
});

describe('COPY into the public schema (R-CON-7)', () => {
  it('lands the rows in public.ledger_entries, where Kysely reads them', async () => {
    const line = (seq: number) =>
      `ws-public\t1764000000000\t${seq}\t1764000000000\tconsume\tincluded\t-1\t9\tr\t{}\n`;
    const took = await copyIn(db, 'ledger_entries', COPY_COLUMNS, Buffer.from(line(0) + line(1)));
    expect(took).toBe(!pglite);
    if (pglite) return;
    const rows = await db
      .selectFrom('ledger_entries')
      .select(['stream_seq', 'units'])
      .where('workspace_id', '=', 'ws-public')
      .orderBy('stream_seq')
      .execute();
    expect(rows).toEqual([
      { stream_seq: '0', units: '-1' },
      { stream_seq: '1', units: '-1' },
    ]);
    const where = await sql<{ schema: string }>`
      select table_schema as schema from information_schema.tables where table_name = 'ledger_entries'`.execute(
      db,
    );
    expect(where.rows).toEqual([{ schema: 'public' }]);
  });
});
