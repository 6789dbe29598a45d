/**
 * The one walk over every workspace (the cycle sweep, the alert outbox sweep, the invoicing
 * fan-out): SSCAN of each bucket of the workspace index (workspace-index.ts), a page at a time,
 * so memory holds one page whatever the number of workspaces.
 */

import type { RedisClient } from './clients.js';
import { legacyWorkspacesKey, workspaceIndexKeys } from './keys.js';

/**
 * Every workspace id, in pages of about `pageSize` (SSCAN's COUNT is a hint), bucket after
 * bucket, then the index of old while it has members (a deployment not yet migrated, or an
 * older process still writing there). SSCAN's guarantee: an id in the index for the whole walk
 * comes at least once (rarely twice, so what a page does must be idempotent); one added or
 * removed meanwhile may or may not come.
 */
export async function* workspacePages(
  redis: RedisClient,
  o: { keyPrefix: string; pageSize?: number },
): AsyncGenerator<string[]> {
  for (const key of [...workspaceIndexKeys(o.keyPrefix), legacyWorkspacesKey(o.keyPrefix)]) {
    let cursor = '0';
    do {
      const [next, ids] = await redis.sscan(key, cursor, 'COUNT', o.pageSize ?? 1000);
      cursor = next;
      if (ids.length > 0) yield ids;
    } while (cursor !== '0');
  }
}
