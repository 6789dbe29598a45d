/**
 * Test clocks (issue 11 §3): POST /v1/admin/test-clock moves the clock of every process forward,
 * and reads, cycle rolls (R-CYC-1), alerts (R-ALR-1) and the monthly invoicing run (R-FLX-6)
 * follow it; refused in production, refused backwards; the clock lives in one Redis key.
 */
import type { Worker } from 'bullmq';
import { Worker as BullWorker } from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../src/observability/logger.js';
import { clockCatchUp, clockRunJobId, monthsClosedBetween } from '../../src/queues/clock-catch-up.js';
import { INVOICING_QUEUE } from '../../src/queues/invoicing.js';
import { MAINTENANCE_QUEUE } from '../../src/queues/maintenance.js';
import { bullConnection } from '../../src/redis/clients.js';
import { freePort } from '../../src/redis/embedded-server.js';
import { queuePrefix, testClockCaughtUpKey, testClockKey } from '../../src/redis/keys.js';
import { defineScripts } from '../../src/redis/scripts.js';
import { ClockCatchUpPoller, syncedProcessor, TestClock } from '../../src/services/test-clock.js';
import { startStandin } from '../../src/stripe/standin/server.js';
import { invoicingProcessor } from '../../workers/invoicing.js';
import { maintenanceProcessor } from '../../workers/maintenance.js';
import { OPERATOR, PLATFORM, startTestApi, type TestApi } from '../support/http.js';
import { testClient } from '../support/redis.js';
import { FIXTURES_PATH, WEBHOOK_SECRET } from '../support/stripe.js';
import { drained, startApiOnStandin } from '../support/stripe-worker.js';

const NOV_21 = Date.UTC(2026, 10, 21, 12);
const DAY = 86_400_000;
const log = createLogger({ level: 'silent', name: 'test-clock' });
const iso = (ms: number) => new Date(ms).toISOString();

