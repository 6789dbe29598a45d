/**
 * The catalog: plans (R-CAT-1), prepaid bundles (R-CAT-2), price books (R-CAT-3), the rate
 * card (R-CAT-4) and enterprise overrides (R-CAT-5). It is configuration, validated by these
 * schemas when the service starts (src/config/catalog.ts loads the file); the functions below
 * price things from it.
 */
import { z } from 'zod';
import { PRICE_UNITS_PER_CENT, parseDecimal4, UNITS_PER_CREDIT } from './units.js';

const id = z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,63}$/, 'lowercase id: a-z, 0-9, _ . -');
/** A decimal with at most 4 decimals, e.g. "0.25" credits or "368.5" cents. */
const decimal4 = z
  .string()
  .refine((s) => (parseDecimal4(s) ?? -1) >= 0, 'a non-negative decimal with at most 4 decimals');
const positiveDecimal4 = decimal4.refine((s) => (parseDecimal4(s) ?? 0) > 0, 'must be greater than zero');
/** Credits per cycle: at most a billion, so every balance sum stays far below 2^53 units. */
const creditsPerCycle = decimal4.refine(
  (s) => (parseDecimal4(s) ?? 0) <= 1e9 * UNITS_PER_CREDIT,
  'at most 1,000,000,000',
);
/** A price per credit in cents: at least 0.01 cent, so a cap in units stays far below 2^53. */
const unitPriceCents = positiveDecimal4.refine((s) => (parseDecimal4(s) ?? 0) >= 100, 'at least 0.01 cent');
const cents = z.number().int().nonnegative();

export const planSchema = z.object({
  id,
  name: z.string(),
  stripePriceIds: z.array(z.string()).default([]),
  interval: z.enum(['month', 'year']),
  /** Included credits per cycle; an annual plan grants the whole year up front (R-CAT-1). */
  includedCredits: creditsPerCycle,
  flexAllowed: z.boolean(),
  /** Default flex cap per cycle, in cents ($100 a month, $1,200 a year). */
  defaultFlexCapCents: cents.min(100).optional(),
  /** Rank for upgrade recommendations: a higher tier is a bigger plan. */
  tier: z.number().int().nonnegative(),
  monthlyPriceCents: cents.default(0),
});

export const priceBookSchema = z.object({
  id,
  /** Workspaces created on or after this instant use this book, until the next book's date (R-CAT-3). */
  effectiveFrom: z.iso.datetime(),
  currency: z.string().regex(/^[a-z]{3}$/),
  /** Flex price per credit in cents (may have sub-cent decimals). */
  flexUnitAmountCents: unitPriceCents,
  /** Prepaid base price per credit, before volume discounts. */
  prepaidBaseUnitAmountCents: unitPriceCents,
  /** Volume tiers: a quantity of at least `fromCredits` gets `discountBps` off the base (R-CAT-2). */
  prepaidTiers: z
    .array(
      z.object({ fromCredits: z.number().int().positive(), discountBps: z.number().int().min(0).max(9_999) }),
    )
    .min(1),
});

export const bundleSchema = z.object({ id, name: z.string(), credits: z.number().int().positive() });

export const featureSchema = z.object({
  id: z.string().regex(/^[a-z0-9_.-]{1,64}$/),
  category: z.enum(['data', 'training', 'deployment']),
  description: z.string(),
  unit: z.string(),
  /** Credits per unit of quantity (R-CAT-4). Hosted and self-hosted both consume. */
  creditsPerUnit: positiveDecimal4,
});

export const overridesSchema = z
  .object({
    includedCredits: creditsPerCycle.optional(),
    interval: z.enum(['month', 'year']).optional(),
    flexAllowed: z.boolean().optional(),
    flexUnitAmountCents: unitPriceCents.optional(),
    prepaidDiscountBps: z.number().int().min(0).max(9_999).optional(),
    defaultFlexCapCents: cents.min(100).optional(),
    /** Invoicing handled by hand: the monthly run skips this workspace (R-CAT-5). */
    manualInvoicing: z.boolean().optional(),
  })
  .strict();

export const catalogSchema = z
  .object({
    version: z.literal(1),
    plans: z.array(planSchema).min(1),
    defaultPlanId: id,
    priceBooks: z.array(priceBookSchema).min(1),
    bundles: z.array(bundleSchema),
    rateCard: z.object({
      features: z.array(featureSchema).min(1),
      /** Third-party model usage: credits per US dollar of provider cost (R-CAT-4). */
      thirdParty: z.object({ featurePrefix: z.string(), creditsPerProviderDollar: positiveDecimal4 }),
    }),
    enterpriseOverrides: z.record(z.string(), overridesSchema).default({}),
    /** R-ALR-4: above this average monthly spend, a workspace is pointed to sales. */
    recommendations: z
      .object({ contactSalesAboveMonthlyCents: cents.min(1) })
      .default({ contactSalesAboveMonthlyCents: 300_000 }),
  })
  .superRefine((c, ctx) => {
    const planIds = new Set(c.plans.map((p) => p.id));
    if (planIds.size !== c.plans.length) ctx.addIssue({ code: 'custom', message: 'duplicate plan id' });
    if (!planIds.has(c.defaultPlanId))
      ctx.addIssue({ code: 'custom', message: 'defaultPlanId is not a plan' });
    for (const p of c.plans) {
      if (p.flexAllowed && p.defaultFlexCapCents === undefined)
        ctx.addIssue({ code: 'custom', message: `plan ${p.id} allows flex but has no defaultFlexCapCents` });
    }
  });

