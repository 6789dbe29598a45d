/**
 * The Stripe event fields burnrate reads, as zod schemas (STYLE: zod at every boundary).
 * Everything else in a payload is ignored; a field we need that is missing or malformed makes
 * the event malformed.
 */
import { z } from 'zod';

/** The event types the workers act on; any other type is acknowledged and ignored (R-WH-3). */
export const HANDLED_EVENT_TYPES = [
  'customer.subscription.created',
  'customer.subscription.updated',
  'customer.subscription.deleted',
  'invoice.paid',
  'checkout.session.completed',
  'checkout.session.async_payment_succeeded',
  'checkout.session.async_payment_failed',
  'charge.refunded',
  'charge.dispute.closed',
] as const;

export const stripeEventSchema = z.object({
  id: z.string().regex(/^evt_[A-Za-z0-9_]+$/),
  type: z.string().min(1),
  created: z.number().int().nonnegative(),
  // The object is checked by the schema of its type when a worker applies it; here only its
  // being an object, without copying its hundreds of fields on the acknowledging path.
  data: z.object({
    object: z.custom<Record<string, unknown>>(
      (v) => typeof v === 'object' && v !== null && !Array.isArray(v),
      'an object',
    ),
  }),
});
export type StripeEventEnvelope = z.infer<typeof stripeEventSchema>;

/** A Checkout Session of a prepaid purchase (R-PRE-1, R-PRE-2): metadata set when burnrate created it. */
export const checkoutSessionSchema = z.object({
  id: z.string().startsWith('cs_'),
  object: z.literal('checkout.session'),
  mode: z.string(),
  payment_status: z.enum(['paid', 'unpaid', 'no_payment_required']),
  client_reference_id: z.string().nullable().optional(),
  metadata: z.record(z.string(), z.string()).nullable().optional(),
  payment_intent: z
    .union([z.string(), z.object({ id: z.string() }).transform((p) => p.id)])
    .nullable()
    .optional(),
  amount_total: z.number().int().nullable().optional(),
});

const paymentIntentRef = z
  .union([z.string(), z.object({ id: z.string() }).transform((p) => p.id)])
  .nullable();

/** A refunded charge (R-PRE-3): amount_refunded is cumulative. */
export const chargeSchema = z.object({
  id: z.string().startsWith('ch_'),
  payment_intent: paymentIntentRef,
  amount: z.number().int().positive(),
  amount_refunded: z.number().int().nonnegative(),
});

/** A closed dispute: lost means the money went back (R-PRE-3). */
export const disputeSchema = z.object({
  id: z.string().regex(/^(dp|du)_/),
  status: z.string(),
  amount: z.number().int().nonnegative(),
  payment_intent: paymentIntentRef,
});

const metadata = z.record(z.string(), z.string()).nullable().optional();
const customerRef = z.union([z.string(), z.object({ id: z.string() }).transform((c) => c.id)]);

/** A subscription: its plan is its item's price, its billing cycle the item's period. */
export const subscriptionSchema = z.object({
  id: z.string().startsWith('sub_'),
  customer: customerRef,
  status: z.enum([
    'incomplete',
    'incomplete_expired',
    'trialing',
    'active',
    'past_due',
    'canceled',
    'unpaid',
    'paused',
  ]),
  metadata,
  items: z.object({
    data: z
      .array(
        z.object({
          price: z.object({ id: z.string() }),
          current_period_start: z.number().int(),
          current_period_end: z.number().int(),
        }),
      )
      .min(1),
  }),
});
export type StripeSubscription = z.infer<typeof subscriptionSchema>;

/** An invoice: a renewal when billing_reason is subscription_cycle (R-CYC-1). */
export const invoiceSchema = z.object({
  id: z.string().startsWith('in_'),
  customer: customerRef.nullable(),
  billing_reason: z.string().nullable(),
  parent: z
    .object({
      subscription_details: z
        .object({ subscription: z.string().nullable().optional(), metadata })
        .nullable()
        .optional(),
    })
    .nullable()
    .optional(),
  lines: z.object({
    data: z.array(z.object({ period: z.object({ start: z.number().int(), end: z.number().int() }) })),
  }),
});