async function until<T>(
  what: string,
  read: () => Promise<T>,
  ok: (v: T) => boolean,
  polls = 200,
): Promise<T> {
  for (let i = 0; ; i++) {
    const v = await read();
    if (ok(v)) return v;
    if (i >= polls) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The workers of the test's own prefix, on the API's test clock: maintenance and invoicing. */
function startWorkers(api: TestApi): Worker[] {
  const clock = api.testClock!;
  const connection = () => bullConnection(api.target);
  const maintenance = new BullWorker(
    MAINTENANCE_QUEUE,
    maintenanceProcessor({
      redis: api.redis,
      store: api.store,
      alerts: api.alerts,
      keyPrefix: api.prefix,
      clock,
      log,
    }),
    { connection: connection(), prefix: queuePrefix(api.prefix) },
  );
  const invoicing = new BullWorker(
    INVOICING_QUEUE,
    invoicingProcessor({ invoicer: api.invoicer, queue: api.invoicingQueue, clock, log }),
    { connection: connection(), prefix: queuePrefix(api.prefix), concurrency: 4 },
  );
  return [maintenance, invoicing];
}

describe('the clock and its route', () => {
  let api: TestApi;
  let second: TestApi;
  beforeAll(async () => {
    api = await startTestApi({ now: NOV_21, testClock: true });
    // A second API of the same deployment (same prefix), with its own copy of the clock.
    second = await startTestApi({ now: NOV_21, testClock: true, prefix: api.prefix });
  });
  afterAll(async () => {
    await second.close();
    await api.close();
  });

  const clockOf = async (a: TestApi) => (await a.call('GET', '/v1/admin/test-clock')).body;

  it('issue 11 §3: reads, the cycle roll (R-CYC-1) and alerts (R-ALR-1) follow an advance', async () => {
    expect(await clockOf(api)).toEqual({ now: iso(NOV_21), offsetMs: 0 });
    expect((await api.call('PUT', '/v1/workspaces/tc1', { body: { planId: 'growth' } })).status).toBe(201);
    const spent = await api.call('POST', '/v1/workspaces/tc1/usage', {
      key: PLATFORM,
      body: { idempotencyKey: 'k1', credits: 125 },
    });
    expect(spent.status).toBe(200);
    const before = (await api.call('GET', '/v1/workspaces/tc1', { key: PLATFORM })).body;
    expect(before.cycle).toMatchObject({ start: iso(NOV_21), end: iso(Date.UTC(2026, 11, 21, 12)) });
    expect(before.included).toMatchObject({ granted: '150', remaining: '25' });
    expect(before.alerts.map((a: { type: string }) => a.type)).toContain('included_80');

    const to = Date.UTC(2026, 11, 22, 12);
    const res = await api.call('POST', '/v1/admin/test-clock', { body: { advanceTo: iso(to) } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      now: iso(to),
      offsetMs: to - NOV_21,
      previous: iso(NOV_21),
      invoicingRuns: ['2026-11'],
      cycleSweep: true,
      stripeTestClocks: null,
    });
    // The advance is the clock the services read: the next cycle, a fresh allotment, no banner.
    const after = (await api.call('GET', '/v1/workspaces/tc1', { key: PLATFORM })).body;
    expect(after.cycle).toMatchObject({
      start: iso(Date.UTC(2026, 11, 21, 12)),
      end: iso(Date.UTC(2027, 0, 21, 12)),
    });
    expect(after.included).toMatchObject({ granted: '150', remaining: '150' });
    expect(after.alerts).toEqual([]);
    const ledger = (await api.call('GET', '/v1/workspaces/tc1/ledger', { key: PLATFORM })).body.entries;
    const expiry = ledger.find((e: { type: string }) => e.type === 'expiry');
    expect(expiry).toMatchObject({ credits: '-25', ref: `cycle:${NOV_21}` });
    // Nothing on the ledger is dated after the clock.
    for (const e of ledger) expect(Date.parse(e.at)).toBeLessThanOrEqual(to);
    // Alerts raise again in the new cycle, at the new time.
    await api.call('POST', '/v1/workspaces/tc1/usage', {
      key: PLATFORM,
      body: { idempotencyKey: 'k2', credits: 130 },
    });
    const alerts = (await api.call('GET', '/v1/workspaces/tc1/alerts', { key: PLATFORM })).body.alerts;
    expect(alerts.map((a: { type: string }) => a.type)).toContain('included_80');
  });

  it('issue 11 §3: a second API of the deployment reads the advanced clock within a poll', async () => {
    const key = testClockKey(api.prefix);
    const offset = Number(await api.redis.get(key));
    await until(
      'the second API to read the offset',
      () => clockOf(second),
      (c) => c.offsetMs === offset,
    );
    const w = (await second.call('GET', '/v1/workspaces/tc1', { key: PLATFORM })).body;
    expect(w.cycle.start).toBe(iso(Date.UTC(2026, 11, 21, 12)));
    // And an advance through it reaches the first at once in its own process, later in this one.
    const to = NOV_21 + 40 * DAY;
    expect((await second.call('POST', '/v1/admin/test-clock', { body: { advanceTo: iso(to) } })).status).toBe(
      200,
    );
    expect((await clockOf(second)).now).toBe(iso(to));
    await until(
      'the first API to read it',
      () => clockOf(api),
      (c) => c.now === iso(to),
    );
  });

  it('issue 11 §3: a time before the clock, or a bad body, is a 400 that changes nothing; the clock itself is a 200 that moves nothing', async () => {
    const key = testClockKey(api.prefix);
    const stored = await api.redis.get(key);
    const mark = await api.redis.get(testClockCaughtUpKey(api.prefix));
    const now = (await clockOf(api)).now as string;
    const same = await api.call('POST', '/v1/admin/test-clock', { body: { advanceTo: now } });
    expect(same.status).toBe(200);
    expect(same.body).toMatchObject({ now, previous: now, offsetMs: Number(stored), invoicingRuns: [] });
    expect(await api.redis.get(key)).toBe(stored);
    for (const body of [
      { advanceTo: iso(Date.parse(now) - 1000) },
      { advanceTo: iso(Date.parse(now) - 1) },
      { advanceTo: '2026-13-01T00:00:00Z' },
      { advanceTo: 'tomorrow' },
      { advanceTo: 1_800_000_000_000 },
      {},
      { advanceTo: iso(Date.parse(now) + DAY), extra: 1 },
      { advanceTo: iso(Date.parse(now) + 30 * 366 * DAY) },
    ]) {
      const res = await api.call('POST', '/v1/admin/test-clock', { body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.code).toBe('invalid_request');
    }
    for (const raw of ['{"advanceTo": "2027-', '\u0000\u00ff', 'null']) {
      const res = await api.call('POST', '/v1/admin/test-clock', { raw });
      expect(res.status, raw).toBe(400);
    }
    const backwards = await api.call('POST', '/v1/admin/test-clock', { body: { advanceTo: iso(NOV_21) } });
    expect(backwards.body.error.message).toMatch(/only moves forward/);
    expect(await api.redis.get(key)).toBe(stored);
    expect(await api.redis.get(testClockCaughtUpKey(api.prefix))).toBe(mark);
    expect((await clockOf(api)).offsetMs).toBe(Number(stored));
    // An operator route: a platform key is refused.
    const platform = await api.call('POST', '/v1/admin/test-clock', {
      key: PLATFORM,
      body: { advanceTo: iso(Date.parse(now) + DAY) },
    });
    expect(platform.status).toBe(403);
    expect(await api.redis.get(key)).toBe(stored);
  });

  it('issue 11 §3: both routes are in /openapi.json', async () => {
    const doc = (await api.call('GET', '/openapi.json')).body;
    expect(Object.keys(doc.paths['/v1/admin/test-clock'])).toEqual(expect.arrayContaining(['get', 'post']));
  });
});

it('issue 11 §3: refused with NODE_ENV=production, and nothing is written', async () => {
  const api = await startTestApi({ now: NOV_21, testClock: true, env: { NODE_ENV: 'production' } });
  try {
    const post = await api.call('POST', '/v1/admin/test-clock', {
      key: OPERATOR,
      body: { advanceTo: iso(NOV_21 + DAY) },
    });
    expect(post.status).toBe(403);
    expect(post.body.error).toMatchObject({
      code: 'forbidden',
      message: expect.stringMatching(/production/),
    });
    expect((await api.call('GET', '/v1/admin/test-clock')).status).toBe(403);
    expect(await api.redis.exists(testClockKey(api.prefix))).toBe(0);
  } finally {
    await api.close();
  }
});

it('months closed between two instants', () => {
  expect(monthsClosedBetween(NOV_21, NOV_21 + DAY)).toEqual([]);
  expect(monthsClosedBetween(NOV_21, Date.UTC(2026, 11, 1))).toEqual(['2026-11']);
  expect(monthsClosedBetween(Date.UTC(2026, 11, 1), Date.UTC(2027, 2, 1, 0, 0, 0, 1))).toEqual([
    '2026-12',
    '2027-01',
    '2027-02',
  ]);
});

describe('the catch-up mark: no month of the clock is left without its run', () => {
  const NOV_30_23H = Date.UTC(2026, 10, 30, 23);
  const HOUR = 3_600_000;
  const apis: TestApi[] = [];
  const start = async (now = NOV_21) => {
    const a = await startTestApi({ now, testClock: true });
    apis.push(a);
    return a;
  };
  afterEach(() => vi.restoreAllMocks());
  afterAll(async () => {
    for (const a of apis) await a.close();
  });
  const advance = (a: TestApi, to: number) =>
    a.call('POST', '/v1/admin/test-clock', { body: { advanceTo: iso(to) } });
  const runJob = (a: TestApi, month: string) => a.invoicingQueue.getJob(clockRunJobId(month));
  const poller = (a: TestApi, everyMs?: number) =>
    new ClockCatchUpPoller({
      clock: a.testClock!,
      catchUp: clockCatchUp({ invoicing: a.invoicingQueue, maintenance: a.maintenanceQueue! }),
      ...(everyMs ? { everyMs } : {}),
    });

  it('R-FLX-6 issue 11 §3: a month the clock crossed on its own between two advances is queued by the next', async () => {
    const a = await start();
    expect((await advance(a, NOV_30_23H)).body.invoicingRuns).toEqual([]);
    a.clock.advance(2 * HOUR); // two hours of system time: the clock is at 1 Dec, 01:00
    expect((await a.call('GET', '/v1/admin/test-clock')).body.now).toBe(iso(NOV_30_23H + 2 * HOUR));
    const next = await advance(a, Date.UTC(2026, 11, 15));
    expect(next.status).toBe(200);
    expect(next.body).toMatchObject({ previous: iso(NOV_30_23H + 2 * HOUR), invoicingRuns: ['2026-11'] });
    const job = await runJob(a, '2026-11');
    expect(job?.data).toEqual({ kind: 'run', month: '2026-11' });
    expect(await a.redis.get(testClockCaughtUpKey(a.prefix))).toBe(String(Date.UTC(2026, 11, 15)));
    // Once queued, never again: the next advance queues only what it passes.
    expect((await advance(a, Date.UTC(2027, 0, 3))).body.invoicingRuns).toEqual(['2026-12']);
  });

  it("R-FLX-6 issue 11 §3: a worker's poller queues the run when the clock crosses a month's end on its own, once", async () => {
    const a = await start();
    const p = poller(a);
    // Before any advance there is no mark: the real schedule bills the real months.
    a.clock.set(Date.UTC(2026, 11, 1, 1));
    expect(await p.tick()).toEqual([]);
    expect(await runJob(a, '2026-11')).toBeUndefined();
    a.clock.set(NOV_21);

    await advance(a, NOV_30_23H);
    expect(await p.tick()).toEqual([]);
    a.clock.advance(2 * HOUR);
    expect(await p.tick()).toEqual(['2026-11']);
    const job = await runJob(a, '2026-11');
    expect(job?.data).toEqual({ kind: 'run', month: '2026-11' });
    // Due at 00:05 on the 1st, as the schedule would start it: it was due already.
    expect(job?.opts.delay).toBe(0);
    expect(await a.redis.get(testClockCaughtUpKey(a.prefix))).toBe(String(NOV_30_23H + 2 * HOUR));
    expect(await p.tick()).toEqual([]);
    // The next advance finds November queued.
    expect((await advance(a, Date.UTC(2026, 11, 15))).body.invoicingRuns).toEqual([]);

    // Started, it looks on its own: December's end, crossed at 31 Dec 23:59 + 2 min, is due at 00:05.
    await advance(a, Date.UTC(2026, 11, 31, 23, 59));
    const started = poller(a, 10);
    started.start();
    try {
      a.clock.advance(2 * 60_000);
      const dec = await until(
        "December's run",
        () => runJob(a, '2026-12'),
        (j) => j !== undefined,
      );
      expect(dec?.opts.delay).toBe(4 * 60_000);
    } finally {
      started.stop();
    }
  });

  it('R-FLX-6 issue 11 §3: an advance whose catch-up failed (503) is completed by its retry, and a later advance too', async () => {
    const a = await start();
    const add = vi.spyOn(a.invoicingQueue, 'add').mockRejectedValueOnce(new Error('Connection is closed.'));
    const to = Date.UTC(2026, 11, 2);
    const failed = await advance(a, to);
    expect(failed.status).toBe(503);
    expect(add).toHaveBeenCalledTimes(1);
    // The clock moved; November's run is not queued, and the mark still says so.
    expect((await a.call('GET', '/v1/admin/test-clock')).body.now).toBe(iso(to));
    expect(await runJob(a, '2026-11')).toBeUndefined();
    expect(await a.redis.get(testClockCaughtUpKey(a.prefix))).toBe(String(NOV_21));
    // Before the clock: still a 400 that changes nothing.
    const back = await advance(a, to - 1);
    expect(back.status).toBe(400);
    expect(await a.redis.get(testClockCaughtUpKey(a.prefix))).toBe(String(NOV_21));
    // The retry: the same time, a 200 that queues what the failed one did not.
    const retry = await advance(a, to);
    expect(retry.status).toBe(200);
    expect(retry.body).toMatchObject({
      now: iso(to),
      previous: iso(to),
      offsetMs: to - NOV_21,
      invoicingRuns: ['2026-11'],
      cycleSweep: true,
    });
    expect((await runJob(a, '2026-11'))?.data).toEqual({ kind: 'run', month: '2026-11' });
    // Retried again: the same job, nothing more to queue.
    expect((await advance(a, to)).body.invoicingRuns).toEqual([]);

    // Without a retry, the next advance catches up from the mark.
    const b = await start();
    vi.spyOn(b.invoicingQueue, 'add').mockRejectedValueOnce(new Error('Connection is closed.'));
    expect((await advance(b, to)).status).toBe(503);
    const later = await advance(b, Date.UTC(2027, 0, 2));
    expect(later.body.invoicingRuns).toEqual(['2026-11', '2026-12']);
    expect((await runJob(b, '2026-11'))?.data).toEqual({ kind: 'run', month: '2026-11' });
    expect((await runJob(b, '2026-12'))?.data).toEqual({ kind: 'run', month: '2026-12' });
  });
});

describe("a worker process's jobs on the test clock", () => {
  let api: TestApi;
  const workerRedis = defineScripts(testClient());
  /**
   * The worker process's own copy of the clock (runtime.ts processClock), on its own connection.
   * Its poll is an hour here, so only the read before each job (syncedProcessor, which
   * workers/main.ts wraps its maintenance, Stripe-event and invoicing processors in) can bring
   * it the advance.
   */
  let workerClock: TestClock;
  let worker: Worker;
  beforeAll(async () => {
    api = await startTestApi({ now: NOV_21, testClock: true });
    workerClock = new TestClock({
      redis: workerRedis,
      keyPrefix: api.prefix,
      base: api.clock,
      pollMs: 3_600_000,
    });
    await workerClock.start();
    worker = new BullWorker(
      MAINTENANCE_QUEUE,
      syncedProcessor(
        workerClock,
        maintenanceProcessor({
          redis: workerRedis,
          store: api.store,
          alerts: api.alerts,
          keyPrefix: api.prefix,
          clock: workerClock,
          log,
        }),
      ),
      { connection: bullConnection(api.target), prefix: queuePrefix(api.prefix) },
    );
  });
  afterAll(async () => {
    await worker.close();
    workerClock.stop();
    await api.close();
    await workerRedis.quit();
  });

  it('R-FLX-6 issue 11 §3: the cycle sweep an advance queues runs on the advanced clock in a worker that has not polled since (syncedProcessor)', async () => {
    expect((await api.call('PUT', '/v1/workspaces/sync1', { body: { planId: 'growth' } })).status).toBe(201);
    expect(workerClock.now()).toBe(NOV_21);
    // Past the workspace's cycle end (21 Dec, 12:00): no request reads the workspace after this,
    // so only the worker's sweep can roll it.
    const to = Date.UTC(2026, 11, 22, 12);
    const res = await api.call('POST', '/v1/admin/test-clock', { body: { advanceTo: iso(to) } });
    expect(res.body).toMatchObject({ now: iso(to), cycleSweep: true });
    const sweep = await until(
      'the cycle sweep the advance queued',
      () => api.maintenanceQueue!.getJob(`clock-sweep_${to}`),
      (job) => job?.finishedOn !== undefined,
    );
    expect(sweep!.failedReason).toBeUndefined();
    expect(sweep!.returnvalue).toEqual({ workspaces: 1, rolled: 1 });
    expect(workerClock.now()).toBe(to);
    const ledger = (await api.call('GET', '/v1/workspaces/sync1/ledger', { key: PLATFORM })).body.entries;
    expect(ledger.find((e: { type: string }) => e.type === 'expiry')).toMatchObject({
      credits: '-150',
      ref: `cycle:${NOV_21}`,
    });
  });
});

describe('the monthly run on the test clock', () => {
  let api: TestApi;
  let workers: Worker[];
  let standin: Awaited<ReturnType<typeof startStandin>>;
  beforeAll(async () => {
    const port = await freePort();
    api = await startTestApi({
      now: NOV_21,
      testClock: true,
      env: { STRIPE_API_BASE: `http://127.0.0.1:${port}`, STRIPE_SECRET_KEY: 'sk_test_standin' },
    });
    standin = await startStandin({ port, fixturesPath: FIXTURES_PATH, webhookSecret: WEBHOOK_SECRET });
    workers = startWorkers(api);
  });
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.close()));
    await standin.close();
    await api.close();
  });

  it('R-FLX-6 issue 11 §3: a month closed by an advance is invoiced by its run, once however far and often the clock moves', async () => {
    const customer = standin.standin.createCustomer({ metadata: { workspace_id: 'tcm' } });
    await api.call('PUT', '/v1/workspaces/tcm', {
      body: { planId: 'growth', stripeCustomerId: customer.id },
    });
    // 150 included, then 12.5 credits of flex in November.
    await api.call('POST', '/v1/workspaces/tcm/usage', {
      key: PLATFORM,
      body: { idempotencyKey: 'u1', credits: 162.5 },
    });
    const res = await api.call('POST', '/v1/admin/test-clock', {
      body: { advanceTo: iso(Date.UTC(2026, 11, 1, 6)) },
    });
    expect(res.body.invoicingRuns).toEqual(['2026-11']);
    const status = () => api.call('GET', '/v1/admin/invoicing/runs/2026-11').then((r) => r.body);
    const st = await until('the November run', status, (s) => s.counts?.item_created === 1);
    expect(st).toMatchObject({ workspaces: 1, billedCredits: 12 });
    // Two more advances, across December's end: December's run, November's billed once still.
    await api.call('POST', '/v1/admin/test-clock', { body: { advanceTo: iso(Date.UTC(2026, 11, 15)) } });
    const far = await api.call('POST', '/v1/admin/test-clock', {
      body: { advanceTo: iso(Date.UTC(2027, 0, 2)) },
    });
    expect(far.body.invoicingRuns).toEqual(['2026-12']);
    await until(
      'the December run',
      () => api.call('GET', '/v1/admin/invoicing/runs/2026-12').then((r) => r.body),
      (s) => s.runs >= 1 || s.workspaces === 0,
    );
    // A re-run of November through the operator's route adds nothing either.
    await api.call('POST', '/v1/admin/invoicing/runs', { body: { month: '2026-11' } });
    await drained(api.invoicingQueue);
    const items = standin.standin.objectsOf('invoiceitem').filter((i) => i.customer === customer.id);
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ quantity: 12 });
    expect((await status()).counts).toMatchObject({ item_created: 1 });
  });
});

