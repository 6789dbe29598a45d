/**
 * GET /v1/workspaces/{id}/recommendations (R-ALR-4) over three real cycles: the history comes
 * from the month totals of flex and the included_exhausted alerts of recent cycles.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PLATFORM, startTestApi, type TestApi } from '../support/http.js';

let api: TestApi;
beforeAll(async () => {
  api = await startTestApi({ now: Date.UTC(2026, 8, 1, 12) });
});
afterAll(() => api.close());

it('recommends a bundle and the upgrade after three cycles of running out, with the figures', async () => {
  const id = 'rec1';
  const call = (method: string, path: string, body?: unknown) =>
    api.call(method, `/v1/workspaces/${id}${path}`, { key: PLATFORM, ...(body ? { body } : {}) });
  expect((await api.call('PUT', `/v1/workspaces/${id}`, { body: { planId: 'growth' } })).status).toBe(201);
  const quiet = await call('GET', '/recommendations');
  expect(quiet.status).toBe(200);
  expect(quiet.body.recommendations).toEqual([]);

  // Sep, Oct, Nov: 350 credits a cycle on growth (150 included, 200 flex under a $1,000 cap).
  for (const [i, day] of [Date.UTC(2026, 8, 10), Date.UTC(2026, 9, 10), Date.UTC(2026, 10, 10)].entries()) {
    api.clock.set(day);
    if (i === 0) expect((await call('PATCH', '/flex', { capCents: 100_000 })).status).toBe(200);
    const res = await call('POST', '/usage', { idempotencyKey: `m${i}`, credits: 350 });
    expect(res.body.debited).toEqual({ included: '150', prepaid: '0', flex: '200' });
  }
  api.clock.set(Date.UTC(2026, 10, 21));
  const { body } = await call('GET', '/recommendations');
  expect(body.window).toMatchObject({
    months: ['2026-09', '2026-10', '2026-11'],
    flexCredits: '600',
    flexCostCents: 240_000,
    planCostCents: 119_700,
    spentCents: 359_700,
    cyclesConsidered: 3,
    cyclesIncludedExhausted: 3,
  });
  expect(body.recommendations.map((r: { type: string }) => r.type)).toEqual(['prepaid_bundle', 'upgrade']);
  // 600 credits at once reach the 500 tier (14% off): $2,064 against $2,400 of flex.
  expect(body.recommendations[0]).toMatchObject({
    bundleId: null,
    credits: 600,
    amountCents: 206_400,
    savingCents: 33_600,
  });
  expect(body.recommendations[1]).toMatchObject({ planId: 'scale', savingCents: 90_000 });
  expect(body.recommendations[1].message).toContain('Included credits ran out in 3 of the last 3 cycles');
  expect((await api.call('GET', '/v1/workspaces/none/recommendations', { key: PLATFORM })).status).toBe(404);
});
