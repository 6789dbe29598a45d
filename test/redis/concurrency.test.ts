/**
 * Concurrency on a real Redis (R-CON-2): many spends at once, from several connections so the
 * scripts really interleave, never overdraw a kind, never pass a cap, debit a repeated key
 * once, and leave a ledger that proves the balances (R-CON-7).
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { PlanChange } from '../../src/domain/burndown.js';
import { monthOf } from '../../src/domain/cycle.js';
import { unitsForCents } from '../../src/domain/units.js';
import { type DebitOutcome, EngineStore } from '../../src/redis/engine-store.js';
import { defineScripts } from '../../src/redis/scripts.js';
import { checkLedger } from '../../src/services/ledger-check.js';
import { FREE, GROWTH, HOUR, T0, u } from '../support/burndown-cases.js';
import { testClient, testRedis } from '../support/redis.js';

const r = testRedis();
const clients = Array.from({ length: 8 }, () => defineScripts(testClient({ maxRetriesPerRequest: 1 })));
const stores = clients.map((c) => new EngineStore(c, { prefix: r.prefix, idempotencyTtlSeconds: 3600 }));
afterAll(async () => {
  await Promise.all(clients.map((c) => c.quit()));
  await r.close();
});

/** The store of the i-th call: calls spread round-robin over the connections. */
const via = (i: number) => stores[i % stores.length]!;
const NOW = T0 + HOUR;

let seq = 0;

function spend(
  i: number,
  o: { ws: string; units: number; mode?: 'consume' | 'record'; now?: number; key?: string },
): Promise<DebitOutcome> {
  const usageId = `use${++seq}`;
  const mode = o.mode ?? 'consume';
  const now = o.now ?? NOW;
  return via(i).debit({
    workspaceId: o.ws,
    units: o.units,
    mode,
    idempotencyKey: o.key ?? usageId,
    bodyHash: `${mode}:${o.units}`,
    usageId,
    feature: '',
    now,
    month: monthOf(now),
  });
}

async function grantPrepaid(i: number, o: { ws: string; units: number; now?: number }) {
  const ref = `lot${++seq}`;
  const res = await via(i).adjust({
    workspaceId: o.ws,
    kind: 'prepaid',
    units: o.units,
    ref,
    type: 'grant',
    reason: '',
    idempotencyKey: ref,
    bodyHash: String(o.units),
    now: o.now ?? NOW,
  });
  expect(res.status).toBe('ok');
}

