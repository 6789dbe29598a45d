/**
 * Monthly flex invoicing (R-FLX-5, R-FLX-6). A run finds every workspace with flex in a closed
 * calendar month; each workspace-month then gets one Stripe invoice item: the month's flex
 * rounded down to whole credits (77.7 → 77), at the workspace's flex price, with the Stripe
 * idempotency key `flex:{workspace}:{YYYY-MM}`. Monthly plans leave the item for the next
 * subscription invoice; annual plans get an invoice created, the item attached, and the invoice
 * finalized at once. Each workspace-month's state (pending, item_created, invoiced, skipped,
 * failed) is kept, so a run can be resumed, re-run or inspected, and every Stripe call is
 * idempotent: a re-run, a retry or a killed worker never bills twice.
 *
 * An ended subscription's final invoice (R-CYC-3) is a bill of its own: the flex its month
 * gained since the month's last final invoice (its final stretch), with its own state and
 * idempotency keys (the subscription id added), so a workspace that subscribes again and ends
 * again in the same month gets a second final invoice. The monthly run bills the month's flex
 * less what final invoices took.
 */
import type { ChainableCommander, Redis } from 'ioredis';
import Stripe from 'stripe';
import { z } from 'zod';
import { type Catalog, effectiveOverrides, findPlan } from '../domain/catalog.js';
import { monthOf } from '../domain/cycle.js';
import { BurnrateError } from '../domain/errors.js';
import { centsForUnits, floorToWholeCredits, formatUnits, UNITS_PER_CREDIT } from '../domain/units.js';
import type { EngineStore } from '../redis/engine-store.js';
import { invoicingKey, invoicingRunsKey } from '../redis/keys.js';
import type { StripeClient } from '../stripe/client.js';

export const INVOICE_STATUSES = ['pending', 'item_created', 'invoiced', 'skipped', 'failed'] as const;

const stateSchema = z.object({
  status: z.enum(INVOICE_STATUSES),
  flexCredits: z.string(),
  billedCredits: z.number().int(),
  /** What the billed credits cost at the workspace's flex price; known once it is billed. */
  amountCents: z.number().int().optional(),
  itemId: z.string().optional(),
  invoiceId: z.string().optional(),
  reason: z.string().optional(),
  /**
   * The terms of the bill, fixed before the first Stripe call and reused by every retry:
   * Stripe refuses an idempotency key reused with other parameters, and a price or plan change
   * between attempts must not change what the month is billed (or leave a draft invoice).
   */
  terms: z
    .object({
      priceE4: z.number().int().positive(),
      currency: z.string(),
      customer: z.string(),
      ownInvoice: z.boolean(),
    })
    .optional(),
});
export type WorkspaceMonthState = z.infer<typeof stateSchema>;

/**
 * What one bill is for: a workspace-month of the monthly run or, with `subscriptionId`, the
 * final stretch of that subscription in the month it ended (R-CYC-3).
 */
export interface Bill {
  workspaceId: string;
  month: string;
  subscriptionId?: string | undefined;
}

/** A bill's field in its month's state hash: a workspace id has no '/' (its API pattern). */
const stateField = (b: Bill) => (b.subscriptionId ? `${b.workspaceId}/${b.subscriptionId}` : b.workspaceId);

/** The part of a bill's Stripe idempotency keys that names it. */
const billKey = (b: Bill) =>
  b.subscriptionId ? `${b.workspaceId}:${b.month}:${b.subscriptionId}` : `${b.workspaceId}:${b.month}`;

/** The month's flex less what final invoices took (R-CYC-3), from the two HGET replies. */
const remainder = (flexUnits: unknown, finalUnits: unknown) =>
  Number(flexUnits ?? 0) - Number(finalUnits ?? 0);

export function previousMonth(now: number): string {
  const d = new Date(now);
  return monthOf(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - 1, 1));
}

export class Invoicer {
  constructor(
    private readonly deps: {
      redis: Redis;
      store: EngineStore;
      catalog: Catalog;
      stripe: StripeClient | undefined;
      keyPrefix: string;
      workspacesKey: string;
    },
  ) {}

  private key(month: string) {
    return invoicingKey(this.deps.keyPrefix, month);
  }

  private async save(bill: Bill, s: WorkspaceMonthState) {
    await this.deps.redis.hset(this.key(bill.month), stateField(bill), JSON.stringify(s));
    return s;
  }

  async state(bill: Bill): Promise<WorkspaceMonthState | null> {
    const raw = await this.deps.redis.hget(this.key(bill.month), stateField(bill));
    return raw === null ? null : stateSchema.parse(JSON.parse(raw));
  }

