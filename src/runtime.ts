/**
 * Wiring shared by the HTTP and worker processes: config and catalog validated at start, the
 * store and the services built over a Redis client (src/redis/clients.ts opens those), and
 * graceful shutdown. Nothing here runs at import.
 */
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { promisify } from 'node:util';
import type { Queue } from 'bullmq';
import { loadCatalog } from './config/catalog.js';
import { type Config, loadConfig } from './config/env.js';
import { type Db, migrateToLatest, openDatabase } from './db/database.js';
import { LedgerHistory } from './db/ledger-history.js';
import { UsageKeyArchive } from './db/usage-keys.js';
import { UsageDayRetention } from './db/usage-retention.js';
import type { Catalog } from './domain/catalog.js';
import { createLogger, type Logger } from './observability/logger.js';
import { type RedisTarget, redisTargetOf } from './redis/clients.js';
import { EngineStore } from './redis/engine-store.js';
import { stripeRateKey } from './redis/keys.js';
import type { ScriptClient } from './redis/scripts.js';
import { stripeRateBucket } from './redis/stripe-rate.js';
import { AlertService } from './services/alerts.js';
import { type Clock, systemClock } from './services/clock.js';
import { createServices, type Services } from './services/create-services.js';
import { Invoicer } from './services/invoicing.js';
import { type ClockCatchUp, TestClock, TestClockService } from './services/test-clock.js';
import type { DebitMetrics } from './services/usage-service.js';
import { createStripeClient } from './stripe/client.js';

const execFileAsync = promisify(execFile);

export interface Runtime {
  config: Config;
  catalog: Catalog;
}

/**
 * Lowers this process's CPU priority to the nice value `nice` (WORKER_NICE); one already lower
 * (a supervisor's `nice -n 15`) stays. What it reached, or why not. Linux keeps one per thread
 * and setpriority(2) sets the caller's: each thread there is now (V8's collector, libuv's pool)
 * gets it, and threads made later take it from their parent.
 */
export function lowerCpuPriority(nice: number): { nice: number } | { failed: string } {
  let threads = [0];
  try {
    threads = readdirSync('/proc/self/task').map(Number);
  } catch {
    // Not Linux: the process's one value.
  }
  try {
    for (const tid of threads) {
      try {
        const now = getPriority(tid);
        if (now < nice) setPriority(tid, nice);
      } catch (err) {
        // A thread that ended since the list was read.
        if ((err as { info?: { code?: string } }).info?.code !== 'ESRCH') throw err;
      }
    }
    return { nice: Math.max(nice, getPriority()) };
  } catch (err) {
    return { failed: (err as Error).message };
  }
}

/**
 * The Linux CPU policies the worker takes (WORKER_CPU_POLICY; sched(7)):
 * - `idle` (SCHED_IDLE): the worker's threads weigh 3 against a normal thread's 1,024 (nice is
 *   set aside), and a normal thread of the same cgroup that wakes preempts them at once. Across
 *   cgroups (the worker in a container of its own) the groups' weights decide instead.
 * - `batch` (SCHED_BATCH): a thread keeps its nice value and its share of the CPU, but it never
 *   preempts the thread running when it wakes.
 * Either way, the worker's wakeups (a reply from Redis or PostgreSQL, every few milliseconds
 * while the archive copies) no longer cut into the API's and Redis' turns on a core they share
 * (bench:memory, README).
 */
export type CpuPolicy = 'idle' | 'batch';

/**
 * Puts every thread of this process under `policy`. Resolves to true, the reason it could not,
 * or null off Linux. Any thread may lower itself to either policy. Leaving `idle` for `batch`
 * needs RLIMIT_NICE ≥ 20 − its nice value, or CAP_SYS_NICE (sched(7)); without that it fails
 * and changes nothing. Node has no call for this, so util-linux's `chrt` (in every Debian and
 * Ubuntu image) sets it, without blocking the event loop: under `idle` on a busy host chrt
 * itself may wait for a core, and BullMQ's lock renewals must not. Threads made later take the
 * policy from their parent.
 */
