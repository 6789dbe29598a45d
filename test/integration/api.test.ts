/** The platform API end to end over HTTP, on a real Redis (../shared/API.md). */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ROUTES } from '../../src/http/routes.js';
import { OPERATOR, PLATFORM, startTestApi, type TestApi } from '../support/http.js';

let api: TestApi;
beforeAll(async () => {
  api = await startTestApi();
});
afterAll(() => api.close());
beforeEach(() => api.clock.set(Date.UTC(2026, 10, 21, 12)));

let n = 0;
async function workspace(planId = 'growth', extra: Record<string, unknown> = {}) {
  const id = `ws${++n}`;
  const res = await api.call('PUT', `/v1/workspaces/${id}`, { body: { planId, ...extra } });
  expect(res.status).toBe(201);
  return id;
}
const use = (id: string, body: Record<string, unknown>) =>
  api.call('POST', `/v1/workspaces/${id}/usage`, { body, key: PLATFORM });

describe('auth (R-OPS-5)', () => {
  it('takes no key only on health, readiness and metrics', async () => {
    expect((await api.call('GET', '/healthz', { key: null })).status).toBe(200);
    expect((await api.call('GET', '/readyz', { key: null })).status).toBe(200);
    const metrics = await api.call('GET', '/metrics', { key: null });
    expect(metrics.status).toBe(200);
    expect(metrics.body).toContain('burnrate_debits_total');
    expect((await api.call('GET', '/openapi.json', { key: null })).status).toBe(401);
    expect((await api.call('GET', '/v1/catalog', { key: null })).status).toBe(401);
  });

  it('answers 401 to a wrong key and 403 to a platform key on an operator route', async () => {
    const wrong = await api.call('GET', '/v1/catalog', { key: 'not-a-key' });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.code).toBe('unauthorized');
    const res = await api.call('PUT', '/v1/workspaces/x1', { body: { planId: 'growth' }, key: PLATFORM });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('forbidden');
    expect((await api.call('GET', '/v1/workspaces/x1', { key: PLATFORM })).status).toBe(404);
  });

  it('lets an operator key do what a platform key may', async () => {
    const id = await workspace();
    expect((await api.call('GET', `/v1/workspaces/${id}`, { key: OPERATOR })).status).toBe(200);
  });
});

