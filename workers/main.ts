/**
 * The worker process: BullMQ workers, one processor per queue (maintenance, stripe-events,
 * invoicing, alert-webhooks; each in its own file under one failure policy), and their schedules.
 * Graceful shutdown: `worker.close()` lets the running job finish (R-OPS-3).
 */
import { Queue, Worker } from 'bullmq';
import { AlertArchive } from '../src/db/alert-archive.js';
import { LedgerArchive } from '../src/db/ledger-archive.js';
import { createLogger } from '../src/observability/logger.js';
import {
  ALERT_JOB_OPTIONS,
  ALERT_WEBHOOKS_QUEUE,
  type AlertWebhookJob,
  alertBackoffMs,
} from '../src/queues/alerts.js';
import { clockCatchUp } from '../src/queues/clock-catch-up.js';
import {
  INVOICING_CONCURRENCY,
  INVOICING_QUEUE,
  type InvoicingJob,
  MONTHLY_INVOICING_SCHEDULER,
  RUN_JOB_OPTIONS,
} from '../src/queues/invoicing.js';
import {
  ALERT_SWEEP_SCHEDULER,
  CYCLE_SWEEP_SCHEDULER,
  LEDGER_ARCHIVE_SCHEDULER,
  MAINTENANCE_QUEUE,
  type MaintenanceJob,
} from '../src/queues/maintenance.js';
import { STRIPE_EVENTS_QUEUE, type StripeEventJob } from '../src/queues/stripe-events.js';
import { MAX_STALLED_COUNT, workerLockOptions } from '../src/queues/worker-lock.js';
import { bullConnection, connectApiRedis } from '../src/redis/clients.js';
import { queuePrefix } from '../src/redis/keys.js';
import { migrateWorkspaceIndex } from '../src/redis/workspace-index.js';
import {
  buildService,
  connectDatabase,
  loadRuntimeOrExit,
  lowerCpuPriority,
  onShutdown,
  processClock,
  requireRedisTarget,
  setCpuPolicy,
  usageDayRetention,
} from '../src/runtime.js';
import { ClockCatchUpPoller, syncedProcessor } from '../src/services/test-clock.js';
import { alertWebhookProcessor } from './alert-webhooks.js';
import { followArchiveLag } from './cpu-policy.js';
import { invoicingProcessor } from './invoicing.js';
import { maintenanceProcessor } from './maintenance.js';
import { stripeEventsProcessor } from './stripe-events.js';

const runtime = loadRuntimeOrExit();
const { config } = runtime;
const log = createLogger({ level: config.logLevel, name: 'burnrate-worker' });
if (config.workerNice > 0) {
  const lowered = lowerCpuPriority(config.workerNice);
  if ('failed' in lowered) log.warn({ reason: lowered.failed }, 'WORKER_NICE not applied');
}
const cpuPolicy = config.workerCpuPolicy;
const policySet = cpuPolicy === 'normal' ? null : await setCpuPolicy(cpuPolicy);
if (typeof policySet === 'string')
  log.warn(
    { reason: policySet, policy: cpuPolicy },
    'WORKER_CPU_POLICY not applied: the worker runs at WORKER_NICE only',
  );
// Past the archive lag's mark, batch until it is back (cpu-policy.ts): only where idle applied.
const lagPolicy =
  policySet === true && cpuPolicy === 'idle' ? followArchiveLag({ setCpuPolicy, log }) : undefined;
const target = requireRedisTarget(config);
// Jobs wait out a short blink (offline queue, retries); a stalled Redis fails the job after a
// lock's length instead of holding it for ever, and BullMQ retries it.
const redis = await connectApiRedis(target, {
  commandTimeoutMs: config.workerLockMs,
  extra: { enableOfflineQueue: true, maxRetriesPerRequest: 3 },
});
const prefix = queuePrefix(config.redisPrefix);
// A deployment from before the workspace index had buckets keeps its ids in one set: move them
// into their buckets (idempotent, safe in every worker at once; the sweeps read both meanwhile).
const migrated = await migrateWorkspaceIndex(redis, config.redisPrefix);
if (migrated > 0) log.info({ migrated }, 'moved workspace ids of the old index into its buckets');
const alertQueue = new Queue<AlertWebhookJob>(ALERT_WEBHOOKS_QUEUE, {
  connection: bullConnection(target),
  prefix,
});
const database = connectDatabase(config, log);
if (!database) log.warn('DATABASE_URL is not set: the ledger is kept in Redis only, never archived');
// Outside production, the test clock every process shares (issue 11 §3); each job reads it first.
const { clock, testClock } = await processClock(config, redis, log);
const { store, service, invoicer, alerts } = buildService({
  runtime,
  redis,
  alertQueue,
  db: database?.db,
  clock,
});

const queue = new Queue<MaintenanceJob>(MAINTENANCE_QUEUE, { connection: bullConnection(target), prefix });
// Safe from every worker process: one scheduler per id.
await queue.upsertJobScheduler(
  CYCLE_SWEEP_SCHEDULER,
  { every: config.cycleSweepEveryMs },
  { name: 'cycle-sweep', data: { kind: 'cycle-sweep' }, opts: { removeOnComplete: 100, removeOnFail: 1000 } },
);
if (alerts.outbound) {
  await queue.upsertJobScheduler(
    ALERT_SWEEP_SCHEDULER,
    { every: config.alerts.sweepEveryMs },
    {
      name: 'alert-sweep',
      data: { kind: 'alert-sweep' },
      opts: { removeOnComplete: 100, removeOnFail: 1000 },
    },
  );
} else {
  await queue.removeJobScheduler(ALERT_SWEEP_SCHEDULER);
}

