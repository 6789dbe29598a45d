/**
 * What the platform reads: the workspace with its balances and banners, the ledger, usage,
 * alerts, recommendations, the invoice preview and the catalog. Nothing here writes.
 */

import type { LedgerHistory } from '../db/ledger-history.js';
import type { UsageDayRetention } from '../db/usage-retention.js';
import type { Lang } from '../domain/alerts.js';
import {
  type Catalog,
  effectiveOverrides,
  findPlan,
  parseStoredOverrides,
  prepaidQuote,
  priceBookFor,
} from '../domain/catalog.js';
import { monthOf } from '../domain/cycle.js';
import { BurnrateError } from '../domain/errors.js';
import { RECENT_CYCLES, recommend } from '../domain/recommendations.js';
import { centsForUnits, floorToWholeCredits, formatUnits, UNITS_PER_CREDIT } from '../domain/units.js';
import type { EngineStore } from '../redis/engine-store.js';
import type { AlertService } from './alerts.js';
import { balanceView } from './balance-view.js';
import type { Clock } from './clock.js';
import type { LedgerReader } from './ledger-reader.js';
import { requireWorkspace } from './require-workspace.js';
import { type GroupBy, UsageView } from './usage-view.js';

function intervalName(months: number): 'month' | 'year' {
  return months === 12 ? 'year' : 'month';
}

export class ReadViews {
  private readonly usage: UsageView;

  constructor(
    private readonly deps: {
      store: EngineStore;
      catalog: Catalog;
      clock: Clock;
      /** Banners (R-ALR-2) and the alert history recommendations read (R-ALR-4). */
      alerts: AlertService;
      /** The ledger across Redis and PostgreSQL. */
      ledger: LedgerReader;
      /** Usage days past their retention in Redis, from PostgreSQL (DATABASE_URL). */
      usageArchive?: { history: LedgerHistory; usageDays: UsageDayRetention } | undefined;
    },
  ) {
    this.usage = new UsageView({ store: deps.store, catalog: deps.catalog, archived: deps.usageArchive });
  }

  private requireWorkspace(id: string, now = this.deps.clock.now()) {
    return requireWorkspace(this.deps.store, id, now);
  }

  async getWorkspace(id: string) {
    const snap = await this.requireWorkspace(id);
    const { state: s, meta } = snap;
    return {
      id,
      planId: s.planId,
      priceBook: meta.priceBook,
      currency: meta.currency,
      createdAt: meta.createdAt,
      stripeCustomerId: meta.stripeCustomerId || null,
      overrides: parseStoredOverrides(meta.overrides) ?? null,
      cycle: {
        start: new Date(s.cycleStart).toISOString(),
        end: new Date(s.cycleEnd).toISOString(),
        interval: intervalName(s.intervalMonths),
      },
      ...balanceView(s),
      alerts: await this.deps.alerts.banners(id, snap, 'en'),
    };
  }

  /** Usage over a range of days, grouped, and the current cycle's summary (R-USE-1). */
  async usageView(id: string, q: { from?: number | undefined; to?: number | undefined; groupBy: GroupBy }) {
    const now = this.deps.clock.now();
    const snap = await this.requireWorkspace(id, now);
    const usage = await this.usage.usage(id, {
      from: q.from ?? snap.state.cycleStart,
      to: q.to ?? now,
      groupBy: q.groupBy,
    });
    return {
      ...usage,
      cycle: {
        ...UsageView.cycleSummary(snap.state),
        alerts: await this.deps.alerts.banners(id, snap, 'en'),
      },
    };
  }

  /**
   * Recommendations from this month and the two before, those the workspace existed in
   * (R-ALR-4): the cheapest prepaid bundle for the flex used, an upgrade, or sales; each with
   * the figures behind it.
   */
  async recommendations(id: string) {
    const now = this.deps.clock.now();
    const { catalog } = this.deps;
    const snap = await this.requireWorkspace(id, now);
    const { state, meta } = snap;
    const plan = findPlan(catalog, state.planId);
    if (!plan) throw new BurnrateError('internal', `plan ${state.planId} is not in the catalog`);
    const flexByMonth = await this.deps.store.flexMonths(id);
    const includedExhausted = await this.deps.alerts.includedExhaustedInRecentCycles(
      id,
      state,
      RECENT_CYCLES,
    );
    const createdAt = Date.parse(meta.createdAt) || now;
    return {
      currency: meta.currency || 'usd',
      ...recommend({
        catalog,
        plan,
        book: priceBookFor(catalog, createdAt),
        discountBps: effectiveOverrides(catalog, id, meta.overrides).prepaidDiscountBps,
        flexPriceE4: state.flexPriceE4,
        now,
        createdAt,
        flexByMonth,
        includedExhausted,
        currency: meta.currency || 'usd',
      }),
    };
  }

