/**
 * `npm start`: the whole service on embedded defaults. Without REDIS_URL or REDIS_CLUSTER_NODES
 * it starts a private redis-server (AOF on, data under DATA_DIR, which git ignores), or with
 * REDIS_CLUSTER=<masters> a private Redis Cluster (a replica per master, data under
 * DATA_DIR/cluster/<port>), and stops it on exit; without DATABASE_URL a private PostgreSQL
 * (PGlite, data under DATA_DIR/pg); then it runs the HTTP process and the worker
 * process as children and stops everything when either ends or on Ctrl-C.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { ensureBillingBuilt } from '../../scripts/build-billing.js';
import { openBillingDemo } from '../billing/billing-demo.js';
import { loadCatalog } from '../config/catalog.js';
import { inheritedEnv, loadConfig } from '../config/env.js';
import { WORKER_NODE_FLAGS } from '../config/worker-flags.js';
import { type EmbeddedPostgres, startEmbeddedPostgres } from '../db/embedded-postgres.js';
import { type EmbeddedCluster, startEmbeddedCluster } from '../redis/embedded-cluster.js';
import { type EmbeddedRedis, RedisNotInstalledError, startEmbeddedRedis } from '../redis/embedded-server.js';
import { DEV_WEBHOOK_SECRET, STANDIN_FIXTURES, startStandin } from '../stripe/standin/server.js';

function say(msg: string) {
  process.stdout.write(`${JSON.stringify({ level: 30, time: Date.now(), name: 'burnrate', msg })}\n`);
}

let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig();
  loadCatalog(config.catalogPath);
} catch (err) {
  process.stderr.write(`burnrate: ${(err as Error).message}\n`);
  process.exit(2);
}

function startFailed(err: unknown): never {
  process.stderr.write(`burnrate: ${(err as Error).message}\n`);
  process.exit(err instanceof RedisNotInstalledError ? 3 : 1);
}

let redis: EmbeddedRedis | undefined;
let cluster: EmbeddedCluster | undefined;
// Where the children find Redis: as configured, else what was started here. REDIS_CLUSTER is
// this command's alone (beside REDIS_CLUSTER_NODES it is a config error).
const redisEnv: Record<string, string | undefined> = { REDIS_CLUSTER: undefined };
if (config.embeddedClusterMasters !== undefined) {
  const dir = resolve(config.dataDir, 'cluster');
  cluster = await startEmbeddedCluster({
    dir,
    masters: config.embeddedClusterMasters,
    replicasPerMaster: 1,
    appendOnly: true,
  }).catch(startFailed);
  redisEnv.REDIS_CLUSTER_NODES = cluster.seedList;
  say(
    `started a private Redis Cluster: ${config.embeddedClusterMasters} masters with a replica each at ${cluster.seedList} (AOF on, data in ${dir})`,
  );
} else if (!config.redisUrl && !config.redisClusterNodes) {
  const dir = resolve(config.dataDir, 'redis');
  redis = await startEmbeddedRedis({ dir, appendOnly: true }).catch(startFailed);
  redisEnv.REDIS_URL = redis.url;
  say(`started a private redis-server at ${redis.url} (AOF on, data in ${dir})`);
}

// No DATABASE_URL: a private PGlite (PostgreSQL in WebAssembly, nothing to install) keeps the
// archived ledger under DATA_DIR/pg, served on a loopback port for the API and the worker.
const databaseEnv: Record<string, string> = {};
let postgres: EmbeddedPostgres | undefined;
if (!config.database) {
  const dir = resolve(config.dataDir, 'pg');
  postgres = await startEmbeddedPostgres({ dir }).catch(startFailed);
  databaseEnv.DATABASE_URL = postgres.url;
  say(`no DATABASE_URL: started a private PostgreSQL (PGlite) at ${postgres.url} (data in ${dir})`);
}

// No Stripe configured: the local stand-in plays Stripe, and says so.
const stripeEnv: Record<string, string> = {};
let standin: Awaited<ReturnType<typeof startStandin>> | undefined;
if (!config.stripe.secretKey && !config.stripe.apiBase) {
  const secret = config.stripeWebhookSecret ?? DEV_WEBHOOK_SECRET;
  // The stand-in knows the catalog's prices, so subscriptions to them map to plans.
  const prices = loadCatalog(config.catalogPath).plans.flatMap((p) =>
    p.stripePriceIds.map((id) => ({ id, interval: p.interval })),
  );
  const standinOptions = {
    fixturesPath: STANDIN_FIXTURES,
    prices,
    webhookSecret: secret,
    webhookUrl: `http://127.0.0.1:${config.port}/webhooks/stripe`,
    // STRIPE_STANDIN_RATE_LIMIT: 429s above it, as Stripe answers past its limit.
    rateLimit: config.stripe.standinRateLimit,
  };
  standin = await startStandin({ port: config.stripe.standinPort, ...standinOptions }).catch(() =>
    startStandin({ port: 0, ...standinOptions }),
  );
  Object.assign(stripeEnv, {
    STRIPE_API_BASE: standin.url,
    STRIPE_SECRET_KEY: 'sk_test_standin',
    STRIPE_WEBHOOK_SECRET: secret,
  });
  say(`no STRIPE_SECRET_KEY or STRIPE_API_BASE: using the local Stripe stand-in at ${standin.url}`);
}

// The billing page's bundle, when missing or older than its sources (issue 11 §1).
if (await ensureBillingBuilt()) say('built the billing page (dist/billing)');

const children: ChildProcess[] = [];
for (const entry of ['webhooks/main.ts', 'workers/main.ts']) {
  const flags = entry === 'workers/main.ts' ? WORKER_NODE_FLAGS : [];
  const child = spawn(process.execPath, [...flags, '--import', 'tsx', entry], {
    stdio: 'inherit',
    env: { ...inheritedEnv(), ...stripeEnv, ...redisEnv, ...databaseEnv },
  });
  children.push(child);
  child.on('exit', (code, signal) => {
    if (!stopping) {
      say(`${entry} exited (${signal ?? code}); stopping the rest`);
      void stop(code ?? 1);
    }
  });
}

// A link to a demo workspace's billing page, once the API answers.
void openBillingDemo({ config, say }).catch((err) =>
  say(`no billing page link: ${err instanceof Error ? err.message : String(err)}`),
);

let stopping = false;
async function stop(code: number) {
  if (stopping) return;
  stopping = true;
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((done) => {
          if (c.exitCode !== null || c.signalCode !== null) return done();
          c.once('exit', () => done());
          c.kill('SIGTERM');
        }),
    ),
  );
  await standin?.close();
  if (postgres) {
    await postgres.stop();
    say('stopped the private PostgreSQL (PGlite)');
  }
  if (redis) {
    await redis.stop();
    say('stopped the private redis-server');
  }
  if (cluster) {
    await cluster.stop();
    say(`stopped the private Redis Cluster (pids ${cluster.pids.join(', ')})`);
  }
  process.exit(code);
}
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));
