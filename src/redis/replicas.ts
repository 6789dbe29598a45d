/**
 * Replication is asynchronous (NOTES): a master that dies before its replica has a write takes
 * that write with it when the replica is promoted. `WAIT` after a write, on the connection that
 * wrote it, tells how many replicas have every write that connection sent.
 *
 * A write is not always this connection's: a replayed debit, a redelivered webhook or a retried
 * job finds what another connection or process wrote. So a fence is written first, in the slot
 * of the writes to confirm (on a cluster, the master of that slot is the one the pipeline goes
 * to): the master replicates in order, so a replica that has the fence has everything written
 * on that master before it, by anyone.
 */
import type { RedisClient } from './clients.js';

/**
 * How long a request (a debit, a webhook) waits for replicas before answering 503: well inside
 * the request path's command timeout (1 s by default), which would otherwise cut WAIT short.
 */
export const REQUEST_REPLICA_WAIT_MS = 400;

/** How long a fence is kept: only its replication matters, not its value. */
const FENCE_TTL_MS = 60_000;

/**
 * How many replicas (at most `replicas`) have every write on the master of `fenceKey`'s slot up
 * to now. `fenceKey` is a key of its own (never data) in the slot of the writes to confirm.
 */
export async function replicasHaving(
  client: RedisClient,
  fenceKey: string,
  o: { replicas: number; timeoutMs: number },
): Promise<number> {
  const replies = await client
    .pipeline()
    .set(fenceKey, '1', 'PX', FENCE_TTL_MS)
    .wait(o.replicas, o.timeoutMs)
    .exec();
  const [setErr] = replies?.[0] ?? [new Error('the fence got no reply')];
  if (setErr) throw setErr;
  const [err, acked] = replies?.[1] ?? [new Error('WAIT got no reply'), 0];
  if (err) throw err;
  return Number(acked);
}