describe('workspaces', () => {
  it('creates with the plan allotment and default flex cap (R-CAT-1, R-FLX-1)', async () => {
    const id = await workspace('growth');
    const { body } = await api.call('GET', `/v1/workspaces/${id}`, { key: PLATFORM });
    expect(body).toMatchObject({
      planId: 'growth',
      included: { granted: '150', used: '0', remaining: '150' },
      prepaid: { remaining: '0' },
      flex: { enabled: true, allowed: true, capCents: 10_000, thresholdCents: null, usedCredits: '0' },
      cycle: { interval: 'month', start: '2026-11-21T12:00:00.000Z', end: '2026-12-21T12:00:00.000Z' },
      blocked: null,
      alerts: [],
    });
  });

  it('R-CYC-2 setting a different plan starts a new cycle and expires the old remainder', async () => {
    const id = await workspace('growth');
    expect((await use(id, { idempotencyKey: 'a', credits: 40 })).status).toBe(200);
    api.clock.advance(3 * 86_400_000);
    const res = await api.call('PUT', `/v1/workspaces/${id}`, { body: { planId: 'growth-annual' } });
    expect(res.status).toBe(200);
    expect(res.body.included).toEqual({ granted: '1800', used: '0', remaining: '1800' });
    expect(res.body.cycle.interval).toBe('year');
    expect(res.body.flex.capCents).toBe(120_000);
    const ledger = await api.call('GET', `/v1/workspaces/${id}/ledger`, { key: PLATFORM });
    expect(ledger.body.entries.slice(0, 2)).toMatchObject([
      { type: 'grant', kind: 'included', credits: '1800' },
      { type: 'expiry', kind: 'included', credits: '-110', ref: 'plan_change' },
    ]);
    // The same plan again keeps the cycle.
    const again = await api.call('PUT', `/v1/workspaces/${id}`, { body: { planId: 'growth-annual' } });
    expect(again.body.cycle).toEqual(res.body.cycle);
  });

  it('R-CYC-1 a read after the cycle ended shows the new cycle, with the expiry on the ledger', async () => {
    const id = await workspace('growth');
    await use(id, { idempotencyKey: 'a', credits: '100.5' });
    api.clock.advance(31 * 86_400_000);
    const { body } = await api.call('GET', `/v1/workspaces/${id}`, { key: PLATFORM });
    expect(body.included).toEqual({ granted: '150', used: '0', remaining: '150' });
    const ledger = await api.call('GET', `/v1/workspaces/${id}/ledger?limit=2`, { key: PLATFORM });
    expect(ledger.body.entries).toMatchObject([
      { type: 'grant', kind: 'included', credits: '150', balanceAfter: '150' },
      { type: 'expiry', kind: 'included', credits: '-49.5', balanceAfter: '0' },
    ]);
  });

  it('R-CAT-3 picks the price book by createdAt and R-CAT-5 applies enterprise overrides', async () => {
    const legacy = await workspace('growth', { createdAt: '2026-03-27T23:59:59Z' });
    const current = await workspace('growth', { createdAt: '2026-03-28T00:00:00Z' });
    expect((await api.call('GET', `/v1/workspaces/${legacy}`)).body.priceBook).toBe('legacy-2025');
    expect((await api.call('GET', `/v1/workspaces/${current}`)).body.priceBook).toBe('2026-03-28');
    const res = await api.call('PUT', '/v1/workspaces/acme-enterprise', { body: { planId: 'growth' } });
    expect(res.body.included.granted).toBe('5000');
    expect(res.body.flex).toMatchObject({ unitAmountCents: '350', capCents: 500_000 });
    const custom = await workspace('growth', { overrides: { includedCredits: '10', flexAllowed: false } });
    const w = (await api.call('GET', `/v1/workspaces/${custom}`)).body;
    expect(w).toMatchObject({ included: { granted: '10' }, flex: { allowed: false } });
  });

  it.each([
    ['an unknown plan', 'ws-bad', { planId: 'platinum' }],
    ['an unknown field', 'ws-bad', { planId: 'growth', plan: 'x' }],
    ['a bad createdAt', 'ws-bad', { planId: 'growth', createdAt: 'yesterday' }],
    ['a bad override', 'ws-bad', { planId: 'growth', overrides: { includedCredits: '-5' } }],
    ['a bad workspace id', 'ws%7Bx%7D', { planId: 'growth' }],
    ['a too long workspace id', 'w'.repeat(65), { planId: 'growth' }],
  ])('refuses %s with 400 and creates nothing', async (_what, id, body) => {
    const res = await api.call('PUT', `/v1/workspaces/${id}`, { body });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_request');
    expect((await api.call('GET', `/v1/workspaces/${id}`)).status).not.toBe(200);
  });
});

