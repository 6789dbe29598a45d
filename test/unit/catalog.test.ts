/**
 * The catalog (R-CAT-1, R-CAT-2, R-CAT-3, R-CAT-4, R-CAT-5): the shipped example validates and
 * prices as the seeds say.
 */
import { describe, expect, it } from 'vitest';
import { loadCatalog, parseCatalog } from '../../src/config/catalog.js';
import {
  effectiveOverrides,
  featureUnits,
  findPlan,
  planTerms,
  prepaidQuote,
  priceBookFor,
} from '../../src/domain/catalog.js';

const catalog = loadCatalog('catalog/catalog.example.json');
const LEGACY = Date.parse('2026-03-27T23:59:59Z');
const CURRENT = Date.parse('2026-03-28T00:00:00Z');

describe('the example catalog', () => {
  it('R-CAT-1 growth: 150 credits a month at $4.00 ($600 value), cap $100; annual: 1,800 a year, cap $1,200', () => {
    const growth = planTerms({ catalog, plan: findPlan(catalog, 'growth')!, createdAt: CURRENT });
    expect(growth).toMatchObject({
      intervalMonths: 1,
      allotmentUnits: 150 * 10_000,
      defaultCapCents: 10_000,
    });
    expect((growth.allotmentUnits / 10_000) * (growth.flexPriceE4 / 10_000)).toBe(60_000); // $600
    const annual = planTerms({ catalog, plan: findPlan(catalog, 'growth-annual')!, createdAt: CURRENT });
    expect(annual).toMatchObject({
      intervalMonths: 12,
      allotmentUnits: 1_800 * 10_000,
      defaultCapCents: 120_000,
    });
    const free = planTerms({ catalog, plan: findPlan(catalog, 'free')!, createdAt: CURRENT });
    expect(free.flexAllowed).toBe(false);
  });

  it('R-CAT-2 prepaid discounts run from 8% to 17%, any quantity priced at the tier it reaches', () => {
    const book = priceBookFor(catalog, CURRENT);
    const discounts = book.prepaidTiers.map((t) => t.discountBps);
    expect(Math.min(...discounts)).toBe(800);
    expect(Math.max(...discounts)).toBe(1_700);
    expect(prepaidQuote({ book, credits: 99 })).toMatchObject({ discountBps: 800, amountCents: 99 * 368 });
    expect(prepaidQuote({ book, credits: 100 })).toMatchObject({
      discountBps: 1_000,
      amountCents: 100 * 360,
    });
    expect(prepaidQuote({ book, credits: 7_777 })).toMatchObject({
      discountBps: 1_700,
      amountCents: 7_777 * 332,
    });
  });

  it('R-CAT-3 before 2026-03-28 prepaid starts at the flex rate and saves from 50 credits; after, it is cheaper at every tier', () => {
    const legacy = priceBookFor(catalog, LEGACY);
    const current = priceBookFor(catalog, CURRENT);
    expect(legacy.id).not.toBe(current.id);
    const flexCents = (credits: number, book: typeof legacy) => credits * Number(book.flexUnitAmountCents);
    expect(prepaidQuote({ book: legacy, credits: 49 }).amountCents).toBe(flexCents(49, legacy));
    expect(prepaidQuote({ book: legacy, credits: 50 }).amountCents).toBeLessThan(flexCents(50, legacy));
    for (const credits of [1, 49, 50, 100, 250, 500, 1_000]) {
      expect(prepaidQuote({ book: current, credits }).amountCents).toBeLessThan(flexCents(credits, current));
    }
  });

  it('R-CAT-4 prices features from the rate card and third-party provider cost at its rate', () => {
    expect(featureUnits(catalog, 'training.gpu', 2 * 10_000)).toBe(5 * 10_000);
    expect(featureUnits(catalog, 'deployment.workflow.self-hosted', 10_000)).toBe(4_000);
    expect(featureUnits(catalog, 'third-party.any-model', 32_000)).toBe(10_000); // $3.20 → 1 credit
    expect(featureUnits(catalog, 'data.storage', 1)).toBe(1); // rounds up to the unit
    expect(featureUnits(catalog, 'nope', 1)).toBeNull();
  });

  it('R-CAT-5 enterprise overrides replace plan terms', () => {
    const plan = findPlan(catalog, 'growth')!;
    const terms = planTerms({
      catalog,
      plan,
      createdAt: CURRENT,
      overrides: catalog.enterpriseOverrides['acme-enterprise'],
    });
    expect(terms).toMatchObject({
      allotmentUnits: 5_000 * 10_000,
      flexPriceE4: 3_500_000,
    });
    // Invoicing by hand: the monthly run skips the workspace (src/services/invoicing.ts).
    expect(effectiveOverrides(catalog, 'acme-enterprise', '').manualInvoicing).toBe(true);
    expect(effectiveOverrides(catalog, 'acme-enterprise', '{"manualInvoicing":false}').manualInvoicing).toBe(
      false,
    );
  });

  it('refuses an invalid catalog with a message naming the field', () => {
    const bad = structuredClone(catalog) as unknown as { plans: { includedCredits: string }[] };
    bad.plans[0]!.includedCredits = '1.23456';
    expect(() => parseCatalog(bad, 'bad.json')).toThrow(/plans\.0\.includedCredits/);
    expect(() => parseCatalog({ ...catalog, defaultPlanId: 'ghost' }, 'bad.json')).toThrow(/defaultPlanId/);
  });
});
