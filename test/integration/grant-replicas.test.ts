/**
 * R-PRE-2, R-WH-2: a grant completes its BullMQ job only once a replica has it (WAIT), so a grant
 * that a failover took with its master is applied again from the retried job, once. On a
 * cluster (the tests' cluster leg: one replica a master) the job completes; on one node with no
 * replica it is retried instead, and the credits are still granted exactly once.
 */
import type { Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../support/http.js';
import { onCluster } from '../support/redis.js';
import { event, paidCheckoutSession, sign } from '../support/stripe.js';
import { drained, startStripeWorker } from '../support/stripe-worker.js';

let api: TestApi;
let worker: Worker;
beforeAll(async () => {
  api = await startTestApi({ now: Date.now() });
  worker = startStripeWorker(api, { grantReplicas: 1 });
  await worker.waitUntilReady();
});
afterAll(async () => {
  await worker.close();
  await api.close();
});

async function buy(workspaceId: string) {
  expect(
    (await api.call('PUT', `/v1/workspaces/${workspaceId}`, { body: { planId: 'growth' } })).status,
  ).toBe(201);
  const e = event('checkout.session.completed', paidCheckoutSession({ workspaceId, credits: '40' }));
  const payload = JSON.stringify(e);
  const res = await fetch(`${api.base}/webhooks/stripe`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'stripe-signature': sign(payload) },
    body: payload,
  });
  expect(res.status).toBe(200);
  return e.id as string;
}

const prepaid = async (id: string) => (await api.call('GET', `/v1/workspaces/${id}`)).body.prepaid.remaining;

it.runIf(onCluster)('on a cluster: the grant reaches a replica and its job completes', async () => {
  const id = await buy('replicated');
  await drained(api.stripeQueue);
  expect(await (await api.stripeQueue.getJob(id))?.getState()).toBe('completed');
  expect(await prepaid('replicated')).toBe('40');
});

it.skipIf(onCluster)(
  'on one node with no replica: the job is retried, not completed, and grants once',
  async () => {
    const id = await buy('unreplicated');
    let job = await api.stripeQueue.getJob(id);
    for (let i = 0; i < 100 && (job?.attemptsMade ?? 0) < 2; i++) {
      await new Promise((r) => setTimeout(r, 100));
      job = await api.stripeQueue.getJob(id);
    }
    expect(job?.attemptsMade).toBeGreaterThanOrEqual(2);
    expect(await job?.getState()).not.toBe('completed');
    expect(job?.failedReason).toMatch(/on 0 of 1 replicas/);
    expect(await prepaid('unreplicated')).toBe('40');
    const ledger = await api.call('GET', '/v1/workspaces/unreplicated/ledger');
    expect(
      ledger.body.entries.filter(
        (e: { type: string; ref: string }) => e.type === 'grant' && e.ref.startsWith('checkout:'),
      ),
    ).toHaveLength(1);
  },
  20_000,
);

describe('the receiver acknowledges a paid event only once its job is on a replica (R-WH-2)', () => {
  let strict: TestApi;
  beforeAll(async () => {
    strict = await startTestApi({ now: Date.now(), env: { REDIS_GRANT_REPLICAS: '1' } });
  });
  afterAll(async () => {
    await strict.close();
  });

  const deliver = async (payload: string) => {
    const res = await fetch(`${strict.base}/webhooks/stripe`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'stripe-signature': sign(payload) },
      body: payload,
    });
    return { status: res.status, body: (await res.json()) as { error?: { message: string } } };
  };
  const paid = () =>
    JSON.stringify(
      event('checkout.session.completed', paidCheckoutSession({ workspaceId: 'r', credits: '1' })),
    );

  it.runIf(onCluster)('on a cluster: 200 once a replica has the job, and for its redelivery', async () => {
    const payload = paid();
    expect(await deliver(payload)).toEqual({ status: 200, body: { received: true } });
    expect(await deliver(payload)).toEqual({ status: 200, body: { received: true, duplicate: true } });
  });

  it.skipIf(onCluster)(
    'on one node with no replica: 503, so Stripe delivers again, and the redelivery too',
    async () => {
      const payload = paid();
      const first = await deliver(payload);
      expect(first.status).toBe(503);
      expect(first.body.error?.message).toMatch(/on 0 of 1 replicas/);
      // The job is there (so the redelivery adds none), but unacknowledged until replicated.
      expect(await strict.stripeQueue.getJob(JSON.parse(payload).id)).toBeTruthy();
      expect((await deliver(payload)).status).toBe(503);
    },
  );
});
