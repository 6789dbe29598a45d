/**
 * Late usage's idempotency keys in PostgreSQL (R-FLX-5, R-CON-5; issue 10 §2): a usage event may
 * come up to 35 days late, and its retry longer after its first answer than Redis keeps records
 * (IDEMPOTENCY_TTL_SECONDS). The debit script logs the first answer of every late event with its
 * key (`{ws:<id>}:keylog`); the archiver copies the log here and trims it, so a retry past the
 * window replays from here instead of debiting twice. Only such retries read this table.
 */
import type { Db } from './database.js';

export interface ArchivedUsageKey {
  bodyHash: string;
  /** The debit script's first answer (tab-joined fields), as the Redis record would replay it. */
  reply: string;
  atMs: number;
}

export class UsageKeyArchive {
  constructor(private readonly db: Db) {}

  /**
   * The first answer of a key given at or after `sinceMs` (a retry's first attempt came after its
   * usage occurred; an older use of the same key is another event), or null.
   */
  async find(workspaceId: string, idempotencyKey: string, sinceMs: number): Promise<ArchivedUsageKey | null> {
    const row = await this.db
      .selectFrom('usage_keys')
      .select(['body_hash', 'reply', 'at_ms'])
      .where('workspace_id', '=', workspaceId)
      .where('idempotency_key', '=', idempotencyKey)
      .where('at_ms', '>=', String(Math.floor(sinceMs)))
      .orderBy('at_ms')
      .limit(1)
      .executeTakeFirst();
    return row ? { bodyHash: row.body_hash, reply: row.reply, atMs: Number(row.at_ms) } : null;
  }
}