  /**
   * Reads a workspace-month's flex to bill and closes that month for the workspace, in one
   * MULTI: from then on late usage (`occurredAt`) of the month counts toward the current month
   * (the debit script checks `flexClosed`), so the amount read is final and nothing booked
   * later is lost. What final invoices took of the month (R-CYC-3) is read in the same MULTI,
   * and none takes more once the month is closed. The keys carry the workspace's hash tag, so
   * this works on Redis Cluster.
   */
  private async readClosing(workspaceId: string, month: string): Promise<number> {
    const k = this.deps.store.keys(workspaceId);
    const res = await this.deps.redis
      .multi()
      .sadd(k.flexClosed, month)
      .hget(k.flexMonths, month)
      .hget(k.flexFinal, month)
      .exec();
    const failed = res?.find(([err]) => err)?.[0];
    if (!res || failed) throw failed ?? new Error('the closing read was discarded');
    return remainder(res[1]?.[1], res[2]?.[1]);
  }

  /**
   * The closing reads of a page of workspaces. On one Redis node their transactions go out in
   * one pipeline (ioredis's inline transactions: each MULTI … EXEC stays atomic); a cluster
   * pipeline must stay within one slot, so there each goes alone.
   */
  private async readClosingPage(ids: string[], month: string): Promise<number[]> {
    const redis = this.deps.redis;
    if (redis.isCluster) return Promise.all(ids.map((id) => this.readClosing(id, month)));
    // ioredis's Pipeline has multi() (inline transactions); its types leave it out.
    const pipe = redis.pipeline() as ChainableCommander & { multi(): ChainableCommander };
    for (const id of ids) {
      const k = this.deps.store.keys(id);
      // exec() inside the pipeline closes the transaction; the last one sends it all.
      void pipe.multi().sadd(k.flexClosed, month).hget(k.flexMonths, month).hget(k.flexFinal, month).exec();
    }
    const replies = (await pipe.exec()) ?? [];
    // Per workspace: MULTI, three QUEUED, then EXEC's [SADD, HGET, HGET].
    return ids.map((_, i) => {
      const [err, results] = replies[i * 5 + 4] ?? [null, null];
      if (err) throw err;
      if (!Array.isArray(results)) throw new Error(`the closing read of ${ids[i]} was discarded`);
      return remainder(results[1], results[2]);
    });
  }

  /**
   * The workspaces with flex to bill in a month, a page at a time (bounded memory). With
   * `close` (a real run, not a dry run) every workspace's amount is a closing read.
   */
  async *candidatePages(
    month: string,
    opts: { close?: boolean } = {},
  ): AsyncGenerator<{ workspaceId: string; units: number }[]> {
    let cursor = '0';
    do {
      const [next, ids] = await this.deps.redis.sscan(this.deps.workspacesKey, cursor, 'COUNT', 1000);
      cursor = next;
      let units: number[];
      if (opts.close) {
        units = await this.readClosingPage(ids, month);
      } else {
        const pipe = this.deps.redis.pipeline();
        for (const id of ids) {
          const k = this.deps.store.keys(id);
          pipe.hget(k.flexMonths, month).hget(k.flexFinal, month);
        }
        const replies = (await pipe.exec()) ?? [];
        units = ids.map((_, i) => remainder(replies[2 * i]?.[1], replies[2 * i + 1]?.[1]));
      }
      const page = ids.flatMap((workspaceId, i) => {
        const u = units[i] ?? 0;
        return u >= UNITS_PER_CREDIT ? [{ workspaceId, units: u }] : [];
      });
      if (page.length > 0) yield page;
    } while (cursor !== '0');
  }

  /** The workspaces with flex to bill in a month (a dry run: closes nothing). */
  async *candidates(month: string): AsyncGenerator<{ workspaceId: string; units: number }> {
    for await (const page of this.candidatePages(month)) yield* page;
  }

