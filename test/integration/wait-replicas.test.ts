/**
 * REDIS_WAIT_REPLICAS (R-CON-2, R-CON-5): a usage event is answered only once the workspace's
 * debits are on that many replicas, so a failover cannot take an acknowledged debit with its
 * master. Asking for more replicas than there are (one node has none; the cluster leg has one a
 * master) answers 503, the debit stays applied once, and a retry with the same key replays it,
 * and waits again. test/integration/cluster-failover.test.ts kills masters under load.
 */
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workspaceKeys } from '../../src/redis/keys.js';
import { PLATFORM, startTestApi, type TestApi } from '../support/http.js';
import { onCluster, testTarget } from '../support/redis.js';

/** Replicas each master has in this leg: more than that can never be confirmed. */
const REPLICAS = onCluster ? 1 : 0;

async function withApi(waitReplicas: number, body: (api: TestApi) => Promise<void>) {
  const api = await startTestApi({ now: Date.now(), env: { REDIS_WAIT_REPLICAS: String(waitReplicas) } });
  try {
    await body(api);
  } finally {
    await api.close();
  }
}

const consume = (api: TestApi, workspaceId: string, key: string, credits = 5) =>
  api.call('POST', `/v1/workspaces/${workspaceId}/usage`, {
    key: PLATFORM,
    body: { idempotencyKey: key, credits },
  });

const remaining = async (api: TestApi, id: string) =>
  (await api.call('GET', `/v1/workspaces/${id}`)).body.included.remaining;

describe('more replicas asked than there are', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi({ now: Date.now(), env: { REDIS_WAIT_REPLICAS: String(REPLICAS + 1) } });
  });
  afterAll(async () => {
    await api.close();
  });

  it('answers 503; the debit is applied once and a retry with its key replays it, waiting again', async () => {
    expect((await api.call('PUT', '/v1/workspaces/w1', { body: { planId: 'growth' } })).status).toBe(201);
    const first = await consume(api, 'w1', 'k1');
    expect(first.status).toBe(503);
    expect(first.body.error.message).toMatch(new RegExp(`on ${REPLICAS} of ${REPLICAS + 1} replicas`));
    expect(await remaining(api, 'w1')).toBe('145');
    const retry = await consume(api, 'w1', 'k1');
    expect(retry.status).toBe(503);
    expect(await remaining(api, 'w1')).toBe('145');
    const ledger = await api.call('GET', '/v1/workspaces/w1/ledger');
    expect(ledger.body.entries.filter((e: { type: string }) => e.type === 'consume')).toHaveLength(1);
  });

  it('answers a batch 503 too', async () => {
    expect((await api.call('PUT', '/v1/workspaces/w2', { body: { planId: 'growth' } })).status).toBe(201);
    const res = await api.call('POST', '/v1/usage/batch', {
      key: PLATFORM,
      body: { events: [{ workspaceId: 'w2', idempotencyKey: 'b1', credits: 2 }] },
    });
    expect(res.status).toBe(503);
    expect(await remaining(api, 'w2')).toBe('148');
  });
});

it('REDIS_WAIT_REPLICAS=0 (the default) answers at once, as before', async () => {
  await withApi(0, async (api) => {
    expect((await api.call('PUT', '/v1/workspaces/w0', { body: { planId: 'growth' } })).status).toBe(201);
    expect((await consume(api, 'w0', 'k0')).status).toBe(200);
  });
});

it.runIf(onCluster)('on a cluster with REDIS_WAIT_REPLICAS=1: answered once its replica has it', async () => {
  const target = testTarget();
  if (!('clusterNodes' in target)) return;
  // Reads go to replicas only: what a promoted replica would have.
  const replicas = new Cluster(target.clusterNodes, { scaleReads: 'slave' });
  try {
    await withApi(1, async (api) => {
      expect((await api.call('PUT', '/v1/workspaces/wr', { body: { planId: 'growth' } })).status).toBe(201);
      const keys = workspaceKeys(api.prefix, 'wr');
      // The ledger on the replica, at each answer: the cycle's grant and every debit so far.
      for (let i = 0; i < 20; i++) {
        const res = await consume(api, 'wr', `r${i}`, 1);
        expect(res.status).toBe(200);
        expect(await replicas.xlen(keys.ledger)).toBe(i + 2);
      }
      const batch = await api.call('POST', '/v1/usage/batch', {
        key: PLATFORM,
        body: { events: [{ workspaceId: 'wr', idempotencyKey: 'rb', credits: 1 }] },
      });
      expect(batch.status).toBe(200);
      expect(await replicas.xlen(keys.ledger)).toBe(22);
      // The replay waits too, and answers the first reply.
      expect((await consume(api, 'wr', 'r0', 1)).status).toBe(200);
      expect(await remaining(api, 'wr')).toBe('129');
    });
  } finally {
    replicas.disconnect();
  }
});
