/**
 * The platform API's use cases. Each reads *setup → compute → execute*: load or validate,
 * compute with the pure domain, then one atomic script does the write.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type Stripe from 'stripe';
import { z } from 'zod';
import type { Lang } from '../domain/alerts.js';
import { available as availableUnits, split } from '../domain/burndown.js';
import {
  type Catalog,
  effectiveOverrides,
  featureUnits,
  findPlan,
  type Overrides,
  parseStoredOverrides,
  planTerms,
  prepaidQuote,
  priceBookFor,
} from '../domain/catalog.js';
import { monthOf } from '../domain/cycle.js';
import { BurnrateError } from '../domain/errors.js';
import { RECENT_CYCLES, recommend } from '../domain/recommendations.js';
import {
  centsForUnits,
  floorToWholeCredits,
  formatUnits,
  MAX_REQUEST_UNITS,
  UNITS_PER_CREDIT,
} from '../domain/units.js';
import {
  CONFLICT,
  CONFLICT_MESSAGE,
  type DebitBalances,
  type DebitEvent,
  type DebitOutcome,
  type EngineStore,
  type RaisedAlert,
  type WorkspaceMeta,
} from '../redis/engine-store.js';
import { stripeCustomerKey, stripePaymentKey } from '../redis/keys.js';
import { isRetryableStripeError, type StripeClient } from '../stripe/client.js';
import type { AlertService } from './alerts.js';
import type { Invoicer } from './invoicing.js';
import { type GroupBy, UsageView } from './usage-view.js';

const paymentRecordSchema = z.object({
  workspaceId: z.string(),
  lot: z.string(),
  units: z.number().int().positive(),
  amountCents: z.number().int().nonnegative(),
});
/** A prepaid purchase as a refund needs it: whose lot, how many credits, what was paid. */
export type PaymentRecord = z.infer<typeof paymentRecordSchema>;

export interface Clock {
  now(): number;
}
export const systemClock: Clock = { now: () => Date.now() };

export interface DebitMetrics {
  debit(outcome: 'ok' | 'refused' | 'shortfall' | 'replayed', mode: string, seconds: number): void;
}

export interface UsageRequest {
  idempotencyKey: string;
  credits?: number | undefined;
  feature?: string | undefined;
  quantity?: number | undefined;
  mode: 'consume' | 'record';
  metadata?: Record<string, string | number | boolean> | undefined;
  /** When the usage happened (ISO 8601), for late usage: at most 35 days back (R-FLX-5). */
  occurredAt?: string | undefined;
}

/** How far back `occurredAt` may be, as Stripe's meters accept (R-FLX-5). */
export const LATE_USAGE_MAX_MS = 35 * 24 * 3600 * 1000;
/** Clock skew allowed for an `occurredAt` slightly ahead of burnrate's clock. */
const OCCURRED_AT_SKEW_MS = 5 * 60 * 1000;

export interface UsageResponse {
  status: 200 | 402;
  replayed: boolean;
  body: Record<string, unknown>;
}

function intervalName(months: number): 'month' | 'year' {
  return months === 12 ? 'year' : 'month';
}

/** The compact balances every usage answer carries. */
function summary(s: DebitBalances) {
  return {
    included: { remaining: formatUnits(s.included) },
    prepaid: { remaining: formatUnits(s.prepaid) },
    flex: { usedCredits: formatUnits(s.flexCycle), usedCents: centsForUnits(s.flexCycle, s.flexPriceE4) },
    blocked: s.blocked,
  };
}

/**
 * A stable hash of a usage request as sent (credits, or feature and quantity; not the priced
 * credits, so a retry after a rate-card change is still the same request), to catch a key
 * reused with another body.
 */