  /**
   * Bills one workspace-month, or with `subscriptionId` that subscription's final stretch
   * (R-CYC-3), resuming from its recorded state. Every Stripe call carries an idempotency key
   * derived from the bill (workspace, month, subscription), so repeating any step is harmless.
   * A final stretch with no flex records nothing and answers null.
   */
  async invoiceWorkspace(o: Bill & { now: number }): Promise<WorkspaceMonthState | null> {
    const { workspaceId, month, now } = o;
    const bill: Bill = { workspaceId, month, subscriptionId: o.subscriptionId };
    const final = o.subscriptionId !== undefined;
    // Three reads at once: the state and the snapshot share a write (auto-pipelining), the
    // flex read has its own.
    const [prev, snap, units] = await Promise.all([
      this.state(bill),
      this.deps.store.snapshot(workspaceId, now),
      o.subscriptionId === undefined
        ? this.readClosing(workspaceId, month)
        : this.deps.store.takeFinalFlex({ workspaceId, month, subscriptionId: o.subscriptionId }),
    ]);
    // A take is once per subscription: a stretch with no flex never recorded a state.
    if (final && units === 0) return null;
    // Done: invoiced, skipped, or an item that waits for the subscription invoice.
    if (prev && (prev.status === 'invoiced' || prev.status === 'skipped' || prev.status === 'item_created'))
      return prev;
    if (!snap) throw new BurnrateError('not_found', `workspace ${workspaceId} does not exist`);
    const billed = floorToWholeCredits(units);
    // The first attempt's terms; but a month that failed before anything was created in Stripe
    // takes today's (the operator fixed the cause, e.g. the customer).
    const keep = prev?.status === 'failed' && !prev.itemId && !prev.invoiceId ? undefined : prev?.terms;
    const price = keep?.priceE4 ?? snap.state.flexPriceE4;
    const base = {
      flexCredits: formatUnits(units),
      billedCredits: billed,
      amountCents: centsForUnits(billed * UNITS_PER_CREDIT, price),
    };
    if (billed === 0)
      return this.save(bill, {
        ...base,
        status: 'skipped',
        reason: 'under one credit of flex',
      });
    if (effectiveOverrides(this.deps.catalog, workspaceId, snap.meta.overrides).manualInvoicing) {
      return this.save(bill, {
        ...base,
        status: 'skipped',
        reason: 'invoiced by hand (R-CAT-5)',
      });
    }
    const customer = keep?.customer ?? snap.meta.stripeCustomerId;
    const stripe = this.deps.stripe;
    if (!customer || !stripe) {
      const reason = customer ? 'Stripe is not configured' : 'the workspace has no Stripe customer';
      await this.save(bill, { ...base, status: 'failed', reason });
      // No retry fixes either (an operator does, then a re-run); the message is the reason, so
      // recording the failure again keeps it.
      throw new BurnrateError(customer ? 'unavailable' : 'not_found', reason, bill, { retryable: false });
    }
    // Annual plans, the final month of an ended subscription (R-CYC-3), and a workspace now on
    // a plan not sold through Stripe (its subscription ended after the month, before this
    // run): no next subscription invoice will sweep the item up, so an invoice is finalized now.
    const plan = findPlan(this.deps.catalog, snap.state.planId);
    const noSubscription = !plan || plan.stripePriceIds.length === 0;
    const terms = keep ?? {
      priceE4: price,
      currency: snap.meta.currency || 'usd',
      customer,
      ownInvoice: snap.state.intervalMonths === 12 || final || noSubscription,
    };
    // An own invoice takes three calls: its terms are saved before the first. A monthly
    // plan's single call saves them with its result; a retry after a crash in between that
    // finds the price changed is refused by Stripe (same key, other parameters) and the month
    // shows as failed, never billed twice. That saves a write on nine workspaces in ten.
    if (!keep && terms.ownInvoice) await this.save(bill, { ...base, status: 'pending', terms });
    const annual = terms.ownInvoice;
    const metadata = {
      workspace_id: workspaceId,
      month,
      flex_credits: base.flexCredits,
      ...(o.subscriptionId ? { subscription_id: o.subscriptionId } : {}),
    };
    let invoiceId = prev?.invoiceId;
    if (annual && !invoiceId) {
      const invoice = await stripe.call((sdk) =>
        sdk.invoices.create(
          {
            customer,
            auto_advance: false,
            // The final invoice of an ended subscription (R-CYC-3) also takes the items still
            // waiting for a subscription invoice that will now never come.
            pending_invoice_items_behavior: final ? 'include' : 'exclude',
            metadata,
          },
          { idempotencyKey: `flex-invoice:${billKey(bill)}` },
        ),
      );
      invoiceId = invoice.id;
      await this.save(bill, { ...base, status: 'pending', terms, invoiceId });
    }
    let itemId = prev?.itemId;
    if (!itemId) {
      const item = await stripe.call((sdk) =>
        sdk.invoiceItems.create(
          {
            customer,
            currency: terms.currency,
            quantity: billed,
            unit_amount_decimal: Stripe.Decimal.from(formatUnits(price)),
            description: `Flex credits ${month}: ${base.flexCredits} used, ${billed} billed (rounded down)`,
            metadata,
            ...(invoiceId ? { invoice: invoiceId } : {}),
          },
          { idempotencyKey: `flex:${billKey(bill)}` },
        ),
      );
      itemId = item.id;
    }
    const created = {
      ...base,
      status: 'item_created' as const,
      terms,
      itemId,
      ...(invoiceId ? { invoiceId } : {}),
    };
    if (!annual) return this.save(bill, created);
    // On its own invoice the item is not the end: the month stays pending (with the ids, so a
    // retry resumes) until the invoice is finalized, and the run is not done before that.
    await this.save(bill, { ...created, status: 'pending' });
    // auto_advance: Stripe then collects it (charges the card, or emails it), as it does a
    // subscription invoice; created as a draft it would otherwise wait for an explicit action.
    await stripe.call((sdk) =>
      sdk.invoices.finalizeInvoice(
        invoiceId!,
        { auto_advance: true },
        { idempotencyKey: `flex-finalize:${billKey(bill)}` },
      ),
    );
    return this.save(bill, { ...created, status: 'invoiced' });
  }

