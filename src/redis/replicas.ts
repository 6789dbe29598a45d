/**
 * Replication is asynchronous (NOTES): a master that dies before its replica has a write takes
 * that write with it when the replica is promoted. `WAIT` after the write, on the connection that
 * wrote it, tells how many replicas have every write that connection sent. On a cluster the
 * write's master is the one its key's slot lives on: a pipeline of a command on that key and
 * WAIT goes to that master's connection, the one the write used.
 */
import type { RedisClient } from './clients.js';

/** How many replicas have every write this client sent to the master of `key` (≤ `replicas`). */
export async function replicasHaving(
  client: RedisClient,
  key: string,
  o: { replicas: number; timeoutMs: number },
): Promise<number> {
  const replies = await client.pipeline().exists(key).wait(o.replicas, o.timeoutMs).exec();
  const [err, acked] = replies?.[1] ?? [new Error('WAIT got no reply'), 0];
  if (err) throw err;
  return Number(acked);
}
