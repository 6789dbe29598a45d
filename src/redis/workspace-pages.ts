/**
 * The one walk over every workspace (the cycle sweep, the alert outbox sweep, the invoicing
 * fan-out): SSCAN of the workspaces set, a page at a time, so memory holds one page whatever
 * the number of workspaces.
 */
import type { Redis } from 'ioredis';

/**
 * Every workspace id, in pages of about `pageSize` (SSCAN's COUNT is a hint). SSCAN's
 * guarantee: an id in the set for the whole walk comes at least once (rarely twice, so what a
 * page does must be idempotent); one added or removed meanwhile may or may not come.
 */
export async function* workspacePages(
  redis: Redis,
  o: { workspacesKey: string; pageSize?: number },
): AsyncGenerator<string[]> {
  let cursor = '0';
  do {
    const [next, ids] = await redis.sscan(o.workspacesKey, cursor, 'COUNT', o.pageSize ?? 1000);
    cursor = next;
    if (ids.length > 0) yield ids;
  } while (cursor !== '0');
}