  /**
   * Records that a workspace-month's job gave up (a permanent error, or its last attempt), with
   * the ids it got so far, so it shows as failed (not pending forever) and a re-run retries it.
   */
  async markFailed(bill: Bill, reason: string): Promise<void> {
    const prev = await this.state(bill);
    if (prev && prev.status !== 'pending' && prev.status !== 'failed') return;
    await this.save(bill, {
      flexCredits: '0',
      billedCredits: 0,
      ...prev,
      status: 'failed',
      reason,
    });
  }

  /** A run has queued every workspace-month it found: `runs` in the status counts these. */
  async recordRun(month: string): Promise<void> {
    await this.deps.redis.incr(invoicingRunsKey(this.deps.keyPrefix, month));
  }

  /**
   * A month's progress and totals (GET /v1/admin/invoicing/runs/{month}); `runs` is how many
   * runs have queued all their workspace-months, so a caller that queued one can tell when its
   * states are all there.
   */
  async status(month: string) {
    const [all, runs] = await Promise.all([
      this.deps.redis.hgetall(this.key(month)),
      this.deps.redis.get(invoicingRunsKey(this.deps.keyPrefix, month)),
    ]);
    const counts = Object.fromEntries(INVOICE_STATUSES.map((s) => [s, 0])) as Record<
      (typeof INVOICE_STATUSES)[number],
      number
    >;
    let billedCredits = 0;
    let amountCents = 0;
    const failures: { workspaceId: string; subscriptionId?: string; reason: string }[] = [];
    const workspaces = new Set<string>();
    for (const [field, raw] of Object.entries(all)) {
      // A final invoice's field (R-CYC-3) is "<workspace>/<subscription>".
      const [id = field, subscriptionId] = field.split('/');
      workspaces.add(id);
      const s = stateSchema.parse(JSON.parse(raw));
      counts[s.status]++;
      if (s.status === 'item_created' || s.status === 'invoiced') {
        billedCredits += s.billedCredits;
        amountCents += s.amountCents ?? 0;
      }
      if (s.status === 'failed' && failures.length < 100)
        failures.push({
          workspaceId: id,
          ...(subscriptionId ? { subscriptionId } : {}),
          reason: s.reason ?? '',
        });
    }
    return {
      month,
      workspaces: workspaces.size,
      counts,
      billedCredits,
      amountCents,
      failures,
      runs: Number(runs ?? 0),
    };
  }

  /**
   * Marks a run's candidates pending, a page at a time: a workspace-month seen for the first
   * time, and one whose last attempt failed (a re-run tries it again: the operator may have
   * fixed its cause); any other keeps its state, so billing resumes where it was. Yields each
   * page's workspaces and, of those, the ones that had failed.
   */
  async *markPending(month: string): AsyncGenerator<{ ids: string[]; failed: string[] }> {
    const key = this.key(month);
    for await (const page of this.candidatePages(month, { close: true })) {
      const ids = page.map((c) => c.workspaceId);
      const prev = await this.deps.redis.hmget(key, ...ids);
      const failed = ids.filter(
        (_, i) => prev[i] != null && stateSchema.parse(JSON.parse(prev[i]!)).status === 'failed',
      );
      const retried = new Set(failed);
      const pipe = this.deps.redis.pipeline();
      for (const [i, c] of page.entries()) {
        const retry = retried.has(c.workspaceId);
        if (prev[i] != null && !retry) continue;
        const s: WorkspaceMonthState = {
          status: 'pending',
          flexCredits: formatUnits(c.units),
          billedCredits: floorToWholeCredits(c.units),
        };
        // Never over a state a job wrote meanwhile, unless it is the failure being retried.
        if (retry) pipe.hset(key, c.workspaceId, JSON.stringify(s));
        else pipe.hsetnx(key, c.workspaceId, JSON.stringify(s));
      }
      await pipe.exec();
      yield { ids, failed };
    }
  }
}
