/**
 * The real HTTP app on a free port, against the run's Redis (one node or the cluster leg's
 * cluster, test/support/redis.ts) or a `target` of the test's own, with a clock the test moves.
 */
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { loadCatalog } from '../../src/config/catalog.js';
import { loadConfig } from '../../src/config/env.js';
import { openDatabase } from '../../src/db/database.js';
import { type HttpServer, startHttp } from '../../src/http/server.js';
import { createLogger, type Logger } from '../../src/observability/logger.js';
import { ALERT_WEBHOOKS_QUEUE } from '../../src/queues/alerts.js';
import { clockCatchUp } from '../../src/queues/clock-catch-up.js';
import { INVOICING_QUEUE } from '../../src/queues/invoicing.js';
import { MAINTENANCE_QUEUE } from '../../src/queues/maintenance.js';
import { STRIPE_EVENTS_QUEUE, type StripeEventJob } from '../../src/queues/stripe-events.js';
import { connectApiRedis, producerConnection, type RedisTarget } from '../../src/redis/clients.js';
import type { EngineStore } from '../../src/redis/engine-store.js';
import { queuePrefix } from '../../src/redis/keys.js';
import { defineScripts, type ScriptClient } from '../../src/redis/scripts.js';
import { buildService, type Runtime } from '../../src/runtime.js';
import type { AlertService } from '../../src/services/alerts.js';
import type { Services } from '../../src/services/create-services.js';
import type { Invoicer } from '../../src/services/invoicing.js';
import { TestClock } from '../../src/services/test-clock.js';
import { mountStripeWebhook } from '../../webhooks/stripe-webhook.js';
import { testClient, testTarget } from './redis.js';
import { WEBHOOK_SECRET } from './stripe.js';

export const PLATFORM = 'test-platform-key';
export const OPERATOR = 'test-operator-key';

export interface TestApi {
  base: string;
  prefix: string;
  /** The Redis the API runs on: for the worker connections a test opens beside it. */
  target: RedisTarget;
  /** The queue the Stripe webhook feeds (R-WH-2). */
  stripeQueue: Queue;
  /** The queue POST /v1/admin/invoicing/runs feeds (R-FLX-6). */
  invoicingQueue: Queue;
  /** The outbound alert webhooks' queue (R-ALR-2); used when env sets the receiver URLs. */
  alertQueue: Queue;
  /** The alert service on the test's prefix (banners, dispatch, sweep). */
  alerts: AlertService;
  /** The invoicer on the test's prefix and clock (no Stripe unless env configures it). */
  invoicer: Invoicer;
  clock: { now(): number; set(ms: number): void; advance(ms: number): void };
  /**
   * With `testClock: true`: the shared test clock (issue 11 §3) over `clock`, which the API,
   * `service` and `store` then read; its offset is in Redis under `prefix`.
   */
  testClock?: TestClock;
  /** With `testClock: true`: the queue an advance's cycle sweep goes to. */
  maintenanceQueue?: Queue;
  store: EngineStore;
  /** The same service the API runs, on the test's prefix and clock (for workers in tests). */
  service: Services;
  redis: ScriptClient;
  call(
    method: string,
    path: string,
    opts?: { body?: unknown; raw?: string; key?: string | null; headers?: Record<string, string> },
    // biome-ignore lint/suspicious/noExplicitAny: tests read whatever JSON came back and assert on it
  ): Promise<{ status: number; body: any; headers: Headers }>;
  close(): Promise<void>;
}

