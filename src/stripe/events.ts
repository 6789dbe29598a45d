/**
 * The Stripe event fields burnrate reads, as zod schemas (STYLE: zod at every boundary).
 * Everything else in a payload is ignored; a field we need that is missing or malformed makes
 * the event malformed.
 */
import { z } from 'zod';

/** The event types the workers act on; any other type is acknowledged and ignored (R-WH-3). */
export const HANDLED_EVENT_TYPES = [
  'checkout.session.completed',
  'checkout.session.async_payment_succeeded',
  'checkout.session.async_payment_failed',
] as const;

export const stripeEventSchema = z.object({
  id: z.string().regex(/^evt_[A-Za-z0-9_]+$/),
  type: z.string().min(1),
  created: z.number().int().nonnegative(),
  data: z.object({ object: z.record(z.string(), z.unknown()) }),
});
export type StripeEventEnvelope = z.infer<typeof stripeEventSchema>;

/** A Checkout Session of a prepaid purchase (R-PRE-1/2): metadata set when burnrate created it. */
export const checkoutSessionSchema = z.object({
  id: z.string().startsWith('cs_'),
  object: z.literal('checkout.session'),
  mode: z.string(),
  payment_status: z.enum(['paid', 'unpaid', 'no_payment_required']),
  client_reference_id: z.string().nullable().optional(),
  metadata: z.record(z.string(), z.string()).nullable().optional(),
});
