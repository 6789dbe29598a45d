/** decideBill: what a flex bill does next, from what was read (R-FLX-5, R-FLX-6, R-CYC-3, R-CAT-5). */
import { expect, it } from 'vitest';
import { loadCatalog } from '../../src/config/catalog.js';
import { type BillFacts, decideBill } from '../../src/domain/invoicing.js';

const catalog = loadCatalog('catalog/catalog.example.json');
const growth = { planId: 'growth', intervalMonths: 1, flexPriceE4: 4_000_000 };
const meta = { currency: 'usd', stripeCustomerId: 'cus_1', overrides: '' };

function facts(o: Partial<BillFacts> = {}): BillFacts {
  return {
    bill: { workspaceId: 'ws', month: '2026-10' },
    prev: null,
    units: 777_000,
    workspace: { state: growth, meta },
    catalog,
    stripeConfigured: true,
    ...o,
  };
}

it('R-FLX-5 bills a monthly plan the floor of its flex as an item for the subscription invoice', () => {
  expect(decideBill(facts())).toEqual({
    kind: 'bill',
    figures: { flexCredits: '77.7', billedCredits: 77, amountCents: 30_800 },
    billed: 77,
    terms: { priceE4: 4_000_000, currency: 'usd', customer: 'cus_1', ownInvoice: false },
    saveTermsFirst: false,
    invoiceId: undefined,
    itemId: undefined,
  });
});

it('R-FLX-6 an annual plan, a final stretch (R-CYC-3) and a workspace no longer on a Stripe plan get an invoice of their own, terms saved first', () => {
  const own = (f: BillFacts) => {
    const d = decideBill(f);
    return d.kind === 'bill' && d.terms.ownInvoice && d.saveTermsFirst;
  };
  expect(
    own(facts({ workspace: { state: { ...growth, planId: 'growth-annual', intervalMonths: 12 }, meta } })),
  ).toBe(true);
  expect(own(facts({ bill: { workspaceId: 'ws', month: '2026-10', subscriptionId: 'sub_1' } }))).toBe(true);
  expect(own(facts({ workspace: { state: { ...growth, planId: 'free' }, meta } }))).toBe(true);
});

it('R-CYC-3 a final stretch without flex is nothing at all; a bill done before stays done', () => {
  expect(
    decideBill(facts({ bill: { workspaceId: 'ws', month: '2026-10', subscriptionId: 's' }, units: 0 })),
  ).toEqual({
    kind: 'nothing',
  });
  const done = { status: 'item_created' as const, flexCredits: '77.7', billedCredits: 77, itemId: 'ii_1' };
  expect(decideBill(facts({ prev: done, workspace: null }))).toEqual({ kind: 'done', state: done });
  expect(decideBill(facts({ workspace: null }))).toEqual({ kind: 'no_workspace' });
});

it('R-FLX-5 under one credit, and R-CAT-5 a workspace invoiced by hand, are skipped', () => {
  expect(decideBill(facts({ units: 9_000 }))).toMatchObject({
    kind: 'skip',
    state: { status: 'skipped', billedCredits: 0, reason: 'under one credit of flex' },
  });
  expect(decideBill(facts({ bill: { workspaceId: 'acme-enterprise', month: '2026-10' } }))).toMatchObject({
    kind: 'skip',
    state: { status: 'skipped', reason: 'invoiced by hand (R-CAT-5)' },
  });
});

it('R-FLX-6 fails without a Stripe customer or without Stripe', () => {
  expect(
    decideBill(facts({ workspace: { state: growth, meta: { ...meta, stripeCustomerId: '' } } })),
  ).toMatchObject({
    kind: 'fail',
    stripeMissing: false,
    state: { status: 'failed', reason: 'the workspace has no Stripe customer' },
  });
  expect(decideBill(facts({ stripeConfigured: false }))).toMatchObject({ kind: 'fail', stripeMissing: true });
});

it("R-FLX-6 a retry keeps the first attempt's terms and resumes after the ids it got; a failure before Stripe takes today's", () => {
  const terms = { priceE4: 3_500_000, currency: 'usd', customer: 'cus_old', ownInvoice: true };
  const pending = {
    status: 'pending' as const,
    flexCredits: '77.7',
    billedCredits: 77,
    terms,
    invoiceId: 'in_1',
  };
  expect(decideBill(facts({ prev: pending }))).toMatchObject({
    kind: 'bill',
    terms,
    saveTermsFirst: false,
    invoiceId: 'in_1',
    figures: { amountCents: 77 * 350 },
  });
  const failedEarly = { status: 'failed' as const, flexCredits: '77.7', billedCredits: 77, terms };
  expect(decideBill(facts({ prev: failedEarly }))).toMatchObject({
    kind: 'bill',
    terms: { priceE4: 4_000_000, customer: 'cus_1', ownInvoice: false },
  });
});
