/**
 * Wiring shared by the HTTP and worker processes: config and catalog validated at start,
 * Redis clients, the store and the service. Nothing here runs at import.
 */
import type { Queue } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import { loadCatalog } from './config/catalog.js';
import { type Config, loadConfig } from './config/env.js';
import type { Catalog } from './domain/catalog.js';
import type { Logger } from './observability/logger.js';
import { EngineStore } from './redis/engine-store.js';
import { defineScripts, type ScriptClient } from './redis/scripts.js';
import { AlertService } from './services/alerts.js';
import { type Clock, CreditService, type DebitMetrics, systemClock } from './services/credit-service.js';
import { Invoicer } from './services/invoicing.js';
import { createStripeClient } from './stripe/client.js';

export interface Runtime {
  config: Config;
  catalog: Catalog;
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

export function requireRedisUrl(config: Config): string {
  if (config.redisUrl) return config.redisUrl;
  process.stderr.write(
    'burnrate: REDIS_URL is not set. Run `npm start` (it starts a private Redis) or set REDIS_URL.\n',
  );
  process.exit(2);
}

/**
 * The API's client: commands fail at once while Redis is down (no offline queue), so a
 * request answers 503 instead of waiting or going through unchecked; commands issued in one
 * tick go out as one pipeline.
 */
export async function connectApiRedis(url: string, extra: RedisOptions = {}): Promise<ScriptClient> {
  const redis = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    enableAutoPipelining: true,
    maxRetriesPerRequest: 1,
    ...extra,
  });
  // Connection errors surface where they matter: as 503s on requests and /readyz, logged
  // there; ioredis keeps reconnecting meanwhile.
  redis.on('error', () => {});
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    const where = new URL(url);
    if (where.password) where.password = '***';
    process.stderr.write(`burnrate: cannot reach Redis at ${where.href}: ${(err as Error).message}\n`);
    process.exit(1);
  }
  return defineScripts(redis);
}

/** BullMQ's connections: blocking commands, so no retry limit per request. */
export function bullConnection(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: null });
}

export function workspacesKey(config: Pick<Config, 'redisPrefix'>): string {
  return `${config.redisPrefix}workspaces`;
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
}): { store: EngineStore; service: CreditService; invoicer: Invoicer; alerts: AlertService } {
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
          requestsPerSecond: s.requestsPerSecond,
        })
      : undefined;
  const invoicer = new Invoicer({
    redis: o.redis,
    store,
    catalog,
    stripe,
    keyPrefix: config.redisPrefix,
    workspacesKey: workspacesKey(config),
  });
  const alerts = new AlertService({
    redis: o.redis,
    store,
    catalog,
    workspacesKey: workspacesKey(config),
    webhookUrls: config.alerts.webhookUrls,
    queue: o.alertQueue,
  });
  const service = new CreditService({
    redis: o.redis,
    store,
    catalog,
    clock: o.clock ?? systemClock,
    metrics: o.metrics,
    workspacesKey: workspacesKey(config),
    keyPrefix: config.redisPrefix,
    stripe,
    invoicing: { invoicer, enqueueRun: o.enqueueInvoicingRun },
    alerts,
  });
  return { store, service, invoicer, alerts };
}

/** Graceful shutdown on SIGTERM/SIGINT (R-OPS-3): `close` finishes in-flight work, then exit. */
export function onShutdown(log: Logger, what: string, close: () => Promise<void>): void {
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, `shutting down: ${what}`);
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
