/**
 * The day totals behind the usage view (R-USE-1) have a retention in Redis too
 * (USAGE_REDIS_RETENTION, 90 days): past it, the archiver deletes a workspace's day hashes and
 * the usage view answers those days from the archived ledger in PostgreSQL, which has every
 * debit with its feature, kind and day.
 *
 * Per workspace, `{ws:<id>}:udfrom` is the first day whose totals Redis may still hold: days
 * before it are PostgreSQL's. A day is deleted only once it can no longer change and PostgreSQL
 * has all of it: late usage adds to a day up to 35 days after it (R-FLX-5), so the retention is
 * at least 36 days, and the archive must have copied every entry written until 35 days after
 * the day. Until then the day stays in Redis, however old.
 */
import { dayOf, LATE_USAGE_MAX_MS } from '../domain/cycle.js';
import { workspaceKeys } from '../redis/keys.js';
import type { ScriptClient } from '../redis/scripts.js';

const DAY_MS = 86_400_000;
/** Day hashes deleted per workspace in one pass (a workspace years behind catches up over passes). */
const DAYS_PER_PASS = 64;

const dayStartMs = (day: string) => Date.parse(`${day}T00:00:00Z`);

export class UsageDayRetention {
  constructor(
    private readonly deps: {
      redis: ScriptClient;
      keyPrefix: string;
      /** How long day totals stay in Redis (ms; at least 36 days). */
      retentionMs: number;
    },
  ) {}

  /** The first day whose totals Redis may still hold; null: all of them (none deleted yet). */
  async firstRedisDay(workspaceId: string): Promise<string | null> {
    return this.deps.redis.get(workspaceKeys(this.deps.keyPrefix, workspaceId).usageDaysFrom);
  }

  /**
   * Deletes the workspace's day hashes past the retention that PostgreSQL has in full: every
   * ledger entry written before `archivedBeforeMs` is copied. `createdAt` (ms) bounds the walk
   * the first time. How many days were deleted.
   */
  async trim(
    workspaceId: string,
    o: { now: number; archivedBeforeMs: number; createdAt: number },
  ): Promise<number> {
    const k = workspaceKeys(this.deps.keyPrefix, workspaceId);
    // Days before the retention's edge, and before the days PostgreSQL may still lack (late
    // usage can reach a day until 35 days after it).
    const until = dayOf(Math.min(o.now - this.deps.retentionMs, o.archivedBeforeMs - LATE_USAGE_MAX_MS));
    const from = (await this.deps.redis.get(k.usageDaysFrom)) ?? dayOf(o.createdAt);
    if (from >= until) return 0;
    const days: string[] = [];
    for (let t = dayStartMs(from); days.length < DAYS_PER_PASS && dayOf(t) < until; t += DAY_MS)
      days.push(dayOf(t));
    // One script, one slot (the day hashes and the mark share the workspace's hash tag): the
    // mark only moves forward, whatever another pass did since it was read.
    const keys = [k.usageDaysFrom, ...days.map((d) => k.usageDay(d))];
    const next = dayOf(dayStartMs(days[days.length - 1]!) + DAY_MS);
    return Number(await this.deps.redis.usageDaysTrim(keys.length, ...keys, next));
  }
}
