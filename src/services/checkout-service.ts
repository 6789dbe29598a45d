/**
 * Buying prepaid credits through Stripe Checkout (R-PRE-1); the credits arrive with the
 * webhook once Stripe says the payment succeeded (R-PRE-2).
 */
import Stripe from 'stripe';
import { type Catalog, effectiveOverrides, prepaidQuote, priceBookFor } from '../domain/catalog.js';
import { BurnrateError } from '../domain/errors.js';
import { formatUnits } from '../domain/units.js';
import type { EngineStore } from '../redis/engine-store.js';
import { isRetryableStripeError, type StripeClient } from '../stripe/client.js';
import type { Clock } from './clock.js';
import { requireWorkspace } from './require-workspace.js';

/**
 * Stripe's largest amount for a Checkout Session, in the smallest currency unit: $999,999.99
 * for most currencies. A purchase above it is refused here, before Stripe is asked (R-PRE-1).
 */
export const STRIPE_MAX_CHECKOUT_AMOUNT = 99_999_999;

/** Anything shaped like a Stripe key or webhook secret, so a message passed on never carries one. */
const SECRETS = /\b(?:sk|rk|pk|whsec)_[A-Za-z0-9_*]+/g;

export class CheckoutService {
  constructor(
    private readonly deps: {
      store: EngineStore;
      catalog: Catalog;
      clock: Clock;
      /** Stripe (or its stand-in); undefined when not configured. */
      stripe?: StripeClient | undefined;
    },
  ) {}

  /**
   * What `credits` prepaid credits cost the workspace now (R-PRE-1): the tier they reach in its
   * price book and overrides (R-CAT-2, R-CAT-3), the quote Checkout charges, and refused as
   * Checkout refuses it above Stripe's largest amount. The billing page prices with it.
   */
  async prepaidQuote(workspaceId: string, credits: number) {
    const snap = await requireWorkspace(this.deps.store, workspaceId, this.deps.clock.now());
    const q = this.quoteFor(snap, workspaceId, credits);
    return {
      credits: String(q.credits),
      amountCents: q.amountCents,
      unitAmountCents: formatUnits(q.unitAmountE4),
      discountBps: q.discountBps,
      currency: q.currency,
    };
  }

  private quoteFor(snap: Awaited<ReturnType<typeof requireWorkspace>>, workspaceId: string, credits: number) {
    const { catalog } = this.deps;
    const book = priceBookFor(catalog, Date.parse(snap.meta.createdAt));
    const discount = effectiveOverrides(catalog, workspaceId, snap.meta.overrides).prepaidDiscountBps;
    const quote = prepaidQuote({ book, credits, overrideDiscountBps: discount });
    if (quote.amountCents > STRIPE_MAX_CHECKOUT_AMOUNT)
      throw new BurnrateError(
        'invalid_request',
        `${quote.credits} credits cost ${quote.amountCents} in the smallest currency unit, above Stripe's largest Checkout amount (99,999,999): buy them in several purchases`,
        { amountCents: quote.amountCents, maxAmountCents: STRIPE_MAX_CHECKOUT_AMOUNT },
      );
    return quote;
  }

  /**
   * A Stripe Checkout Session (mode payment) for a bundle or any quantity, priced at the tier
   * it reaches in the workspace's price book, tagged with the workspace and credits on the
   * session and its PaymentIntent (R-PRE-1).
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
    const snap = await requireWorkspace(this.deps.store, workspaceId, this.deps.clock.now());
    let credits = body.credits;
    if (body.bundleId !== undefined) {
      const bundle = catalog.bundles.find((b) => b.id === body.bundleId);
      if (!bundle)
        throw new BurnrateError('invalid_request', `unknown bundleId ${body.bundleId}`, {
          bundleIds: catalog.bundles.map((b) => b.id),
        });
      credits = bundle.credits;
    }
    const quote = this.quoteFor(snap, workspaceId, credits!);
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
      // A request Stripe finds invalid is the caller's to fix (a customer Stripe does not know,
      // say): a 400 with Stripe's reason, never a 500.
      if (err instanceof Stripe.errors.StripeInvalidRequestError)
        throw new BurnrateError(
          'invalid_request',
          `Stripe refused the Checkout Session: ${err.message.replace(SECRETS, '[redacted]')}`,
          { stripeCode: err.code ?? null, param: err.param ?? null },
        );
      throw new BurnrateError('internal', `Stripe refused the Checkout Session: ${(err as Error).message}`);
    }
  }
}
