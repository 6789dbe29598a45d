/**
 * R-OPS-3: after a command timed out, the stall guard drops a client only when its Redis does
 * not answer a PING within half a second: a stall (SIGSTOP) is dropped, a slow moment is not
 * (dropping fails every request in flight on that connection). And which Redis replies count
 * as "unavailable" (503), not as faults of burnrate's (500).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { DEFAULT_REDIS_COMMAND_TIMEOUT_MS } from '../../src/config/env.js';
import { isRedisUnavailable } from '../../src/http/errors.js';
import { failFastOptions, stallGuard } from '../../src/redis/clients.js';
import { type EmbeddedRedis, startEmbeddedRedis } from '../../src/redis/embedded-server.js';
import { onCluster } from '../support/redis.js';

const dir = mkdtempSync(join(tmpdir(), 'burnrate-guard-'));
let server: EmbeddedRedis;
beforeAll(async () => {
  server = await startEmbeddedRedis({ dir, appendOnly: false });
});
afterAll(async () => {
  process.kill(server.pid, 'SIGCONT');
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function client(): Promise<{ redis: Redis; closes: () => number }> {
  // closes: how often the connection ended (a dropped client's ends when Redis resumes).
  const redis = new Redis(server.url, failFastOptions());
  redis.on('error', () => {});
  let closes = 0;
  redis.on('close', () => closes++);
  await new Promise((r) => redis.once('ready', r));
  return { redis, closes: () => closes };
}

// The first two run on one redis-server of the test's own (SIGSTOPped); on the cluster leg they
// would repeat the single-node leg exactly, so it skips them.
it.skipIf(onCluster)('keeps a client whose Redis was only slow for a moment', async () => {
  const { redis, closes } = await client();
  const other = new Redis(server.url);
  // A script that keeps Redis busy for 200 ms (DEBUG SLEEP is off by default in Redis 7).
  const sleeping = other.eval(
    "local t = redis.call('TIME') repeat local n = redis.call('TIME') until (n[1] - t[1]) * 1000000 + (n[2] - t[2]) > 200000 return 1",
    0,
  );
  await new Promise((r) => setTimeout(r, 20));
  stallGuard([redis])();
  await sleeping;
  await new Promise((r) => setTimeout(r, 700));
  expect(closes()).toBe(0);
  expect(redis.status).toBe('ready');
  expect(await redis.ping()).toBe('PONG');
  redis.disconnect();
  other.disconnect();
});

it.skipIf(onCluster)(
  'drops a client whose Redis is stalled, and it is ready again by itself when Redis resumes',
  async () => {
    const { redis } = await client();
    process.kill(server.pid, 'SIGSTOP');
    stallGuard([redis])();
    await new Promise((r) => setTimeout(r, 700));
    // Dropped: its socket is ended (closed once the peer answers), so commands fail at once,
    // with "not writeable", not after the command timeout (1 s) with "Command timed out". The
    // message tells the two apart; the time bound is only a coarse second check, loose enough
    // for a CI whose two cores other test files keep busy (it was 50 ms).
    const t0 = performance.now();
    await expect(redis.ping()).rejects.toThrow(/writeable/);
    expect(performance.now() - t0).toBeLessThan(DEFAULT_REDIS_COMMAND_TIMEOUT_MS / 2);
    process.kill(server.pid, 'SIGCONT');
    await new Promise((r) => redis.once('ready', r));
    expect(await redis.ping()).toBe('PONG');
    redis.disconnect();
  },
);

it('Redis replies that say it cannot serve now are unavailable, not internal', () => {
  for (const message of [
    "READONLY You can't write against a read only replica.",
    'MISCONF Redis is configured to save RDB snapshots, but it is currently not able to persist on disk.',
    "OOM command not allowed when used memory > 'maxmemory'.",
    'LOADING Redis is loading the dataset in memory',
    'BUSY Redis is busy running a script.',
    'CLUSTERDOWN The cluster is down',
    'TRYAGAIN Multiple keys request during rehashing of slot',
    'MOVED 3744 127.0.0.1:28829',
    'ASK 3744 127.0.0.1:28829',
    'MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to no',
    'NOAUTH Authentication required.',
    'WRONGPASS invalid username-password pair or user is disabled.',
    "Cluster isn't ready and enableOfflineQueue options is false",
    'Failed to refresh slots cache.',
    'Command timed out',
    'Command aborted due to connection close',
    'Too many Cluster redirections. Last error: ReplyError: CLUSTERDOWN The cluster is down',
  ]) {
    expect(isRedisUnavailable(new Error(message)), message).toBe(true);
  }
  expect(isRedisUnavailable(Object.assign(new Error('x'), { name: 'ClusterAllFailedError' }))).toBe(true);
  for (const message of [
    'ERR wrong number of arguments',
    'WRONGTYPE Operation against a key holding the wrong kind of value',
  ]) {
    expect(isRedisUnavailable(new Error(message)), message).toBe(false);
  }
});