async function create(ws: string, plan: PlanChange) {
  await r.store.upsert({ workspaceId: ws, terms: plan, meta: {}, now: T0 });
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const sizes = (seed: number, n: number, max: number) =>
  fc.sample(fc.integer({ min: 1, max }), { seed, numRuns: n });

describe('concurrent spends on a real Redis (R-CON-2)', () => {
  it.each([
    ['GROWTH with flex disabled', GROWTH, true],
    ['a free plan granting 150 credits', { ...FREE, planId: 'free-150', allotment: u('150') }, false],
  ] as const)(
    'R-CON-2 300 parallel consumes of 1 credit against exactly 150 credits (%s): 150 succeed, balance 0',
    async (_n, plan, disableFlex) => {
      const ws = `exact-${plan.planId}`;
      await create(ws, plan);
      if (disableFlex) await r.store.flexSettings({ workspaceId: ws, enabled: false, now: T0 });

      const results = await Promise.all(
        Array.from({ length: 300 }, (_, i) => spend(i, { ws, units: u('1') })),
      );

      const ok = results.filter((x) => x.ok);
      expect(ok).toHaveLength(150);
      expect(ok.every((x) => x.debited.included === u('1') && x.debited.flex === 0)).toBe(true);
      const refusals = new Set(results.filter((x) => !x.ok).map((x) => x.reason));
      expect(refusals).toEqual(new Set([disableFlex ? 'flex_disabled' : 'plan_blocks_flex']));
      const state = (await r.store.snapshot(ws, NOW))!.state;
      expect(state.included).toBe(0);
      expect(state.flexCycle).toBe(0);
      expect((await checkLedger(r.store, ws, NOW)).problems).toEqual([]);
    },
  );

  it('R-CON-2 R-FLX-2 parallel consumes of random sizes never pass the flex cap; successful flex sums to flexCycle', async () => {
    const ws = 'capped';
    await create(ws, GROWTH);
    // $10 at $4.00 a credit: 2.5 credits of flex.
    await r.store.flexSettings({ workspaceId: ws, capCents: 1_000, now: T0 });
    const capUnits = unitsForCents(1_000, GROWTH.flexPriceE4);
    expect((await spend(0, { ws, units: GROWTH.allotment })).ok).toBe(true);

    const asked = sizes(42, 200, u('0.3'));
    expect(sum(asked)).toBeGreaterThan(2 * capUnits);
    const results = await Promise.all(asked.map((units, i) => spend(i, { ws, units })));

    const ok = results.filter((x) => x.ok);
    const flexUsed = sum(ok.map((x) => x.debited.flex));
    const state = (await r.store.snapshot(ws, NOW))!.state;
    expect(state.flexCycle).toBe(flexUsed);
    expect(flexUsed).toBeLessThanOrEqual(capUnits);
    expect(ok.every((x) => x.debited.flex === asked[results.indexOf(x)])).toBe(true);
    // Room only shrinks, so every refusal asked for more than what is left now: none was refused wrongly.
    const refused = results.flatMap((x, i) => (x.ok ? [] : [asked[i]!]));
    expect(refused.length).toBeGreaterThan(0);
    expect(results.filter((x) => !x.ok).every((x) => x.reason === 'flex_cap_reached')).toBe(true);
    expect(capUnits - flexUsed).toBeLessThan(Math.min(...refused));
    expect((await checkLedger(r.store, ws, NOW)).problems).toEqual([]);
  });

  it('R-CON-5 R-CON-2 50 parallel consumes with one idempotency key debit once and all answer the same usage id', async () => {
    const ws = 'same-key';
    await create(ws, GROWTH);
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => spend(i, { ws, units: u('7.5'), key: 'job-42' })),
    );

    expect(results.every((x) => x.ok)).toBe(true);
    expect(results.filter((x) => !x.replayed)).toHaveLength(1);
    const first = results.find((x) => !x.replayed)!;
    expect(new Set(results.map((x) => x.usageId))).toEqual(new Set([first.usageId]));
    expect(results.every((x) => x.debited.included === u('7.5'))).toBe(true);
    expect((await r.store.snapshot(ws, NOW))!.state.included).toBe(GROWTH.allotment - u('7.5'));
    const consumes = [];
    for await (const row of r.store.ledgerAll(ws)) if (row.type === 'consume') consumes.push(row);
    expect(consumes).toHaveLength(1);
  });

  it('R-CON-2 R-CON-4 R-CON-7 parallel records, consumes and prepaid grants: every credit accounted for, the ledger proves it', async () => {
    const ws = 'mixed';
    await create(ws, GROWTH);
    await r.store.flexSettings({ workspaceId: ws, capCents: 2_000, now: T0 });
    const amounts = sizes(7, 240, u('4'));
    const calls = amounts.map((units, i) => {
      if (i % 10 === 9) return grantPrepaid(i, { ws, units: units * 2 }).then(() => null);
      return spend(i, { ws, units, mode: i % 3 === 0 ? 'record' : 'consume' });
    });
    const results = (await Promise.all(calls)).filter((x): x is DebitOutcome => x !== null);

    const granted = sum(amounts.filter((_, i) => i % 10 === 9).map((n) => n * 2));
    const debited = (k: 'included' | 'prepaid' | 'flex') => sum(results.map((x) => x.debited[k]));
    const state = (await r.store.snapshot(ws, NOW))!.state;
    expect(state.included).toBe(GROWTH.allotment - debited('included'));
    expect(state.prepaid).toBe(granted - debited('prepaid'));
    expect(state.flexCycle).toBe(debited('flex'));
    expect(state.flexCycle).toBeLessThanOrEqual(unitsForCents(2_000, GROWTH.flexPriceE4));
    // Records past the cap booked shortfalls, so the scenario did reach every kind.
    expect(debited('flex')).toBeGreaterThan(0);
    expect(results.some((x) => x.shortfall > 0)).toBe(true);
    expect((await checkLedger(r.store, ws, NOW)).problems).toEqual([]);
  });

  it('R-CON-7 R-CYC-1 parallel spends and grants straddling a cycle end keep the ledger check ok', async () => {
    const ws = 'straddle';
    await create(ws, GROWTH);
    const cycleEnd = Date.UTC(2026, 1, 28, 12);
    const amounts = sizes(11, 240, u('6'));
    await Promise.all(
      amounts.map((units, i) => {
        const now = cycleEnd + (i % 2 === 0 ? -HOUR : HOUR) + i;
        if (i % 12 === 11) return grantPrepaid(i, { ws, units, now });
        return spend(i, { ws, units, now, mode: i % 4 === 0 ? 'record' : 'consume' });
      }),
    );
    const check = await checkLedger(r.store, ws, cycleEnd + 2 * HOUR);
    expect(check.problems).toEqual([]);
    expect(check.recomputed.included).toBeGreaterThanOrEqual(0);
    expect(check.recomputed.prepaid).toBeGreaterThanOrEqual(0);
  });
});
