/**
 * The Redis clients burnrate's processes open. Request paths fail fast: no offline queue, one
 * retry, and a command timeout, so a Redis that is down *or stalled* (SIGSTOP, a host that froze:
 * it keeps its connections open and never answers) turns into a 503 within the timeout instead
 * of a request that waits as long as the stall (R-OPS-3). BullMQ's workers block on purpose and
 * get no timeout of ours (NOTES: a command timeout would cut their blocking reads).
 */
import { Redis, type RedisOptions } from 'ioredis';
import { DEFAULT_REDIS_COMMAND_TIMEOUT_MS } from '../config/env.js';
import { defineScripts, type ScriptClient } from './scripts.js';

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
  url: string,
  o: { commandTimeoutMs?: number; extra?: RedisOptions } = {},
): Promise<ScriptClient> {
  const redis = new Redis(url, {
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
    const where = new URL(url);
    if (where.password) where.password = '***';
    process.stderr.write(`burnrate: cannot reach Redis at ${where.href}: ${(err as Error).message}\n`);
    process.exit(1);
  }
  return defineScripts(redis);
}

/**
 * A BullMQ producer's connection (the webhook's and the API's queues): adding a job fails fast
 * while Redis is unreachable, so the webhook answers 503 and Stripe delivers again.
 */
export function producerConnection(url: string, commandTimeoutMs?: number): Redis {
  const redis = new Redis(url, failFastOptions(commandTimeoutMs));
  redis.on('error', () => {});
  return redis;
}

/** How long a client that saw a command time out has to answer a PING before it is dropped. */
const STALL_CONFIRM_MS = 500;

/**
 * Drops, of the given clients, each whose Redis does not answer a PING within half a second:
 * after a command timed out, one client at a time, never on one slow reply alone. ioredis then
 * reconnects by itself and, until Redis answers its ready check, fails every command at once,
 * instead of each request waiting out its own timeout one command after another.
 */
export function stallGuard(clients: readonly Redis[]): () => void {
  const checking = new Set<Redis>();
  const confirm = async (client: Redis) => {
    if (client.status !== 'ready' || checking.has(client)) return;
    checking.add(client);
    let timer: NodeJS.Timeout | undefined;
    const stalled = await Promise.race([
      client.ping().then(
        () => false,
        () => false,
      ),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), STALL_CONFIRM_MS);
      }),
    ]);
    clearTimeout(timer);
    checking.delete(client);
    if (stalled && client.status === 'ready') client.disconnect(true);
  };
  return () => {
    for (const client of clients) void confirm(client);
  };
}

/** BullMQ's worker connections: blocking commands, so no retry limit per request and no timeout. */
export function bullConnection(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: null });
}
