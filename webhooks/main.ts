/**
 * The HTTP process: the platform API (and, with the Stripe issue, the webhook route).
 * Graceful shutdown: stop accepting, let in-flight requests finish, then close Redis.
 */
import { startHttp } from '../src/http/server.js';
import { createLogger } from '../src/observability/logger.js';
import { connectApiRedis, loadRuntimeOrExit, onShutdown, requireRedisUrl } from '../src/runtime.js';

const runtime = loadRuntimeOrExit();
const { config } = runtime;
const log = createLogger({ level: config.logLevel, name: 'burnrate-http' });
if (config.devApiKeys) {
  log.warn('BURNRATE_API_KEYS is not set: using the development keys from the README (never in production)');
}

const redis = await connectApiRedis(requireRedisUrl(config));
const http = await startHttp({ runtime, redis, log, port: config.port, host: config.host });
log.info({ port: http.port }, 'burnrate API listening');

onShutdown(log, 'finishing in-flight requests', async () => {
  await http.close();
  await redis.quit();
});
