/** The stripe-events worker in a test, on the test API's Redis, prefix, service and clock. */
import { type Queue, Worker } from 'bullmq';
import { expect } from 'vitest';
import { createLogger } from '../../src/observability/logger.js';
import { STRIPE_EVENTS_QUEUE } from '../../src/queues/stripe-events.js';
import { bullConnection } from '../../src/redis/clients.js';
import { freePort } from '../../src/redis/embedded-server.js';
import { queuePrefix } from '../../src/redis/keys.js';
import { startStandin } from '../../src/stripe/standin/server.js';
import { stripeEventsProcessor } from '../../workers/stripe-events.js';
import { startTestApi, type TestApi } from './http.js';
import { FIXTURES_PATH, WEBHOOK_SECRET } from './stripe.js';

/**
 * `grantReplicas`: replicas a money event's writes must reach before its job completes.
 * `lockMs`: short locks for the tests that kill Redis, so that a job whose Redis died mid-step
 * runs again within a second or two (its stalled check every half lock, however often).
 */
export function startStripeWorker(
  api: TestApi,
  o: { grantReplicas?: number; lockMs?: number; name?: string } = {},
): Worker {
  const connection = bullConnection(api.target);
  connection.on('error', () => {}); // the kill tests stop Redis on purpose
  const worker = new Worker(
    STRIPE_EVENTS_QUEUE,
    stripeEventsProcessor({
      store: api.store,
      service: api.service,
      clock: api.testClock ?? api.clock,
      log: createLogger({ level: 'silent', name: o.name ?? 'test-worker' }),
      ...(o.grantReplicas === undefined ? {} : { grantReplicas: o.grantReplicas }),
    }),
    {
      connection,
      prefix: queuePrefix(api.prefix),
      concurrency: 8,
      ...(o.lockMs === undefined
        ? {}
        : { lockDuration: o.lockMs, stalledInterval: o.lockMs / 2, maxStalledCount: 1000 }),
    },
  );
  worker.on('error', () => {});
  worker.on('closed', () => connection.disconnect());
  return worker;
}

/** Waits until a queue has nothing waiting, delayed or running. */
export async function drained(queue: Queue): Promise<void> {
  for (let i = 0; i < 400; i++) {
    const c = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
    if (Object.values(c).every((n) => n === 0)) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`the ${queue.name} queue did not drain`);
}

/**
 * Waits until the queue has nothing waiting, running or delayed (a retried job included), then
 * asserts no job failed for good: every event the receiver acknowledged was applied.
 */
export async function settledWithoutFailures(queue: Queue, polls = 600): Promise<void> {
  for (let i = 0; ; i++) {
    const { failed, ...pending } = await queue.getJobCounts(
      'waiting',
      'active',
      'delayed',
      'prioritized',
      'failed',
    );
    if (Object.values(pending).every((n) => n === 0)) {
      expect(failed).toBe(0);
      return;
    }
    expect(i, JSON.stringify(pending)).toBeLessThan(polls);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * The API on the local Stripe stand-in, as `npm start` runs them: the API's Stripe calls go to
 * the stand-in, the stand-in's events to the API's webhook, and a stripe-events worker applies
 * them. `close()` stops all three.
 */
export async function startApiOnStandin(o: {
  now: number;
  testClock?: boolean;
  env?: Record<string, string>;
}): Promise<{
  api: TestApi;
  standin: Awaited<ReturnType<typeof startStandin>>;
  worker: Worker;
  close(): Promise<void>;
}> {
  const port = await freePort();
  const api = await startTestApi({
    now: o.now,
    ...(o.testClock ? { testClock: true } : {}),
    env: { STRIPE_API_BASE: `http://127.0.0.1:${port}`, STRIPE_SECRET_KEY: 'sk_test_standin', ...o.env },
  });
  const standin = await startStandin({
    port,
    fixturesPath: FIXTURES_PATH,
    webhookSecret: WEBHOOK_SECRET,
    webhookUrl: `${api.base}/webhooks/stripe`,
    prices: [
      { id: 'price_growth_monthly', interval: 'month' },
      { id: 'price_growth_annual', interval: 'year' },
    ],
  });
  const worker = startStripeWorker(api);
  return {
    api,
    standin,
    worker,
    async close() {
      await worker.close();
      await standin.close();
      await api.close();
    },
  };
}