function usageHash(r: UsageRequest): string {
  const meta = r.metadata ? Object.entries(r.metadata).sort(([a], [b]) => (a < b ? -1 : 1)) : [];
  const fields: unknown[] = [r.credits ?? 0, r.feature ?? '', r.quantity ?? 0, r.mode, meta];
  // Only when given, so requests without it hash as they always did.
  if (r.occurredAt !== undefined) fields.push(Date.parse(r.occurredAt));
  return createHash('sha256').update(JSON.stringify(fields)).digest('base64');
}

export class CreditService {
  private readonly usage: UsageView;

  constructor(
    private readonly deps: {
      redis: Redis;
      store: EngineStore;
      catalog: Catalog;
      clock: Clock;
      metrics?: DebitMetrics | undefined;
      /** The set of every workspace id, walked by the cycle sweep. */
      workspacesKey: string;
      /** The deployment's key prefix (REDIS_PREFIX). */
      keyPrefix: string;
      /** Stripe (or its stand-in); undefined when not configured. */
      stripe?: StripeClient | undefined;
      /** Monthly flex invoicing: its state, and how to queue a run (API process only). */
      invoicing?: { invoicer: Invoicer; enqueueRun?: ((month: string) => Promise<void>) | undefined };
      /** Banners and the outbound alert webhooks (R-ALR-1..3). */
      alerts?: AlertService | undefined;
    },
  ) {
    this.usage = new UsageView({ store: deps.store, catalog: deps.catalog });
  }

  get catalog(): Catalog {
    return this.deps.catalog;
  }

  /** Credits of a request: given, or priced from the rate card (R-CAT-4). */
  private unitsOf(r: {
    credits?: number | undefined;
    feature?: string | undefined;
    quantity?: number | undefined;
  }) {
    if (r.credits !== undefined) return r.credits;
    const units = featureUnits(this.deps.catalog, r.feature!, r.quantity!);
    if (units === null)
      throw new BurnrateError('invalid_request', `unknown feature ${r.feature}`, { feature: r.feature });
    if (units > MAX_REQUEST_UNITS)
      throw new BurnrateError('invalid_request', 'the quantity costs too many credits');
    return units;
  }

  async putWorkspace(
    id: string,
    body: {
      planId: string;
      createdAt?: string | undefined;
      stripeCustomerId?: string | undefined;
      overrides?: Overrides | undefined;
    },
  ) {
    const { outcome } = await this.setPlan(id, body);
    return { outcome, workspace: await this.getWorkspace(id) };
  }

  /**
   * Creates a workspace or sets its plan, from the API or from Stripe's subscription events
   * (with the billing period, the event's time, and whether the old remainder is forfeited).
   * Omitted fields keep what the workspace has; `overrides: {}` clears overrides.
   */
  async setPlan(
    id: string,
    o: {
      planId: string;
      createdAt?: string | undefined;
      stripeCustomerId?: string | undefined;
      overrides?: Overrides | undefined;
      period?: { start: number; end: number } | undefined;
      eventAt?: number | undefined;
      expiryType?: 'expiry' | 'forfeit';
    },
  ) {
    const { store, catalog, clock } = this.deps;
    const plan = findPlan(catalog, o.planId);
    if (!plan) {
      throw new BurnrateError('invalid_request', `unknown planId ${o.planId}`, {
        planIds: catalog.plans.map((p) => p.id),
      });
    }
    const now = clock.now();
    const existing = await store.snapshot(id, now);
    const createdAt = o.createdAt ?? existing?.meta.createdAt ?? new Date(now).toISOString();
    const apiOverrides =
      o.overrides ?? (existing ? parseStoredOverrides(existing.meta.overrides) : undefined);
    const overrides = { ...catalog.enterpriseOverrides[id], ...apiOverrides };
    const terms = planTerms({ catalog, plan, createdAt: Date.parse(createdAt), overrides });
    const meta: Partial<WorkspaceMeta> = {
      createdAt: new Date(Date.parse(createdAt)).toISOString(),
      priceBook: terms.priceBookId,
      currency: terms.currency,
      overrides: apiOverrides ? JSON.stringify(apiOverrides) : '',
    };
    if (o.stripeCustomerId !== undefined) {
      meta.stripeCustomerId = o.stripeCustomerId;
      await this.deps.redis.set(stripeCustomerKey(this.deps.keyPrefix, o.stripeCustomerId), id);
    }
    // Listed for the cycle sweep first: a crash in between leaves a name the sweep skips,
    // never a workspace it misses.
    await this.deps.redis.sadd(this.deps.workspacesKey, id);
    return store.upsert({
      workspaceId: id,
      terms: { ...terms, allotment: terms.allotmentUnits },
      meta,
      now,
      period: o.period,
      eventAt: o.eventAt,
      ...(o.expiryType ? { expiryType: o.expiryType } : {}),
    });
  }

