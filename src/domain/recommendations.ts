/**
 * Recommendations from usage history (R-ALR-4), pure. Over the last three calendar months:
 *   - the prepaid purchase that would have cost least for the flex used (a bundle, or any
 *     quantity at its tier), and the saving against what that flex was invoiced;
 *   - an upgrade, when included credits ran out in most recent cycles and the next plan tier
 *     would have cost less than what was spent;
 *   - contacting sales, above a monthly spend set in the catalog, or when included credits keep
 *     running out and there is no higher tier.
 * Every recommendation carries the figures behind it. Money is integer cents; credits exact.
 */
import { formatMoney } from './alerts.js';
import { type Catalog, type Plan, type PriceBook, prepaidQuote } from './catalog.js';
import { centsForUnits, floorToWholeCredits, formatUnits, parseDecimal4, UNITS_PER_CREDIT } from './units.js';

export const WINDOW_MONTHS = 3;
/** How many recent cycles the upgrade looks at; "most" of them is more than half. */
export const RECENT_CYCLES = 3;

export interface HistoryInput {
  catalog: Catalog;
  plan: Plan;
  book: PriceBook;
  /** The workspace's own prepaid discount (enterprise override), if any. */
  discountBps?: number | undefined;
  flexPriceE4: number;
  /** Flex units used in each of the window's months, oldest first. */
  months: { month: string; flexUnits: number }[];
  /** For each recent cycle (up to RECENT_CYCLES, newest first): did included credits run out? */
  includedExhausted: boolean[];
  currency: string;
}

const ceilDiv = (a: number, b: number) => Math.floor((a + b - 1) / b);

/** Included units a plan grants per month (an annual plan's year spread over 12 months). */
function includedPerMonth(p: Plan): number {
  return Math.floor((parseDecimal4(p.includedCredits) ?? 0) / (p.interval === 'year' ? 12 : 1));
}

/** What the window's flex was invoiced: each month's flex rounded down to whole credits (R-FLX-5). */
export function flexBilledCents(h: HistoryInput): number {
  return h.months.reduce(
    (sum, m) => sum + centsForUnits(floorToWholeCredits(m.flexUnits) * UNITS_PER_CREDIT, h.flexPriceE4),
    0,
  );
}

interface PrepaidOption {
  /** The bundle bought `quantity` times; null for one purchase of `credits` at its tier. */
  bundleId: string | null;
  bundleCredits: number | null;
  quantity: number;
  credits: number;
  amountCents: number;
}

/**
 * The cheapest prepaid purchase that would have covered the window's flex (R-ALR-4): whole
 * copies of one bundle, or one purchase of any quantity at the tier it reaches (R-CAT-2; a
 * quantity just past a tier's start can cost less than the exact need). A mix of bundles is
 * never cheaper than one purchase of the same total, which reaches at least the tier of each
 * part. Null when nothing beats what the flex was invoiced.
 */
export function cheapestPrepaid(h: HistoryInput) {
  const flexUnits = h.months.reduce((sum, m) => sum + m.flexUnits, 0);
  if (flexUnits < UNITS_PER_CREDIT) return null;
  const need = ceilDiv(flexUnits, UNITS_PER_CREDIT);
  const flexCostCents = flexBilledCents(h);
  const quote = (credits: number) =>
    prepaidQuote({ book: h.book, credits, overrideDiscountBps: h.discountBps }).amountCents;
  const options: PrepaidOption[] = h.catalog.bundles.map((b) => {
    const quantity = ceilDiv(need, b.credits);
    return {
      bundleId: b.id,
      bundleCredits: b.credits,
      quantity,
      credits: quantity * b.credits,
      amountCents: quantity * quote(b.credits),
    };
  });
  const quantities = new Set([need]);
  if (h.discountBps === undefined)
    for (const t of h.book.prepaidTiers) if (t.fromCredits > need) quantities.add(t.fromCredits);
  for (const q of quantities)
    options.push({ bundleId: null, bundleCredits: null, quantity: 1, credits: q, amountCents: quote(q) });
  // Cheapest; then fewer credits; then a bundle (a one-click purchase) over a custom amount.
  options.sort(
    (a, b) =>
      a.amountCents - b.amountCents ||
      a.credits - b.credits ||
      Number(a.bundleId === null) - Number(b.bundleId === null),
  );
  const best = options[0]!;
  if (best.amountCents >= flexCostCents) return null;
  const savingCents = flexCostCents - best.amountCents;
  const what =
    best.bundleId === null
      ? `${best.credits} prepaid credits in one purchase`
      : `${best.quantity} × the ${best.bundleCredits}-credit bundle`;
  return {
    type: 'prepaid_bundle' as const,
    message: `Buying ${what} for ${formatMoney(best.amountCents, h.currency)} would have covered the ${formatUnits(flexUnits)} flex credits of the last ${WINDOW_MONTHS} months, invoiced at ${formatMoney(flexCostCents, h.currency)}: a saving of ${formatMoney(savingCents, h.currency)}.`,
    ...best,
    flexCredits: formatUnits(flexUnits),
    flexCostCents,
    savingCents,
    saving: formatMoney(savingCents, h.currency),
  };
}

