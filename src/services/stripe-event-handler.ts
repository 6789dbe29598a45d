/**
 * What a verified Stripe event does (the worker's processor calls this). Effects are
 * idempotent: an event delivered twice, or a job retried after a crash, changes nothing more.
 *
 * - Subscriptions (created/updated): the plan is the item's price (through the catalog), the
 *   billing cycle is the item's period; a change of price is a plan change (R-CYC-2); an event
 *   older than the last applied changes nothing (R-WH-2). `past_due` keeps the plan while
 *   Stripe retries the payment; `incomplete` waits; `canceled`, `unpaid`, `paused` and
 *   `incomplete_expired` end it like a deletion.
 * - Deletion (R-CYC-3): included credits are forfeited, prepaid stay, the workspace falls to
 *   the catalog's default (free) plan; a final invoice bills the flex of the subscription's final
 *   stretch of the month, one per ended subscription (src/services/invoicing.ts).
 * - invoice.paid for a renewal (R-CYC-1): the new period starts with a fresh allotment, once.
 * - Checkout (R-PRE-2): prepaid credits are granted once per session, when the payment succeeded.
 * - Refunds and lost disputes (R-PRE-3): the refunded share of that purchase's lot is taken
 *   back as far as it is unspent; the rest is a shortfall on the ledger.
 */
import type { z } from 'zod';
import { monthOf } from '../domain/cycle.js';
import { BurnrateError } from '../domain/errors.js';
import { sha256 } from '../domain/hash.js';
import type { Bill } from '../domain/invoicing.js';
import { formatUnits, parseDecimal4 } from '../domain/units.js';
import type { EngineStore } from '../redis/engine-store.js';
import {
  chargeSchema,
  checkoutSessionSchema,
  disputeSchema,
  invoiceSchema,
  type StripeEventEnvelope,
  type StripeSubscription,
  subscriptionSchema,
} from '../stripe/events.js';
import type { Services } from './create-services.js';
import type { Invoicer } from './invoicing.js';

/** A Stripe object burnrate cannot act on: the same on every delivery, so never retried. */
const unusable = (message: string) => new BurnrateError('invalid_request', message);

export type EventOutcome =
  | { action: 'granted' | 'already_granted'; workspaceId: string; credits: string }
  | { action: 'plan_set' | 'subscription_ended'; workspaceId: string; planId: string; outcome: string }
  | { action: 'taken_back'; workspaceId: string; taken: string; shortfall: string }
  | { action: 'awaiting_payment' | 'payment_failed' | 'ignored' };

export interface EventDeps {
  store: EngineStore;
  service: Services;
  now: number;
  /** Bills the final month's flex when a subscription ends (R-CYC-3). */
  invoicer?: Invoicer | undefined;
}

const ENDED = new Set(['canceled', 'unpaid', 'paused', 'incomplete_expired']);
const seconds = (s: number) => s * 1000;