  /**
   * The workspace a Stripe customer belongs to: as burnrate recorded it, else the customer's
   * `metadata.workspace_id` fetched from Stripe (then recorded); null if neither says.
   */
  async workspaceOfCustomer(customerId: string): Promise<string | null> {
    const key = stripeCustomerKey(this.deps.keyPrefix, customerId);
    const known = await this.deps.redis.get(key);
    if (known !== null || !this.deps.stripe) return known;
    let customer: Stripe.Customer | Stripe.DeletedCustomer;
    try {
      customer = await this.deps.stripe.call((sdk) => sdk.customers.retrieve(customerId));
    } catch (err) {
      if (isRetryableStripeError(err)) throw err; // the job retries
      return null;
    }
    const id = 'metadata' in customer ? customer.metadata?.workspace_id : undefined;
    if (!id) return null;
    await this.deps.redis.set(key, id);
    return id;
  }

  /**
   * A Stripe Checkout Session (mode payment) for a bundle or any quantity, priced at the tier
   * it reaches in the workspace's price book, tagged with the workspace and credits on the
   * session and its PaymentIntent (R-PRE-1). The credits arrive with the webhook (R-PRE-2).
   */
  async createCheckout(
    workspaceId: string,
    body: {
      bundleId?: string | undefined;
      credits?: number | undefined;
      successUrl: string;
      cancelUrl: string;
    },
  ) {
    const { catalog, stripe } = this.deps;
    if (!stripe)
      throw new BurnrateError(
        'unavailable',
        'Stripe is not configured (STRIPE_SECRET_KEY or STRIPE_API_BASE)',
      );
    const snap = await this.requireWorkspace(workspaceId);
    let credits = body.credits;
    if (body.bundleId !== undefined) {
      const bundle = catalog.bundles.find((b) => b.id === body.bundleId);
      if (!bundle)
        throw new BurnrateError('invalid_request', `unknown bundleId ${body.bundleId}`, {
          bundleIds: catalog.bundles.map((b) => b.id),
        });
      credits = bundle.credits;
    }
    const book = priceBookFor(catalog, Date.parse(snap.meta.createdAt));
    const discount = effectiveOverrides(catalog, workspaceId, snap.meta.overrides).prepaidDiscountBps;
    const quote = prepaidQuote({ book, credits: credits!, overrideDiscountBps: discount });
    const metadata = { workspace_id: workspaceId, credits: String(quote.credits) };
    try {
      const session = await stripe.call((sdk) =>
        sdk.checkout.sessions.create({
          mode: 'payment',
          line_items: [
            {
              quantity: 1,
              price_data: {
                currency: quote.currency,
                unit_amount: quote.amountCents,
                product_data: { name: `${quote.credits} prepaid credits` },
              },
            },
          ],
          client_reference_id: workspaceId,
          ...(snap.meta.stripeCustomerId ? { customer: snap.meta.stripeCustomerId } : {}),
          metadata,
          payment_intent_data: { metadata },
          success_url: body.successUrl,
          cancel_url: body.cancelUrl,
        }),
      );
      return {
        id: session.id,
        url: session.url ?? null,
        credits: String(quote.credits),
        amountCents: quote.amountCents,
        currency: quote.currency,
      };
    } catch (err) {
      if (isRetryableStripeError(err))
        throw new BurnrateError('unavailable', 'Stripe is unavailable; retry later');
      throw new BurnrateError('internal', `Stripe refused the Checkout Session: ${(err as Error).message}`);
    }
  }