export async function setCpuPolicy(policy: CpuPolicy): Promise<true | string | null> {
  // Elsewhere there is no such policy: nothing to say at every start (nice still applies).
  if (process.platform !== 'linux') return null;
  let why = '';
  // Twice: chrt stops at a thread that ended while it went through them (ESRCH).
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await execFileAsync('chrt', ['--all-tasks', `--${policy}`, '--pid', '0', String(process.pid)], {
        timeout: 10_000,
      });
      return true;
    } catch (err) {
      const e = err as { code?: string; killed?: boolean; stderr?: string; message: string };
      if (e.code === 'ENOENT') return 'chrt (util-linux) is not installed';
      if (e.killed) return 'chrt did not finish within 10 s';
      why = e.stderr?.trim() || e.message;
    }
  }
  return why;
}

/** Config and catalog, or a clear message and exit code 2 (R-OPS-2). */
export function loadRuntimeOrExit(): Runtime {
  try {
    const config = loadConfig();
    return { config, catalog: loadCatalog(config.catalogPath) };
  } catch (err) {
    process.stderr.write(`burnrate: ${(err as Error).message}\n`);
    process.exit(2);
  }
}

/** Where Redis is (REDIS_URL or REDIS_CLUSTER_NODES), or a clear message and exit code 2. */
export function requireRedisTarget(config: Config): RedisTarget {
  const target = redisTargetOf(config);
  if (target) return target;
  process.stderr.write(
    'burnrate: neither REDIS_URL nor REDIS_CLUSTER_NODES is set. Run `npm start` (it starts a private Redis) ' +
      'or set REDIS_URL (one node) or REDIS_CLUSTER_NODES (a Redis Cluster).\n',
  );
  process.exit(2);
}

/**
 * PostgreSQL when DATABASE_URL is set, migrated in the background: a database that is down at
 * start delays the archive and the archived ledger's reads (503 meanwhile), never the debits.
 */
export function connectDatabase(
  config: Config,
  log: Logger,
): { db: Db; migrated: Promise<void> } | undefined {
  if (!config.database) return undefined;
  const { schema } = config.database;
  const db = openDatabase(config.database);
  const migrate = async (attempt: number): Promise<void> => {
    try {
      await migrateToLatest(db, schema);
      if (attempt > 1) log.info({ attempt }, 'database migrated');
    } catch (err) {
      if (attempt === 1)
        log.warn({ reason: (err as Error).message }, 'database not migrated yet; retrying every 5 s');
      await new Promise((r) => setTimeout(r, 5000).unref());
      return migrate(attempt + 1);
    }
  };
  return { db, migrated: migrate(1) };
}

/** The day totals' retention in Redis (USAGE_REDIS_RETENTION): the worker trims, the API reads. */
export function usageDayRetention(redis: ScriptClient, config: Config): UsageDayRetention {
  return new UsageDayRetention({
    redis,
    keyPrefix: config.redisPrefix,
    retentionMs: config.archive.usageRedisRetentionMs,
  });
}

