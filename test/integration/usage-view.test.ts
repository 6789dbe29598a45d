/**
 * The usage view (R-USE-1): by day, feature category, feature and credit kind over a range of
 * UTC days, with the current cycle's summary; built from per-day totals the debit script
 * keeps, never from the ledger (R-USE-2 pages the ledger).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PLATFORM, startTestApi, type TestApi } from '../support/http.js';

const NOV_21 = Date.UTC(2026, 10, 21, 12);
const DAY = 86_400_000;

let api: TestApi;
let id: string;
let k = 0;
const use = (body: Record<string, unknown>) =>
  api.call('POST', `/v1/workspaces/${id}/usage`, {
    body: { idempotencyKey: `u${++k}`, mode: 'record', ...body },
    key: PLATFORM,
  });
const view = async (query: string) => {
  const res = await api.call('GET', `/v1/workspaces/${id}/usage?${query}`, { key: PLATFORM });
  expect(res.status).toBe(200);
  return res.body;
};

beforeAll(async () => {
  api = await startTestApi({ now: NOV_21 });
  id = 'usage1';
  expect((await api.call('PUT', `/v1/workspaces/${id}`, { body: { planId: 'growth' } })).status).toBe(201);
  // Nov 21: 120 credits of data and training, all included. Nov 22: 30 included credits left,
  // then flex up to the $100 cap (25 credits at $4), then a shortfall.
  await use({ feature: 'data.labeling', quantity: 20 }); // 20 credits, included
  await use({ feature: 'training.gpu', quantity: 40 }); // 100 credits, included
  api.clock.set(NOV_21 + DAY);
  await use({ credits: 40 }); // 30 included, 10 flex
  await use({ feature: 'third-party.openai', quantity: 32 }); // 10 credits, flex
  await use({ feature: 'deployment.model.hosted', quantity: 40 }); // 10 credits: 5 flex, 5 short
  // A refusal and a replay add nothing.
  expect(
    (
      await api.call('POST', `/v1/workspaces/${id}/usage`, {
        body: { idempotencyKey: 'r', credits: 1 },
        key: PLATFORM,
      })
    ).status,
  ).toBe(402);
  await api.call('POST', `/v1/workspaces/${id}/usage`, {
    body: { idempotencyKey: `u${k}`, mode: 'record', feature: 'deployment.model.hosted', quantity: 40 },
    key: PLATFORM,
  });
});
afterAll(() => api.close());

it('groups by day: what each UTC day debited, shortfall apart', async () => {
  const body = await view('from=2026-11-20&to=2026-11-23&groupBy=day');
  expect(body.from).toBe('2026-11-20');
  expect(body.to).toBe('2026-11-23');
  expect(body.groups).toEqual([
    { key: '2026-11-21', credits: '120', included: '120', prepaid: '0', flex: '0', shortfall: '0' },
    { key: '2026-11-22', credits: '55', included: '30', prepaid: '0', flex: '25', shortfall: '5' },
  ]);
  expect(body.total).toEqual({ credits: '175', included: '150', prepaid: '0', flex: '25', shortfall: '5' });
});

it('groups by category, feature and kind', async () => {
  const byCategory = await view('from=2026-11-21&to=2026-11-22&groupBy=category');
  expect(
    Object.fromEntries(byCategory.groups.map((g: { key: string; credits: string }) => [g.key, g.credits])),
  ).toEqual({
    data: '20',
    training: '100',
    deployment: '5',
    third_party: '10',
    unattributed: '40',
  });
  const byFeature = await view('from=2026-11-21&to=2026-11-22&groupBy=feature');
  expect(byFeature.groups.map((g: { key: string }) => g.key)).toEqual([
    'data.labeling',
    'deployment.model.hosted',
    'third-party.openai',
    'training.gpu',
    'unattributed',
  ]);
  expect(byFeature.groups[1]).toMatchObject({ credits: '5', flex: '5', shortfall: '5' });
  const byKind = await view('from=2026-11-21&to=2026-11-22&groupBy=kind');
  expect(
    byKind.groups.map((g: { key: string; credits: string; shortfall: string }) => [
      g.key,
      g.credits,
      g.shortfall,
    ]),
  ).toEqual([
    ['flex', '25', '0'],
    ['included', '150', '0'],
    ['shortfall', '0', '5'],
  ]);
});

it('narrows to the range asked, defaults to the current cycle, and carries the cycle summary', async () => {
  expect((await view('from=2026-11-22&to=2026-11-22')).total.credits).toBe('55');
  expect((await view('from=2026-11-22T23:59:00Z&to=2026-11-23T00:00:00Z')).total.credits).toBe('55');
  const whole = await view('groupBy=kind');
  expect(whole.from).toBe('2026-11-21');
  expect(whole.to).toBe('2026-11-22');
  expect(whole.total.credits).toBe('175');
  expect(whole.cycle).toMatchObject({
    start: '2026-11-21T12:00:00.000Z',
    included: { granted: '150', used: '150', left: '0' },
    flex: { usedCredits: '25', usedCents: 10_000, capCents: 10_000, leftCredits: '0' },
    blocked: 'flex_cap_reached',
  });
  expect(whole.cycle.alerts.map((a: { type: string }) => a.type)).toContain('flex_cap_reached');
});

it("shows the workspace view's balances in its summary, with API.md's `remaining` and the `left` it always had", async () => {
  const { cycle } = await view('groupBy=kind');
  const ws = (await api.call('GET', `/v1/workspaces/${id}`, { key: PLATFORM })).body;
  expect(cycle.included).toEqual({ ...ws.included, left: ws.included.remaining });
  expect(cycle.prepaid).toEqual({ ...ws.prepaid, left: ws.prepaid.remaining });
  // `enabled` here is whether flex can be used at all (the plan allows it and it is on).
  expect(cycle.flex).toEqual({ ...ws.flex, enabled: true, remainingCredits: '0', leftCredits: '0' });
  expect(cycle.blocked).toBe(ws.blocked);
});

it('does not read the ledger: the view is the same with the ledger trimmed away', async () => {
  const before = await view('groupBy=feature');
  const ledger = api.store.keys(id).ledger;
  await api.redis.rename(ledger, `${ledger}:aside`);
  try {
    expect(await api.redis.exists(ledger)).toBe(0);
    expect(await view('groupBy=feature')).toEqual(before);
  } finally {
    await api.redis.rename(`${ledger}:aside`, ledger);
  }
});

it('refuses a bad range or grouping with a clear 400, and an unknown workspace with 404', async () => {
  const bad = async (q: string) =>
    (await api.call('GET', `/v1/workspaces/${id}/usage?${q}`, { key: PLATFORM })).body.error;
  expect((await bad('from=2026-11-22&to=2026-11-21')).message).toContain('before');
  expect((await bad('from=2020-01-01&to=2026-11-21')).message).toContain('1096 days');
  expect((await bad('groupBy=hour')).code).toBe('invalid_request');
  expect((await bad('from=yesterday')).code).toBe('invalid_request');
  expect((await api.call('GET', '/v1/workspaces/nobody/usage', { key: PLATFORM })).status).toBe(404);
});