  /**
   * Queues the flex invoicing of a closed month (R-FLX-6), or with `dryRun` answers what it
   * would bill without queueing anything. Re-running a month bills nothing twice.
   */
  async invoicingRun(month: string, dryRun: boolean) {
    const inv = this.deps.invoicing;
    if (!inv) throw new BurnrateError('unavailable', 'invoicing is not available in this process');
    const now = this.deps.clock.now();
    if (month >= monthOf(now)) throw new BurnrateError('invalid_request', `${month} is not closed yet`);
    if (dryRun) {
      let workspaces = 0;
      let billedCredits = 0;
      for await (const c of inv.invoicer.candidates(month)) {
        workspaces++;
        billedCredits += floorToWholeCredits(c.units);
      }
      return { month, dryRun: true, workspaces, billedCredits };
    }
    if (!inv.enqueueRun)
      throw new BurnrateError('unavailable', 'invoicing runs cannot be queued from this process');
    await inv.enqueueRun(month);
    return { month, dryRun: false, queued: true };
  }

  async invoicingStatus(month: string) {
    const inv = this.deps.invoicing;
    if (!inv) throw new BurnrateError('unavailable', 'invoicing is not available in this process');
    return inv.invoicer.status(month);
  }

  /** Records which purchase a PaymentIntent paid for, so refunds and disputes find its lot. */
  async rememberPayment(paymentIntentId: string, p: PaymentRecord): Promise<void> {
    await this.deps.redis.set(stripePaymentKey(this.deps.keyPrefix, paymentIntentId), JSON.stringify(p));
  }

  async paymentOf(paymentIntentId: string): Promise<PaymentRecord | null> {
    const raw = await this.deps.redis.get(stripePaymentKey(this.deps.keyPrefix, paymentIntentId));
    return raw === null ? null : paymentRecordSchema.parse(JSON.parse(raw));
  }

  /** The plan a Stripe price id stands for (R-CAT-1), or undefined. */
  planOfPrice(priceId: string) {
    return this.deps.catalog.plans.find((p) => p.stripePriceIds.includes(priceId));
  }

  /** The workspace's current plan id, or null if there is no such workspace. */
  async currentPlan(id: string): Promise<string | null> {
    const snap = await this.deps.store.snapshot(id, this.deps.clock.now());
    return snap ? snap.state.planId : null;
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
      included: {
        granted: formatUnits(s.includedGranted),
        used: formatUnits(s.includedGranted - s.included),
        remaining: formatUnits(s.included),
      },
      prepaid: { remaining: formatUnits(s.prepaid) },
      flex: {
        allowed: s.flexAllowed,
        enabled: s.flexEnabled,
        capCents: s.capCents,
        thresholdCents: s.thresholdCents,
        usedCredits: formatUnits(s.flexCycle),
        usedCents: centsForUnits(s.flexCycle, s.flexPriceE4),
        unitAmountCents: formatUnits(s.flexPriceE4),
      },
      blocked: s.blocked,
      alerts: (await this.deps.alerts?.banners(id, snap, 'en')) ?? [],
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
        alerts: (await this.deps.alerts?.banners(id, snap, 'en')) ?? [],
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
    const includedExhausted =
      (await this.deps.alerts?.includedExhaustedInRecentCycles(id, state, RECENT_CYCLES)) ?? [];
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
    return { lang, alerts: (await this.deps.alerts?.banners(id, snap, lang)) ?? [] };
  }

  /** A usage request as the debit script takes it: priced, hashed, with a new usage id. */
  private debitEvent(r: UsageRequest, now: number): DebitEvent {
    return {
      units: this.unitsOf(r),
      mode: r.mode,
      idempotencyKey: r.idempotencyKey,
      bodyHash: usageHash(r),
      usageId: `use_${randomUUID().replaceAll('-', '')}`,
      feature: r.feature ?? '',
      occurredAt: lateUsageAt(r.occurredAt, now),
    };
  }

