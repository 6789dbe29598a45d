/** Starts the HTTP app on a port; shared by the HTTP process, the benchmark and the tests. */
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { Queue } from 'bullmq';
import type { Express } from 'express';
import type { Db } from '../db/database.js';
import { archiveHealth } from '../db/ledger-archive.js';
import type { Logger } from '../observability/logger.js';
import { Metrics } from '../observability/metrics.js';
import { pingAll, type RedisClient, stallGuard } from '../redis/clients.js';
import type { ScriptClient } from '../redis/scripts.js';
import { buildService, type Runtime } from '../runtime.js';
import type { Clock } from '../services/clock.js';
import type { ClockCatchUp, TestClock } from '../services/test-clock.js';
import { createApp } from './app.js';

export interface HttpServer {
  server: Server;
  port: number;
  /** Stops accepting, lets in-flight requests finish (forced after 10 s). */
  close(): Promise<void>;
}

export async function startHttp(o: {
  runtime: Runtime;
  redis: ScriptClient;
  log: Logger;
  port: number;
  host?: string;
  clock?: Clock;
  mountBefore?: (app: Express) => void;
  enqueueInvoicingRun?: (month: string) => Promise<void>;
  alertQueue?: Queue;
  /** Other fail-fast clients requests depend on (the queues' producer): checked by /readyz too. */
  otherRedis?: readonly RedisClient[];
  /** PostgreSQL (DATABASE_URL): the ledger's archived part. */
  db?: Db | undefined;
  /** The shared test clock and what its advance queues (issue 11 §3); never in production. */
  testClock?: TestClock | undefined;
  clockCatchUp?: ((o: { from: number; to: number }) => Promise<ClockCatchUp>) | undefined;
}): Promise<HttpServer> {
  const clients = [o.redis, ...(o.otherRedis ?? [])];
  const metrics = new Metrics({ defaults: true });
  const { service } = buildService({
    runtime: o.runtime,
    redis: o.redis,
    metrics,
    ...(o.clock ? { clock: o.clock } : {}),
    ...(o.enqueueInvoicingRun ? { enqueueInvoicingRun: o.enqueueInvoicingRun } : {}),
    ...(o.alertQueue ? { alertQueue: o.alertQueue } : {}),
    db: o.db,
    testClock: o.testClock,
    clockCatchUp: o.clockCatchUp,
  });
  const { config } = o.runtime;
  const app = createApp({
    config: o.runtime.config,
    service,
    metrics,
    log: o.log,
    ready: async () => {
      // Every master of a cluster: each holds its own share of the workspaces.
      await Promise.all(clients.map(pingAll));
      if (!o.db) return undefined;
      // Debits go on while PostgreSQL is down: the lag is reported, not a reason to be unready.
      return { archive: await archiveHealth(o.redis, config) };
    },
    onRedisStall: stallGuard(clients),
    ...(o.mountBefore ? { mountBefore: o.mountBefore } : {}),
  });
  const server = app.listen(o.port, o.host ?? '127.0.0.1');
  await once(server, 'listening');
  const addr = server.address();
  return {
    server,
    port: typeof addr === 'object' && addr ? addr.port : o.port,
    close: async () => {
      const closed = once(server, 'close');
      server.close();
      server.closeIdleConnections();
      const forced = setTimeout(() => server.closeAllConnections(), 10_000);
      await closed;
      clearTimeout(forced);
    },
  };
}
