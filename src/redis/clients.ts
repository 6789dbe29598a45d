/**
 * The Redis clients burnrate's processes open. Request paths fail fast: no offline queue, one
 * retry, and a command timeout, so a Redis that is down *or stalled* (SIGSTOP, a full disk: it
 * keeps its connections open and never answers) turns into a 503 within the timeout instead of
 * a request that waits as long as the stall (R-OPS-3). BullMQ's workers block on purpose and get
 * no timeout of ours (NOTES: a command timeout would cut their blocking reads).
 */
import { Redis, type RedisOptions } from 'ioredis';
import { defineScripts, type ScriptClient } from './scripts.js';

/** A command of the request path that has not answered after this long fails (503). */
export const DEFAULT_COMMAND_TIMEOUT_MS = 1000;
/** A TCP connect that has not completed after this long fails, and ioredis tries again. */
const CONNECT_TIMEOUT_MS = 2000;

/** Options of a client whose commands must fail fast while Redis is unreachable. */
export function failFastOptions(commandTimeoutMs = DEFAULT_COMMAND_TIMEOUT_MS): RedisOptions {
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

/** BullMQ's worker connections: blocking commands, so no retry limit per request and no timeout. */
export function bullConnection(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: null });
}
