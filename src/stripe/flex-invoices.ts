/**
 * The Stripe writes of flex invoicing (R-FLX-6, R-CYC-3): an invoice of its own, the item, the
 * finalization. Each carries an idempotency key derived from the bill (workspace, month, and
 * the subscription of a final invoice), so any step repeated by a retry or a re-run is the same
 * request to Stripe and bills nothing twice.
 */
import Stripe from 'stripe';
import type { Bill, BillTerms } from '../domain/invoicing.js';
import { formatUnits } from '../domain/units.js';
import type { StripeClient } from './client.js';

/** The part of a bill's idempotency keys that names it: `{workspace}:{YYYY-MM}[:{subscription}]`. */
export function billKey(b: Bill): string {
  return b.subscriptionId ? `${b.workspaceId}:${b.month}:${b.subscriptionId}` : `${b.workspaceId}:${b.month}`;
}

function metadata(bill: Bill, flexCredits: string): Record<string, string> {
  return {
    workspace_id: bill.workspaceId,
    month: bill.month,
    flex_credits: flexCredits,
    ...(bill.subscriptionId ? { subscription_id: bill.subscriptionId } : {}),
  };
}

export function flexInvoiceWriter(stripe: StripeClient) {
  return {
    /** A draft invoice of the bill's own; answers its id. */
    async createInvoice(bill: Bill, o: { terms: BillTerms; flexCredits: string }): Promise<string> {
      const invoice = await stripe.call((sdk) =>
        sdk.invoices.create(
          {
            customer: o.terms.customer,
            auto_advance: false,
            // The final invoice of an ended subscription (R-CYC-3) also takes the items still
            // waiting for a subscription invoice that will now never come.
            pending_invoice_items_behavior: bill.subscriptionId ? 'include' : 'exclude',
            metadata: metadata(bill, o.flexCredits),
          },
          { idempotencyKey: `flex-invoice:${billKey(bill)}` },
        ),
      );
      return invoice.id;
    },

    /** The item: `billed` whole credits at the terms' price, on `invoiceId` if given; its id. */
    async createItem(
      bill: Bill,
      o: { terms: BillTerms; billed: number; flexCredits: string; invoiceId?: string | undefined },
    ): Promise<string> {
      const item = await stripe.call((sdk) =>
        sdk.invoiceItems.create(
          {
            customer: o.terms.customer,
            currency: o.terms.currency,
            quantity: o.billed,
            unit_amount_decimal: Stripe.Decimal.from(formatUnits(o.terms.priceE4)),
            description: `Flex credits ${bill.month}: ${o.flexCredits} used, ${o.billed} billed (rounded down)`,
            metadata: metadata(bill, o.flexCredits),
            ...(o.invoiceId ? { invoice: o.invoiceId } : {}),
          },
          { idempotencyKey: `flex:${billKey(bill)}` },
        ),
      );
      return item.id;
    },

    /**
     * Finalizes the bill's own invoice. auto_advance: Stripe then collects it (charges the card,
     * or emails it), as it does a subscription invoice; a draft would wait for an explicit action.
     */
    async finalize(bill: Bill, invoiceId: string): Promise<void> {
      await stripe.call((sdk) =>
        sdk.invoices.finalizeInvoice(
          invoiceId,
          { auto_advance: true },
          { idempotencyKey: `flex-finalize:${billKey(bill)}` },
        ),
      );
    },
  };
}

export type FlexInvoiceWriter = ReturnType<typeof flexInvoiceWriter>;