// Copies new ledger entries to PostgreSQL and trims Redis of what is copied and old (R-CON-7).
if (database) {
  await queue.upsertJobScheduler(
    LEDGER_ARCHIVE_SCHEDULER,
    { every: config.archive.everyMs },
    {
      name: 'ledger-archive',
      data: { kind: 'ledger-archive' },
      opts: { removeOnComplete: 100, removeOnFail: 1000 },
    },
  );
} else {
  await queue.removeJobScheduler(LEDGER_ARCHIVE_SCHEDULER);
}

const worker = new Worker<MaintenanceJob>(
  MAINTENANCE_QUEUE,
  syncedProcessor(
    testClock,
    maintenanceProcessor({
      redis,
      store,
      alerts,
      keyPrefix: config.redisPrefix,
      clock,
      log,
      archive: database && {
        archive: new LedgerArchive({
          redis,
          db: database.db,
          keyPrefix: config.redisPrefix,
          redisRetentionMs: config.archive.redisRetentionMs,
          usageDays: usageDayRetention(redis, config),
          alerts: new AlertArchive({ redis, db: database.db, keyPrefix: config.redisPrefix }),
        }),
        lagAlertSeconds: config.archive.lagAlertSeconds,
        onLagging: lagPolicy?.onLagging,
      },
    }),
  ),
  { connection: bullConnection(target), prefix, concurrency: 1, maxStalledCount: MAX_STALLED_COUNT },
);
const stripeWorker = new Worker<StripeEventJob>(
  STRIPE_EVENTS_QUEUE,
  syncedProcessor(
    testClock,
    stripeEventsProcessor({
      store,
      service,
      invoicer,
      clock,
      log,
      grantReplicas: config.grantReplicas,
    }),
  ),
  {
    connection: bullConnection(target),
    prefix,
    concurrency: 8,
    ...workerLockOptions(config.workerLockMs),
  },
);
const invoicingQueue = new Queue<InvoicingJob>(INVOICING_QUEUE, {
  connection: bullConnection(target),
  prefix,
});
// The run starts at the start of each calendar month (UTC), for the month just closed.
await invoicingQueue.upsertJobScheduler(
  MONTHLY_INVOICING_SCHEDULER,
  { pattern: '0 5 0 1 * *', tz: 'UTC' },
  { name: 'run', data: { kind: 'run' }, opts: RUN_JOB_OPTIONS },
);
// Outside production: a month the test clock crosses on its own (between two advances) gets
// its run queued as an advance's would, from the catch-up mark (src/services/test-clock.ts).
const clockCatchUpPoller =
  testClock &&
  new ClockCatchUpPoller({
    clock: testClock,
    catchUp: clockCatchUp({ invoicing: invoicingQueue, maintenance: queue }),
    log,
  });
clockCatchUpPoller?.start();
const invoicingWorker = new Worker<InvoicingJob>(
  INVOICING_QUEUE,
  syncedProcessor(testClock, invoicingProcessor({ invoicer, queue: invoicingQueue, clock, log })),
  {
    connection: bullConnection(target),
    prefix,
    // Recorded on each job (processedBy): which process billed a workspace-month.
    name: `pid-${process.pid}`,
    // No job limiter: each Stripe call takes its slot from the rate bucket all processes
    // share (src/stripe/client.ts), so a job waits only as long as its own calls must.
    concurrency: INVOICING_CONCURRENCY,
    ...workerLockOptions(config.workerLockMs),
  },
);
const alertWorker = new Worker<AlertWebhookJob>(
  ALERT_WEBHOOKS_QUEUE,
  alertWebhookProcessor({ secret: config.alerts.webhookSecret, log }),
  {
    connection: bullConnection(target),
    prefix,
    concurrency: 16,
    ...workerLockOptions(config.workerLockMs),
    settings: {
      backoffStrategy: (attemptsMade, type) =>
        type === ALERT_JOB_OPTIONS.backoff.type ? alertBackoffMs(attemptsMade) : 1000,
    },
  },
);
for (const w of [worker, stripeWorker, invoicingWorker, alertWorker]) {
  w.on('failed', (job, err) => log.error({ err, jobId: job?.id, attempts: job?.attemptsMade }, 'job failed'));
  // Without a listener BullMQ prints a worker's connection errors (a lost lock, a failover's
  // redirections) as raw console stacks; as warnings they are structured, and BullMQ retries.
  w.on('error', (err) => log.warn({ reason: err.message, queue: w.name }, 'worker connection error'));
}
await Promise.all([worker, stripeWorker, invoicingWorker, alertWorker].map((w) => w.waitUntilReady()));

onShutdown(
  log,
  'letting the running job finish',
  async () => {
    testClock?.stop();
    clockCatchUpPoller?.stop();
    await Promise.all([worker.close(), stripeWorker.close(), invoicingWorker.close(), alertWorker.close()]);
    await invoicingQueue.close();
    await alertQueue.close();
    await queue.close();
    await redis.quit();
    await database?.db.destroy();
  },
  { graceMs: config.workerShutdownGraceMs },
);
// Said only once SIGTERM is handled: a supervisor that stops the worker as soon as it reads
// this line must find the handler there (before it, the signal's default action kills).
log.info(
  { queues: [MAINTENANCE_QUEUE, STRIPE_EVENTS_QUEUE, INVOICING_QUEUE, ALERT_WEBHOOKS_QUEUE] },
  'burnrate worker running',
);
