/**
 * Invoicing on real processes: the Stripe stand-in in the test process, worker processes
 * (workers/main.ts) pointed at it, and workspaces with flex in a closed month written straight
 * through the store (a plan, a Stripe customer, the month's flex), on the run's Redis under a
 * prefix of the test's own.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { Queue } from 'bullmq';
import { loadCatalog } from '../../src/config/catalog.js';
import { INVOICING_QUEUE, type InvoicingJob } from '../../src/queues/invoicing.js';
import { bullConnection } from '../../src/redis/clients.js';
import { freePort } from '../../src/redis/embedded-server.js';
import { queuePrefix } from '../../src/redis/keys.js';
import { indexWorkspace } from '../../src/redis/workspace-index.js';
import { Invoicer, previousMonth } from '../../src/services/invoicing.js';
import { type StandinOptions, startStandin } from '../../src/stripe/standin/server.js';
import { ANNUAL, GROWTH } from './burndown-cases.js';
import { targetEnv, testRedis } from './redis.js';
import { FIXTURES_PATH, WEBHOOK_SECRET } from './stripe.js';

export interface SeededWorkspace {
  id: string;
  annual: boolean;
  customer: string;
  units: number;
}

export async function invoicingWorld(o: { onRequest?: StandinOptions['onRequest'] } = {}) {
  const r = testRedis();
  const port = await freePort();
  const standin = await startStandin({
    port,
    fixturesPath: FIXTURES_PATH,
    webhookSecret: WEBHOOK_SECRET,
    ...(o.onRequest ? { onRequest: o.onRequest } : {}),
  });
  const connection = bullConnection(r.target);
  const queue = new Queue<InvoicingJob>(INVOICING_QUEUE, { connection, prefix: queuePrefix(r.prefix) });
  const invoicer = new Invoicer({
    redis: r.redis,
    store: r.store,
    catalog: loadCatalog('catalog/catalog.example.json'),
    stripe: undefined,
    keyPrefix: r.prefix,
  });
  // The month just closed by the real clock: the worker processes run on it.
  const month = previousMonth(Date.now());
  const children: ChildProcess[] = [];

  return {
    r,
    standin: standin.standin,
    queue,
    invoicer,
    month,

    /** `n` workspaces with flex in `month`; every `annualEvery`-th on the annual plan. */
    async seed(n: number, o2: { prefix: string; annualEvery: number }): Promise<SeededWorkspace[]> {
      const now = Date.now();
      const seeded = Array.from({ length: n }, (_, i) => {
        const id = `${o2.prefix}${i}`;
        const customer = standin.standin.createCustomer({ metadata: { workspace_id: id } }).id;
        // 1 to 50 credits and a fraction that is never billed.
        return {
          id,
          annual: i % o2.annualEvery === 0,
          customer,
          units: ((i % 50) + 1) * 10_000 + (i % 7) * 1_000,
        };
      });
      await Promise.all(
        seeded.map(async (w) => {
          await r.store.upsert({
            workspaceId: w.id,
            terms: w.annual ? ANNUAL : GROWTH,
            meta: { stripeCustomerId: w.customer },
            now,
          });
          await r.redis.hset(r.store.keys(w.id).flexMonths, month, w.units);
          await indexWorkspace(r.redis, r.prefix, w.id);
        }),
      );
      return seeded;
    },

    startWorker(env: Record<string, string> = {}): ChildProcess {
      const child = spawn(process.execPath, ['--import', 'tsx', 'workers/main.ts'], {
        env: {
          ...process.env,
          ...targetEnv(r.target),
          REDIS_PREFIX: r.prefix,
          STRIPE_API_BASE: standin.url,
          STRIPE_SECRET_KEY: 'sk_test_standin',
          WORKER_LOCK_MS: '1000',
          LOG_LEVEL: 'silent',
          ...env,
        },
        stdio: 'ignore',
      });
      children.push(child);
      return child;
    },

    async stop(child: ChildProcess, signal: NodeJS.Signals) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill(signal);
      await exited;
    },

    async close() {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      await Promise.all(
        children.map((c) => (c.exitCode === null && c.signalCode === null ? once(c, 'exit') : null)),
      );
      await queue.close();
      connection.disconnect();
      await standin.close();
      await r.close();
    },
  };
}

/** Polls until `done`; a generous deadline only turns a hang into a clear failure. */
export async function until(what: string, done: () => Promise<boolean>, ms = 60_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await done()) return;
    await new Promise((res) => setTimeout(res, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}
