/**
 * The HTTP process: the platform API and the Stripe webhook route (mounted before the API's
 * routes: it verifies the raw body).
 * Graceful shutdown: stop accepting, let in-flight requests finish, then close Redis.
 */
import { Queue } from 'bullmq';
import { startHttp } from '../src/http/server.js';
import { createLogger } from '../src/observability/logger.js';
import { ALERT_WEBHOOKS_QUEUE, type AlertWebhookJob } from '../src/queues/alerts.js';
import { clockCatchUp } from '../src/queues/clock-catch-up.js';
import { INVOICING_QUEUE, type InvoicingJob, RUN_JOB_OPTIONS } from '../src/queues/invoicing.js';
import { MAINTENANCE_QUEUE, type MaintenanceJob } from '../src/queues/maintenance.js';
import { STRIPE_EVENTS_QUEUE, type StripeEventJob } from '../src/queues/stripe-events.js';
import { connectApiRedis, producerConnection } from '../src/redis/clients.js';
import { queuePrefix } from '../src/redis/keys.js';
import {
  connectDatabase,
  loadRuntimeOrExit,
  onShutdown,
  processClock,
  requireRedisTarget,
} from '../src/runtime.js';
import { mountStripeWebhook } from './stripe-webhook.js';

const runtime = loadRuntimeOrExit();
const { config } = runtime;
const log = createLogger({ level: config.logLevel, name: 'burnrate-http' });
if (config.devApiKeys) {
  log.warn('BURNRATE_API_KEYS is not set: using the development keys from the README (never in production)');
}

const target = requireRedisTarget(config);
const redis = await connectApiRedis(target, { commandTimeoutMs: config.redisCommandTimeoutMs });
// The producer fails fast while Redis is down or stalled, so the webhook answers 503 and
// Stripe delivers again.
const queueConnection = producerConnection(target, config.redisCommandTimeoutMs);
const stripeQueue = new Queue<StripeEventJob>(STRIPE_EVENTS_QUEUE, {
  connection: queueConnection,
  prefix: queuePrefix(config.redisPrefix),
});
const invoicingQueue = new Queue<InvoicingJob>(INVOICING_QUEUE, {
  connection: queueConnection,
  prefix: queuePrefix(config.redisPrefix),
});
// Outbound alert webhooks (R-ALR-2): the API queues what a debit raised; workers deliver.
const alertQueue = new Queue<AlertWebhookJob>(ALERT_WEBHOOKS_QUEUE, {
  connection: queueConnection,
  prefix: queuePrefix(config.redisPrefix),
});
// What an advance of the test clock passed (issue 11 §3): a cycle sweep, beside the months' runs.
const maintenanceQueue = new Queue<MaintenanceJob>(MAINTENANCE_QUEUE, {
  connection: queueConnection,
  prefix: queuePrefix(config.redisPrefix),
});
// A queue reports its connection's errors too: the requests that meet the outage answer 503 and
// log it once; this is the rest of it.
for (const q of [stripeQueue, invoicingQueue, alertQueue, maintenanceQueue]) {
  q.on('error', (err) => log.debug({ reason: err.message, queue: q.name }, 'queue connection error'));
}
// The ledger's archived part (DATABASE_URL); without it the whole ledger is in Redis.
const database = connectDatabase(config, log);
if (!database) log.warn('DATABASE_URL is not set: the ledger is kept in Redis only, never archived');
if (!config.stripeWebhookSecret) log.warn('STRIPE_WEBHOOK_SECRET is not set: /webhooks/stripe answers 503');
// Outside production, the test clock every process shares (issue 11 §3).
const { clock, testClock } = await processClock(config, redis, log);
const http = await startHttp({
  runtime,
  redis,
  log,
  clock,
  testClock,
  clockCatchUp: testClock && clockCatchUp({ invoicing: invoicingQueue, maintenance: maintenanceQueue }),
  port: config.port,
  host: config.host,
  alertQueue,
  otherRedis: [queueConnection],
  db: database?.db,
  enqueueInvoicingRun: async (month) => {
    // Each request a run of its own: workspace jobs already done are not added twice.
    await invoicingQueue.add(
      'run',
      { kind: 'run', month },
      { ...RUN_JOB_OPTIONS, jobId: `run_${month}_${Date.now()}` },
    );
  },
  mountBefore: (app) =>
    mountStripeWebhook(app, {
      secret: config.stripeWebhookSecret,
      queue: stripeQueue,
      queueRedis: queueConnection,
      replicas: config.grantReplicas,
    }),
});

onShutdown(log, 'finishing in-flight requests', async () => {
  await http.close();
  testClock?.stop();
  await stripeQueue.close();
  await maintenanceQueue.close();
  await invoicingQueue.close();
  await alertQueue.close();
  await redis.quit();
  await database?.db.destroy();
});
// Said once SIGTERM is handled (see workers/main.ts).
log.info({ port: http.port }, 'burnrate API listening');
