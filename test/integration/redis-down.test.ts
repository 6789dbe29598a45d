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
    // The billing page (issue 11 §1): a session opened before, and a link not yet opened.
    const link = async () =>
      (
        await api.call('POST', '/v1/workspaces/w1/billing-sessions', {
          key: PLATFORM,
          body: { returnUrl: 'https://app.example/' },
        })
      ).body.url as string;
    const opened = await fetch(await link(), { redirect: 'manual' });
    const cookie = opened.headers.get('set-cookie')!.split(';')[0]!;
    const unopened = await link();
    await redis.stop();
    const res = await api.call('POST', '/v1/workspaces/w1/usage', {
      key: PLATFORM,
      body: { idempotencyKey: 'k1', credits: 1 },
    });
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('unavailable');
    expect((await api.call('GET', '/readyz', { key: null })).status).toBe(503);
    expect((await api.call('GET', '/healthz', { key: null })).status).toBe(200);
    // The billing page's routes say so too: 503, never a 500 or a hang.
    const sessions = await api.call('POST', '/v1/workspaces/w1/billing-sessions', {
      key: PLATFORM,
      body: { returnUrl: 'https://app.example/' },
    });
    expect(sessions.status).toBe(503);
    expect((await fetch(unopened, { redirect: 'manual' })).status).toBe(503);
    const page = await fetch(`${api.base}/billing/api/v1/workspaces/w1`, { headers: { cookie } });
    expect(page.status).toBe(503);
    expect(((await page.json()) as { error: { code: string } }).error.code).toBe('unavailable');
  } finally {
    await api.close().catch(() => {});
  }
});
