/**
 * R-FLX-6 the Stripe rate bucket (lua/stripe-rate-take-1.lua, lua/stripe-rate-limited-1.lua) on a
 * real Redis: slots are handed out one interval apart whoever asks, a 429 lowers the rate for
 * everyone and it climbs back, and two clients sending at their slots together never pass the
 * rate in any second.
 */
import { afterAll, expect, it } from 'vitest';
import { defineScripts } from '../../src/redis/scripts.js';
import { stripeRateBucket } from '../../src/redis/stripe-rate.js';
import { testClient, testRedis } from '../support/redis.js';
import { busiest } from '../support/timing.js';

const r = testRedis();
const other = defineScripts(testClient({ maxRetriesPerRequest: 1 }));
afterAll(async () => {
  await other.quit();
  await r.close();
});

const T0 = 1_800_000_000_000;

it('hands out consecutive slots one interval apart, to callers taking at the same moment too; an idle bucket saves no burst', async () => {
  const bucket = stripeRateBucket(r.redis, { key: `{${r.prefix}slots}`, requestsPerSecond: 100 });
  const waits = [];
  for (let i = 0; i < 5; i++) waits.push(await bucket.take(T0));
  expect(waits).toEqual([0, 10, 20, 30, 40]);
  // Long idle: the next call goes now, and the one after it an interval later, not at once.
  expect(await bucket.take(T0 + 10_000)).toBe(0);
  expect(await bucket.take(T0 + 10_000)).toBe(10);
});

it('a clock that steps back (a host set back, one running behind) does not hold every call until it catches up', async () => {
  const bucket = stripeRateBucket(r.redis, { key: `{${r.prefix}step}`, requestsPerSecond: 1 });
  // Two hours ahead (a test's business clock once drove this and parked every call for months).
  expect(await bucket.take(T0 + 7_200_000)).toBe(0);
  expect(await bucket.take(T0 + 7_200_000)).toBe(1000);
  // Back at T0: the schedule starts again from now, not two hours from now.
  expect(await bucket.take(T0)).toBe(0);
  expect(await bucket.take(T0)).toBe(1000);
  // A schedule legitimately minutes ahead stays: at 1/s, 300 callers reach 5 minutes.
  for (let i = 0; i < 298; i++) await bucket.take(T0);
  expect(await bucket.take(T0)).toBe(300_000);
});

it('a 429 lowers the rate for every client, holds it a second (429s meanwhile cut nothing more), then it climbs back', async () => {
  const key = `{${r.prefix}cut}`;
  const a = stripeRateBucket(r.redis, { key, requestsPerSecond: 100 });
  const b = stripeRateBucket(other, { key, requestsPerSecond: 100 });
  expect(await a.take(T0)).toBe(0);
  expect(await a.limited(T0)).toBeCloseTo(95, 3);
  // The 429s of the same moment are one signal.
  expect(await b.limited(T0 + 500)).toBeCloseTo(95, 3);
  // The other client's slots are spaced at the lowered rate: 1000 / 95 ms.
  const first = await b.take(T0 + 500);
  const second = await b.take(T0 + 500);
  expect([10, 11]).toContain(second - first);
  // Held until T0 + 1000, then 5 requests/s each second: 97.5 at T0 + 1500, cut again.
  expect(await a.limited(T0 + 1500)).toBeCloseTo(0.95 * 97.5, 3);
  // Long after: the full rate again.
  expect(await a.take(T0 + 1_000_000)).toBe(0);
  expect(await a.take(T0 + 1_000_000)).toBe(10);
});

it('429s that keep coming a second apart keep cutting (no climb between), down to the floor of 1 request/s', async () => {
  const a = stripeRateBucket(r.redis, { key: `{${r.prefix}fall}`, requestsPerSecond: 100 });
  let rate = 100;
  for (let i = 0; i < 27; i++) rate = await a.limited(T0 + i * 1000);
  // 100 to about Stripe's test-mode 25 in 27 s.
  expect(rate).toBeCloseTo(100 * 0.95 ** 27, 2);
  const slow = stripeRateBucket(r.redis, { key: `{${r.prefix}floor}`, requestsPerSecond: 10 });
  for (let i = 0; i < 100; i++) rate = await slow.limited(T0 + i * 1000);
  expect(rate).toBe(1);
});

it('R-FLX-6 two clients sending at their slots together never pass the rate in any second, and use it', async () => {
  const RPS = 40;
  const key = `{${r.prefix}two}`;
  const sent: number[] = [];
  const until = Date.now() + 2500;
  const loop = async (bucket: ReturnType<typeof stripeRateBucket>) => {
    while (Date.now() < until) {
      const now = Date.now();
      const wait = await bucket.take(now);
      // The slot the bucket gave: when the call goes out. Not the time the timer fires, which
      // a busy machine delays and bunches, a measure of the test's event loop, not the bucket.
      sent.push(now + wait);
      if (wait > 0) await new Promise((res) => setTimeout(res, wait));
    }
  };
  const clients = [r.redis, other].map((c) => stripeRateBucket(c, { key, requestsPerSecond: RPS }));
  // Sixteen callers on each client: far more than the rate needs.
  await Promise.all(clients.flatMap((b) => Array.from({ length: 16 }, () => loop(b))));
  sent.sort((x, y) => x - y);
  // One slot of slack for timer rounding at the window's edges.
  expect(busiest(sent, 1000)).toBeLessThanOrEqual(RPS + 1);
  const seconds = (sent.at(-1)! - sent[0]!) / 1000;
  expect(sent.length / seconds).toBeGreaterThan(0.9 * RPS);
});
