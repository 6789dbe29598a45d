/** R-ALR-4 recommendations, pure, on the example catalog (flex $4 a credit, 2026-03-28 book). */
import { describe, expect, it } from 'vitest';
import { loadCatalog } from '../../src/config/catalog.js';
import { findPlan, priceBookFor } from '../../src/domain/catalog.js';
import { type HistoryInput, recommend } from '../../src/domain/recommendations.js';

const catalog = loadCatalog('catalog/catalog.example.json');
const CREDIT = 10_000;

function history(o: { plan?: string; flexCredits: number[]; exhausted?: boolean[] }): HistoryInput {
  return {
    catalog,
    plan: findPlan(catalog, o.plan ?? 'growth')!,
    book: priceBookFor(catalog, Date.UTC(2026, 5, 1)),
    flexPriceE4: 4_000_000,
    months: o.flexCredits.map((c, i) => ({
      month: `2026-${String(9 + i).padStart(2, '0')}`,
      flexUnits: c * CREDIT,
    })),
    includedExhausted: o.exhausted ?? [false, false, false],
    currency: 'usd',
  };
}
const types = (r: ReturnType<typeof recommend>) => r.recommendations.map((x) => x.type);

describe('the prepaid purchase (R-ALR-4)', () => {
  it('picks the cheapest cover for the flex used, a bundle or any quantity at its tier, with the saving', () => {
    const r = recommend(history({ flexCredits: [100, 100, 100] }));
    // 300 flex credits were invoiced $1,200. Three 100-credit bundles (10% off) cost $1,080;
    // one purchase of 300 reaches the 250 tier (12% off): $1,056.
    expect(r.recommendations[0]).toMatchObject({
      type: 'prepaid_bundle',
      bundleId: null,
      quantity: 1,
      credits: 300,
      amountCents: 105_600,
      flexCostCents: 120_000,
      savingCents: 14_400,
      saving: '$144.00',
      flexCredits: '300',
    });
    expect(r.window).toMatchObject({ months: ['2026-09', '2026-10', '2026-11'], flexCostCents: 120_000 });
    // 245 credits: 250 (12% off, $880) costs less than exactly 245 (10% off, $882).
    expect(recommend(history({ flexCredits: [0, 0, 245] })).recommendations[0]).toMatchObject({
      bundleId: 'bundle-250',
      credits: 250,
      amountCents: 88_000,
    });
  });

  it('compares with what flex was invoiced: each month rounded down', () => {
    // 95.5 flex credits were invoiced as 95 ($380); 96 prepaid credits (8% off) cost $353.28.
    const r = recommend(history({ flexCredits: [0, 0, 95.5] }));
    expect(r.recommendations[0]).toMatchObject({
      credits: 96,
      amountCents: 35_328,
      flexCostCents: 38_000,
      savingCents: 2672,
    });
    expect(types(recommend(history({ flexCredits: [0, 0, 0.5] })))).toEqual([]);
    // On the old price book prepaid starts at the flex rate: 10.5 invoiced as 10 ($40) against
    // 11 prepaid credits ($44) saves nothing.
    const legacy = {
      ...history({ flexCredits: [0, 0, 10.5] }),
      book: priceBookFor(catalog, Date.UTC(2025, 0, 1)),
    };
    expect(types(recommend(legacy))).toEqual([]);
  });
});

describe('the upgrade', () => {
  it('recommends the next tier when included ran out in most cycles and it would cost less', () => {
    // 200 flex credits a month on growth ($399): $1,197 + $2,400 spent; scale ($899, 500
    // included) covers 350 a month for $2,697.
    const r = recommend(history({ flexCredits: [200, 200, 200], exhausted: [true, true, false] }));
    expect(r.recommendations.find((x) => x.type === 'upgrade')).toMatchObject({
      planId: 'scale',
      spentCents: 359_700,
      nextPlanCostCents: 269_700,
      savingCents: 90_000,
      includedCreditsPerMonth: '500',
    });
    expect(r.window).toMatchObject({ cyclesConsidered: 3, cyclesIncludedExhausted: 2 });
  });

  it('does not when included ran out in only a minority of cycles, or the next plan costs more', () => {
    expect(
      types(recommend(history({ flexCredits: [200, 200, 200], exhausted: [true, false, false] }))),
    ).not.toContain('upgrade');
    // 20 flex credits a month: $1,197 + $240 spent; scale would cost $2,697.
    expect(
      types(recommend(history({ flexCredits: [20, 20, 20], exhausted: [true, true, true] }))),
    ).not.toContain('upgrade');
  });
});

describe('sales', () => {
  it('points to sales above the monthly spend in the catalog', () => {
    const r = recommend(history({ plan: 'scale', flexCredits: [1000, 1000, 1000] }));
    expect(r.recommendations.find((x) => x.type === 'contact_sales')).toMatchObject({
      reason: 'spend_above_threshold',
      monthlyAverageCents: 489_900,
      thresholdCents: 300_000,
    });
  });

  it('points to sales when included keeps running out and there is no bigger plan', () => {
    const r = recommend(history({ plan: 'scale', flexCredits: [0, 0, 0], exhausted: [true, true] }));
    expect(r.recommendations).toEqual([
      expect.objectContaining({ type: 'contact_sales', reason: 'no_higher_plan' }),
    ]);
    expect(
      types(recommend(history({ plan: 'scale', flexCredits: [0, 0, 0], exhausted: [true, false] }))),
    ).toEqual([]);
  });
});
