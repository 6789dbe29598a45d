/**
 * The schema's migrations, applied at start by Kysely's Migrator (each in its own transaction,
 * under Kysely's migration lock, so processes starting together apply each once). Append only:
 * a migration that ran is never edited; a change is a new one.
 */
import { type Kysely, sql } from 'kysely';
import type { Migration, MigrationProvider } from 'kysely/migration';

const MIGRATIONS: Record<string, Migration> = {
  '0001_ledger_entries': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('ledger_entries')
        .addColumn('workspace_id', 'text', (c) => c.notNull())
        .addColumn('stream_ms', 'bigint', (c) => c.notNull())
        .addColumn('stream_seq', 'bigint', (c) => c.notNull())
        .addColumn('at_ms', 'bigint', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('units', 'bigint', (c) => c.notNull())
        .addColumn('balance_after', 'bigint', (c) => c.notNull())
        .addColumn('ref', 'text', (c) => c.notNull())
        .addColumn('extra', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
        .addColumn('archived_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        // The stream id is the entry's identity: a re-copy after a crash adds nothing.
        .addPrimaryKeyConstraint('ledger_entries_pkey', ['workspace_id', 'stream_ms', 'stream_seq'])
        .execute();
      await db.schema
        .createIndex('ledger_entries_at')
        .on('ledger_entries')
        .columns(['workspace_id', 'at_ms'])
        .execute();
    },
  },
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => MIGRATIONS,
};
