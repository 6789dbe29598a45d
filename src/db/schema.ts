/**
 * The PostgreSQL tables, as Kysely sees them. PostgreSQL keeps the ledger for good (R-CON-7);
 * Redis keeps its recent part, for the hot path (src/db/archiver.ts moves it).
 */
import type { ColumnType, Generated } from 'kysely';

/** A bigint column: written as a number or string, read back as a string (pg's int8). */
type Int8 = ColumnType<string, number | string | bigint, number | string | bigint>;

/** One ledger entry, as the debit and grant scripts wrote it to the workspace's stream. */
export interface LedgerEntriesTable {
  workspace_id: string;
  /** The entry's stream id "<ms>-<seq>": unique per workspace, and its order. */
  stream_ms: Int8;
  stream_seq: Int8;
  /** When it happened on burnrate's clock (ms), as the entry's `at`. */
  at_ms: Int8;
  type: string;
  kind: string;
  /** Signed units (1/10,000 credit): negative spends, positive grants. */
  units: Int8;
  balance_after: Int8;
  ref: string;
  /** The entry's other fields (lot, feature, month, …), as written. */
  extra: ColumnType<Record<string, string>, string, string>;
  archived_at: Generated<Date>;
}

/** Views (migration 0002): finance's questions, in units of 1/10,000 credit. */
export interface FlexByMonthView {
  workspace_id: string;
  /** "YYYY-MM": the month the flex counts toward (late usage: the month it occurred in). */
  month: string;
  flex_units: string;
  /** What the monthly run invoices: whole credits, rounded down (R-FLX-6). */
  billable_credits: string;
}

export interface PurchasesAndRefundsView {
  workspace_id: string;
  month: string;
  type: string;
  ref: string;
  lot: string | null;
  units: string;
  at: Date;
}

export interface ShortfallsByMonthView {
  workspace_id: string;
  month: string;
  shortfall_units: string;
}

/** Late usage's first answers with their keys (migration 0003, src/db/usage-keys.ts). */
export interface UsageKeysTable {
  workspace_id: string;
  /** The id of the entry in the workspace's key log stream. */
  stream_ms: Int8;
  stream_seq: Int8;
  idempotency_key: string;
  body_hash: string;
  reply: string;
  /** When the first answer was given, on burnrate's clock (ms). */
  at_ms: Int8;
}

/** An alert of a cycle long past, as Redis held it (migration 0004). */
export interface AlertsTable {
  workspace_id: string;
  alert_id: string;
  name: string;
  cycle_seq: Int8;
  at_ms: Int8;
  record: ColumnType<Record<string, string>, string, string>;
}

export interface Database {
  ledger_entries: LedgerEntriesTable;
  alerts: AlertsTable;
  usage_keys: UsageKeysTable;
  flex_by_month: FlexByMonthView;
  purchases_and_refunds: PurchasesAndRefundsView;
  shortfalls_by_month: ShortfallsByMonthView;
}