  /** The current banners in one language (R-ALR-2, R-ALR-3). */
  async alerts(id: string, lang: Lang) {
    const snap = await this.requireWorkspace(id);
    return { lang, alerts: await this.deps.alerts.banners(id, snap, lang) };
  }

  async ledger(workspaceId: string, q: { limit: number; cursor?: string | undefined }) {
    await this.requireWorkspace(workspaceId);
    const page = await this.deps.ledger.page({ workspaceId, ...q });
    return {
      entries: page.entries.map((e) => ({
        id: e.id,
        at: new Date(e.at).toISOString(),
        type: e.type,
        kind: e.kind === 'none' ? null : e.kind,
        credits: formatUnits(e.units),
        balanceAfter: formatUnits(e.balanceAfter),
        ref: e.ref,
        ...(e.fields.lot ? { lot: e.fields.lot } : {}),
        ...(e.fields.feature ? { feature: e.fields.feature } : {}),
        ...(e.fields.occurredAt ? { occurredAt: new Date(Number(e.fields.occurredAt)).toISOString() } : {}),
        ...(e.fields.month ? { month: e.fields.month } : {}),
        ...(e.fields.reason ? { reason: e.fields.reason } : {}),
      })),
      nextCursor: page.nextCursor,
    };
  }

  /**
   * A month's flex and what it would bill: the credits rounded down (R-FLX-5). The month's whole
   * flex keeps its fields (API.md); beside it, what final invoices of ended subscriptions took
   * of it (R-CYC-3) and what the monthly run bills of the rest, rounded down on its own.
   */
  async invoicePreview(o: { workspaceId: string; month?: string | undefined }) {
    const now = this.deps.clock.now();
    const snap = await this.requireWorkspace(o.workspaceId, now);
    const month = o.month ?? monthOf(now);
    const [months, finalUnits] = await Promise.all([
      this.deps.store.flexMonths(o.workspaceId),
      this.deps.store.flexFinalUnits({ workspaceId: o.workspaceId, month }),
    ]);
    const flexUnits = months[month] ?? 0;
    const billed = floorToWholeCredits(flexUnits);
    const toBill = floorToWholeCredits(flexUnits - finalUnits);
    const price = snap.state.flexPriceE4;
    return {
      month,
      flexCredits: formatUnits(flexUnits),
      billedCredits: String(billed),
      unitAmountCents: formatUnits(price),
      amountCents: centsForUnits(billed * UNITS_PER_CREDIT, price),
      currency: snap.meta.currency,
      status: month < monthOf(now) ? ('closed' as const) : ('open' as const),
      finalInvoicedCredits: formatUnits(finalUnits),
      toBillCredits: String(toBill),
      toBillAmountCents: centsForUnits(toBill * UNITS_PER_CREDIT, price),
    };
  }

  /** Plans, bundles priced from a workspace's price book (or today's), and the rate card. */
  async catalogView(workspaceId?: string) {
    const { catalog, clock } = this.deps;
    let createdAt = clock.now();
    let discount: number | undefined;
    if (workspaceId !== undefined) {
      const snap = await this.requireWorkspace(workspaceId, clock.now());
      createdAt = Date.parse(snap.meta.createdAt);
      discount = effectiveOverrides(catalog, workspaceId, snap.meta.overrides).prepaidDiscountBps;
    }
    const book = priceBookFor(catalog, createdAt);
    return {
      priceBook: { id: book.id, currency: book.currency, flexUnitAmountCents: book.flexUnitAmountCents },
      plans: catalog.plans,
      bundles: catalog.bundles.map((b) => {
        const q = prepaidQuote({ book, credits: b.credits, overrideDiscountBps: discount });
        return {
          ...b,
          amountCents: q.amountCents,
          currency: q.currency,
          unitAmountCents: formatUnits(q.unitAmountE4),
          discountBps: q.discountBps,
        };
      }),
      prepaidTiers: book.prepaidTiers,
      rateCard: catalog.rateCard,
    };
  }
}
