import { BurnrateError } from '../domain/errors.js';
import type { EngineStore } from '../redis/engine-store.js';

/** The workspace's state as of `now` (an ended cycle rolled), or not_found. */
export async function requireWorkspace(store: EngineStore, id: string, now: number) {
  const snap = await store.snapshot(id, now);
  if (!snap) throw new BurnrateError('not_found', `workspace ${id} does not exist`);
  return snap;
}
