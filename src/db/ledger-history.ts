/**
 * The ledger entries PostgreSQL keeps (ledger-archive.ts copies them), read by stream id: the
 * entries below a point, newest first (GET …/ledger past what Redis still has) or oldest first
 * (the ledger check, R-CON-7).
 */
import { sql } from 'kysely';
import { LATE_USAGE_MAX_MS } from '../domain/cycle.js';
import type { LedgerRow, UsageTotal } from '../redis/engine-store.js';
import type { Db } from './database.js';
import { rowOfRecord } from './ledger-archive.js';
import { parseStreamId } from './ledger-copy.js';

/**
 * How far an entry's `at_ms` (burnrate's clock, or a test clock) may be from its stream id's ms
 * (Redis' clock) and still be read by the stream id: MAX_CLOCK_SKEW_MS when it was written. The
 * entries further off (a test clock, a clock wrong by more) are in the partial index
 * `ledger_entries_off_clock`, whose predicate, as migration 0005 wrote it, is OFF_CLOCK: a
 * literal of its own, not MAX_CLOCK_SKEW_MS, so that changing that one cannot part the query's
 * predicate from the index's (PostgreSQL would then scan instead); both change together, by a
 * new migration.
 */
export const OFF_CLOCK_MS = 300_000;
const OFF_CLOCK = sql<boolean>`(at_ms - stream_ms > ${sql.lit(OFF_CLOCK_MS)} or stream_ms - at_ms > ${sql.lit(OFF_CLOCK_MS)})`;

export class LedgerHistory {
  constructor(private readonly db: Db) {}

  /** Up to `limit` entries with an id below `below` (all when null), newest first. */
  async newestBelow(workspaceId: string, below: string | null, limit: number): Promise<LedgerRow[]> {
    let q = this.db.selectFrom('ledger_entries').selectAll().where('workspace_id', '=', workspaceId);
    if (below !== null) {
      const { ms, seq } = parseStreamId(below);
      q = q.where((eb) => eb(eb.refTuple('stream_ms', 'stream_seq'), '<', eb.tuple(String(ms), String(seq))));
    }
    const rows = await q.orderBy('stream_ms', 'desc').orderBy('stream_seq', 'desc').limit(limit).execute();
    return rows.map(rowOfRecord);
  }

  /** Every entry with an id below `below` (all when null), oldest first, a page at a time. */
  async *oldestFirstBelow(
    workspaceId: string,
    below: string | null,
    pageSize = 5000,
  ): AsyncGenerator<LedgerRow> {
    const end = below === null ? null : parseStreamId(below);
    let after: { ms: number; seq: number } | null = null;
    for (;;) {
      let q = this.db.selectFrom('ledger_entries').selectAll().where('workspace_id', '=', workspaceId);
      if (end)
        q = q.where((eb) =>
          eb(eb.refTuple('stream_ms', 'stream_seq'), '<', eb.tuple(String(end.ms), String(end.seq))),
        );
      const from = after;
      if (from)
        q = q.where((eb) =>
          eb(eb.refTuple('stream_ms', 'stream_seq'), '>', eb.tuple(String(from.ms), String(from.seq))),
        );
      const rows = await q.orderBy('stream_ms', 'asc').orderBy('stream_seq', 'asc').limit(pageSize).execute();
      for (const r of rows) yield rowOfRecord(r);
      if (rows.length < pageSize) return;
      const last = rows[rows.length - 1]!;
      after = { ms: Number(last.stream_ms), seq: Number(last.stream_seq) };
    }
  }

  /** usageTotals' statement (its rows: day, feature, kind, units), for EXPLAIN in its test. */
  usageTotalsQuery(workspaceId: string, days: string[]) {
    const first = Date.parse(`${days[0]}T00:00:00Z`);
    const end = Date.parse(`${days[days.length - 1]}T00:00:00Z`) + 86_400_000;
    // Late usage is written up to 35 days after it occurred.
    const late = end + LATE_USAGE_MAX_MS;
    // Two disjoint parts, each read by an index: the entries on Redis' clock by a range of the
    // key's stream ids (their at_ms is within OFF_CLOCK_MS of them), the rest by the partial index
    // that holds only them (migration 0005).
    const entries = this.db
      .selectFrom('ledger_entries')
      .select(['at_ms', 'type', 'kind', 'units', 'extra'])
      .where('workspace_id', '=', workspaceId)
      .where('stream_ms', '>=', String(first - OFF_CLOCK_MS))
      .where('stream_ms', '<', String(late + OFF_CLOCK_MS))
      .where('at_ms', '>=', String(first))
      .where('at_ms', '<', String(late))
      .where(sql<boolean>`not (${OFF_CLOCK})`)
      .unionAll(
        this.db
          .selectFrom('ledger_entries')
          .select(['at_ms', 'type', 'kind', 'units', 'extra'])
          .where('workspace_id', '=', workspaceId)
          .where('at_ms', '>=', String(first))
          .where('at_ms', '<', String(late))
          .where(OFF_CLOCK),
      );
    const day = sql<string>`to_char(to_timestamp(coalesce((extra->>'occurredAt')::bigint, at_ms) / 1000.0) at time zone 'UTC', 'YYYY-MM-DD')`;
    const kind = sql<string>`case when type = 'shortfall' then 'shortfall' else kind end`;
    const feature = sql<string>`coalesce(extra->>'feature', '')`;
    return this.db
      .selectFrom(entries.as('e'))
      .where((eb) =>
        eb.or([
          eb('type', '=', 'consume'),
          eb.and([eb('type', '=', 'shortfall'), sql<boolean>`not (extra ? 'lot')`]),
        ]),
      )
      .where(day, '>=', days[0]!)
      .where(day, '<=', days[days.length - 1]!)
      .groupBy([day, feature, kind])
      .select([day.as('day'), feature.as('feature'), kind.as('kind'), sql<string>`-sum(units)`.as('units')]);
  }

  /**
   * The usage of `days` (UTC "YYYY-MM-DD", ascending) as the day totals would have it (R-USE-1),
   * summed from the archived ledger: what debit.lua tallies per event, by the day the usage
   * occurred (late usage: its occurredAt), its feature and its kind; a usage shortfall (no
   * `lot`: a refund's shortfall is not usage) as the kind `shortfall`. `mode` as
   * EngineStore.usageTotals: 'field' sums "<feature>|<kind>" over the days, 'day' each kind per
   * day (day: the index in `days`).
   */
  async usageTotals(workspaceId: string, days: string[], mode: 'field' | 'day'): Promise<UsageTotal[]> {
    if (days.length === 0) return [];
    const rows = await this.usageTotalsQuery(workspaceId, days).execute();
    const index = new Map(days.map((d, i) => [d, i]));
    if (mode === 'day') {
      const byDayKind = new Map<string, UsageTotal>();
      for (const r of rows) {
        const key = `${r.day}|${r.kind}`;
        const t = byDayKind.get(key) ?? { day: index.get(r.day) ?? -1, field: r.kind, units: 0 };
        t.units += Number(r.units);
        byDayKind.set(key, t);
      }
      return [...byDayKind.values()].filter((t) => t.day >= 0);
    }
    const byField = new Map<string, number>();
    for (const r of rows) {
      const field = `${r.feature}|${r.kind}`;
      byField.set(field, (byField.get(field) ?? 0) + Number(r.units));
    }
    return [...byField].map(([field, units]) => ({ day: -1, field, units }));
  }
}
