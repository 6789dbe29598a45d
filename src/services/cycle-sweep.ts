/**
 * Writes the roll of cycles that ended in idle workspaces to their ledgers. Rolls happen
 * anyway on the next read or spend (R-CYC-1); the sweep only makes the expiry and grant
 * entries appear near the boundary for workspaces nobody touches. Running it twice is
 * harmless: a workspace whose cycle is current is left as it is.
 */
import type { RedisClient } from '../redis/clients.js';
import type { EngineStore } from '../redis/engine-store.js';
import { workspacePages } from '../redis/workspace-pages.js';

export async function sweepCycles(o: {
  redis: RedisClient;
  store: EngineStore;
  /** The deployment's key prefix (REDIS_PREFIX): the workspace index lives under it. */
  keyPrefix: string;
  now: number;
}): Promise<{ workspaces: number; rolled: number }> {
  let workspaces = 0;
  let rolled = 0;
  // 500 snapshot scripts in flight at a time.
  for await (const ids of workspacePages(o.redis, { keyPrefix: o.keyPrefix, pageSize: 500 })) {
    const snaps = await Promise.all(ids.map((id) => o.store.snapshot(id, o.now)));
    for (const s of snaps) {
      if (!s) continue;
      workspaces++;
      if (s.rolled) rolled++;
    }
  }
  return { workspaces, rolled };
}
