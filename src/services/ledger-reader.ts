/**
 * A workspace's whole ledger (R-CON-7, R-USE-2): the recent part in Redis, the rest in
 * PostgreSQL once the archiver trimmed it from Redis (src/db/ledger-archive.ts). Pages run
 * newest first across the seam with the same cursor (an entry's stream id): Redis answers
 * while it has entries below the cursor; once it has none, the entries below the last it gave
 * can only be archived ones, so PostgreSQL answers from there. No gap, no repeat: the archiver
 * trims only entries PostgreSQL has, and always the oldest.
 */
import type { LedgerHistory } from '../db/ledger-history.js';
import type { EngineStore, LedgerRow } from '../redis/engine-store.js';

export class LedgerReader {
  constructor(
    private readonly deps: {
      store: EngineStore;
      /** PostgreSQL's part; undefined when no DATABASE_URL is configured (all is in Redis). */
      history?: LedgerHistory | undefined;
    },
  ) {}

  /** `limit` entries below `cursor` (from the newest when absent), newest first. */
  async page(o: {
    workspaceId: string;
    limit: number;
    cursor?: string | undefined;
  }): Promise<{ entries: LedgerRow[]; nextCursor: string | null }> {
    const recent = await this.deps.store.ledgerPage(o);
    if (recent.nextCursor !== null || !this.deps.history) return recent;
    const below = recent.entries.at(-1)?.id ?? o.cursor ?? null;
    const need = o.limit - recent.entries.length;
    // One more than needed says whether a next page exists.
    const older = await this.deps.history.newestBelow(o.workspaceId, below, need + 1);
    const entries = [...recent.entries, ...older.slice(0, need)];
    return { entries, nextCursor: older.length > need ? entries.at(-1)!.id : null };
  }

  /** Every entry, oldest first: PostgreSQL's below Redis' oldest, then Redis'. */
  async all(workspaceId: string): Promise<LedgerRow[]> {
    const recent: LedgerRow[] = [];
    for await (const row of this.deps.store.ledgerAll(workspaceId)) recent.push(row);
    if (!this.deps.history) return recent;
    const older: LedgerRow[] = [];
    for await (const row of this.deps.history.oldestFirstBelow(workspaceId, recent[0]?.id ?? null))
      older.push(row);
    return [...older, ...recent];
  }
}
