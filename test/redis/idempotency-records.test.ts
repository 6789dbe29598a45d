/**
 * R-CON-5 usage idempotency records on a real Redis (core.lua idemFind/idemStore/idemCommit): a
 * day's linear-hashing table through its splits, the day before's table, records written before
 * issue 10 (one string a key) and tables whose workspace state does not know them (written before
 * the state kept their bucket counts), a window lengthened after a day's table was made, and a
 * caller whose clock is more than a day behind. Every replay is the first answer with the replay
 * flag set, and another body is a conflict.
 */
import { afterAll, expect, it } from 'vitest';
import type { PlanChange } from '../../src/domain/burndown.js';
import { MAX_CLOCK_SKEW_MS, monthOf } from '../../src/domain/cycle.js';
import { EngineStore, RECORD_MARGIN_MS } from '../../src/redis/engine-store.js';
import { HOUR, T0, u } from '../support/burndown-cases.js';
import { scanKeys, testRedis } from '../support/redis.js';

const r = testRedis();
afterAll(() => r.close());

/** An allotment no test spends, so every consume is a first answer 'ok'. */
const BIG: PlanChange = {
  planId: 'growth',
  intervalMonths: 1,
  allotment: u('1000000'),
  flexAllowed: true,
  flexPriceE4: 3_500_000,
  defaultCapCents: 10_000,
};
const DAY = 24 * HOUR;

let seq = 0;
async function create(now = T0): Promise<string> {
  const ws = `idem-${++seq}`;
  await r.store.upsert({ workspaceId: ws, terms: BIG, meta: {}, now });
  return ws;
}

/** One debit.lua call for these keys; the raw replies (tab-joined fields, or 'conflict'). */
async function debit(
  ws: string,
  keys: string[],
  now: number,
  body = 'b',
  store = r.store,
): Promise<string[]> {
  const events = keys.map((k) => ({
    units: 1,
    mode: 'consume' as const,
    idempotencyKey: k,
    bodyHash: `${body}-body-${k}`,
    feature: '',
  }));
  return store.sendDebit(store.debitArgs({ workspaceId: ws, events, now, month: monthOf(now) }));
}

/** A first answer as its replay: the second field (the replay flag) set. */
const asReplay = (reply: string) => reply.replace(/^(\w+)\t0\t/, '$1\t1\t');

async function debitEach(ws: string, keys: string[], now: number, perCall: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < keys.length; i += perCall)
    out.push(...(await debit(ws, keys.slice(i, i + perCall), now)));
  return out;
}

async function expectReplays(ws: string, keys: string[], firsts: string[], now: number) {
  const again = await debitEach(ws, keys, now, 25);
  expect(again).toEqual(firsts.map(asReplay));
  const other = await debit(ws, keys.slice(0, 5), now, 'other');
  expect(other).toEqual(Array(5).fill('conflict'));
}

it('replays every key of a day whose table split many times, each bucket expiring with the day', async () => {
  const ws = await create();
  const keys = Array.from({ length: 700 }, (_, i) => `k${i}`);
  // Single events and batches, so records are stored both ways before and after splits.
  const firsts = [
    ...(await debitEach(ws, keys.slice(0, 100), T0, 1)),
    ...(await debitEach(ws, keys.slice(100), T0, 60)),
  ];
  expect(firsts.every((f) => f.startsWith('ok\t0\t'))).toBe(true);
  await expectReplays(ws, keys, firsts, T0 + HOUR);

  const buckets = await scanKeys(r.redis, `${r.store.keys(ws).usageRecords}*`);
  expect(buckets.length).toBeGreaterThan(8);
  expect(Number(await r.redis.hget(`${r.store.keys(ws).usageRecords}2026-01-31:0`, 'n'))).toBe(
    buckets.length,
  );
  for (const b of buckets) {
    const ttl = await r.redis.pttl(b);
    // The day's end, plus the window (1 h in these tests), plus the 1 h margin, from T0 + 1 h.
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(DAY / 2 + 2 * HOUR);
  }
  // A usage check (the late-usage path) finds them too.
  expect(await r.store.hasUsageRecord(ws, 'k650', T0 + HOUR)).toBe(true);
  expect(await r.store.hasUsageRecord(ws, 'nope', T0 + HOUR)).toBe(false);
});

