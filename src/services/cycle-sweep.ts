/**
 * Writes the roll of cycles that ended in idle workspaces to their ledgers. Rolls happen
 * anyway on the next read or spend (R-CYC-1); the sweep only makes the expiry and grant
 * entries appear near the boundary for workspaces nobody touches. Running it twice is
 * harmless: a workspace whose cycle is current is left as it is.
 */
import type { Redis } from 'ioredis';
import type { EngineStore } from '../redis/engine-store.js';

export async function sweepCycles(o: {
  redis: Redis;
  store: EngineStore;
  workspacesKey: string;
  now: number;
}): Promise<{ workspaces: number; rolled: number }> {
  let cursor = '0';
  let workspaces = 0;
  let rolled = 0;
  do {
    const [next, ids] = await o.redis.sscan(o.workspacesKey, cursor, 'COUNT', 500);
    cursor = next;
    const snaps = await Promise.all(ids.map((id) => o.store.snapshot(id, o.now)));
    for (const s of snaps) {
      if (!s) continue;
      workspaces++;
      if (s.rolled) rolled++;
    }
  } while (cursor !== '0');
  return { workspaces, rolled };
}
