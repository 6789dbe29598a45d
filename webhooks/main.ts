/**
 * The HTTP process: the platform API (and, with the Stripe issue, the webhook route).
 * Graceful shutdown: stop accepting, let in-flight requests finish, then close Redis.
 */
import { startHttp } from '../src/http/server.js';
import { createLogger } from '../src/observability/logger.js';
import { connectApiRedis, loadRuntimeOrExit, requireRedisUrl } from '../src/runtime.js';

const runtime = loadRuntimeOrExit();
const { config } = runtime;
const log = createLogger({ level: config.logLevel, name: 'burnrate-http' });
if (config.devApiKeys) {
  log.warn('BURNRATE_API_KEYS is not set: using the development keys from the README (never in production)');
}

const redis = await connectApiRedis(requireRedisUrl(config));
const http = await startHttp({ runtime, redis, log, port: config.port, host: config.host });
log.info({ port: http.port }, 'burnrate API listening');

let stopping = false;
async function shutdown(signal: string) {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'shutting down: finishing in-flight requests');
  await http.close();
  await redis.quit();
  log.info('stopped');
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));