export async function handleStripeEvent(event: StripeEventEnvelope, deps: EventDeps): Promise<EventOutcome> {
  switch (event.type) {
    case 'customer.subscription.created':
    case 'customer.subscription.updated': {
      const sub = parse(subscriptionSchema, event.data.object, event);
      if (sub.status === 'incomplete') return { action: 'awaiting_payment' };
      const workspaceId = await workspaceOf(sub, deps, event);
      if (ENDED.has(sub.status)) return endSubscription({ workspaceId, subscriptionId: sub.id }, event, deps);
      const item = sub.items.data[0]!;
      if (item.current_period_end <= item.current_period_start) {
        throw unusable(`${event.id}: subscription ${sub.id} has a period that ends before it starts`);
      }
      const plan = deps.service.workspaces.planOfPrice(item.price.id);
      if (!plan) throw unusable(`${event.id}: no plan in the catalog has price ${item.price.id}`);
      const r = await deps.service.workspaces.setPlan(workspaceId, {
        planId: plan.id,
        stripeCustomerId: sub.customer,
        period: { start: seconds(item.current_period_start), end: seconds(item.current_period_end) },
        eventAt: event.created,
      });
      return { action: 'plan_set', workspaceId, planId: plan.id, outcome: r.outcome };
    }
    case 'customer.subscription.deleted': {
      const sub = parse(subscriptionSchema, event.data.object, event);
      return endSubscription(
        { workspaceId: await workspaceOf(sub, deps, event), subscriptionId: sub.id },
        event,
        deps,
      );
    }
    case 'invoice.paid': {
      const invoice = parse(invoiceSchema, event.data.object, event);
      if (invoice.billing_reason !== 'subscription_cycle') return { action: 'ignored' };
      const workspaceId =
        invoice.parent?.subscription_details?.metadata?.workspace_id ??
        (invoice.customer ? await deps.service.stripeRecords.workspaceOfCustomer(invoice.customer) : null);
      if (!workspaceId) throw unusable(`${event.id}: no workspace for invoice ${invoice.id}`);
      const line = invoice.lines.data[0];
      const planId = await deps.service.workspaces.currentPlan(workspaceId);
      if (!line || !planId) throw unusable(`${event.id}: invoice ${invoice.id} has no period or workspace`);
      // The renewal keeps the plan; the period decides (a period already current is a no-op).
      const r = await deps.service.workspaces.setPlan(workspaceId, {
        planId,
        period: { start: seconds(line.period.start), end: seconds(line.period.end) },
      });
      return { action: 'plan_set', workspaceId, planId, outcome: r.outcome };
    }
    case 'checkout.session.completed':
    case 'checkout.session.async_payment_succeeded': {
      const session = parse(checkoutSessionSchema, event.data.object, event);
      // A delayed payment method completes the session unpaid; its success event grants.
      if (session.payment_status !== 'paid') return { action: 'awaiting_payment' };
      return grantCheckout(session, deps);
    }
    case 'checkout.session.async_payment_failed':
      return { action: 'payment_failed' };
    case 'charge.refunded': {
      const charge = parse(chargeSchema, event.data.object, event);
      return takeBack(
        { paymentIntent: charge.payment_intent, paid: charge.amount, returned: charge.amount_refunded },
        event,
        deps,
      );
    }
    case 'charge.dispute.closed': {
      const dispute = parse(disputeSchema, event.data.object, event);
      if (dispute.status !== 'lost') return { action: 'ignored' };
      return takeBack({ paymentIntent: dispute.payment_intent, returned: dispute.amount }, event, deps);
    }
    default:
      return { action: 'ignored' };
  }
}

/**
 * The final invoice (R-CYC-3) an event asks for, if it ends a subscription; null for any other
 * event, or one that names no workspace. The processor records it failed when the event's job
 * gives up, so the next monthly run bills it.
 */
export async function finalBillOf(
  event: StripeEventEnvelope,
  deps: Pick<EventDeps, 'service' | 'now'>,
): Promise<Bill | null> {
  if (!event.type.startsWith('customer.subscription.')) return null;
  const sub = subscriptionSchema.safeParse(event.data.object).data;
  if (!sub || (event.type !== 'customer.subscription.deleted' && !ENDED.has(sub.status))) return null;
  const workspaceId =
    sub.metadata?.workspace_id ?? (await deps.service.stripeRecords.workspaceOfCustomer(sub.customer));
  return workspaceId ? { workspaceId, month: monthOf(deps.now), subscriptionId: sub.id } : null;
}

/** metadata.workspace_id on the subscription, else the workspace recorded for its customer. */
async function workspaceOf(
  sub: StripeSubscription,
  deps: EventDeps,
  event: StripeEventEnvelope,
): Promise<string> {
  const id =
    sub.metadata?.workspace_id ?? (await deps.service.stripeRecords.workspaceOfCustomer(sub.customer));
  if (!id) throw unusable(`${event.id}: subscription ${sub.id} names no workspace`);
  return id;
}