it("finds the day before's records inside the window, and none past it", async () => {
  const ws = await create();
  const lateYesterday = T0 + 11 * HOUR + 30 * 60_000; // 23:30
  const keys = Array.from({ length: 120 }, (_, i) => `y${i}`);
  const firsts = await debitEach(ws, keys, lateYesterday, 40);
  const today = lateYesterday + HOUR; // 00:30 the next day, inside the 1 h window
  const mixed = await debit(ws, ['y3', 'new-today', 'y77'], today);
  expect(mixed[0]).toBe(asReplay(firsts[3]!));
  expect(mixed[1]!.startsWith('ok\t0\t')).toBe(true);
  expect(mixed[2]).toBe(asReplay(firsts[77]!));
  await expectReplays(ws, keys, firsts, today);
  // A caller whose clock is behind, still on the day before, after today's first record.
  const behind = await debit(ws, ['skewed-1', 'skewed-2'], today - HOUR);
  expect(await debit(ws, ['skewed-1', 'y9', 'new-today', 'skewed-2'], today + 60_000)).toEqual([
    asReplay(behind[0]!),
    asReplay(firsts[9]!),
    asReplay(mixed[1]!),
    asReplay(behind[1]!),
  ]);
  // Past the window: a new usage.
  expect((await debit(ws, ['y5'], lateYesterday + 3 * HOUR))[0]!.startsWith('ok\t0\t')).toBe(true);
});

it('replays a record written before issue 10 (one string a key)', async () => {
  const ws = await create();
  const [first] = await debit(ws, ['probe'], T0);
  const fields = first!.split('\t');
  fields[2] = 'use_legacy';
  const legacy = fields.join('\t');
  await r.redis.set(r.store.keys(ws).usageIdem('old-key'), `b-body-old-key\n${legacy}`, 'EX', 3600);
  expect(await debit(ws, ['old-key'], T0 + 1000)).toEqual([asReplay(legacy)]);
  expect(await debit(ws, ['old-key'], T0 + 1000, 'other')).toEqual(['conflict']);
  expect(await r.store.hasUsageRecord(ws, 'old-key', T0 + 1000)).toBe(true);
});

it("replays records of tables its workspace's state does not know (written before it kept their counts)", async () => {
  const ws = await create();
  const keys = Array.from({ length: 200 }, (_, i) => `u${i}`);
  const firsts = await debitEach(ws, keys, T0, 50);
  // The state as written before: no bucket counts of its own; bucket 0 holds 'n' and 'c'.
  const prefix = r.store.keys(ws).usageRecords;
  await r.redis.eval(
    `local s = cmsgpack.unpack(redis.call('GET', KEYS[1]))
     local c = s.ikc
     s.ikd, s.ikn, s.ikc, s.ikx, s.ipd, s.ipn, s.ipc, s.ipx, s.iks = nil, nil, nil, nil, nil, nil, nil, nil, nil
     redis.call('SET', KEYS[1], cmsgpack.pack(s))
     redis.call('HSET', KEYS[2], 'c', c)`,
    2,
    r.store.keys(ws).engine,
    `${prefix}2026-01-31:0`,
  );
  await expectReplays(ws, keys, firsts, T0 + HOUR);
  // More records on the same day: the table goes on splitting from its real count.
  const more = Array.from({ length: 300 }, (_, i) => `v${i}`);
  const moreFirsts = await debitEach(ws, more, T0 + HOUR, 50);
  await expectReplays(ws, [...keys, ...more], [...firsts, ...moreFirsts], T0 + 2 * HOUR);
  const n = Number(await r.redis.hget(`${prefix}2026-01-31:0`, 'n'));
  expect(n).toBeGreaterThanOrEqual(Math.floor(500 / 48));
});