  /** Whether a usage key has a first answer on record (a retry then replays it). */
  private async answered(workspaceId: string, e: DebitEvent): Promise<boolean> {
    return (
      (await this.deps.redis.exists(this.deps.store.keys(workspaceId).usageIdem(e.idempotencyKey))) === 1
    );
  }

  /** Queues the alerts a debit raised for the webhooks; the worker's sweep catches a failure. */
  private async dispatchAlerts(workspaceId: string, outs: readonly (DebitOutcome | typeof CONFLICT)[]) {
    await this.dispatchRaised(
      workspaceId,
      outs.flatMap((o) => (o === CONFLICT || o.replayed ? [] : o.alerts)),
    );
  }

  /** Whether scripts should put raised alerts in the outbox (outbound webhooks configured). */
  get alertsOutbound(): boolean {
    return this.deps.alerts?.outbound ?? false;
  }

  /** Queues alerts a script raised for the webhooks; the worker's sweep catches a failure. */
  async dispatchRaised(workspaceId: string, raised: readonly RaisedAlert[]): Promise<void> {
    const alerts = this.deps.alerts;
    if (!alerts?.outbound || raised.length === 0) return;
    try {
      await alerts.dispatch(
        workspaceId,
        raised.map((a) => a.id),
      );
    } catch {
      // Left in the workspace's outbox: the worker's sweep queues it within a minute.
    }
  }

  /** consume (R-CON-2) or record (R-CON-4), idempotent per key (R-CON-5). */
  async spend(workspaceId: string, r: UsageRequest): Promise<UsageResponse> {
    const now = this.deps.clock.now();
    const event = this.debitEvent(r, now);
    if (isTooOld(event, now) && !(await this.answered(workspaceId, event))) throw tooOldError(now);
    const started = process.hrtime.bigint();
    const out = await this.deps.store.debit({
      workspaceId,
      ...event,
      now,
      month: monthOf(now),
      outbound: this.deps.alerts?.outbound ?? false,
    });
    this.deps.metrics?.debit(outcomeOf(out), r.mode, Number(process.hrtime.bigint() - started) / 1e9);
    await this.dispatchAlerts(workspaceId, [out]);
    return usageResponse(out);
  }

  /**
   * Up to 1,000 usage events. All are validated before any is applied; then each workspace's
   * events go to the debit script in one call, in their order. Answers come in event order,
   * each with its own status (200, 402, 404 unknown workspace, 409 key conflict).
   */
  async spendBatch(events: (UsageRequest & { workspaceId: string })[]) {
    const now = this.deps.clock.now();
    const prepared = events.map((e, i) => {
      try {
        return this.debitEvent(e, now);
      } catch (err) {
        if (err instanceof BurnrateError)
          throw new BurnrateError(err.code, `events[${i}]: ${err.message}`, err.details);
        throw err;
      }
    });
    // Too old is refused unless it is a retry of an event answered before (R-CON-5): its key
    // answers the first reply for as long as it is kept.
    for (const [i, e] of prepared.entries()) {
      if (isTooOld(e, now) && !(await this.answered(events[i]!.workspaceId, e))) {
        throw tooOldError(now, `events[${i}]: `);
      }
    }
    const groups = new Map<string, number[]>();
    events.forEach((e, i) => {
      const g = groups.get(e.workspaceId);
      if (g) g.push(i);
      else groups.set(e.workspaceId, [i]);
    });
    const month = monthOf(now);
    const outbound = this.deps.alerts?.outbound ?? false;
    const results: Record<string, unknown>[] = new Array(events.length);
    await Promise.all(
      [...groups].map(async ([workspaceId, idx]) => {
        const started = process.hrtime.bigint();
        let outs: Awaited<ReturnType<EngineStore['debitMany']>>;
        try {
          outs = await this.deps.store.debitMany({
            workspaceId,
            events: idx.map((i) => prepared[i]!),
            now,
            month,
            outbound,
          });
        } catch (err) {
          if (!(err instanceof BurnrateError && err.code === 'not_found')) throw err;
          for (const i of idx) results[i] = { status: 404, error: { code: err.code, message: err.message } };
          return;
        }
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        outs.forEach((out, j) => {
          const i = idx[j]!;
          if (out === CONFLICT) {
            results[i] = { status: 409, error: { code: 'idempotency_conflict', message: CONFLICT_MESSAGE } };
            return;
          }
          this.deps.metrics?.debit(outcomeOf(out), events[i]!.mode, seconds);
          const res = usageResponse(out);
          results[i] = { status: res.status, ...(res.replayed ? { replayed: true } : {}), ...res.body };
        });
        await this.dispatchAlerts(workspaceId, outs);
      }),
    );
    return results;
  }

