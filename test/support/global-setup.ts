/**
 * One private Redis for the whole test run, on free ports, with nothing on disk that outlives
 * the run: a single redis-server, or with BURNRATE_TEST_REDIS=cluster a Redis Cluster of 3
 * masters with a replica each (the cluster leg of `.ci/run`, R-OPS-4). Each test file works
 * under its own key prefix (test/support/redis.ts), so files never see each other's data and
 * can run in any order.
 *
 * And one PostgreSQL for the tests that use it: the machine's on 127.0.0.1:5432 (database
 * `test`) when it answers, else a private PGlite served on a loopback port, so a fresh
 * machine needs none. BURNRATE_TEST_DATABASE_URL names another (`embedded`: PGlite always). Each test file works in a
 * schema of its own (test/support/db.ts).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../../src/db/embedded-postgres.js';
import type { RedisTarget } from '../../src/redis/clients.js';
import { startEmbeddedCluster } from '../../src/redis/embedded-cluster.js';
import { startEmbeddedRedis } from '../../src/redis/embedded-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisTarget: RedisTarget;
    databaseUrl: string;
  }
}

const MACHINE_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';

/** Whether a PostgreSQL answers at `url` within a second. */
async function answers(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/** The tests' PostgreSQL, and how to stop it when it is ours. */
async function testDatabase(): Promise<{ url: string; stop(): Promise<void> }> {
  // `embedded`: PGlite even where a PostgreSQL answers (what a fresh machine runs).
  if (process.env.BURNRATE_TEST_DATABASE_URL === 'embedded') return startEmbeddedPostgres();
  const url = process.env.BURNRATE_TEST_DATABASE_URL ?? MACHINE_DATABASE_URL;
  if (await answers(url)) return { url, stop: async () => {} };
  if (process.env.BURNRATE_TEST_DATABASE_URL)
    throw new Error('BURNRATE_TEST_DATABASE_URL is set but no PostgreSQL answers there');
  return startEmbeddedPostgres();
}

/**
 * cluster-node-timeout: low, so a test that kills a master sees its replica promoted within
 * seconds instead of the default 15 s; not lower, so that a busy 2-core machine does not fail
 * over a master nobody killed.
 */
const NODE_TIMEOUT_MS = 3000;

export default async function setup(project: TestProject) {
  const leg = process.env.BURNRATE_TEST_REDIS ?? 'single';
  if (leg !== 'single' && leg !== 'cluster') {
    throw new Error(`BURNRATE_TEST_REDIS must be 'single' (the default) or 'cluster', not '${leg}'`);
  }
  const dir = mkdtempSync(join(tmpdir(), `burnrate-test-${leg}-`));
  let stop: () => Promise<void>;
  if (leg === 'cluster') {
    const cluster = await startEmbeddedCluster({
      dir,
      masters: 3,
      replicasPerMaster: 1,
      appendOnly: false,
      nodeTimeoutMs: NODE_TIMEOUT_MS,
    });
    project.provide('redisTarget', { clusterNodes: cluster.nodes });
    stop = cluster.stop;
  } else {
    const redis = await startEmbeddedRedis({ dir, appendOnly: false });
    project.provide('redisTarget', { url: redis.url });
    stop = redis.stop;
  }
  const database = await testDatabase();
  project.provide('databaseUrl', database.url);
  return async () => {
    await database.stop();
    await stop();
    rmSync(dir, { recursive: true, force: true });
  };
}