export function buildService(o: {
  runtime: Runtime;
  redis: ScriptClient;
  metrics?: DebitMetrics;
  clock?: Clock;
  /** Queues a monthly invoicing run (the API process has the producer). */
  enqueueInvoicingRun?: (month: string) => Promise<void>;
  /** The producer of the outbound alert webhooks (R-ALR-2); without it alerts are banners only. */
  alertQueue?: Queue;
  /** PostgreSQL (DATABASE_URL): the ledger's archived part. */
  db?: Db | undefined;
  /** The shared test clock (issue 11 §3; never in production): the services' clock unless `clock`. */
  testClock?: TestClock | undefined;
  /** Queues what an advance of the test clock passed (the API process has the producers). */
  clockCatchUp?: ((o: { from: number; to: number }) => Promise<ClockCatchUp>) | undefined;
}): { store: EngineStore; service: Services; invoicer: Invoicer; alerts: AlertService } {
  const s = o.runtime.config.stripe;
  const { config, catalog } = o.runtime;
  const store = new EngineStore(o.redis, {
    prefix: config.redisPrefix,
    idempotencyTtlSeconds: config.idempotencyTtlSeconds,
  });
  const stripe =
    s.secretKey || s.apiBase
      ? createStripeClient({
          secretKey: s.secretKey ?? 'sk_test_standin',
          apiBase: s.apiBase,
          // One bucket for every process and caller (R-FLX-6); 0: unthrottled.
          bucket:
            s.requestsPerSecond > 0
              ? stripeRateBucket(o.redis, {
                  key: stripeRateKey(config.redisPrefix),
                  requestsPerSecond: s.requestsPerSecond,
                })
              : undefined,
          log: createLogger({ level: config.logLevel, name: 'burnrate-stripe' }),
        })
      : undefined;
  const invoicer = new Invoicer({
    redis: o.redis,
    store,
    catalog,
    stripe,
    keyPrefix: config.redisPrefix,
  });
  const alerts = new AlertService({
    redis: o.redis,
    store,
    catalog,
    keyPrefix: config.redisPrefix,
    webhookUrls: config.alerts.webhookUrls,
    queue: o.alertQueue,
  });
  const service = createServices({
    redis: o.redis,
    store,
    catalog,
    clock: o.clock ?? o.testClock ?? systemClock,
    metrics: o.metrics,
    keyPrefix: config.redisPrefix,
    stripe,
    invoicer,
    enqueueInvoicingRun: o.enqueueInvoicingRun,
    alerts,
    waitReplicas: config.waitReplicas,
    history: o.db ? new LedgerHistory(o.db) : undefined,
    usageDays: usageDayRetention(o.redis, config),
    archivedKeys: o.db ? new UsageKeyArchive(o.db) : undefined,
    testClock: new TestClockService({
      clock: o.testClock,
      production: config.env === 'production',
      catchUp: o.clockCatchUp,
      // Never a live account's: its test clocks are test mode's only.
      stripe: stripe && /^[sr]k_test_/.test(s.secretKey ?? 'sk_test_standin') ? stripe : undefined,
      log: createLogger({ level: config.logLevel, name: 'burnrate-test-clock' }),
    }),
    billing: config.billing,
  });
  return { store, service, invoicer, alerts };
}

/**
 * The clock a process reads (issue 11 §3): in production the system clock, untouched and never
 * polled; elsewhere a test clock that every process shares through Redis, read every 500 ms.
 */
export async function processClock(
  config: Config,
  redis: ScriptClient,
  log: Logger,
): Promise<{ clock: Clock; testClock: TestClock | undefined }> {
  if (config.env === 'production') return { clock: systemClock, testClock: undefined };
  const testClock = new TestClock({ redis, keyPrefix: config.redisPrefix, log });
  await testClock.start();
  if (testClock.offsetMs !== 0)
    log.warn(
      { now: new Date(testClock.now()).toISOString(), offsetMs: testClock.offsetMs },
      'the test clock is ahead of the system clock',
    );
  return { clock: testClock, testClock };
}

/** Graceful shutdown on SIGTERM/SIGINT (R-OPS-3): `close` finishes in-flight work, then exit. */
export function onShutdown(
  log: Logger,
  what: string,
  close: () => Promise<void>,
  o: { graceMs?: number } = {},
): void {
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, `shutting down: ${what}`);
    // A close that never returns (a stalled Redis holds BullMQ's connections) ends here: what
    // was running is taken back by another process once its lock runs out.
    if (o.graceMs !== undefined) {
      setTimeout(() => {
        log.warn({ graceMs: o.graceMs }, 'shutdown did not finish in time: exiting anyway');
        process.exit(1);
      }, o.graceMs).unref();
    }
    try {
      await close();
      log.info('stopped');
      process.exit(0);
    } catch (err) {
      log.error({ err }, 'shutdown failed');
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}
