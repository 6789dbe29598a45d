/**
 * The HTTP process: the platform API (and, with the Stripe issue, the webhook route).
 * Graceful shutdown: stop accepting, let in-flight requests finish, then close Redis.
 */
import { once } from 'node:events';
import { createApp } from '../src/http/app.js';
import { createLogger } from '../src/observability/logger.js';
import { Metrics } from '../src/observability/metrics.js';
import { buildService, connectApiRedis, loadRuntimeOrExit, requireRedisUrl } from '../src/runtime.js';

const runtime = loadRuntimeOrExit();
const { config } = runtime;
const log = createLogger({ level: config.logLevel, name: 'burnrate-http' });
if (config.devApiKeys) {
  log.warn('BURNRATE_API_KEYS is not set: using the development keys from the README (never in production)');
}

const redis = await connectApiRedis(requireRedisUrl(config));
const metrics = new Metrics({ defaults: true });
const { service } = buildService({ runtime, redis, metrics });
const app = createApp({
  config,
  service,
  metrics,
  log,
  ready: async () => {
    await redis.ping();
  },
});

const server = app.listen(config.port, config.host);
await once(server, 'listening');
const addr = server.address();
log.info({ port: typeof addr === 'object' && addr ? addr.port : config.port }, 'burnrate API listening');

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'shutting down: finishing in-flight requests');
  server.close();
  server.closeIdleConnections();
  const forced = setTimeout(() => server.closeAllConnections(), 10_000);
  await once(server, 'close');
  clearTimeout(forced);
  await redis.quit();
  log.info('stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
