/**
 * The workspace index: every workspace id, in WORKSPACE_INDEX_BUCKETS sets under hash tags of
 * their own (keys.ts), so no one key takes every new workspace on a Redis Cluster (R-OPS-4).
 * A workspace's bucket is FNV-1a (32 bits) of its id's UTF-8 bytes modulo the bucket count:
 * stable across processes, versions and platforms, which a bucket chosen at write and looked
 * up later requires.
 */

import type { RedisClient } from './clients.js';
import { legacyWorkspacesKey, WORKSPACE_INDEX_BUCKETS, workspaceIndexKey } from './keys.js';

/** The bucket of a workspace id: 0 … WORKSPACE_INDEX_BUCKETS - 1. */
export function workspaceBucket(workspaceId: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(workspaceId, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % WORKSPACE_INDEX_BUCKETS;
}

/** The index key that holds a workspace id. */
export function workspaceIndexKeyOf(prefix: string, workspaceId: string): string {
  return workspaceIndexKey(prefix, workspaceBucket(workspaceId));
}

/** Lists a workspace in the index (idempotent). */
export async function indexWorkspace(redis: RedisClient, prefix: string, workspaceId: string): Promise<void> {
  await redis.sadd(workspaceIndexKeyOf(prefix, workspaceId), workspaceId);
}

/**
 * Moves the ids of the index of old (one set, legacyWorkspacesKey) into their buckets, a page
 * at a time: each page is added to its buckets before it leaves the old set, so a crash
 * between the two leaves an id in both (the walk yields it twice, which every sweep absorbs),
 * never in neither. Safe to run in several processes at once and again; the walk keeps reading
 * the old set as long as it has members, so nothing is missed before or during the move.
 * Returns how many ids it moved.
 */
export async function migrateWorkspaceIndex(
  redis: RedisClient,
  prefix: string,
  pageSize = 1000,
): Promise<number> {
  const legacy = legacyWorkspacesKey(prefix);
  let moved = 0;
  let cursor = '0';
  do {
    const [next, ids] = await redis.sscan(legacy, cursor, 'COUNT', pageSize);
    cursor = next;
    if (ids.length === 0) continue;
    const byKey = new Map<string, string[]>();
    for (const id of ids) {
      const key = workspaceIndexKeyOf(prefix, id);
      byKey.set(key, [...(byKey.get(key) ?? []), id]);
    }
    await Promise.all([...byKey].map(([key, members]) => redis.sadd(key, ...members)));
    await redis.srem(legacy, ...ids);
    moved += ids.length;
  } while (cursor !== '0');
  return moved;
}
