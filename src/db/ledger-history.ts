/**
 * The ledger entries PostgreSQL keeps (ledger-archive.ts copies them), read by stream id: the
 * entries below a point, newest first (GET …/ledger past what Redis still has) or oldest first
 * (the ledger check, R-CON-7).
 */
import type { LedgerRow } from '../redis/engine-store.js';
import type { Db } from './database.js';
import { parseStreamId, rowOfRecord } from './ledger-archive.js';

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
}
