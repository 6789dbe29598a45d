/**
 * The worker process: BullMQ workers, one processor per queue, and their schedules. Now the
 * maintenance queue (the cycle sweep); the Stripe and invoicing queues join it in later issues.
 * Graceful shutdown: `worker.close()` lets the running job finish (R-OPS-3).
 */
import { Queue, UnrecoverableError, Worker } from 'bullmq';
import { createLogger } from '../src/observability/logger.js';
import { INVOICING_QUEUE, MONTHLY_INVOICING_SCHEDULER } from '../src/queues/invoicing.js';
import { CYCLE_SWEEP_SCHEDULER, cycleSweepJobSchema, MAINTENANCE_QUEUE } from '../src/queues/maintenance.js';
import { STRIPE_EVENTS_QUEUE } from '../src/queues/stripe-events.js';
import { queuePrefix } from '../src/redis/keys.js';
import {
  buildService,
  bullConnection,
  connectApiRedis,
  loadRuntimeOrExit,
  onShutdown,
  requireRedisUrl,
  workspacesKey,
} from '../src/runtime.js';
import { systemClock } from '../src/services/credit-service.js';
import { sweepCycles } from '../src/services/cycle-sweep.js';
import { invoicingProcessor } from './invoicing.js';
import { stripeEventsProcessor } from './stripe-events.js';

const runtime = loadRuntimeOrExit();
const { config } = runtime;
const log = createLogger({ level: config.logLevel, name: 'burnrate-worker' });
const url = requireRedisUrl(config);
const redis = await connectApiRedis(url, { enableOfflineQueue: true, maxRetriesPerRequest: 3 });
const { store, service, invoicer } = buildService({ runtime, redis });
const prefix = queuePrefix(config.redisPrefix);

const queue = new Queue(MAINTENANCE_QUEUE, { connection: bullConnection(url), prefix });
// Safe from every worker process: one scheduler per id.
await queue.upsertJobScheduler(
  CYCLE_SWEEP_SCHEDULER,
  { every: config.cycleSweepEveryMs },
  { name: 'cycle-sweep', data: { kind: 'cycle-sweep' }, opts: { removeOnComplete: 100, removeOnFail: 1000 } },
);

const worker = new Worker(
  MAINTENANCE_QUEUE,
  async (job) => {
    const parsed = cycleSweepJobSchema.safeParse(job.data);
    if (!parsed.success) throw new UnrecoverableError(`malformed ${job.name} job: ${parsed.error.message}`);
    const result = await sweepCycles({
      redis,
      store,
      workspacesKey: workspacesKey(config),
      now: systemClock.now(),
    });
    log.info(result, 'cycle sweep done');
    return result;
  },
  { connection: bullConnection(url), prefix, concurrency: 1 },
);
const stripeWorker = new Worker(
  STRIPE_EVENTS_QUEUE,
  stripeEventsProcessor({ store, service, invoicer, clock: systemClock, log }),
  {
    connection: bullConnection(url),
    prefix,
    concurrency: 8,
    lockDuration: config.workerLockMs,
    stalledInterval: config.workerLockMs,
  },
);
const invoicingQueue = new Queue(INVOICING_QUEUE, { connection: bullConnection(url), prefix });
// The run starts at the start of each calendar month (UTC), for the month just closed.
await invoicingQueue.upsertJobScheduler(
  MONTHLY_INVOICING_SCHEDULER,
  { pattern: '0 5 0 1 * *', tz: 'UTC' },
  { name: 'run', data: { kind: 'run' }, opts: { removeOnComplete: 24, removeOnFail: false } },
);
const invoicingWorker = new Worker(
  INVOICING_QUEUE,
  invoicingProcessor({ invoicer, queue: invoicingQueue, clock: systemClock, log }),
  {
    connection: bullConnection(url),
    prefix,
    // Stripe is throttled in the client; a few in flight keep it busy.
    concurrency: 16,
    lockDuration: config.workerLockMs,
    stalledInterval: config.workerLockMs,
  },
);
for (const w of [worker, stripeWorker, invoicingWorker]) {
  w.on('failed', (job, err) => log.error({ err, jobId: job?.id, attempts: job?.attemptsMade }, 'job failed'));
}
await Promise.all([worker.waitUntilReady(), stripeWorker.waitUntilReady(), invoicingWorker.waitUntilReady()]);
log.info({ queues: [MAINTENANCE_QUEUE, STRIPE_EVENTS_QUEUE, INVOICING_QUEUE] }, 'burnrate worker running');

onShutdown(log, 'letting the running job finish', async () => {
  await Promise.all([worker.close(), stripeWorker.close(), invoicingWorker.close()]);
  await invoicingQueue.close();
  await queue.close();
  await redis.quit();
});
