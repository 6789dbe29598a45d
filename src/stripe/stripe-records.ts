/**
 * What burnrate records about Stripe's objects: the workspace of each customer, and which
 * prepaid purchase each PaymentIntent paid for (so refunds and disputes find its lot, R-PRE-3).
 */

import type Stripe from 'stripe';
import { z } from 'zod';
import type { RedisClient } from '../redis/clients.js';
import { stripeCustomerKey, stripePaymentKey } from '../redis/keys.js';
import { isRetryableStripeError, type StripeClient } from './client.js';

const paymentRecordSchema = z.object({
  workspaceId: z.string(),
  lot: z.string(),
  units: z.number().int().positive(),
  amountCents: z.number().int().nonnegative(),
});
/** A prepaid purchase as a refund needs it: whose lot, how many credits, what was paid. */
export type PaymentRecord = z.infer<typeof paymentRecordSchema>;

export class StripeRecords {
  constructor(
    private readonly deps: {
      redis: RedisClient;
      /** The deployment's key prefix (REDIS_PREFIX). */
      keyPrefix: string;
      /** Stripe (or its stand-in); undefined when not configured. */
      stripe?: StripeClient | undefined;
    },
  ) {}

  /** Records the workspace a Stripe customer belongs to (R-WH-2's events name the customer). */
  async rememberCustomer(customerId: string, workspaceId: string): Promise<void> {
    await this.deps.redis.set(stripeCustomerKey(this.deps.keyPrefix, customerId), workspaceId);
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

  /** Records which purchase a PaymentIntent paid for, so refunds and disputes find its lot. */
  async rememberPayment(paymentIntentId: string, p: PaymentRecord): Promise<void> {
    await this.deps.redis.set(stripePaymentKey(this.deps.keyPrefix, paymentIntentId), JSON.stringify(p));
  }

  async paymentOf(paymentIntentId: string): Promise<PaymentRecord | null> {
    const raw = await this.deps.redis.get(stripePaymentKey(this.deps.keyPrefix, paymentIntentId));
    return raw === null ? null : paymentRecordSchema.parse(JSON.parse(raw));
  }
}
