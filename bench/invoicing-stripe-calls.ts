/**
 * The baseline of `npm run bench:invoicing`: the Stripe calls of a month's invoicing sent
 * straight from one process (an invoice item per workspace; for annual plans an invoice
 * created first and finalized after), through the same SDK client as the workers, unthrottled,
 * `inFlight` workspaces at a time: no queue, no Redis, no state.
 *
 * Arguments: <Stripe API base> <customers JSON file: [{customer, annual}]> <in flight> <month>.
 * Prints {"seconds", "calls", "cpuSeconds"} (this process's CPU over the calls).
 */
import { readFileSync } from 'node:fs';
import Stripe from 'stripe';
import { createStripeClient } from '../src/stripe/client.js';

const [apiBase, customersFile, inFlight, monthArg] = process.argv.slice(2);
if (!apiBase || !customersFile || !inFlight || !monthArg)
  throw new Error('usage: <api base> <customers> <in flight> <month>');
const month: string = monthArg;
const customers = JSON.parse(readFileSync(customersFile, 'utf8')) as { customer: string; annual: boolean }[];
const stripe = createStripeClient({ secretKey: 'sk_test_bench', apiBase });

let next = 0;
let calls = 0;
async function bill({ customer, annual }: { customer: string; annual: boolean }) {
  const metadata = { workspace_id: customer, month, flex_credits: '12.5' };
  const invoice = annual
    ? await stripe.call((sdk) =>
        sdk.invoices.create(
          { customer, auto_advance: false, pending_invoice_items_behavior: 'exclude', metadata },
          { idempotencyKey: `flex-invoice:${customer}:${month}` },
        ),
      )
    : undefined;
  await stripe.call((sdk) =>
    sdk.invoiceItems.create(
      {
        customer,
        currency: 'usd',
        quantity: 12,
        unit_amount_decimal: Stripe.Decimal.from('400'),
        description: `Flex credits ${month}: 12.5 used, 12 billed (rounded down)`,
        metadata,
        ...(invoice ? { invoice: invoice.id } : {}),
      },
      { idempotencyKey: `flex:${customer}:${month}` },
    ),
  );
  calls += annual ? 3 : 1;
  if (invoice) {
    await stripe.call((sdk) =>
      sdk.invoices.finalizeInvoice(invoice.id, undefined, {
        idempotencyKey: `flex-finalize:${customer}:${month}`,
      }),
    );
  }
}

const t0 = performance.now();
const cpu0 = process.cpuUsage();
await Promise.all(
  Array.from({ length: Number(inFlight) }, async () => {
    while (next < customers.length) await bill(customers[next++]!);
  }),
);
const seconds = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
process.stdout.write(`${JSON.stringify({ seconds, calls, cpuSeconds: (cpu.user + cpu.system) / 1e6 })}\n`);
