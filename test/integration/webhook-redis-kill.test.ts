/**
 * R-PRE-2, R-WH-2: no paid purchase is lost when Redis dies under a webhook storm. redis-server
 * (AOF on, as `npm start` and docker compose run it) is SIGKILLed and restarted again and again
 * while paid Checkout events arrive; each is redelivered, as Stripe does, until it is answered
 * 2xx. Afterwards every session is granted exactly once. A receiver that claimed an event id in
 * a key of its own before queueing its job lost events here for good: the claim survived a kill
 * that the job did not, and every redelivery was answered as a duplicate.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'bullmq';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type EmbeddedRedis, startEmbeddedRedis } from '../../src/redis/embedded-server.js';
import { startTestApi, type TestApi } from '../support/http.js';
import { onCluster } from '../support/redis.js';
import { event, paidCheckoutSession, sign } from '../support/stripe.js';
import { settledWithoutFailures, startStripeWorker } from '../support/stripe-worker.js';

const WORKSPACES = 8;
const SESSIONS = 1200;
const KILLS = 6;
const dir = mkdtempSync(join(tmpdir(), 'burnrate-kill-'));
let redis: EmbeddedRedis;
let api: TestApi;
let worker: Worker;

// One redis-server of its own, killed and restarted: the single-node leg runs it; the cluster
// leg skips it (killing a cluster's master is a failover, with a test of its own).
beforeAll(async () => {
  if (onCluster) return;
  redis = await startEmbeddedRedis({ dir, appendOnly: true });
  api = await startTestApi({ target: { url: redis.url }, now: Date.now() });
  // Short locks: a job whose Redis died mid-step runs again within a second or two.
  worker = startStripeWorker(api, { lockMs: 1000, name: 'kill-worker' });
});
afterAll(async () => {
  if (onCluster) return;
  await worker.close().catch(() => {});
  await api.close().catch(() => {});
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Stripe's side: POST until a 2xx, whatever happens meanwhile. */
async function deliverUntilAcknowledged(payload: string): Promise<{ attempts: number; body: unknown }> {
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await fetch(`${api.base}/webhooks/stripe`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'stripe-signature': sign(payload) },
        body: payload,
      });
      const body: unknown = await res.json();
      if (res.ok) return { attempts: attempt, body };
      expect(res.status).toBe(503);
    } catch (err) {
      if (!(err instanceof TypeError)) throw err; // fetch's network failure only
    }
    await sleep(20);
  }
}

it.skipIf(onCluster)(
  'kills redis-server again and again under a webhook storm: every paid session granted exactly once',
  async () => {
    for (let w = 0; w < WORKSPACES; w++) {
      expect((await api.call('PUT', `/v1/workspaces/k${w}`, { body: { planId: 'growth' } })).status).toBe(
        201,
      );
    }
    const expected = new Map<string, number>();
    const payloads = Array.from({ length: SESSIONS }, (_, i) => {
      const workspaceId = `k${i % WORKSPACES}`;
      const credits = 1 + (i % 5);
      expected.set(workspaceId, (expected.get(workspaceId) ?? 0) + credits);
      const session = paidCheckoutSession({ workspaceId, credits: String(credits) });
      return JSON.stringify(event('checkout.session.completed', session));
    });

    let next = 0;
    let retried = 0;
    const senders = Array.from({ length: 24 }, async () => {
      while (next < payloads.length) {
        const payload = payloads[next++] as string;
        retried += (await deliverUntilAcknowledged(payload)).attempts - 1;
      }
    });
    const killer = (async () => {
      for (let k = 0; k < KILLS; k++) {
        await sleep(250 + 150 * k);
        process.kill(redis.pid, 'SIGKILL');
        await sleep(100);
        redis = await startEmbeddedRedis({ dir, appendOnly: true, port: redis.port });
      }
    })();
    await Promise.all([...senders, killer]);
    // The kills happened during the storm, not after it: some deliveries needed another try.
    expect(retried).toBeGreaterThan(0);

    // Every event acknowledged: a redelivery of any of them now is a duplicate of a queued job.
    // (Until 2xx again: a connection the last kill dropped may still be reconnecting.)
    for (const payload of payloads.slice(0, 50)) {
      expect((await deliverUntilAcknowledged(payload)).body).toEqual({ received: true, duplicate: true });
    }

    await settledWithoutFailures(api.stripeQueue, 600);
    // Reads until answered: the API's own client may still be reconnecting after the last kill
    // (a 503 then, as any caller would get and retry).
    const read = async (path: string) => {
      for (let i = 0; ; i++) {
        const res = await api.call('GET', path);
        if (res.status !== 503 || i >= 100) {
          expect(res.status, path).toBe(200);
          return res;
        }
        await sleep(50);
      }
    };
    for (const [workspaceId, credits] of expected) {
      const ws = await read(`/v1/workspaces/${workspaceId}`);
      expect(ws.body.prepaid.remaining, workspaceId).toBe(String(credits));
    }
    const grants = await Promise.all(
      [...expected.keys()].map((id) => read(`/v1/workspaces/${id}/ledger?limit=500`)),
    );
    const refs = grants.flatMap((g) =>
      g.body.entries.filter((e: { type: string }) => e.type === 'grant').map((e: { ref: string }) => e.ref),
    );
    const checkouts = refs.filter((r: string) => r.startsWith('checkout:'));
    expect(checkouts).toHaveLength(SESSIONS);
    expect(new Set(checkouts).size).toBe(SESSIONS);
  },
  120_000,
);
