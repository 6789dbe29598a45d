/**
 * One private Redis for the whole test run, on free ports, with nothing on disk that outlives
 * the run: a single redis-server, or with BURNRATE_TEST_REDIS=cluster a Redis Cluster of 3
 * masters with a replica each (the cluster leg of `.ci/run`, R-OPS-4). Each test file works
 * under its own key prefix (test/support/redis.ts), so files never see each other's data and
 * can run in any order.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import type { RedisTarget } from '../../src/redis/clients.js';
import { startEmbeddedCluster } from '../../src/redis/embedded-cluster.js';
import { startEmbeddedRedis } from '../../src/redis/embedded-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisTarget: RedisTarget;
  }
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
  return async () => {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  };
}