describe("the stand-in's subscriptions on Stripe's test clocks", () => {
  let api: TestApi;
  let standin: Awaited<ReturnType<typeof startApiOnStandin>>['standin'];
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ api, standin, close } = await startApiOnStandin({ now: NOV_21, testClock: true }));
  });
  afterAll(() => close());

  const stripeCall = (method: string, path: string, body: Record<string, string> = {}) =>
    fetch(`${standin.url}${path}`, {
      method,
      headers: {
        authorization: 'Bearer sk_test_standin',
        'content-type': 'application/x-www-form-urlencoded',
      },
      ...(method === 'GET' ? {} : { body: new URLSearchParams(body).toString() }),
      // biome-ignore lint/suspicious/noExplicitAny: the test reads whatever Stripe's JSON holds
    }).then((r) => r.json() as Promise<Record<string, any>>);
  const grants = async (id: string) =>
    (await api.call('GET', `/v1/workspaces/${id}/ledger?limit=200`, { key: PLATFORM })).body.entries.filter(
      (e: { type: string; kind: string }) => e.type === 'grant' && e.kind === 'included',
    );

  it('R-CYC-1 R-WH-2 issue 11 §3: a renewal at clock time sends invoice.paid and subscription.updated; granted once, redelivered or advanced again', async () => {
    const start = Math.floor(NOV_21 / 1000);
    const clock = await stripeCall('POST', '/v1/test_helpers/test_clocks', { frozen_time: String(start) });
    expect(clock).toMatchObject({ object: 'test_helpers.test_clock', status: 'ready', frozen_time: start });
    await api.call('PUT', '/v1/workspaces/tcs', { body: { planId: 'free' } });
    const customer = await stripeCall('POST', '/v1/customers', {
      test_clock: clock.id,
      'metadata[workspace_id]': 'tcs',
    });
    const sub = await stripeCall('POST', '/v1/subscriptions', {
      customer: customer.id,
      'items[0][price]': 'price_growth_annual',
      'metadata[workspace_id]': 'tcs',
    });
    expect(sub.items.data[0]).toMatchObject({
      current_period_start: start,
      current_period_end: Math.floor(Date.UTC(2027, 10, 21, 12) / 1000),
    });
    const w = await until(
      'the annual plan',
      () => api.call('GET', '/v1/workspaces/tcs', { key: PLATFORM }).then((r) => r.body),
      (b) => b.planId === 'growth-annual',
    );
    expect(w.cycle).toMatchObject({ start: iso(NOV_21), end: iso(Date.UTC(2027, 10, 21, 12)) });
    await api.call('POST', '/v1/workspaces/tcs/usage', {
      key: PLATFORM,
      body: { idempotencyKey: 's1', credits: 100 },
    });
    const granted = (await grants('tcs')).length; // the free plan's, the first year's

    // The year passes: burnrate's clock, and through it the Stripe test clock.
    const to = Date.UTC(2027, 10, 22);
    const res = await api.call('POST', '/v1/admin/test-clock', { body: { advanceTo: iso(to) } });
    expect(res.status).toBe(200);
    expect(res.body.stripeTestClocks).toEqual({ advanced: [clock.id] });
    await until(
      'the stand-in clock',
      () => stripeCall('GET', `/v1/test_helpers/test_clocks/${clock.id}`),
      (c) => c.status === 'ready' && c.frozen_time === Math.floor(to / 1000),
    );
    const renewalAt = Math.floor(Date.UTC(2027, 10, 21, 12) / 1000);
    const renewal = standin.standin.events.filter((e) => e.created === renewalAt);
    expect(renewal.map((e) => e.type)).toEqual(['invoice.paid', 'customer.subscription.updated']);
    // biome-ignore lint/suspicious/noExplicitAny: events as Stripe sends them, asserted field by field
    const [paid, updated] = renewal as unknown as [Record<string, any>, Record<string, any>];
    expect(paid.data.object).toMatchObject({
      object: 'invoice',
      billing_reason: 'subscription_cycle',
      status: 'paid',
      test_clock: clock.id,
      parent: { subscription_details: { subscription: sub.id } },
    });
    expect(paid.data.object.lines.data[0].period).toEqual({
      start: renewalAt,
      end: Math.floor(Date.UTC(2028, 10, 21, 12) / 1000),
    });
    expect(updated.data.object.items.data[0]).toMatchObject({
      current_period_start: renewalAt,
      current_period_end: Math.floor(Date.UTC(2028, 10, 21, 12) / 1000),
    });
    await drained(api.stripeQueue);
    const renewed = (await api.call('GET', '/v1/workspaces/tcs', { key: PLATFORM })).body;
    expect(renewed.cycle).toMatchObject({
      start: iso(renewalAt * 1000),
      end: iso(Date.UTC(2028, 10, 21, 12)),
    });
    expect(renewed.included).toMatchObject({ granted: '1800', remaining: '1800' });
    expect(await grants('tcs')).toHaveLength(granted + 1); // this renewal's

    // Stripe delivers at least once: both events again, twice; and the clock moves on.
    for (const e of renewal) expect(await standin.standin.deliver(e)).toBe(200);
    for (const e of renewal) expect(await standin.standin.deliver(e)).toBe(200);
    await api.call('POST', '/v1/admin/test-clock', { body: { advanceTo: iso(to + 2 * DAY) } });
    await until(
      'the stand-in clock',
      () => stripeCall('GET', `/v1/test_helpers/test_clocks/${clock.id}`),
      (c) => c.status === 'ready' && c.frozen_time === Math.floor((to + 2 * DAY) / 1000),
    );
    await drained(api.stripeQueue);
    expect(await grants('tcs')).toHaveLength(granted + 1);
    expect((await api.call('GET', '/v1/workspaces/tcs', { key: PLATFORM })).body.included.remaining).toBe(
      '1800',
    );
    expect(standin.standin.events.filter((e) => e.type === 'invoice.paid')).toHaveLength(1);
  });
});
