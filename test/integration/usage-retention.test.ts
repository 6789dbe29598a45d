/**
 * R-USE-1 (issue 10 §3): the usage view's day totals have a retention in Redis
 * (USAGE_REDIS_RETENTION); past it the archiver deletes them, and GET …/usage answers those
 * days from the archived ledger in PostgreSQL, exactly as Redis did: by day, category, feature
 * and kind, late usage on the day it occurred, a usage shortfall apart, a refund's not at all
 * (R-PRE-3's shortfall, an entry with a `lot`).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { LedgerArchive } from '../../src/db/ledger-archive.js';
import { UsageDayRetention } from '../../src/db/usage-retention.js';
import { workspaceKeys } from '../../src/redis/keys.js';
import { type TestDatabase, testDatabase } from '../support/db.js';
import { PLATFORM, startTestApi, type TestApi } from '../support/http.js';

const DAY = 86_400_000;
const RETENTION_DAYS = 36;
const NOW = Date.now();
/** Usage a hundred days ago and since: past the retention, and inside it. */
const T0 = NOW - 100 * DAY;
const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);

let tdb: TestDatabase;
let api: TestApi;
beforeAll(async () => {
  tdb = await testDatabase();
  api = await startTestApi({ now: T0, env: { ...tdb.env, USAGE_REDIS_RETENTION: `${RETENTION_DAYS}d` } });
});
afterAll(async () => {
  await api.close();
  await tdb.close();
});