  /** Whether an amount could be spent now, debiting nothing (R-CON-3). */
  async authorize(workspaceId: string, r: Omit<UsageRequest, 'idempotencyKey' | 'mode'>) {
    const units = this.unitsOf(r);
    const snap = await this.requireWorkspace(workspaceId);
    const state = { ...snap.state, lots: [] };
    const avail = availableUnits(state);
    const { reason } = split(state, units);
    return {
      ok: reason === null,
      ...(reason ? { reason } : {}),
      credits: formatUnits(units),
      available: avail === null ? null : formatUnits(avail),
    };
  }

  async setFlex(
    workspaceId: string,
    body: { enabled?: boolean | undefined; capCents?: number | null | undefined },
  ) {
    const now = this.deps.clock.now();
    const { state } = await this.requireWorkspace(workspaceId, now);
    if (!state.flexAllowed && (body.enabled === true || body.capCents !== undefined)) {
      throw new BurnrateError(
        'invalid_request',
        `plan ${state.planId} has no flex: upgrade to a paid plan first`,
      );
    }
    const { alerts } = await this.deps.store.flexSettings({
      workspaceId,
      ...body,
      now,
      outbound: this.alertsOutbound,
    });
    await this.dispatchRaised(workspaceId, alerts);
    return this.getWorkspace(workspaceId);
  }

  async setThreshold(workspaceId: string, thresholdCents: number | null) {
    const { alerts } = await this.deps.store.flexSettings({
      workspaceId,
      thresholdCents,
      now: this.deps.clock.now(),
      outbound: this.alertsOutbound,
    });
    await this.dispatchRaised(workspaceId, alerts);
    return this.getWorkspace(workspaceId);
  }

  /** A signed manual grant or debit, booked on the ledger (R-CON-7). */
  async adjust(
    workspaceId: string,
    body: { idempotencyKey: string; kind: 'included' | 'prepaid'; credits: number; reason: string },
  ) {
    const res = await this.deps.store.adjust({
      workspaceId,
      kind: body.kind,
      units: body.credits,
      ref: `adj:${body.idempotencyKey}`,
      type: 'adjustment',
      reason: body.reason,
      idempotencyKey: body.idempotencyKey,
      bodyHash: createHash('sha256')
        .update(JSON.stringify([body.kind, body.credits, body.reason]))
        .digest('base64'),
      now: this.deps.clock.now(),
      outbound: this.alertsOutbound,
    });
    if (!res.replayed) await this.dispatchRaised(workspaceId, res.alerts);
    if (res.status === 'insufficient_balance') {
      throw new BurnrateError('invalid_request', `the ${body.kind} balance is smaller than the debit`, {
        balance: formatUnits(body.kind === 'included' ? res.state.included : res.state.prepaid),
      });
    }
    if (res.status === 'duplicate_lot') {
      throw new BurnrateError(
        'idempotency_conflict',
        'an adjustment with this idempotency key was booked before',
      );
    }
    return { replayed: res.replayed, workspace: await this.getWorkspace(workspaceId) };
  }