/** The next plan up: the lowest higher tier on the same interval (else any interval). */
export function nextPlan(catalog: Catalog, plan: Plan): Plan | undefined {
  const higher = catalog.plans
    .filter((p) => p.tier > plan.tier)
    .sort((a, b) => a.tier - b.tier || a.monthlyPriceCents - b.monthlyPriceCents);
  return higher.find((p) => p.interval === plan.interval) ?? higher[0];
}

export function recommend(h: HistoryInput) {
  const contactSalesAboveMonthlyCents = h.catalog.recommendations.contactSalesAboveMonthlyCents;
  const flexUnits = h.months.reduce((sum, m) => sum + m.flexUnits, 0);
  const flexCostCents = flexBilledCents(h);
  const planCostCents = h.plan.monthlyPriceCents * WINDOW_MONTHS;
  const spentCents = planCostCents + flexCostCents;
  const exhausted = h.includedExhausted.filter(Boolean).length;
  const mostlyExhausted = h.includedExhausted.length > 0 && exhausted * 2 > h.includedExhausted.length;
  const window = {
    months: h.months.map((m) => m.month),
    flexCredits: formatUnits(flexUnits),
    flexCostCents,
    planCostCents,
    spentCents,
    cyclesConsidered: h.includedExhausted.length,
    cyclesIncludedExhausted: exhausted,
  };
  const out: Record<string, unknown>[] = [];

  const prepaid = cheapestPrepaid(h);
  if (prepaid) out.push(prepaid);

  const next = nextPlan(h.catalog, h.plan);
  if (mostlyExhausted && next) {
    // The same usage on the next plan: its price, and flex beyond its included credits.
    const usedPerMonth = includedPerMonth(h.plan) + Math.floor(flexUnits / WINDOW_MONTHS);
    const overflow = Math.max(0, usedPerMonth - includedPerMonth(next));
    const nextCostCents = WINDOW_MONTHS * (next.monthlyPriceCents + centsForUnits(overflow, h.flexPriceE4));
    if (nextCostCents < spentCents) {
      const savingCents = spentCents - nextCostCents;
      out.push({
        type: 'upgrade',
        message: `Included credits ran out in ${exhausted} of the last ${h.includedExhausted.length} cycles. ${next.name} would have cost ${formatMoney(nextCostCents, h.currency)} for the last ${WINDOW_MONTHS} months' usage instead of ${formatMoney(spentCents, h.currency)}: a saving of ${formatMoney(savingCents, h.currency)}.`,
        planId: next.id,
        planName: next.name,
        monthlyPriceCents: next.monthlyPriceCents,
        includedCreditsPerMonth: formatUnits(includedPerMonth(next)),
        nextPlanCostCents: nextCostCents,
        spentCents,
        savingCents,
        saving: formatMoney(savingCents, h.currency),
      });
    }
  }

  const monthlyAverageCents = Math.floor(spentCents / WINDOW_MONTHS);
  if (monthlyAverageCents >= contactSalesAboveMonthlyCents || (mostlyExhausted && !next)) {
    out.push({
      type: 'contact_sales',
      message:
        monthlyAverageCents >= contactSalesAboveMonthlyCents
          ? `You spent ${formatMoney(monthlyAverageCents, h.currency)} a month on average over the last ${WINDOW_MONTHS} months: talk to sales about custom terms.`
          : `Included credits ran out in ${exhausted} of the last ${h.includedExhausted.length} cycles and there is no bigger plan: talk to sales about custom terms.`,
      reason:
        monthlyAverageCents >= contactSalesAboveMonthlyCents ? 'spend_above_threshold' : 'no_higher_plan',
      monthlyAverageCents,
      thresholdCents: contactSalesAboveMonthlyCents,
    });
  }
  return { window, recommendations: out };
}