/** The same deployment after a restart with a 3-day IDEMPOTENCY_TTL_SECONDS (1 h above). */
const WINDOW_3D = 3 * DAY;
const longer = new EngineStore(r.redis, { prefix: r.prefix, idempotencyTtlSeconds: WINDOW_3D / 1000 });
const dayNum = (ms: number) => Math.floor(ms / DAY);

/** What the workspace's state knows of its record tables (core.lua idemKnown): day numbers. */
async function tablesKnown(ws: string): Promise<{ iks: number; ikd: number; ipd: number }> {
  const [iks, ikd, ipd] = (await r.redis.eval(
    `local s = cmsgpack.unpack(redis.call('GET', KEYS[1]))
     return {s.iks or -1, s.ikd or -1, s.ipd or -1}`,
    1,
    r.store.keys(ws).engine,
  )) as number[];
  return { iks: iks!, ikd: ikd!, ipd: ipd! };
}

it("R-CON-5 a lengthened window moves every bucket of the day's table to the new deadline, and its earlier keys replay within it", async () => {
  const ws = await create();
  const keys = Array.from({ length: 150 }, (_, i) => `w${i}`);
  const firsts = await debitEach(ws, keys, T0, 50);
  const table = `${r.store.keys(ws).usageRecords}2026-01-31:`;
  const endOfDay = Date.UTC(2026, 1, 1);
  // Written with the 1 h window: the day's end, plus 1 h, plus the margin.
  const before = await scanKeys(r.redis, `${table}*`);
  expect(before.length).toBeGreaterThanOrEqual(3);
  for (const b of before)
    expect(T0 + (await r.redis.pttl(b))).toBeLessThanOrEqual(endOfDay + HOUR + RECORD_MARGIN_MS);

  // Restarted with a 3-day window: the day's next debit moves the whole table's deadline.
  const later = T0 + HOUR;
  const [fresh] = await debit(ws, ['after-restart'], later, 'b', longer);
  expect(fresh!.startsWith('ok\t0\t')).toBe(true);
  const deadline = endOfDay + WINDOW_3D + RECORD_MARGIN_MS;
  const after = await scanKeys(r.redis, `${table}*`);
  expect(after.sort()).toEqual(before.sort());
  for (const b of after) {
    const until = later + (await r.redis.pttl(b));
    expect(until, b).toBeGreaterThan(deadline - 60_000);
    expect(until, b).toBeLessThanOrEqual(deadline);
  }

  // Two days after the day's end (long past the 1 h window's deadline): every key replays.
  const twoDaysOn = endOfDay + 2 * DAY;
  const again: string[] = [];
  for (let i = 0; i < keys.length; i += 50)
    again.push(...(await debit(ws, keys.slice(i, i + 50), twoDaysOn, 'b', longer)));
  expect(again).toEqual(firsts.map(asReplay));
  expect(await debit(ws, ['after-restart'], twoDaysOn, 'b', longer)).toEqual([asReplay(fresh!)]);
});

