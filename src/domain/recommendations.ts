/**
 * Recommendations from usage history (R-ALR-4), pure. Over the months of the window (this
 * calendar month and the two before) that the workspace existed in:
 *   - the prepaid purchase that would have cost least for the flex used (a bundle, or any
 *     quantity at its tier), and the saving against what that flex was invoiced;
 *   - an upgrade, when included credits ran out in most recent cycles and the next plan tier,
 *     month by month, would have cost less than what was spent;
 *   - contacting sales, above a monthly spend set in the catalog, or when included credits keep
 *     running out and there is no higher tier.
 * Every recommendation carries the figures behind it. Money is integer cents; credits exact.
 */
import { formatMoney } from './alerts.js';
import { type Catalog, type Plan, type PriceBook, prepaidQuote } from './catalog.js';
import { monthOf } from './cycle.js';
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
  now: number;
  /** When the workspace was created: the window's months before it are not looked at. */
  createdAt: number;
  /** Flex units used per calendar month ("YYYY-MM"), as the workspace's month totals hold them. */
  flexByMonth: Record<string, number>;
  /** For each recent cycle (up to RECENT_CYCLES, newest first): did included credits run out? */
  includedExhausted: boolean[];
  currency: string;
}

interface MonthFlex {
  month: string;
  flexUnits: number;
}

const ceilDiv = (a: number, b: number) => Math.floor((a + b - 1) / b);

/** Included units a plan grants per month (an annual plan's year spread over 12 months). */
function includedPerMonth(p: Plan): number {
  return Math.floor((parseDecimal4(p.includedCredits) ?? 0) / (p.interval === 'year' ? 12 : 1));
}

/** What one month's flex is invoiced: rounded down to whole credits (R-FLX-5). */
function flexInvoicedCents(flexUnits: number, priceE4: number): number {
  return centsForUnits(floorToWholeCredits(flexUnits) * UNITS_PER_CREDIT, priceE4);
}

/**
 * The window's months the workspace existed in, oldest first, with the flex used in each: a
 * workspace a day old is weighed on its one month, not on plan prices it never paid.
 */
export function windowMonths(h: HistoryInput): MonthFlex[] {
  const d = new Date(h.now);
  // A creation time ahead of now (a creator's clock ahead of ours) still leaves this month.
  const since = monthOf(Math.min(h.createdAt, h.now));
  return Array.from({ length: WINDOW_MONTHS }, (_, i) =>
    monthOf(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - (WINDOW_MONTHS - 1 - i), 1)),
  )
    .filter((month) => month >= since)
    .map((month) => ({ month, flexUnits: h.flexByMonth[month] ?? 0 }));
}

/** Months named in a sentence: "2026-11", "2026-10 and 2026-11", "2026-09, 2026-10 and 2026-11". */
function monthList(months: MonthFlex[]): string {
  const names = months.map((m) => m.month);
  return names.length < 2 ? names.join('') : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
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
export function cheapestPrepaid(
  h: HistoryInput,
  flex: { flexUnits: number; flexCostCents: number; months: MonthFlex[] },
) {
  const { flexUnits, flexCostCents } = flex;
  if (flexUnits < UNITS_PER_CREDIT) return null;
  const need = ceilDiv(flexUnits, UNITS_PER_CREDIT);
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
    message: `Buying ${what} for ${formatMoney(best.amountCents, h.currency)} would have covered the ${formatUnits(flexUnits)} flex credits of ${monthList(flex.months)}, invoiced at ${formatMoney(flexCostCents, h.currency)}: a saving of ${formatMoney(savingCents, h.currency)}.`,
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
  const months = windowMonths(h);
  const monthNames = months.map((m) => m.month);
  const flexUnits = months.reduce((sum, m) => sum + m.flexUnits, 0);
  const flexCostCents = months.reduce((sum, m) => sum + flexInvoicedCents(m.flexUnits, h.flexPriceE4), 0);
  const planCostCents = h.plan.monthlyPriceCents * months.length;
  const spentCents = planCostCents + flexCostCents;
  const exhausted = h.includedExhausted.filter(Boolean).length;
  const mostlyExhausted = h.includedExhausted.length > 0 && exhausted * 2 > h.includedExhausted.length;
  const window = {
    months: monthNames,
    flexCredits: formatUnits(flexUnits),
    flexCostCents,
    planCostCents,
    spentCents,
    cyclesConsidered: h.includedExhausted.length,
    cyclesIncludedExhausted: exhausted,
  };
  const out: Record<string, unknown>[] = [];

  const prepaid = cheapestPrepaid(h, { flexUnits, flexCostCents, months });
  if (prepaid) out.push(prepaid);

  const next = nextPlan(h.catalog, h.plan);
  if (mostlyExhausted && next) {
    // Month by month, never averaged (flex in one month is not spread over the others): each
    // month's use on the next plan is its price and, invoiced like any flex (R-FLX-5), the use
    // beyond its included credits. Flex is priced by the price book and overrides, not the plan.
    const usedIncluded = includedPerMonth(h.plan);
    const nextCostCents = months.reduce(
      (sum, m) =>
        sum +
        next.monthlyPriceCents +
        flexInvoicedCents(Math.max(0, usedIncluded + m.flexUnits - includedPerMonth(next)), h.flexPriceE4),
      0,
    );
    if (nextCostCents < spentCents) {
      const savingCents = spentCents - nextCostCents;
      out.push({
        type: 'upgrade',
        message: `Included credits ran out in ${exhausted} of the last ${h.includedExhausted.length} cycles. ${next.name} would have cost ${formatMoney(nextCostCents, h.currency)} in ${monthList(months)} instead of the ${formatMoney(spentCents, h.currency)} spent: a saving of ${formatMoney(savingCents, h.currency)}.`,
        planId: next.id,
        planName: next.name,
        monthlyPriceCents: next.monthlyPriceCents,
        includedCreditsPerMonth: formatUnits(includedPerMonth(next)),
        months: monthNames,
        nextPlanCostCents: nextCostCents,
        spentCents,
        savingCents,
        saving: formatMoney(savingCents, h.currency),
      });
    }
  }

  const monthlyAverageCents = Math.floor(spentCents / months.length);
  if (monthlyAverageCents >= contactSalesAboveMonthlyCents || (mostlyExhausted && !next)) {
    out.push({
      type: 'contact_sales',
      message:
        monthlyAverageCents >= contactSalesAboveMonthlyCents
          ? `You spent ${formatMoney(monthlyAverageCents, h.currency)} a month on average in ${monthList(months)}: talk to sales about custom terms.`
          : `Included credits ran out in ${exhausted} of the last ${h.includedExhausted.length} cycles and there is no bigger plan: talk to sales about custom terms.`,
      reason:
        monthlyAverageCents >= contactSalesAboveMonthlyCents ? 'spend_above_threshold' : 'no_higher_plan',
      months: monthNames,
      monthlyAverageCents,
      thresholdCents: contactSalesAboveMonthlyCents,
    });
  }
  return { window, recommendations: out };
}