  async ledger(workspaceId: string, q: { limit: number; cursor?: string | undefined }) {
    await this.requireWorkspace(workspaceId);
    const page = await this.deps.store.ledgerPage({ workspaceId, ...q });
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

  /** A month's flex and what it would bill: the credits rounded down (R-FLX-5). */
  async invoicePreview(workspaceId: string, month?: string) {
    const now = this.deps.clock.now();
    const snap = await this.requireWorkspace(workspaceId, now);
    const m = month ?? monthOf(now);
    const flexUnits = (await this.deps.store.flexMonths(workspaceId))[m] ?? 0;
    const billed = floorToWholeCredits(flexUnits);
    const price = snap.state.flexPriceE4;
    return {
      month: m,
      flexCredits: formatUnits(flexUnits),
      billedCredits: String(billed),
      unitAmountCents: formatUnits(price),
      amountCents: centsForUnits(billed * UNITS_PER_CREDIT, price),
      currency: snap.meta.currency,
      status: m < monthOf(now) ? ('closed' as const) : ('open' as const),
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

  /** The workspace's state as of `now` (an ended cycle rolled), or not_found. */
  private async requireWorkspace(id: string, now = this.deps.clock.now()) {
    const snap = await this.deps.store.snapshot(id, now);
    if (!snap) throw new BurnrateError('not_found', `workspace ${id} does not exist`);
    return snap;
  }
}

/**
 * The instant of late usage, checked not to be ahead of now (beyond clock skew); undefined when
 * not given or not earlier than now (then it is simply now's usage). The 35-day limit is
 * checked by the caller, after looking for a first answer to replay (isTooOld).
 */
function lateUsageAt(occurredAt: string | undefined, now: number): number | undefined {
  if (occurredAt === undefined) return undefined;
  const at = Date.parse(occurredAt);
  if (at > now + OCCURRED_AT_SKEW_MS) {
    throw new BurnrateError('invalid_request', 'occurredAt is in the future', { occurredAt });
  }
  return at < now ? at : undefined;
}

/** Late usage older than Stripe's meters accept (R-FLX-5). */
function isTooOld(e: DebitEvent, now: number): boolean {
  return e.occurredAt !== undefined && e.occurredAt < now - LATE_USAGE_MAX_MS;
}

function tooOldError(now: number, where = '') {
  return new BurnrateError('invalid_request', `${where}occurredAt is more than 35 days ago (R-FLX-5)`, {
    earliest: new Date(now - LATE_USAGE_MAX_MS).toISOString(),
  });
}

function outcomeOf(o: DebitOutcome) {
  if (o.replayed) return 'replayed' as const;
  if (!o.ok) return 'refused' as const;
  return o.shortfall > 0 ? ('shortfall' as const) : ('ok' as const);
}

/** The alerts an event raised, when it raised any (R-ALR-1): the platform may act at once. */
function alertsOf(o: DebitOutcome) {
  return o.alerts.length > 0 ? { alerts: o.alerts.map((a) => ({ id: a.id, type: a.name })) } : {};
}

function usageResponse(o: DebitOutcome): UsageResponse {
  if (!o.ok) {
    return {
      status: 402,
      replayed: o.replayed,
      body: {
        ok: false,
        reason: o.reason,
        available: o.available === null ? null : formatUnits(o.available),
        usageId: o.usageId,
        ...alertsOf(o),
        workspace: summary(o.state),
      },
    };
  }
  return {
    status: 200,
    replayed: o.replayed,
    body: {
      ok: true,
      usageId: o.usageId,
      debited: {
        included: formatUnits(o.debited.included),
        prepaid: formatUnits(o.debited.prepaid),
        flex: formatUnits(o.debited.flex),
      },
      ...(o.shortfall > 0 ? { shortfall: formatUnits(o.shortfall) } : {}),
      ...alertsOf(o),
      workspace: summary(o.state),
    },
  };
}
