/**
 * R-FLX-6 throttled to Stripe's rate limit across processes: every Stripe request takes a slot
 * from one rate bucket in Redis (src/redis/stripe-rate.ts) that all processes and callers share,
 * so two worker processes together send no more than STRIPE_REQUESTS_PER_SECOND, and use it (no
 * job limiter at a third of the rate any more). A 429 (the stand-in's STRIPE_STANDIN_RATE_LIMIT,
 * shaped like Stripe's) is retried with backoff and slows the bucket for everyone; nothing is
 * billed twice.
 */
import { Writable } from 'node:stream';
import Stripe from 'stripe';
import { afterAll, expect, it } from 'vitest';
import { loadCatalog } from '../../src/config/catalog.js';
import { loadConfig } from '../../src/config/env.js';
import { createLogger } from '../../src/observability/logger.js';
import { stripeRateKey } from '../../src/redis/keys.js';
import { stripeRateBucket } from '../../src/redis/stripe-rate.js';
import { buildService } from '../../src/runtime.js';
import { createStripeClient, rateLimitBackoffMs } from '../../src/stripe/client.js';
import { STANDIN_FIXTURES, startStandin } from '../../src/stripe/standin/server.js';
import { GROWTH } from '../support/burndown-cases.js';
import { invoicingWorld, type SeededWorkspace, until } from '../support/invoicing-world.js';
import { testRedis } from '../support/redis.js';
import { WEBHOOK_SECRET } from '../support/stripe.js';
import { busiest } from '../support/timing.js';

const RPS = 30;
const closers: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const close of closers.reverse()) await close();
});

/** A world whose stand-in records when it let each API request in. */
async function world() {
  const accepted: number[] = [];
  const w = await invoicingWorld({
    onRequest: () => {
      accepted.push(Date.now());
    },
  });
  closers.push(() => w.close());
  return { w, accepted };
}

/** Every workspace-month billed exactly once: one item each, an annual one on its one finalized invoice. */
function expectBilledOnce(w: Awaited<ReturnType<typeof world>>['w'], seeded: SeededWorkspace[]) {
  const items = w.standin.objectsOf('invoiceitem');
  const byWorkspace = new Map<string, number>();
  for (const i of items) {
    const id = (i.metadata as Record<string, string>).workspace_id!;
    byWorkspace.set(id, (byWorkspace.get(id) ?? 0) + 1);
  }
  expect(items).toHaveLength(seeded.length);
  for (const s of seeded) expect(byWorkspace.get(s.id), s.id).toBe(1);
  const invoices = w.standin.objectsOf('invoice');
  expect(invoices).toHaveLength(seeded.filter((s) => s.annual).length);
  for (const inv of invoices) expect(inv.status).toBe('open');
}

it('STRIPE_REQUESTS_PER_SECOND: 25 in test mode, 100 with a live key, 0 lifts it; STRIPE_STANDIN_RATE_LIMIT: unset is none', () => {
  expect(loadConfig({}).stripe.requestsPerSecond).toBe(25);
  expect(loadConfig({ STRIPE_SECRET_KEY: 'sk_test_x' }).stripe.requestsPerSecond).toBe(25);
  expect(loadConfig({ STRIPE_SECRET_KEY: 'sk_live_x' }).stripe.requestsPerSecond).toBe(100);
  expect(loadConfig({ STRIPE_SECRET_KEY: 'rk_live_x' }).stripe.requestsPerSecond).toBe(100);
  expect(loadConfig({ STRIPE_REQUESTS_PER_SECOND: '0' }).stripe.requestsPerSecond).toBe(0);
  expect(() => loadConfig({ STRIPE_REQUESTS_PER_SECOND: '' })).toThrow(/STRIPE_REQUESTS_PER_SECOND/);
  expect(() => loadConfig({ STRIPE_REQUESTS_PER_SECOND: '-1' })).toThrow(/STRIPE_REQUESTS_PER_SECOND/);
  expect(loadConfig({}).stripe.standinRateLimit).toBeUndefined();
  expect(loadConfig({ STRIPE_STANDIN_RATE_LIMIT: '' }).stripe.standinRateLimit).toBeUndefined();
  expect(loadConfig({ STRIPE_STANDIN_RATE_LIMIT: '100' }).stripe.standinRateLimit).toBe(100);
  expect(() => loadConfig({ STRIPE_STANDIN_RATE_LIMIT: '0' })).toThrow(/STRIPE_STANDIN_RATE_LIMIT/);
  expect(() => loadConfig({ STRIPE_STANDIN_RATE_LIMIT: '1.5' })).toThrow(/STRIPE_STANDIN_RATE_LIMIT/);
});

