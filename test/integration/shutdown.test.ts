/**
 * R-OPS-3: a graceful stop of the HTTP process finishes the requests in flight and takes no new
 * connection. `close()` is what webhooks/main.ts runs on SIGTERM.
 */
import { expect, it } from 'vitest';
import { loadCatalog } from '../../src/config/catalog.js';
import { loadConfig } from '../../src/config/env.js';
import { startHttp } from '../../src/http/server.js';
import { createLogger } from '../../src/observability/logger.js';
import { connectApiRedis } from '../../src/redis/clients.js';
import { testTarget } from '../support/redis.js';

it('finishes a request in flight, then refuses new connections', async () => {
  const redis = await connectApiRedis(testTarget());
  let release: () => void = () => {};
  let started: () => void = () => {};
  const inFlight = new Promise<void>((r) => {
    started = r;
  });
  const http = await startHttp({
    runtime: {
      config: loadConfig({ NODE_ENV: 'test', REDIS_PREFIX: 'shutdown:' }),
      catalog: loadCatalog('catalog/catalog.example.json'),
    },
    redis,
    log: createLogger({ level: 'silent', name: 'test' }),
    port: 0,
    // A request that holds until the test lets it go, as a slow debit would.
    mountBefore: (app) =>
      app.get('/slow', async (_req, res) => {
        started();
        await new Promise<void>((r) => {
          release = r;
        });
        res.json({ finished: true });
      }),
  });
  const base = `http://127.0.0.1:${http.port}`;
  const pending = fetch(`${base}/slow`).then(async (r) => ({ status: r.status, body: await r.json() }));
  await inFlight;
  const closed = http.close();
  let closedYet = false;
  void closed.then(() => {
    closedYet = true;
  });
  await new Promise((r) => setTimeout(r, 50));
  expect(closedYet).toBe(false); // still waiting for the request in flight
  await expect(fetch(`${base}/healthz`)).rejects.toThrow(); // no new connections
  release();
  expect(await pending).toEqual({ status: 200, body: { finished: true } });
  await closed;
  await redis.quit();
});