describe('spending credits', () => {
  it('R-CON-1 consumes included, then prepaid, then flex, and says so', async () => {
    const id = await workspace('growth');
    await api.call('POST', `/v1/workspaces/${id}/adjustments`, {
      body: { idempotencyKey: 'p1', kind: 'prepaid', credits: 10, reason: 'goodwill' },
    });
    const res = await use(id, { idempotencyKey: 'u1', credits: '165.5' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      ok: true,
      debited: { included: '150', prepaid: '10', flex: '5.5' },
      workspace: {
        included: { remaining: '0' },
        prepaid: { remaining: '0' },
        flex: { usedCredits: '5.5', usedCents: 2200 },
      },
    });
    expect(res.body.usageId).toMatch(/^use_/);
  });

  it('R-CON-2 refuses with 402 and a reason, debiting nothing', async () => {
    const id = await workspace('free');
    const res = await use(id, { idempotencyKey: 'u1', credits: 31 });
    expect(res.status).toBe(402);
    expect(res.body).toMatchObject({ ok: false, reason: 'plan_blocks_flex', available: '30' });
    expect((await api.call('GET', `/v1/workspaces/${id}`)).body.included.remaining).toBe('30');
  });

  it('R-CON-5 a repeated key returns the first answer; another body under it is 409', async () => {
    const id = await workspace('growth');
    const first = await use(id, { idempotencyKey: 'same', credits: 2 });
    const again = await use(id, { idempotencyKey: 'same', credits: '2.0' });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    const other = await use(id, { idempotencyKey: 'same', credits: 3 });
    expect(other.status).toBe(409);
    expect(other.body.error.code).toBe('idempotency_conflict');
    expect((await api.call('GET', `/v1/workspaces/${id}`)).body.included.remaining).toBe('148');
  });

  it('R-CON-4 record books the shortfall and blocks the workspace', async () => {
    const id = await workspace('free');
    const res = await use(id, { idempotencyKey: 'r1', credits: 32, mode: 'record' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ ok: true, debited: { included: '30' }, shortfall: '2' });
    expect(res.body.workspace.blocked).toBe('plan_blocks_flex');
    const refused = await use(id, { idempotencyKey: 'c1', credits: '0.0001' });
    expect(refused.body.reason).toBe('insufficient_credits');
    const ledger = await api.call('GET', `/v1/workspaces/${id}/ledger?limit=1`, { key: PLATFORM });
    expect(ledger.body.entries[0]).toMatchObject({ type: 'shortfall', kind: null, credits: '-2' });
  });

  it('R-CAT-4 prices a feature quantity from the rate card, hosted and self-hosted alike', async () => {
    const id = await workspace('growth');
    const hosted = await use(id, { idempotencyKey: 'h', feature: 'deployment.model.hosted', quantity: 3 });
    const self = await use(id, { idempotencyKey: 's', feature: 'deployment.model.self-hosted', quantity: 3 });
    expect(hosted.body.debited.included).toBe('0.75');
    expect(self.body.debited.included).toBe('0.75');
    const thirdParty = await use(id, { idempotencyKey: 't', feature: 'third-party.gpt', quantity: '1.6' });
    expect(thirdParty.body.debited.included).toBe('0.5');
    const ledger = await api.call('GET', `/v1/workspaces/${id}/ledger?limit=1`, { key: PLATFORM });
    expect(ledger.body.entries[0].feature).toBe('third-party.gpt');
  });

  it('R-CON-3 authorize answers without debiting', async () => {
    const id = await workspace('growth');
    const yes = await api.call('POST', `/v1/workspaces/${id}/authorize`, {
      body: { credits: 175 },
      key: PLATFORM,
    });
    expect(yes.body).toEqual({ ok: true, credits: '175', available: '175' });
    const no = await api.call('POST', `/v1/workspaces/${id}/authorize`, { body: { credits: '175.0001' } });
    expect(no.body).toMatchObject({ ok: false, reason: 'flex_cap_reached', available: '175' });
    expect((await api.call('GET', `/v1/workspaces/${id}`)).body.included.remaining).toBe('150');
  });

  describe('bad input gets a 4xx and changes nothing', () => {
    const cases: [string, unknown, number][] = [
      ['negative credits', { idempotencyKey: 'k', credits: -1 }, 400],
      ['zero credits', { idempotencyKey: 'k', credits: 0 }, 400],
      ['"NaN"', { idempotencyKey: 'k', credits: 'NaN' }, 400],
      ['"Infinity"', { idempotencyKey: 'k', credits: 'Infinity' }, 400],
      ['more than 4 decimals', { idempotencyKey: 'k', credits: '1.00001' }, 400],
      ['a float with more than 4 decimals', { idempotencyKey: 'k', credits: 0.123456 }, 400],
      ['an exponent', { idempotencyKey: 'k', credits: 1e21 }, 400],
      ['an absurdly large amount', { idempotencyKey: 'k', credits: '99999999999' }, 400],
      ['credits as an object', { idempotencyKey: 'k', credits: { value: 1 } }, 400],
      ['credits as a boolean', { idempotencyKey: 'k', credits: true }, 400],
      ['no idempotency key', { credits: 1 }, 400],
      ['an idempotency key with spaces', { idempotencyKey: 'a b', credits: 1 }, 400],
      [
        'both credits and a feature',
        { idempotencyKey: 'k', credits: 1, feature: 'training.gpu', quantity: 1 },
        400,
      ],
      ['a feature without quantity', { idempotencyKey: 'k', feature: 'training.gpu' }, 400],
      ['an unknown feature', { idempotencyKey: 'k', feature: 'quantum.gpu', quantity: 1 }, 400],
      ['an unknown mode', { idempotencyKey: 'k', credits: 1, mode: 'steal' }, 400],
      ['an array body', [1, 2], 400],
      [
        'a misspelt field (a record must not become a consume)',
        { idempotencyKey: 'k', credits: 1, mdoe: 'record' },
        400,
      ],
    ];
    it.each(cases)('%s', async (_what, body, status) => {
      const id = await workspace('growth');
      const res = await use(id, body as Record<string, unknown>);
      expect(res.status).toBe(status);
      expect(res.body.error.code).toBe('invalid_request');
      const w = (await api.call('GET', `/v1/workspaces/${id}`)).body;
      expect(w.included.remaining).toBe('150');
      const ledger = await api.call('GET', `/v1/workspaces/${id}/ledger`);
      expect(ledger.body.entries).toHaveLength(1); // the first grant only
    });

    it('malformed JSON is 400', async () => {
      const id = await workspace('growth');
      const res = await api.call('POST', `/v1/workspaces/${id}/usage`, {
        raw: '{"idempotencyKey": "k", credits: 1',
      });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('invalid_request');
    });

    it('an oversized body is 413', async () => {
      const id = await workspace('growth');
      const res = await use(id, { idempotencyKey: 'k', credits: 1, metadata: { pad: 'x'.repeat(100_000) } });
      expect(res.status).toBe(413);
      expect(res.body.error.code).toBe('payload_too_large');
      expect((await api.call('GET', `/v1/workspaces/${id}`)).body.included.remaining).toBe('150');
    });

    it('an unknown workspace is 404', async () => {
      const res = await use('nobody', { idempotencyKey: 'k', credits: 1 });
      expect(res.status).toBe(404);
      expect(res.body.error.code).toBe('not_found');
      expect((await api.call('GET', '/v1/workspaces/nobody')).status).toBe(404);
    });
  });
});