/** R-CYC-3: included credits forfeited, prepaid kept, back to the default (free) plan. */
async function endSubscription(
  ended: { workspaceId: string; subscriptionId: string },
  event: StripeEventEnvelope,
  deps: EventDeps,
): Promise<EventOutcome> {
  const { workspaceId } = ended;
  const planId = deps.service.workspaces.catalog.defaultPlanId;
  const r = await deps.service.workspaces.setPlan(workspaceId, {
    planId,
    eventAt: event.created,
    expiryType: 'forfeit',
  });
  if (r.outcome !== 'stale' && deps.invoicer) {
    // The final invoice: the flex of this subscription's final stretch of the month (since
    // the month's last final invoice, if it subscribed again), now, floor-rounded; the monthly
    // run bills only what the month gains after it. On the free plan no flex accrues.
    await deps.invoicer.invoiceWorkspace({ ...ended, month: monthOf(deps.now), now: deps.now });
  }
  return { action: 'subscription_ended', workspaceId, planId, outcome: r.outcome };
}

function parse<S extends z.ZodType>(schema: S, v: unknown, event: StripeEventEnvelope): z.output<S> {
  const r = schema.safeParse(v);
  if (!r.success) throw unusable(`${event.type} ${event.id}: ${r.error.message}`);
  return r.data;
}

/**
 * Takes back the share of a purchase's credits that went back to the customer (R-PRE-3):
 * credits × returned / paid, rounded down, cumulative over the purchase, so a second partial
 * refund or a redelivered event takes back only what is new.
 */
async function takeBack(
  o: { paymentIntent: string | null; returned: number; paid?: number },
  event: StripeEventEnvelope,
  deps: EventDeps,
): Promise<EventOutcome> {
  if (!o.paymentIntent) return { action: 'ignored' };
  const purchase = await deps.service.stripeRecords.paymentOf(o.paymentIntent);
  // Not a prepaid purchase (a subscription invoice, say): nothing of burnrate's to take back.
  if (!purchase) return { action: 'ignored' };
  const paid = o.paid ?? purchase.amountCents;
  if (paid <= 0) return { action: 'ignored' };
  const share = (BigInt(purchase.units) * BigInt(Math.min(o.returned, paid))) / BigInt(paid);
  const r = await deps.store.clawback({
    workspaceId: purchase.workspaceId,
    lot: purchase.lot,
    target: Number(share),
    ref: `${event.type}:${event.id}`,
    now: deps.now,
    outbound: deps.service.alerts.outbound,
  });
  await deps.service.alerts.dispatchRaised(purchase.workspaceId, r.alerts);
  return {
    action: 'taken_back',
    workspaceId: purchase.workspaceId,
    taken: formatUnits(r.taken),
    shortfall: formatUnits(r.shortfall),
  };
}

async function grantCheckout(
  session: {
    id: string;
    client_reference_id?: string | null | undefined;
    metadata?: Record<string, string> | null | undefined;
    payment_intent?: string | null | undefined;
    amount_total?: number | null | undefined;
  },
  deps: EventDeps,
): Promise<EventOutcome> {
  const workspaceId = session.metadata?.workspace_id ?? session.client_reference_id ?? undefined;
  const units = parseDecimal4(session.metadata?.credits ?? '');
  if (!workspaceId || units === null || units <= 0) {
    throw unusable(`checkout session ${session.id} has no workspace_id and credits in its metadata`);
  }
  // The session id names the lot and is the idempotency key: once per session (R-PRE-2).
  const ref = `checkout:${session.id}`;
  if (session.payment_intent) {
    // Before the grant: a refund that races the grant still finds the purchase, finds no lot
    // yet, and is retried until the grant has landed (R-PRE-3).
    await deps.service.stripeRecords.rememberPayment(session.payment_intent, {
      workspaceId,
      lot: ref,
      units,
      amountCents: session.amount_total ?? 0,
    });
  }
  // An unknown workspace or a conflicting grant throws a BurnrateError no retry fixes.
  const res = await deps.store.adjust({
    workspaceId,
    kind: 'prepaid',
    units,
    ref,
    type: 'grant',
    reason: 'prepaid purchase',
    idempotencyKey: ref,
    bodyHash: sha256(String(units), 'base64'),
    now: deps.now,
  });
  const credits = formatUnits(units);
  const again = res.replayed || res.status === 'duplicate_lot';
  return { action: again ? 'already_granted' : 'granted', workspaceId, credits };
}