it("the stand-in's limit answers like Stripe: 429, Stripe's error body, Stripe-Rate-Limited-Reason; the next second lets requests in again", async () => {
  const s = await startStandin({
    port: 0,
    fixturesPath: STANDIN_FIXTURES,
    webhookSecret: WEBHOOK_SECRET,
    rateLimit: 3,
  });
  closers.push(s.close);
  const customer = s.standin.createCustomer().id;
  const get = () =>
    fetch(`${s.url}/v1/customers/${customer}`, { headers: { authorization: 'Bearer sk_test_x' } });
  // Start just after a second begins, so the five requests share its window.
  await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 5));
  const answers = await Promise.all(Array.from({ length: 5 }, get));
  const statuses = answers.map((a) => a.status).sort();
  expect(statuses).toEqual([200, 200, 200, 429, 429]);
  const refused = answers.find((a) => a.status === 429)!;
  expect(refused.headers.get('stripe-rate-limited-reason')).toBe('global-rate');
  expect(await refused.json()).toEqual({
    error: {
      type: 'invalid_request_error',
      code: 'rate_limit',
      message: expect.stringMatching(/rate limit/i),
    },
  });
  expect(s.standin.traffic).toEqual({ accepted: 3, rateLimited: 2 });
  // The SDK reads it as Stripe's: a StripeRateLimitError (with retries of its own off here).
  const sdk = new Stripe('sk_test_x', {
    host: '127.0.0.1',
    port: s.port,
    protocol: 'http',
    maxNetworkRetries: 0,
  });
  await expect(sdk.customers.retrieve(customer)).rejects.toBeInstanceOf(Stripe.errors.StripeRateLimitError);
  await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 5));
  expect((await get()).status).toBe(200);
});

it('a 429 is retried with backoff (doubling from 250 ms to 4 s, jittered), logged with its reason, and slows the shared bucket', async () => {
  expect([0, 1, 2, 3, 4, 5, 9].map((n) => rateLimitBackoffMs(n, () => 1))).toEqual([
    250, 500, 1000, 2000, 4000, 4000, 4000,
  ]);
  expect(rateLimitBackoffMs(0, () => 0)).toBe(125);

  const s = await startStandin({
    port: 0,
    fixturesPath: STANDIN_FIXTURES,
    webhookSecret: WEBHOOK_SECRET,
    rateLimit: 5,
  });
  closers.push(s.close);
  const r = testRedis();
  closers.push(r.close);
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({
    level: 'warn',
    name: 'test',
    destination: new Writable({
      write(chunk, _enc, done) {
        lines.push(JSON.parse(String(chunk)));
        done();
      },
    }),
  });
  const key = stripeRateKey(r.prefix);
  const stripe = createStripeClient({
    secretKey: 'sk_test_x',
    apiBase: s.url,
    bucket: stripeRateBucket(r.redis, { key, requestsPerSecond: 20 }),
    log,
  });
  const customer = s.standin.createCustomer().id;
  // Twenty calls at 20/s against a limit of 5/s: the stand-in refuses some, and all succeed.
  const got = await Promise.all(
    Array.from({ length: 20 }, () => stripe.call((sdk) => sdk.customers.retrieve(customer))),
  );
  expect(got.every((c) => c.id === customer)).toBe(true);
  expect(s.standin.traffic.accepted).toBe(20);
  expect(s.standin.traffic.rateLimited).toBeGreaterThan(0);
  const warnings = lines.filter((l) => /rate limit \(429\)/.test(String(l.msg)));
  expect(warnings).toHaveLength(s.standin.traffic.rateLimited);
  expect(warnings[0]).toMatchObject({ reason: 'global-rate', path: `/v1/customers/${customer}`, attempt: 1 });
  // Slowed for every process: the shared rate is below the configured one.
  expect(Number(await r.redis.hget(key, 'rate'))).toBeLessThan(20);
}, 30_000);

it('R-FLX-6 Checkout (the API process) and another process share one budget, in real time whatever the business clock says: 15 calls at 5/s take about 3 s', async () => {
  const arrived: number[] = [];
  const s = await startStandin({
    port: 0,
    fixturesPath: STANDIN_FIXTURES,
    webhookSecret: WEBHOOK_SECRET,
    onRequest: () => {
      arrived.push(Date.now());
    },
  });
  closers.push(s.close);
  const r = testRedis();
  closers.push(r.close);
  const config = loadConfig({
    STRIPE_API_BASE: s.url,
    STRIPE_REQUESTS_PER_SECOND: '5',
    REDIS_PREFIX: r.prefix,
    LOG_LEVEL: 'silent',
  });
  // The API's wiring, as webhooks/main.ts builds it, on a business clock a month back (as tests
  // and the demo set it): the bucket still runs on the wall clock, as Stripe counts.
  const { service } = buildService({
    clock: { now: () => Date.UTC(2026, 9, 15) },
    runtime: { config, catalog: loadCatalog(config.catalogPath) },
    redis: r.redis,
  });
  await r.store.upsert({ workspaceId: 'buyer', terms: GROWTH, meta: {}, now: Date.now() });
  // Another process's client on its own connection, on the same bucket.
  const other = testRedis();
  closers.push(other.close);
  const worker = createStripeClient({
    secretKey: 'sk_test_x',
    apiBase: s.url,
    bucket: stripeRateBucket(other.redis, { key: stripeRateKey(r.prefix), requestsPerSecond: 5 }),
  });
  const customer = s.standin.createCustomer().id;
  const urls = { successUrl: 'https://example.com/ok', cancelUrl: 'https://example.com/no' };
  await Promise.all([
    ...Array.from({ length: 10 }, () => service.checkout.createCheckout('buyer', { credits: 50, ...urls })),
    ...Array.from({ length: 5 }, () => worker.call((sdk) => sdk.customers.retrieve(customer))),
  ]);
  expect(arrived).toHaveLength(15);
  arrived.sort((a, b) => a - b);
  // 15 slots 200 ms apart: 2.8 s from the first to the last (each process alone: 1.8 s and 0.8 s).
  expect(arrived.at(-1)! - arrived[0]!).toBeGreaterThan(0.9 * 2800);
  expect(busiest(arrived, 1000)).toBeLessThanOrEqual(5 + 2);
});

