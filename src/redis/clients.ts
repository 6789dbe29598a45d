/**
 * The Redis clients burnrate's processes open, on one node (`REDIS_URL`) or on a Redis Cluster
 * (`REDIS_CLUSTER_NODES`, ioredis' Cluster; R-OPS-4). Request paths fail fast: no offline queue,
 * one retry, and a command timeout, so a Redis that is down *or stalled* (SIGSTOP, a host that
 * froze: it keeps its connections open and never answers) turns into a 503 within the timeout
 * instead of a request that waits as long as the stall (R-OPS-3). BullMQ's workers block on
 * purpose and get no timeout of ours (NOTES: a command timeout would cut their blocking reads).
 */
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';
import { type Config, DEFAULT_REDIS_COMMAND_TIMEOUT_MS } from '../config/env.js';
import { defineScripts, SCRIPTS_WITH_KEY_COUNT_FIRST, type ScriptClient } from './scripts.js';

/** Where Redis is: one node by URL, or a cluster by some of its nodes (the seeds). */
export type RedisTarget = { url: string } | { clusterNodes: { host: string; port: number }[] };

/** A client of either kind; both take the same commands, scripts and MULTI (of one slot). */
export type RedisClient = Redis | Cluster;

/** The configured target, or undefined when neither REDIS_URL nor REDIS_CLUSTER_NODES is set. */
export function redisTargetOf(
  config: Pick<Config, 'redisUrl' | 'redisClusterNodes'>,
): RedisTarget | undefined {
  if (config.redisClusterNodes) return { clusterNodes: config.redisClusterNodes };
  if (config.redisUrl) return { url: config.redisUrl };
  return undefined;
}

/** The target as a log line may show it: a URL without its password, or the seed list. */
export function describeTarget(target: RedisTarget): string {
  if ('clusterNodes' in target)
    return `the Redis Cluster at ${target.clusterNodes.map((n) => `${n.host}:${n.port}`).join(',')}`;
  const where = new URL(target.url);
  if (where.password) where.password = '***';
  return `Redis at ${where.href}`;
}

/** Options of one client; on a Cluster the offline queue, pipelining and lazy connect are its own. */
type ClientOptions = RedisOptions &
  Pick<ClusterOptions, 'enableOfflineQueue' | 'enableAutoPipelining' | 'lazyConnect'>;

/**
 * A client of `target` with `options`: on a cluster the node options go to every node's
 * connection (`redisOptions`), and the offline queue is the Cluster's own, so that a cluster
 * still finding its slots fails commands at once as one node would.
 */
export function openRedis(target: RedisTarget, options: ClientOptions = {}): RedisClient {
  if ('url' in target) return new Redis(target.url, options);
  const { enableOfflineQueue, enableAutoPipelining, lazyConnect, ...node } = options;
  return new Cluster(target.clusterNodes, {
    redisOptions: node,
    autoPipeliningIgnoredCommands: [...SCRIPTS_WITH_KEY_COUNT_FIRST],
    ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue }),
    ...(enableAutoPipelining === undefined ? {} : { enableAutoPipelining }),
    ...(lazyConnect === undefined ? {} : { lazyConnect }),
  });
}

/** A TCP connect that has not completed after this long fails, and ioredis tries again. */
const CONNECT_TIMEOUT_MS = 2000;

/** Options of a client whose commands must fail fast while Redis is unreachable. */
export function failFastOptions(commandTimeoutMs = DEFAULT_REDIS_COMMAND_TIMEOUT_MS): RedisOptions {
  return {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: commandTimeoutMs,
    connectTimeout: CONNECT_TIMEOUT_MS,
  };
}

/**
 * The API's client: fail-fast, and commands issued in one tick go out as one pipeline.
 * Exits the process with a clear message when Redis cannot be reached at start.
 */
export async function connectApiRedis(
  target: RedisTarget,
  o: { commandTimeoutMs?: number; extra?: ClientOptions } = {},
): Promise<ScriptClient> {
  const redis = openRedis(target, {
    lazyConnect: true,
    enableAutoPipelining: true,
    ...failFastOptions(o.commandTimeoutMs),
    ...o.extra,
  });
  // Connection errors surface where they matter: as 503s on requests and /readyz, logged
  // there once per outage; ioredis keeps reconnecting meanwhile.
  redis.on('error', () => {});
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    process.stderr.write(`burnrate: cannot reach ${describeTarget(target)}: ${(err as Error).message}\n`);
    process.exit(1);
  }
  return defineScripts(redis);
}

/**
 * A BullMQ producer's connection (the webhook's and the API's queues): adding a job fails fast
 * while Redis is unreachable, so the webhook answers 503 and Stripe delivers again.
 */
export function producerConnection(target: RedisTarget, commandTimeoutMs?: number): RedisClient {
  const redis = openRedis(target, failFastOptions(commandTimeoutMs));
  redis.on('error', () => {});
  return redis;
}

/** BullMQ's worker connections: blocking commands, so no retry limit per request and no timeout. */
export function bullConnection(target: RedisTarget): RedisClient {
  return openRedis(target, { maxRetriesPerRequest: null });
}

/**
 * The connections that answer for a client: the one node, or each master of a cluster (a
 * Cluster's own PING goes to one node of its choosing, which says nothing about the others).
 */
function masterConnections(client: RedisClient): Redis[] {
  return client instanceof Cluster ? client.nodes('master') : [client];
}

/** Readiness: every master answers a PING (a cluster that is not connected fails at once). */
export async function pingAll(client: RedisClient): Promise<void> {
  if (client instanceof Cluster && client.status !== 'ready') {
    throw new Error(`Redis Cluster client is ${client.status}`);
  }
  await Promise.all(masterConnections(client).map((c) => c.ping()));
}

/** How long a client that saw a command time out has to answer a PING before it is dropped. */
const STALL_CONFIRM_MS = 500;

/** True when `connection` does not answer a PING within STALL_CONFIRM_MS. */
async function stalled(connection: Redis): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([
    connection.ping().then(
      () => false,
      () => false,
    ),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), STALL_CONFIRM_MS);
    }),
  ]);
  clearTimeout(timer);
  return result;
}

/**
 * Drops, of the given clients, each whose Redis does not answer a PING within half a second:
 * after a command timed out, one client at a time, never on one slow reply alone. ioredis then
 * reconnects by itself and, until Redis answers its ready check, fails every command at once,
 * instead of each request waiting out its own timeout one command after another. A Cluster is
 * checked master by master and, when one has stalled, reconnected as a whole: that also fetches
 * the slot map again, which names the replica promoted in the stalled master's place.
 */
export function stallGuard(clients: readonly RedisClient[]): () => void {
  const checking = new Set<RedisClient>();
  const confirm = async (client: RedisClient) => {
    if (client.status !== 'ready' || checking.has(client)) return;
    checking.add(client);
    const verdicts = await Promise.all(
      masterConnections(client)
        .filter((c) => c.status === 'ready')
        .map(stalled),
    );
    checking.delete(client);
    if (verdicts.includes(true) && client.status === 'ready') client.disconnect(true);
  };
  return () => {
    for (const client of clients) void confirm(client);
  };
}
