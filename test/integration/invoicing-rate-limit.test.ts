/**
 * R-FLX-6 throttled to Stripe's rate limit across processes: two worker processes share one
 * budget (BullMQ's queue-wide limiter), where each process's own throttle would allow twice it.
 * The bounds are what a limiter guarantees however slow the machine is (a slow run only spaces
 * the starts further), with room for the clocks of two processes.
 */
import { afterAll, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/env.js';
import { invoicingRateLimit, STRIPE_CALLS_PER_JOB } from '../../src/queues/invoicing.js';
import { invoicingWorld, until } from '../support/invoicing-world.js';

const RPS = 30;
const requests: number[] = [];
const world = await invoicingWorld({
  onRequest: () => {
    requests.push(Date.now());
  },
});
afterAll(() => world.close());

/** The most entries of sorted `times` within any span of `ms`. */
function busiest(times: number[], ms: number): number {
  let most = 0;
  for (let i = 0, j = 0; j < times.length; j++) {
    while (times[j]! - times[i]! >= ms) i++;
    most = Math.max(most, j - i + 1);
  }
  return most;
}

it('the job rate is a third of the request rate (an annual workspace makes three calls), in short windows; 0 lifts it', () => {
  expect(invoicingRateLimit(25)).toEqual({ max: 1, duration: 120 });
  expect(invoicingRateLimit(100)).toEqual({ max: 4, duration: 120 });
  expect(invoicingRateLimit(0)).toBeUndefined();
  // STRIPE_REQUESTS_PER_SECOND: Stripe's test-mode limit, its live-mode limit with a live key.
  expect(loadConfig({}).stripe.requestsPerSecond).toBe(25);
  expect(loadConfig({ STRIPE_SECRET_KEY: 'sk_test_x' }).stripe.requestsPerSecond).toBe(25);
  expect(loadConfig({ STRIPE_SECRET_KEY: 'sk_live_x' }).stripe.requestsPerSecond).toBe(100);
  expect(loadConfig({ STRIPE_SECRET_KEY: 'rk_live_x' }).stripe.requestsPerSecond).toBe(100);
  expect(loadConfig({ STRIPE_REQUESTS_PER_SECOND: '0' }).stripe.requestsPerSecond).toBe(0);
  expect(() => loadConfig({ STRIPE_REQUESTS_PER_SECOND: '' })).toThrow(/STRIPE_REQUESTS_PER_SECOND/);
  expect(() => loadConfig({ STRIPE_REQUESTS_PER_SECOND: '-1' })).toThrow(/STRIPE_REQUESTS_PER_SECOND/);
  for (const rps of [1, 7, 25, 30, 99, 100, 1000, 10_000]) {
    const l = invoicingRateLimit(rps)!;
    expect((l.max * STRIPE_CALLS_PER_JOB * 1000) / l.duration, String(rps)).toBeLessThanOrEqual(rps);
    expect(l.duration, String(rps)).toBeGreaterThanOrEqual(100);
  }
});

it('R-FLX-6 two worker processes together start jobs, and so call Stripe, no faster than STRIPE_REQUESTS_PER_SECOND allows', async () => {
  const JOBS = 40;
  // All annual: three Stripe calls a job, the most a job makes.
  const seeded = await world.seed(JOBS, { prefix: 'rl', annualEvery: 1 });
  const limit = invoicingRateLimit(RPS)!; // one job per 100 ms
  const env = { STRIPE_REQUESTS_PER_SECOND: String(RPS) };
  const workers = [world.startWorker(env), world.startWorker(env)];
  await until('both workers to listen', async () => (await world.queue.getWorkers()).length >= 2);

  await world.queue.add('run', { kind: 'run', month: world.month }, { jobId: 'run-rl' });
  await until(
    'every workspace job to complete',
    async () => (await world.queue.getCompletedCount()) === JOBS + 1,
  );
  expect(await world.queue.getFailedCount()).toBe(0);

  const jobs = (await world.queue.getJobs(['completed'])).filter((j) => j.name === 'workspace');
  expect(jobs).toHaveLength(JOBS);
  // Both processes took part: each alone would pace itself to the same rate.
  expect(new Set(jobs.map((j) => j.processedBy)).size).toBe(2);
  const starts = jobs.map((j) => j.processedOn!).sort((a, b) => a - b);
  // One job per window: 40 jobs span at least 39 windows (3.9 s); unthrottled they take well
  // under a second, and each process's own throttle alone would let 20 a second through.
  expect(starts.at(-1)! - starts[0]!).toBeGreaterThan(0.75 * (JOBS - 1) * limit.duration);
  const perSecond = (1000 / limit.duration) * limit.max; // 10
  expect(busiest(starts, 1000)).toBeLessThanOrEqual(perSecond + 2);
  expect(requests).toHaveLength(JOBS * 3);
  expect(busiest(requests, 1000)).toBeLessThanOrEqual(RPS + 2 * 3);
  expect((await world.invoicer.status(world.month)).counts.invoiced).toBe(seeded.length);
  for (const w of workers) await world.stop(w, 'SIGTERM');
}, 60_000);