export type Catalog = z.infer<typeof catalogSchema>;
export type Plan = z.infer<typeof planSchema>;
export type PriceBook = z.infer<typeof priceBookSchema>;
export type Overrides = z.infer<typeof overridesSchema>;

/** Price units (1/10 000 cent) of a decimal cents string: its 4-decimal integer form. */
export function priceE4(centsDecimal: string): number {
  return parseDecimal4(centsDecimal)!;
}

/**
 * The default flex cap of a plan on an interval: the plan's own, scaled by 12 when an override
 * puts it on the other interval ($100 a month is $1,200 a year, R-CAT-1).
 */
function defaultCapFor(plan: Plan, interval: 'month' | 'year'): number {
  const own = plan.defaultFlexCapCents ?? 10_000;
  if (interval === plan.interval) return own;
  return interval === 'year' ? own * 12 : Math.max(100, Math.floor(own / 12));
}

/** Overrides set through the API, as stored beside a workspace's state (JSON, or ''). */
export function parseStoredOverrides(json: string): Overrides | undefined {
  return json ? overridesSchema.parse(JSON.parse(json)) : undefined;
}

/** A workspace's overrides in force: the catalog's for its id, the API's over them (R-CAT-5). */
export function effectiveOverrides(catalog: Catalog, workspaceId: string, storedJson: string): Overrides {
  return { ...catalog.enterpriseOverrides[workspaceId], ...parseStoredOverrides(storedJson) };
}

/** The price book for a workspace created at `createdAt` (R-CAT-3). */
export function priceBookFor(catalog: Catalog, createdAt: number): PriceBook {
  const books = [...catalog.priceBooks].sort(
    (a, b) => Date.parse(a.effectiveFrom) - Date.parse(b.effectiveFrom),
  );
  let chosen = books[0]!;
  for (const b of books) if (Date.parse(b.effectiveFrom) <= createdAt) chosen = b;
  return chosen;
}

export function findPlan(catalog: Catalog, planId: string): Plan | undefined {
  return catalog.plans.find((p) => p.id === planId);
}

/** What the engine needs of a workspace's plan, after price book and overrides. */
export interface PlanTerms {
  planId: string;
  intervalMonths: number;
  allotmentUnits: number;
  flexAllowed: boolean;
  flexPriceE4: number;
  defaultCapCents: number;
  priceBookId: string;
  currency: string;
}

export function planTerms(opts: {
  catalog: Catalog;
  plan: Plan;
  createdAt: number;
  overrides?: Overrides | undefined;
}): PlanTerms {
  const { catalog, plan, createdAt } = opts;
  const book = priceBookFor(catalog, createdAt);
  const o = opts.overrides ?? {};
  const interval = o.interval ?? plan.interval;
  const flexAllowed = o.flexAllowed ?? plan.flexAllowed;
  return {
    planId: plan.id,
    intervalMonths: interval === 'year' ? 12 : 1,
    allotmentUnits: parseDecimal4(o.includedCredits ?? plan.includedCredits)!,
    flexAllowed,
    flexPriceE4: priceE4(o.flexUnitAmountCents ?? book.flexUnitAmountCents),
    defaultCapCents: o.defaultFlexCapCents ?? defaultCapFor(plan, interval),
    priceBookId: book.id,
    currency: book.currency,
  };
}

/** The per-credit prepaid price for a quantity: the tier that quantity reaches (R-CAT-2). */
export function prepaidQuote(opts: {
  book: PriceBook;
  credits: number;
  overrideDiscountBps?: number | undefined;
}) {
  const { book, credits } = opts;
  let discountBps = 0;
  for (const t of [...book.prepaidTiers].sort((a, b) => a.fromCredits - b.fromCredits)) {
    if (credits >= t.fromCredits) discountBps = t.discountBps;
  }
  if (opts.overrideDiscountBps !== undefined) discountBps = opts.overrideDiscountBps;
  const baseE4 = BigInt(priceE4(book.prepaidBaseUnitAmountCents));
  // Unit price rounded down to the price unit; the total rounded down to whole cents.
  const unitE4 = (baseE4 * BigInt(10_000 - discountBps)) / 10_000n;
  const amountCents = Number((unitE4 * BigInt(credits)) / BigInt(PRICE_UNITS_PER_CENT));
  return { credits, discountBps, unitAmountE4: Number(unitE4), amountCents, currency: book.currency };
}

/** Credits a feature costs for a quantity, in units, rounded up to the unit (R-CAT-4). */
export function featureUnits(catalog: Catalog, featureId: string, quantityUnits: number): number | null {
  const tp = catalog.rateCard.thirdParty;
  let rate: string | undefined;
  if (featureId.startsWith(tp.featurePrefix)) rate = tp.creditsPerProviderDollar;
  else rate = catalog.rateCard.features.find((f) => f.id === featureId)?.creditsPerUnit;
  if (rate === undefined) return null;
  const product = BigInt(quantityUnits) * BigInt(parseDecimal4(rate)!);
  const per = BigInt(UNITS_PER_CREDIT);
  return Number((product + per - 1n) / per);
}