describe('batch', () => {
  it('answers every event in order with its own status', async () => {
    const a = await workspace('growth');
    const f = await workspace('free');
    const res = await api.call('POST', '/v1/usage/batch', {
      key: PLATFORM,
      body: {
        events: [
          { workspaceId: a, idempotencyKey: 'e1', credits: 1 },
          { workspaceId: f, idempotencyKey: 'e2', credits: 31 },
          { workspaceId: 'nobody', idempotencyKey: 'e3', credits: 1 },
          { workspaceId: a, idempotencyKey: 'e4', feature: 'training.gpu', quantity: 2 },
        ],
      },
    });
    expect(res.status).toBe(200);
    expect(res.body.results.map((r: { status: number }) => r.status)).toEqual([200, 402, 404, 200]);
    expect(res.body.results[3].debited.included).toBe('5');
    expect((await api.call('GET', `/v1/workspaces/${a}`)).body.included.remaining).toBe('144');
  });

  it('applies one workspace’s events in their order, with replays and conflicts per event (R-CON-1, R-CON-5)', async () => {
    const a = await workspace('growth');
    const b = await workspace('free');
    const res = await api.call('POST', '/v1/usage/batch', {
      key: PLATFORM,
      body: {
        events: [
          { workspaceId: a, idempotencyKey: 'x1', credits: 100 },
          { workspaceId: b, idempotencyKey: 'x1', credits: 30 },
          { workspaceId: a, idempotencyKey: 'x2', credits: 60 },
          { workspaceId: a, idempotencyKey: 'x1', credits: 100 },
          { workspaceId: a, idempotencyKey: 'x2', credits: 61 },
          { workspaceId: b, idempotencyKey: 'x2', credits: '0.0001' },
        ],
      },
    });
    const r = res.body.results;
    expect(r.map((x: { status: number }) => x.status)).toEqual([200, 200, 200, 200, 409, 402]);
    expect(r[0].debited).toEqual({ included: '100', prepaid: '0', flex: '0' });
    expect(r[2].debited).toEqual({ included: '50', prepaid: '0', flex: '10' });
    expect(r[3]).toEqual({ ...r[0], replayed: true });
    expect(r[5].reason).toBe('plan_blocks_flex');
    const w = (await api.call('GET', `/v1/workspaces/${a}`)).body;
    expect(w.flex.usedCredits).toBe('10');
    const single = await use(a, { idempotencyKey: 'x2', credits: 60 });
    expect(single.body).toEqual({ ...r[2], status: undefined });
  });

  it('refuses the whole batch when one event is invalid, applying none', async () => {
    const a = await workspace('growth');
    const res = await api.call('POST', '/v1/usage/batch', {
      key: PLATFORM,
      body: {
        events: [
          { workspaceId: a, idempotencyKey: 'e1', credits: 1 },
          { workspaceId: a, idempotencyKey: 'e2', credits: -1 },
        ],
      },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.details[0].path).toBe('events.1.credits');
    expect((await api.call('GET', `/v1/workspaces/${a}`)).body.included.remaining).toBe('150');
  });

  it('takes at most 1,000 events', async () => {
    const a = await workspace('growth');
    const events = Array.from({ length: 1001 }, (_, i) => ({
      workspaceId: a,
      idempotencyKey: `e${i}`,
      credits: 0.01,
    }));
    const res = await api.call('POST', '/v1/usage/batch', { key: PLATFORM, body: { events } });
    expect(res.status).toBe(400);
    expect((await api.call('GET', `/v1/workspaces/${a}`)).body.included.remaining).toBe('150');
  });
});

describe('settings', () => {
  it('R-FLX-2 removing the cap needs confirmUnlimited; the cap minimum is $1', async () => {
    const id = await workspace('growth');
    const path = `/v1/workspaces/${id}/flex`;
    const noConfirm = await api.call('PATCH', path, { body: { capCents: null }, key: PLATFORM });
    expect(noConfirm.status).toBe(400);
    expect(noConfirm.body.error.details[0].path).toBe('confirmUnlimited');
    expect((await api.call('PATCH', path, { body: { capCents: 99 } })).status).toBe(400);
    expect((await api.call('PATCH', path, { body: { capCents: 100.5 } })).status).toBe(400);
    expect((await api.call('PATCH', path, { body: {} })).status).toBe(400);
    expect((await api.call('GET', `/v1/workspaces/${id}`)).body.flex.capCents).toBe(10_000);
    const removed = await api.call('PATCH', path, { body: { capCents: null, confirmUnlimited: true } });
    expect(removed.status).toBe(200);
    expect(removed.body.flex.capCents).toBeNull();
    expect((await use(id, { idempotencyKey: 'big', credits: 5000 })).status).toBe(200);
  });

  it('R-FLX-3 disabling flex refuses past prepaid; R-FLX-1 enabling restores the default cap', async () => {
    const id = await workspace('growth');
    const path = `/v1/workspaces/${id}/flex`;
    await api.call('PATCH', path, { body: { capCents: 500 } });
    expect((await api.call('PATCH', path, { body: { enabled: false } })).body.flex.enabled).toBe(false);
    const refused = await use(id, { idempotencyKey: 'a', credits: 151 });
    expect(refused.body.reason).toBe('flex_disabled');
    const on = await api.call('PATCH', path, { body: { enabled: true } });
    expect(on.body.flex).toMatchObject({ enabled: true, capCents: 10_000 });
  });

  it('R-FLX-4 the billing threshold is an operator setting and binds below the cap', async () => {
    const id = await workspace('growth');
    const path = `/v1/workspaces/${id}/billing-threshold`;
    expect((await api.call('PUT', path, { body: { thresholdCents: 400 }, key: PLATFORM })).status).toBe(403);
    expect((await api.call('PUT', path, { body: { thresholdCents: -1 } })).status).toBe(400);
    expect((await api.call('PUT', path, { body: {} })).status).toBe(400);
    const set = await api.call('PUT', path, { body: { thresholdCents: 400 } });
    expect(set.body.flex.thresholdCents).toBe(400);
    expect((await use(id, { idempotencyKey: 'a', credits: 152 })).body.reason).toBe(
      'billing_threshold_reached',
    );
    expect((await use(id, { idempotencyKey: 'b', credits: 151 })).status).toBe(200);
    await api.call('PUT', path, { body: { thresholdCents: null } });
    expect((await use(id, { idempotencyKey: 'c', credits: 1 })).status).toBe(200);
  });

  it('R-CON-7 adjustments are signed, on the ledger, idempotent, and never overdraw', async () => {
    const id = await workspace('growth');
    const path = `/v1/workspaces/${id}/adjustments`;
    const body = { idempotencyKey: 'adj1', kind: 'included', credits: '-20.5', reason: 'migration fix' };
    expect((await api.call('POST', path, { body, key: PLATFORM })).status).toBe(403);
    const first = await api.call('POST', path, { body });
    expect(first.status).toBe(200);
    expect(first.body.included.remaining).toBe('129.5');
    const again = await api.call('POST', path, { body });
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.body.included.remaining).toBe('129.5');
    expect((await api.call('POST', path, { body: { ...body, credits: 1 } })).status).toBe(409);
    const over = await api.call('POST', path, { body: { ...body, idempotencyKey: 'adj2', credits: -200 } });
    expect(over.status).toBe(400);
    expect(
      (await api.call('POST', path, { body: { ...body, idempotencyKey: 'adj3', credits: 0 } })).status,
    ).toBe(400);
    expect(
      (await api.call('POST', path, { body: { ...body, idempotencyKey: 'adj4', reason: '' } })).status,
    ).toBe(400);
    const ledger = await api.call('GET', `/v1/workspaces/${id}/ledger?limit=1`);
    expect(ledger.body.entries[0]).toMatchObject({
      type: 'adjustment',
      credits: '-20.5',
      reason: 'migration fix',
    });
  });
});