export async function startTestApi(
  opts: {
    target?: RedisTarget;
    now?: number;
    env?: Record<string, string>;
    log?: Logger;
    /** The API on the shared test clock (issue 11 §3), as webhooks/main.ts runs it outside production. */
    testClock?: boolean;
    /** Another API's prefix: a second instance of the same deployment. */
    prefix?: string;
  } = {},
): Promise<TestApi> {
  const target = opts.target ?? testTarget();
  const prefix = opts.prefix ?? `t${randomUUID().slice(0, 8)}:`;
  const runtime: Runtime = {
    config: loadConfig({
      NODE_ENV: 'test',
      REDIS_PREFIX: prefix,
      BURNRATE_API_KEYS: `platform:${PLATFORM},operator:${OPERATOR}`,
      ...opts.env,
    }),
    catalog: loadCatalog('catalog/catalog.example.json'),
  };
  let now = opts.now ?? Date.UTC(2026, 10, 21, 12);
  const clock = {
    now: () => now,
    set: (ms: number) => {
      now = ms;
    },
    advance: (ms: number) => {
      now += ms;
    },
  };
  // DATABASE_URL in env: the ledger's archived part (its schema migrated by testDatabase()).
  const db = runtime.config.database ? openDatabase(runtime.config.database) : undefined;
  const redis = await connectApiRedis(target);
  const log = opts.log ?? createLogger({ level: 'silent', name: 'test' });
  const queueConnection = producerConnection(target);
  const stripeQueue = new Queue<StripeEventJob>(STRIPE_EVENTS_QUEUE, {
    connection: queueConnection,
    prefix: queuePrefix(prefix),
  });
  const invoicingQueue = new Queue(INVOICING_QUEUE, {
    connection: queueConnection,
    prefix: queuePrefix(prefix),
  });
  const alertQueue = new Queue(ALERT_WEBHOOKS_QUEUE, {
    connection: queueConnection,
    prefix: queuePrefix(prefix),
  });
  const maintenanceQueue = opts.testClock
    ? new Queue(MAINTENANCE_QUEUE, { connection: queueConnection, prefix: queuePrefix(prefix) })
    : undefined;
  for (const q of [stripeQueue, invoicingQueue, alertQueue, maintenanceQueue]) q?.on('error', () => {}); // tests stop Redis on purpose
  // Each queue writes its meta key once connected: wait for it, so that a test that compares
  // every key before and after a request (bad-input) does not see it land in between (on a
  // cluster the Queue takes longer to find its slot).
  await Promise.all([stripeQueue, invoicingQueue, alertQueue].map((q) => q.getVersion()));
  const testClock = opts.testClock ? new TestClock({ redis, keyPrefix: prefix, base: clock }) : undefined;
  await testClock?.start();
  const http: HttpServer = await startHttp({
    alertQueue,
    enqueueInvoicingRun: async (month) => {
      await invoicingQueue.add('run', { kind: 'run', month }, { jobId: `run_${month}_${Date.now()}` });
    },
    runtime,
    redis,
    otherRedis: [queueConnection],
    db,
    log,
    port: 0,
    clock: testClock ?? clock,
    testClock,
    clockCatchUp:
      maintenanceQueue && clockCatchUp({ invoicing: invoicingQueue, maintenance: maintenanceQueue }),
    mountBefore: (app) =>
      mountStripeWebhook(app, {
        secret: WEBHOOK_SECRET,
        queue: stripeQueue,
        queueRedis: queueConnection,
        replicas: runtime.config.grantReplicas,
      }),
  });
  const reader = defineScripts(testClient({}, target));
  reader.on('error', () => {}); // a test may stop this Redis on purpose
  const { store, service, alerts, invoicer } = buildService({
    runtime,
    redis: reader,
    clock: testClock ?? clock,
    alertQueue,
    db,
  });
  const base = `http://127.0.0.1:${http.port}`;
  return {
    base,
    prefix,
    target,
    stripeQueue,
    invoicingQueue,
    alertQueue,
    alerts,
    invoicer,
    clock,
    ...(testClock ? { testClock } : {}),
    ...(maintenanceQueue ? { maintenanceQueue } : {}),
    store,
    service,
    redis: reader,
    async call(method, path, o = {}) {
      const headers: Record<string, string> = { ...o.headers };
      const key = o.key === undefined ? OPERATOR : o.key;
      if (key !== null) headers.authorization = `Bearer ${key}`;
      let body: string | undefined;
      if (o.raw !== undefined) body = o.raw;
      else if (o.body !== undefined) body = JSON.stringify(o.body);
      if (body !== undefined) headers['content-type'] ??= 'application/json';
      const res = await fetch(base + path, { method, headers, body });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON (metrics)
      }
      return { status: res.status, body: parsed, headers: res.headers };
    },
    async close() {
      await http.close();
      testClock?.stop();
      await maintenanceQueue?.close().catch(() => {});
      await stripeQueue.close().catch(() => {});
      await invoicingQueue.close().catch(() => {});
      await alertQueue.close().catch(() => {});
      await redis.quit();
      await reader.quit();
      await db?.destroy();
    },
  };
}