let n = 0;
const use = async (id: string, body: Record<string, unknown>) => {
  const res = await api.call('POST', `/v1/workspaces/${id}/usage`, {
    key: PLATFORM,
    body: { idempotencyKey: `u${++n}`, ...body },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
};

const RANGES = [
  `from=${dayOf(T0)}&to=${dayOf(T0 + 3 * DAY)}`,
  `from=${dayOf(T0 - 2 * DAY)}&to=${dayOf(NOW)}`,
  `from=${dayOf(NOW - 40 * DAY)}&to=${dayOf(NOW)}`,
];
async function views(id: string) {
  const out: unknown[] = [];
  for (const range of RANGES)
    for (const groupBy of ['day', 'category', 'feature', 'kind']) {
      const res = await api.call('GET', `/v1/workspaces/${id}/usage?${range}&groupBy=${groupBy}`, {
        key: PLATFORM,
      });
      expect(res.status).toBe(200);
      out.push(res.body);
    }
  return out;
}

it('days past the retention answer from PostgreSQL exactly as Redis did, and leave Redis', async () => {
  expect((await api.call('PUT', '/v1/workspaces/old', { body: { planId: 'growth' } })).status).toBe(201);
  expect((await api.call('PUT', '/v1/workspaces/oldfree', { body: { planId: 'free' } })).status).toBe(201);
  // Three days of usage a hundred days ago: features of each category, given credits, flex.
  await use('old', { feature: 'training.gpu', quantity: 3 });
  await use('old', { credits: 2 });
  api.clock.set(T0 + DAY + 3_600_000);
  await use('old', { feature: 'data.storage', quantity: 40 });
  await use('old', { feature: 'deployment.model.hosted', quantity: 2 });
  api.clock.set(T0 + 2 * DAY + 7_200_000);
  await use('old', { credits: 140 }); // past the included 150: flex
  // Late usage: booked on the third day, it occurred on the first.
  await use('old', {
    feature: 'data.labeling',
    quantity: 5,
    occurredAt: new Date(T0 + 60_000).toISOString(),
  });
  // A shortfall: usage recorded past what the free plan covers (R-CON-4).
  await use('oldfree', { credits: 35, mode: 'record' });
  // A refund's shortfall (R-PRE-3): prepaid bought, partly spent, then refunded in full; what
  // was spent is booked as a shortfall with its lot, which is not usage (R-USE-1).
  expect((await api.call('PUT', '/v1/workspaces/oldrefund', { body: { planId: 'free' } })).status).toBe(201);
  await api.store.adjust({
    workspaceId: 'oldrefund',
    kind: 'prepaid',
    units: 100_000,
    ref: 'lot-r',
    type: 'grant',
    reason: '',
    idempotencyKey: 'lot-r',
    bodyHash: 'h',
    now: api.clock.now(),
  });
  await use('oldrefund', { credits: 35 }); // the free plan's 30 included, then 5 prepaid
  const refund = await api.store.clawback({
    workspaceId: 'oldrefund',
    lot: 'lot-r',
    target: 100_000,
    ref: 'refund-r',
    now: api.clock.now(),
  });
  expect(refund.shortfall).toBe(50_000);
  // And usage now, inside the retention.
  api.clock.set(NOW);
  await use('old', { feature: 'training.gpu', quantity: 1 });

  const before = await views('old');
  const beforeFree = await views('oldfree');
  const beforeRefund = await views('oldrefund');

  const usageDays = new UsageDayRetention({
    redis: api.redis,
    keyPrefix: api.prefix,
    retentionMs: RETENTION_DAYS * DAY,
  });
  const archive = new LedgerArchive({
    redis: api.redis,
    db: tdb.db,
    keyPrefix: api.prefix,
    redisRetentionMs: 7 * DAY,
    usageDays,
    // Every pass sweeps the retention (the worker's does every 10 minutes).
    retentionEveryMs: 0,
  });
  // Every day up to the retention's edge leaves Redis, over as many passes as it takes.
  for (let pass = 0; pass < 5; pass++) if ((await archive.runPass()).usageDaysTrimmed === 0) break;
  const k = workspaceKeys(api.prefix, 'old');
  for (const t of [T0, T0 + DAY, T0 + 2 * DAY]) expect(await api.redis.exists(k.usageDay(dayOf(t)))).toBe(0);
  expect(await api.redis.exists(k.usageDay(dayOf(NOW)))).toBe(1);
  expect(await usageDays.firstRedisDay('old')).toBe(dayOf(NOW - RETENTION_DAYS * DAY));

  expect(await views('old')).toEqual(before);
  expect(await views('oldfree')).toEqual(beforeFree);
  expect(await views('oldrefund')).toEqual(beforeRefund);
  // Not vacuous: PostgreSQL has the refund's shortfall, and the view counts none.
  const refundRows = await tdb.db
    .selectFrom('ledger_entries')
    .select(['units', 'extra'])
    .where('workspace_id', '=', 'oldrefund')
    .where('type', '=', 'shortfall')
    .execute();
  expect(refundRows).toEqual([{ units: '-50000', extra: { lot: 'lot-r' } }]);
  expect((beforeRefund[3] as { total: { shortfall: string } }).total.shortfall).toBe('0');
  // Not vacuous: the old days had usage of every kind.
  const oldKinds = (before[3] as { groups: { key: string }[] }).groups.map((g) => g.key);
  expect(oldKinds).toEqual(['flex', 'included']);
  const freeKinds = (beforeFree[3] as { total: { shortfall: string } }).total.shortfall;
  expect(freeKinds).toBe('5');
});

it('a day PostgreSQL may still lack stays in Redis, however old', async () => {
  api.clock.set(T0);
  expect((await api.call('PUT', '/v1/workspaces/lag', { body: { planId: 'growth' } })).status).toBe(201);
  await use('lag', { credits: 3 });
  const usageDays = new UsageDayRetention({
    redis: api.redis,
    keyPrefix: api.prefix,
    retentionMs: RETENTION_DAYS * DAY,
  });
  // The archive says entries from T0 on are not copied yet: nothing of T0 may go.
  expect(await usageDays.trim('lag', { now: NOW, archivedBeforeMs: T0, createdAt: T0 })).toBe(0);
  expect(await api.redis.exists(workspaceKeys(api.prefix, 'lag').usageDay(dayOf(T0)))).toBe(1);
});

it('the first Redis day only moves forward: a slower pass finishing late never moves it back', async () => {
  api.clock.set(T0);
  expect((await api.call('PUT', '/v1/workspaces/race', { body: { planId: 'growth' } })).status).toBe(201);
  const k = workspaceKeys(api.prefix, 'race');
  const usageDays = new UsageDayRetention({
    redis: api.redis,
    keyPrefix: api.prefix,
    retentionMs: RETENTION_DAYS * DAY,
  });
  // One pass, whose archive had copied everything, moves the mark ten days on.
  expect(await usageDays.trim('race', { now: NOW, archivedBeforeMs: T0 + 45 * DAY, createdAt: T0 })).toBe(10);
  expect(await usageDays.firstRedisDay('race')).toBe(dayOf(T0 + 10 * DAY));
  // Another pass read the mark before that one wrote it and had copied less (five days' worth):
  // as its script runs late, the mark stays where it is.
  const stale = [k.usageDaysFrom, k.usageDay(dayOf(T0))];
  expect(await api.redis.usageDaysTrim(stale.length, ...stale, dayOf(T0 + 5 * DAY))).toBe(0);
  expect(await usageDays.firstRedisDay('race')).toBe(dayOf(T0 + 10 * DAY));
});