describe('reading', () => {
  it('R-USE-2 pages the ledger newest first with a cursor', async () => {
    const id = await workspace('growth');
    for (let i = 1; i <= 5; i++) await use(id, { idempotencyKey: `k${i}`, credits: i });
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const q: string = cursor ? `&cursor=${cursor}` : '';
      const page = await api.call('GET', `/v1/workspaces/${id}/ledger?limit=2${q}`, { key: PLATFORM });
      expect(page.status).toBe(200);
      seen.push(...page.body.entries.map((e: { credits: string }) => e.credits));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual(['-5', '-4', '-3', '-2', '-1', '150']);
    expect((await api.call('GET', `/v1/workspaces/${id}/ledger?limit=0`)).status).toBe(400);
    expect((await api.call('GET', `/v1/workspaces/${id}/ledger?cursor=abc`)).status).toBe(400);
  });

  it('R-FLX-5 the invoice preview rounds the month’s flex down: 77.7 → 77', async () => {
    const id = await workspace('growth');
    await api.call('PATCH', `/v1/workspaces/${id}/flex`, { body: { capCents: 100_000 } });
    await use(id, { idempotencyKey: 'a', credits: '227.7' });
    const res = await api.call('GET', `/v1/workspaces/${id}/invoice-preview?month=2026-11`, {
      key: PLATFORM,
    });
    expect(res.body).toEqual({
      month: '2026-11',
      flexCredits: '77.7',
      billedCredits: '77',
      unitAmountCents: '400',
      amountCents: 30_800,
      currency: 'usd',
      status: 'open',
      finalInvoicedCredits: '0',
      toBillCredits: '77',
      toBillAmountCents: 30_800,
    });
    const empty = await api.call('GET', `/v1/workspaces/${id}/invoice-preview?month=2026-10`);
    expect(empty.body).toMatchObject({
      flexCredits: '0',
      billedCredits: '0',
      amountCents: 0,
      status: 'closed',
    });
    expect((await api.call('GET', `/v1/workspaces/${id}/invoice-preview?month=2026-13`)).status).toBe(400);
  });

  it('R-CAT-2 R-CAT-3 serves the catalog priced from the workspace’s price book', async () => {
    const legacy = await workspace('growth', { createdAt: '2025-06-01T00:00:00Z' });
    const res = await api.call('GET', `/v1/catalog?workspaceId=${legacy}`, { key: PLATFORM });
    expect(res.status).toBe(200);
    expect(res.body.priceBook.id).toBe('legacy-2025');
    const bundles = Object.fromEntries(
      res.body.bundles.map((b: { id: string; amountCents: number }) => [b.id, b.amountCents]),
    );
    expect(bundles['bundle-50']).toBe(50 * 368);
    expect(bundles['bundle-1000']).toBe(1000 * 332);
    const today = await api.call('GET', '/v1/catalog', { key: PLATFORM });
    expect(today.body.priceBook.id).toBe('2026-03-28');
    expect(today.body.rateCard.features.length).toBeGreaterThan(3);
    expect((await api.call('GET', '/v1/catalog?workspaceId=nobody')).status).toBe(404);
  });

  it('serves /openapi.json generated from the schemas', async () => {
    const res = await api.call('GET', '/openapi.json', { key: PLATFORM });
    expect(res.status).toBe(200);
    expect(Object.keys(res.body.paths)).toContain('/v1/workspaces/{workspaceId}/usage');
    const usage = res.body.paths['/v1/workspaces/{workspaceId}/usage'].post;
    expect(usage.requestBody.content['application/json'].schema.properties).toHaveProperty('idempotencyKey');
    expect(usage.responses).toHaveProperty('402');
  });

  it('answers unknown routes with 404 in the error shape', async () => {
    const res = await api.call('GET', '/v1/nothing-here');
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('not_found');
  });
});