it('R-FLX-6 two worker processes together never send Stripe more than STRIPE_REQUESTS_PER_SECOND in any second, and use it', async () => {
  const { w, accepted } = await world();
  const JOBS = 40;
  // All annual: three Stripe calls a job, 120 in all.
  const seeded = await w.seed(JOBS, { prefix: 'rl', annualEvery: 1 });
  const env = { STRIPE_REQUESTS_PER_SECOND: String(RPS) };
  const workers = [w.startWorker(env), w.startWorker(env)];
  await until('both workers to listen', async () => (await w.queue.getWorkers()).length >= 2);

  await w.queue.add('run', { kind: 'run', month: w.month }, { jobId: 'run-rl' });
  await until(
    'every workspace job to complete',
    async () => (await w.queue.getCompletedCount()) === JOBS + 1,
  );
  expect(await w.queue.getFailedCount()).toBe(0);

  const jobs = (await w.queue.getJobs(['completed'])).filter((j) => j.name === 'workspace');
  // Both processes took part: each alone paces itself to the same shared rate.
  expect(new Set(jobs.map((j) => j.processedBy)).size).toBe(2);
  expect(accepted).toHaveLength(JOBS * 3);
  accepted.sort((a, b) => a - b);
  // The bucket hands out at most RPS + 1 slots in any second (test/redis/stripe-rate.test.ts);
  // what arrives adds the jitter of two processes' timers, cold connections and the stand-in's
  // event loop (measured: up to 4 requests bunched), the same few requests over any span.
  expect(busiest(accepted, 1000)).toBeLessThanOrEqual(RPS + 5);
  expect(busiest(accepted, 3000)).toBeLessThanOrEqual(3 * RPS + 5);
  // And used: 120 calls at 30/s take about 4 s (at a third of the rate, the old job limiter's pace, 12 s).
  const seconds = (accepted.at(-1)! - accepted[0]!) / 1000;
  expect(seconds).toBeGreaterThan((0.9 * (JOBS * 3 - 1)) / RPS);
  expect(seconds).toBeLessThan((1.5 * JOBS * 3) / RPS);
  expect((await w.invoicer.status(w.month)).counts.invoiced).toBe(seeded.length);
  expectBilledOnce(w, seeded);
  for (const p of workers) await w.stop(p, 'SIGTERM');
}, 60_000);

it('R-FLX-6 a Stripe limit below the configured rate: its 429s are retried, and every workspace-month is still billed exactly once', async () => {
  const { w } = await world();
  w.standin.rateLimit = 12;
  const JOBS = 40;
  // One in four annual: 40 + 2 × 10 = 60 calls, at 30/s configured against 12/s allowed.
  const seeded = await w.seed(JOBS, { prefix: 'lim', annualEvery: 4 });
  const env = { STRIPE_REQUESTS_PER_SECOND: String(RPS) };
  const workers = [w.startWorker(env), w.startWorker(env)];
  await until('both workers to listen', async () => (await w.queue.getWorkers()).length >= 2);

  await w.queue.add('run', { kind: 'run', month: w.month }, { jobId: 'run-lim' });
  await until(
    'every workspace job to complete',
    async () => (await w.queue.getCompletedCount()) === JOBS + 1,
  );
  expect(await w.queue.getFailedCount()).toBe(0);
  expect(w.standin.traffic.rateLimited).toBeGreaterThan(0);
  expect(w.standin.traffic.accepted).toBe(JOBS + 2 * seeded.filter((s) => s.annual).length);
  const status = await w.invoicer.status(w.month);
  expect(status.counts.invoiced + status.counts.item_created).toBe(JOBS);
  expectBilledOnce(w, seeded);
  for (const p of workers) await w.stop(p, 'SIGTERM');
}, 90_000);
