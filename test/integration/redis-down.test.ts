/**
 * When Redis cannot be reached, requests fail with 503 instead of passing unchecked: one
 * redis-server stopped, or in the cluster leg every node of a private cluster.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { PLATFORM, startTestApi } from '../support/http.js';
import { startPrivateRedis } from '../support/redis.js';

const dir = mkdtempSync(join(tmpdir(), 'burnrate-down-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('answers 503 unavailable on usage and readiness while Redis is down, and changes nothing', async () => {
  const redis = await startPrivateRedis(dir);
  const api = await startTestApi({ target: redis.target });
  try {
    expect((await api.call('PUT', '/v1/workspaces/w1', { body: { planId: 'growth' } })).status).toBe(201);
    await redis.stop();
    const res = await api.call('POST', '/v1/workspaces/w1/usage', {
      key: PLATFORM,
      body: { idempotencyKey: 'k1', credits: 1 },
    });
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('unavailable');
    expect((await api.call('GET', '/readyz', { key: null })).status).toBe(503);
    expect((await api.call('GET', '/healthz', { key: null })).status).toBe(200);
  } finally {
    await api.close().catch(() => {});
  }
});
