/**
 * The schema's migrations, applied at start by Kysely's Migrator (each in its own transaction,
 * under Kysely's migration lock, so processes starting together apply each once). Append only:
 * a migration that ran is never edited; a change is a new one.
 */
import { type Kysely, sql } from 'kysely';
import type { Migration, MigrationProvider } from 'kysely/migration';
import type { Database } from './schema.js';

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
  /**
   * Finance's questions as views (README, "The ledger in PostgreSQL"): the flex each month
   * bills (R-FLX-6: what the monthly run invoices, rounded down to whole credits), purchases
   * and refunds (R-PRE-2), and shortfalls (R-CON-4). Units are 1/10,000 credit.
   */
  '0002_finance_views': {
    async up(untyped: Kysely<unknown>) {
      const db = untyped as Kysely<Database>;
      const month = sql<string>`to_char(to_timestamp(at_ms / 1000.0) at time zone 'UTC', 'YYYY-MM')`;
      await db.schema
        .createView('flex_by_month')
        .as(
          db
            .selectFrom('ledger_entries')
            .where('kind', '=', 'flex')
            .groupBy(['workspace_id', sql`extra->>'month'`])
            .select([
              'workspace_id',
              sql<string>`extra->>'month'`.as('month'),
              sql<string>`-sum(units)`.as('flex_units'),
              sql<string>`floor(-sum(units) / 10000)`.as('billable_credits'),
            ]),
        )
        .execute();
      await db.schema
        .createView('purchases_and_refunds')
        .as(
          db
            .selectFrom('ledger_entries')
            .where((eb) =>
              eb.or([
                eb.and([eb('type', '=', 'grant'), eb('kind', '=', 'prepaid')]),
                eb('type', '=', 'refund'),
              ]),
            )
            .select([
              'workspace_id',
              month.as('month'),
              'type',
              'ref',
              sql<string>`extra->>'lot'`.as('lot'),
              'units',
              sql<Date>`to_timestamp(at_ms / 1000.0)`.as('at'),
            ]),
        )
        .execute();
      await db.schema
        .createView('shortfalls_by_month')
        .as(
          db
            .selectFrom('ledger_entries')
            .where('type', '=', 'shortfall')
            .groupBy(['workspace_id', month])
            .select(['workspace_id', month.as('month'), sql<string>`-sum(units)`.as('shortfall_units')]),
        )
        .execute();
    },
  },
  /**
   * The first answers of late usage with their idempotency keys (R-FLX-5, R-CON-5; issue 10 §2):
   * a retry older than Redis' idempotency window replays from here (src/db/usage-keys.ts). The
   * log's stream id is the row's identity, so a re-copy after a crash adds nothing.
   */
  '0003_usage_keys': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('usage_keys')
        .addColumn('workspace_id', 'text', (c) => c.notNull())
        .addColumn('stream_ms', 'bigint', (c) => c.notNull())
        .addColumn('stream_seq', 'bigint', (c) => c.notNull())
        .addColumn('idempotency_key', 'text', (c) => c.notNull())
        .addColumn('body_hash', 'text', (c) => c.notNull())
        .addColumn('reply', 'text', (c) => c.notNull())
        .addColumn('at_ms', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('usage_keys_pkey', ['workspace_id', 'stream_ms', 'stream_seq'])
        .execute();
      await db.schema
        .createIndex('usage_keys_key')
        .on('usage_keys')
        .columns(['workspace_id', 'idempotency_key', 'at_ms'])
        .execute();
    },
  },
  /** Alerts of cycles long past (R-ALR-1), moved out of Redis by the archiver (alert-archive.ts). */
  '0004_alerts': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('alerts')
        .addColumn('workspace_id', 'text', (c) => c.notNull())
        .addColumn('alert_id', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('cycle_seq', 'bigint', (c) => c.notNull())
        .addColumn('at_ms', 'bigint', (c) => c.notNull())
        // The alert as Redis held it: the figures behind it, as exact integer strings.
        .addColumn('record', 'jsonb', (c) => c.notNull())
        .addPrimaryKeyConstraint('alerts_pkey', ['workspace_id', 'alert_id'])
        .execute();
    },
  },
  /**
   * The index by `at_ms` kept only for entries off Redis' clock (ledger-history.ts OFF_CLOCK):
   * an entry's `at_ms` is within a few minutes of its stream id's ms, save on a test clock or a
   * clock far off. The full index cost the archive's COPY about as much again as the table and
   * its key together (200,000 entries: 1.5–1.8 s against 0.8–1.0 s), for a question the key
   * answers by a range of stream ids (LedgerHistory.usageTotals). The predicate is the query's,
   * as a literal: PostgreSQL uses a partial index only for a query that repeats it.
   */
  '0005_ledger_off_clock_index': {
    async up(db: Kysely<unknown>) {
      // The new index first: building it holds off writes (the archive's copy waits; debits
      // never touch PostgreSQL) but not reads. Dropping the old one locks the table out to
      // reads too, so it comes last, for the moment before the commit.
      await db.schema
        .createIndex('ledger_entries_off_clock')
        .on('ledger_entries')
        .columns(['workspace_id', 'at_ms'])
        .where(sql<boolean>`at_ms - stream_ms > 300000 or stream_ms - at_ms > 300000`)
        .execute();
      await db.schema.dropIndex('ledger_entries_at').execute();
    },
  },
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => MIGRATIONS,
};