describe('metering long-running work', () => {
  it('R-CON-6 a job metered in small steps stops at the first refusal, never past the cap', async () => {
    const id = await workspace('growth');
    await api.call('PATCH', `/v1/workspaces/${id}/flex`, { body: { capCents: 1_000 } }); // $10 = 2.5 credits
    let ticks = 0;
    for (;;) {
      const res = await use(id, { idempotencyKey: `train-42:tick:${ticks}`, credits: '7.5' });
      if (res.status === 402) {
        expect(res.body.reason).toBe('flex_cap_reached');
        break;
      }
      ticks++;
      expect(ticks).toBeLessThan(100);
    }
    // 150 included + 2.5 flex = 152.5 credits: 20 whole ticks of 7.5 fit, the 21st does not.
    expect(ticks).toBe(20);
    const w = (await api.call('GET', `/v1/workspaces/${id}`)).body;
    expect(w.flex.usedCredits).toBe('0');
    expect(w.included.remaining).toBe('0');
  });
});

describe('review regressions', () => {
  it('R-OPS-5 every API route wants a key, and every operator route refuses a platform key', async () => {
    for (const r of ROUTES) {
      const path = r.path.replace(':workspaceId', 'any-ws');
      const body = r.method === 'get' ? undefined : {};
      const none = await api.call(r.method.toUpperCase(), path, { key: null, body });
      expect(none.status, `${r.method} ${r.path}`).toBe(401);
      if (r.role === 'operator') {
        const platform = await api.call(r.method.toUpperCase(), path, { key: PLATFORM, body });
        expect(platform.status, `${r.method} ${r.path}`).toBe(403);
      }
    }
  });

  it('takes the auth scheme in any case', async () => {
    const res = await api.call('GET', '/v1/catalog', {
      key: null,
      headers: { authorization: `bearer ${PLATFORM}` },
    });
    expect(res.status).toBe(200);
  });

  it('R-CYC-2 / R-CAT-5 an interval override on the same plan starts a yearly cycle with the yearly default cap', async () => {
    const id = await workspace('growth');
    await use(id, { idempotencyKey: 'a', credits: 10 });
    api.clock.advance(86_400_000);
    const res = await api.call('PUT', `/v1/workspaces/${id}`, {
      body: { planId: 'growth', overrides: { interval: 'year' } },
    });
    expect(res.body.cycle).toEqual({
      start: '2026-11-22T12:00:00.000Z',
      end: '2027-11-22T12:00:00.000Z',
      interval: 'year',
    });
    expect(res.body.flex.capCents).toBe(120_000);
    expect(res.body.included.remaining).toBe('150');
  });

  it('R-FLX-1 refuses to switch flex on or cap it on a plan without flex', async () => {
    const id = await workspace('free');
    const on = await api.call('PATCH', `/v1/workspaces/${id}/flex`, {
      body: { enabled: true },
      key: PLATFORM,
    });
    expect(on.status).toBe(400);
    expect((await api.call('PATCH', `/v1/workspaces/${id}/flex`, { body: { capCents: 500 } })).status).toBe(
      400,
    );
    expect((await api.call('PATCH', `/v1/workspaces/${id}/flex`, { body: { enabled: false } })).status).toBe(
      200,
    );
  });

  it('R-CON-5 a refusal is a first answer too: the same key after a top-up replays the 402', async () => {
    const id = await workspace('free');
    const first = await use(id, { idempotencyKey: 'job-9', credits: 40 });
    expect(first.status).toBe(402);
    await api.call('POST', `/v1/workspaces/${id}/adjustments`, {
      body: { idempotencyKey: 'top-up', kind: 'prepaid', credits: 50, reason: 'purchase' },
    });
    const again = await use(id, { idempotencyKey: 'job-9', credits: 40 });
    expect(again.status).toBe(402);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect((await use(id, { idempotencyKey: 'job-9b', credits: 40 })).status).toBe(200);
  });

  it('R-CON-5 a feature-priced usage replays under its key, and another quantity is a conflict', async () => {
    const id = await workspace('growth');
    const body = { idempotencyKey: 'f1', feature: 'training.gpu', quantity: '1.5' };
    const first = await use(id, body);
    expect((await use(id, body)).body).toEqual(first.body);
    expect((await use(id, { ...body, quantity: 2 })).status).toBe(409);
  });

  it('R-OPS-3 counts debits by outcome and times them', async () => {
    const id = await workspace('free');
    await use(id, { idempotencyKey: 'm1', credits: 31 });
    const metrics = (await api.call('GET', '/metrics', { key: null })).body as string;
    expect(metrics).toMatch(/burnrate_debits_total\{outcome="refused",mode="consume"\} [1-9]/);
    expect(metrics).toMatch(/burnrate_debit_duration_seconds_count\{mode="consume"\} [1-9]/);
  });
});
