/**
 * Alerts have a retention in Redis (R-ALR-1, issue 10 §3): a workspace's alerts hash keeps the
 * last ALERT_CYCLES_IN_REDIS cycles (banners read the current one, recommendations the last
 * three, R-ALR-4); the archiver moves older ones to PostgreSQL's `alerts` table, then deletes
 * them from Redis. An alert still waiting in the outbox (never delivered) stays. The copy is
 * idempotent (the alert id is the key), so a crash between the copy and the delete copies
 * nothing twice.
 */
import type { RedisClient } from '../redis/clients.js';
import { workspaceKeys } from '../redis/keys.js';
import type { Db } from './database.js';

/** Cycles of alerts Redis keeps: a year of monthly cycles and the current one. */
export const ALERT_CYCLES_IN_REDIS = 13;
/** At most this many alerts a cycle (src/domain/alerts.ts ALERT_NAMES): below it, nothing to move. */
const MAX_ALERTS_PER_CYCLE = 6;

export class AlertArchive {
  constructor(private readonly deps: { redis: RedisClient; db: Db; keyPrefix: string }) {}

  /** Moves the workspace's alerts of old cycles to PostgreSQL; how many moved. */
  async trim(workspaceId: string): Promise<number> {
    const k = workspaceKeys(this.deps.keyPrefix, workspaceId);
    // Cheap check first: a workspace with fewer alerts than the cycles kept can hold nothing old.
    if ((await this.deps.redis.hlen(k.alerts)) <= ALERT_CYCLES_IN_REDIS * MAX_ALERTS_PER_CYCLE) return 0;
    const all = await this.deps.redis.hgetall(k.alerts);
    const parsed = Object.entries(all).map(([id, json]) => ({
      id,
      record: JSON.parse(json) as Record<string, string>,
    }));
    const newest = Math.max(...parsed.map((a) => Number(a.record.cycleSeq)));
    const old = parsed.filter((a) => Number(a.record.cycleSeq) <= newest - ALERT_CYCLES_IN_REDIS);
    if (old.length === 0) return 0;
    const queued = await this.deps.redis.zmscore(k.alertQueue, ...old.map((a) => a.id));
    const movable = old.filter((_, i) => queued[i] === null);
    if (movable.length === 0) return 0;
    await this.deps.db
      .insertInto('alerts')
      .values(
        movable.map((a) => ({
          workspace_id: workspaceId,
          alert_id: a.id,
          name: a.record.name ?? '',
          cycle_seq: a.record.cycleSeq ?? '0',
          at_ms: a.record.at ?? '0',
          record: JSON.stringify(a.record),
        })),
      )
      .onConflict((c) => c.columns(['workspace_id', 'alert_id']).doNothing())
      .execute();
    await this.deps.redis.hdel(k.alerts, ...movable.map((a) => a.id));
    return movable.length;
  }
}