it('R-CON-5 a caller more than a day behind writes in its own older table, the state stops vouching for that day, and retries replay', async () => {
  const ws = await create(T0 - 3 * DAY);
  // A caller on time writes on Jan 29 and Jan 31: the state holds both tables, and vouches for
  // every day (iks 0: the workspace was created since the state kept its tables).
  const [jan29] = await debit(ws, ['on-time-29'], T0 - 2 * DAY, 'b', longer);
  const [jan31] = await debit(ws, ['on-time-31'], T0, 'b', longer);
  expect(await tablesKnown(ws)).toEqual({ iks: 0, ikd: dayNum(T0), ipd: dayNum(T0 - 2 * DAY) });
  // A caller 26 h behind, on Jan 30, older than the newest table and newer than the one before.
  const behindNow = T0 - 26 * HOUR;
  const [behind] = await debit(ws, ['behind-30'], behindNow, 'b', longer);
  expect(behind!.startsWith('ok\t0\t')).toBe(true);
  // Its record is in Jan 30's table, counted in that table's bucket 0; the state keeps its two
  // tables and vouches only from Jan 31 on, so a lookup of Jan 30 reads bucket 0.
  const prefix = r.store.keys(ws).usageRecords;
  expect(await r.redis.hmget(`${prefix}2026-01-30:0`, 'n', 'c')).toEqual(['1', '1']);
  expect(await tablesKnown(ws)).toEqual({ iks: dayNum(T0), ikd: dayNum(T0), ipd: dayNum(T0 - 2 * DAY) });

  // Retries from the clock on time: every key replays, the behind caller's too.
  const soon = T0 + 5 * 60_000;
  expect(await debit(ws, ['behind-30', 'on-time-31', 'on-time-29'], soon, 'b', longer)).toEqual([
    asReplay(behind!),
    asReplay(jan31!),
    asReplay(jan29!),
  ]);
  // From the clock behind: its own key and the one of the day before it.
  expect(await debit(ws, ['behind-30', 'on-time-29'], behindNow + 60_000, 'b', longer)).toEqual([
    asReplay(behind!),
    asReplay(jan29!),
  ]);
  // Three first answers of one unit each, nothing debited twice.
  const snap = await r.store.snapshot(ws, soon);
  expect(snap!.state.allotment - snap!.state.included).toBe(3);
});

it('R-CON-5 a retry from a clock a little behind, across midnight, replays the answer given just after it', async () => {
  // Two API processes whose clocks differ by seconds: the one ahead answers a key at 00:00:01,
  // into the new day's table; a retry on the one behind, still at 23:59:59, must find it there.
  const ws = await create();
  const midnight = T0 + 12 * HOUR;
  expect(new Date(midnight).toISOString()).toMatch(/T00:00:00.000Z$/);
  const [first] = await debit(ws, ['across-midnight'], midnight + 1000);
  expect(first!.startsWith('ok\t0\t')).toBe(true);
  for (const behind of [midnight - 1000, midnight - MAX_CLOCK_SKEW_MS + 1000]) {
    expect(await debit(ws, ['across-midnight'], behind)).toEqual([asReplay(first!)]);
    expect(await r.store.hasUsageRecord(ws, 'across-midnight', behind)).toBe(true);
    expect(await debit(ws, ['across-midnight'], behind, 'other')).toEqual(['conflict']);
  }
  // A key first answered by the clock behind is today's to it, and replays on the one ahead.
  const [early] = await debit(ws, ['before-midnight'], midnight - 1000);
  expect(await debit(ws, ['before-midnight'], midnight + 1000)).toEqual([asReplay(early!)]);
  const snap = await r.store.snapshot(ws, midnight + 1000);
  expect(snap!.state.allotment - snap!.state.included).toBe(2);
});

it("R-CON-5 a key a clock behind answered just after midnight still replays at the window's end on a clock on time", async () => {
  // The window's other end: a process 2 minutes behind answers at 00:01 real time, into the
  // day before's table (its own day); a retry on a process on time, 30 s before the window since
  // that answer ends, must still search that day.
  const ws = await create();
  const windowMs = r.store.idempotencyWindowSeconds * 1000;
  const midnight = T0 + 12 * HOUR;
  const realFirst = midnight + 60_000;
  const [first] = await debit(ws, ['window-start'], realFirst - 2 * 60_000);
  expect(first!.startsWith('ok\t0\t')).toBe(true);
  const retryAt = realFirst + windowMs - 30_000;
  expect(await r.store.hasUsageRecord(ws, 'window-start', retryAt)).toBe(true);
  expect(await debit(ws, ['window-start'], retryAt)).toEqual([asReplay(first!)]);
  const snap = await r.store.snapshot(ws, retryAt);
  expect(snap!.state.allotment - snap!.state.included).toBe(1);
});
