/** R-ALR-4 recommendations, pure, on the example catalog (flex $4 a credit, 2026-03-28 book). */
import { describe, expect, it } from 'vitest';
import { loadCatalog } from '../../src/config/catalog.js';
import { findPlan, priceBookFor } from '../../src/domain/catalog.js';
import { type HistoryInput, recommend } from '../../src/domain/recommendations.js';

const catalog = loadCatalog('catalog/catalog.example.json');
const CREDIT = 10_000;

const NOW = Date.UTC(2026, 10, 21);

/** A growth workspace (unless told) created before the window, with flex in Sep, Oct and Nov 2026. */
function history(o: {
  plan?: string;
  flexCredits: number[];
  exhausted?: boolean[];
  createdAt?: number;
}): HistoryInput {
  return {
    catalog,
    plan: findPlan(catalog, o.plan ?? 'growth')!,
    book: priceBookFor(catalog, Date.UTC(2026, 5, 1)),
    flexPriceE4: 4_000_000,
    now: NOW,
    createdAt: o.createdAt ?? Date.UTC(2026, 5, 1),
    flexByMonth: Object.fromEntries(
      o.flexCredits.map((c, i) => [`2026-${String(9 + i).padStart(2, '0')}`, c * CREDIT]),
    ),
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

  it('names the months it looked at: all three, or only those a young workspace existed in', () => {
    const old = recommend(history({ flexCredits: [100, 100, 100] })).recommendations[0];
    expect(old?.message).toContain('the 300 flex credits of 2026-09, 2026-10 and 2026-11,');
    const young = recommend(history({ flexCredits: [0, 0, 100], createdAt: Date.UTC(2026, 10, 2) }));
    expect(young.recommendations[0]?.message).toContain('the 100 flex credits of 2026-11,');
    expect(young.recommendations[0]?.message).not.toContain('months');
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

  it('weighs flex month by month: 400 credits in one of three months make Scale cost more (issue 8)', () => {
    // Growth paid $399 + $399 + ($399 + $1,600) = $2,797; Scale would have cost $899 + $899 +
    // ($899 + 50 × $4) = $2,897. Averaged (133 a month, inside Scale's 500) it looked like
    // $2,697, "a saving of $100".
    const r = recommend(history({ flexCredits: [0, 0, 400], exhausted: [true, true, true] }));
    expect(types(r)).not.toContain('upgrade');
    // Heavy every month but uneven (100, 300, 500): $4,797 against $899 + $899 + ($899 + 150 ×
    // $4) = $3,297; the average of 300 a month said $2,697.
    expect(
      recommend(
        history({ flexCredits: [100, 300, 500], exhausted: [true, true, true] }),
      ).recommendations.find((x) => x.type === 'upgrade'),
    ).toMatchObject({ spentCents: 479_700, nextPlanCostCents: 329_700, savingCents: 150_000 });
  });

  it("invoices the next plan's flex rounded down each month, as its own would be (R-FLX-5)", () => {
    // 400.5 flex a month on growth is 550.5 credits used: on Scale 50.5 beyond its 500, invoiced
    // as 50 ($200), as growth's 400.5 were invoiced as 400.
    const r = recommend(history({ flexCredits: [400.5, 400.5, 400.5], exhausted: [true, true, true] }));
    expect(r.recommendations.find((x) => x.type === 'upgrade')).toMatchObject({
      spentCents: 3 * (39_900 + 160_000),
      nextPlanCostCents: 3 * (89_900 + 20_000),
    });
  });

  it('counts only the months the workspace existed, and names them (issue 8)', () => {
    // Created yesterday with 400 flex: it paid $399 + $1,600, not 3 × $399 + $1,600; Scale
    // would have cost $899 + 50 × $4 = $1,099 that month.
    const young = recommend(
      history({ flexCredits: [0, 0, 400], exhausted: [true], createdAt: NOW - 86_400_000 }),
    );
    expect(young.window).toMatchObject({
      months: ['2026-11'],
      flexCostCents: 160_000,
      planCostCents: 39_900,
      spentCents: 199_900,
    });
    const upgrade = young.recommendations.find((x) => x.type === 'upgrade');
    expect(upgrade).toMatchObject({
      months: ['2026-11'],
      spentCents: 199_900,
      nextPlanCostCents: 109_900,
      savingCents: 90_000,
    });
    expect(upgrade?.message).toBe(
      'Included credits ran out in 1 of the last 1 cycles. Scale (monthly) would have cost $1099.00 in 2026-11 instead of the $1999.00 spent: a saving of $900.00.',
    );
    // Created in October: two months, named in the text.
    const r = recommend(
      history({ flexCredits: [0, 200, 200], exhausted: [true, true], createdAt: Date.UTC(2026, 9, 31) }),
    );
    expect(r.recommendations.find((x) => x.type === 'upgrade')).toMatchObject({
      months: ['2026-10', '2026-11'],
      spentCents: 2 * 119_900,
      nextPlanCostCents: 2 * 89_900,
    });
    expect(r.recommendations.find((x) => x.type === 'upgrade')?.message).toContain(
      'in 2026-10 and 2026-11 instead',
    );
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

  it('averages spend over the months the workspace existed, not three (issue 8)', () => {
    // Scale since November with 700 flex: $899 + $2,800 in its one month is above $3,000; the
    // average over three months said $1,832.
    const r = recommend(
      history({ plan: 'scale', flexCredits: [0, 0, 700], createdAt: Date.UTC(2026, 10, 2) }),
    );
    expect(r.recommendations.find((x) => x.type === 'contact_sales')).toMatchObject({
      reason: 'spend_above_threshold',
      months: ['2026-11'],
      monthlyAverageCents: 369_900,
      message: 'You spent $3699.00 a month on average in 2026-11: talk to sales about custom terms.',
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
