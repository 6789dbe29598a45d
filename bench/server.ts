/**
 * The benchmark's server process: the real API as `npm start` runs it (startHttp, the API's
 * Redis client), plus two routes mounted before the API's: a hello-world, the baseline the
 * usage route is measured against, and /bench/cpu, this process's CPU time and event-loop
 * activity so far. Prints {"port": n} on stdout once listening; SIGTERM stops it.
 */
import { performance } from 'node:perf_hooks';
import { loadCatalog } from '../src/config/catalog.js';
import { loadConfig } from '../src/config/env.js';
import { startHttp } from '../src/http/server.js';
import { createLogger } from '../src/observability/logger.js';
import { connectApiRedis } from '../src/redis/clients.js';
import { onShutdown, requireRedisTarget } from '../src/runtime.js';

const config = loadConfig();
const runtime = { config, catalog: loadCatalog(config.catalogPath) };
const log = createLogger({ level: config.logLevel, name: 'burnrate-bench' });
const redis = await connectApiRedis(requireRedisTarget(config));

const http = await startHttp({
  runtime,
  redis,
  log,
  port: 0,
  mountBefore: (app) => {
    app.post('/bench/hello', (_req, res) => {
      res.json({ ok: true });
    });
    app.get('/bench/cpu', (_req, res) => {
      const { user, system } = process.cpuUsage();
      const { active, idle } = performance.eventLoopUtilization();
      res.json({ cpuMicros: user + system, loopActiveMs: active, loopIdleMs: idle });
    });
  },
});
process.stdout.write(`${JSON.stringify({ port: http.port })}\n`);

// Exits normally, so a --cpu-prof run writes its profile.
onShutdown(log, 'bench server', async () => {
  await http.close();
  await redis.quit();
});
