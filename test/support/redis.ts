/**
 * The run's private Redis (global-setup.ts) as every test reaches it: one node, or in the
 * cluster leg (BURNRATE_TEST_REDIS=cluster) a 3-master Redis Cluster. Tests get their clients,
 * their target for startTestApi and the environment of the processes they spawn from here, so
 * the same test runs on both.
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { Cluster, type Redis } from 'ioredis';
import { inject } from 'vitest';
import { openRedis, type RedisClient, type RedisTarget } from '../../src/redis/clients.js';
import { startEmbeddedCluster } from '../../src/redis/embedded-cluster.js';
import { startEmbeddedRedis } from '../../src/redis/embedded-server.js';
import { EngineStore } from '../../src/redis/engine-store.js';
import { defineScripts, type ScriptClient } from '../../src/redis/scripts.js';

/** Where this run's Redis is: `{ url }` for one node, `{ clusterNodes }` for the cluster leg. */
export function testTarget(): RedisTarget {
  return inject('redisTarget');
}

/** True in the cluster leg: for `it.skipIf(onCluster)` on tests that need one redis-server of their own. */
export const onCluster = 'clusterNodes' in testTarget();

/**
 * A client of the run's Redis (or of `target`): a Redis, or a Cluster of the seed nodes.
 * BullMQ's connections come from `bullConnection(target)`, as in the worker.
 */
export function testClient(
  options: Parameters<typeof openRedis>[1] = {},
  target: RedisTarget = testTarget(),
): RedisClient {
  return openRedis(target, options);
}

/** The environment that points a burnrate process (worker, API) at `target`. */
export function targetEnv(target: RedisTarget = testTarget()): Record<string, string> {
  if ('url' in target) return { REDIS_URL: target.url };
  return { REDIS_CLUSTER_NODES: target.clusterNodes.map((n) => `${n.host}:${n.port}`).join(',') };
}

/**
 * The clients a command about the whole keyspace (SCAN, MONITOR, CLIENT INFO) has to ask: every
 * master of a cluster, each holding its own slots, else the one node.
 */
export async function masterNodes(client: RedisClient): Promise<Redis[]> {
  if (!(client instanceof Cluster)) return [client];
  if (client.status !== 'ready') await once(client, 'ready');
  return client.nodes('master');
}

/** Every key that matches `pattern`, from every node that holds keys. */
export async function scanKeys(client: RedisClient, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  for (const node of await masterNodes(client)) {
    let cursor = '0';
    do {
      const [next, batch] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
  }
  return keys;
}

/**
 * A Redis of the test's own, of this leg's kind, for a test that stops it: one redis-server, or
 * in the cluster leg a cluster of 3 masters (no replicas: nothing is to fail over) in `dir`.
 */
export async function startPrivateRedis(
  dir: string,
): Promise<{ target: RedisTarget; stop(): Promise<void> }> {
  if (!onCluster) {
    const redis = await startEmbeddedRedis({ dir, appendOnly: false });
    return { target: { url: redis.url }, stop: redis.stop };
  }
  const cluster = await startEmbeddedCluster({ dir, masters: 3, replicasPerMaster: 0, appendOnly: false });
  return { target: { clusterNodes: cluster.nodes }, stop: cluster.stop };
}

export interface TestRedis {
  redis: ScriptClient;
  prefix: string;
  store: EngineStore;
  target: RedisTarget;
  close(): Promise<void>;
}

/** A client of the run's Redis with a key prefix no other test uses, and a store on it. */
export function testRedis(): TestRedis {
  const target = testTarget();
  const redis = defineScripts(testClient({ maxRetriesPerRequest: 1 }, target));
  const prefix = `t${randomUUID().slice(0, 8)}:`;
  const store = new EngineStore(redis, { prefix, idempotencyTtlSeconds: 3600 });
  return {
    redis,
    prefix,
    store,
    target,
    close: async () => {
      await redis.quit();
    },
  };
}
