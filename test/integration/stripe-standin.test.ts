import Stripe from 'stripe';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startStandin } from '../../src/stripe/standin/server.js';
import { FIXTURES_PATH, WEBHOOK_SECRET } from '../support/stripe.js';

let s: Awaited<ReturnType<typeof startStandin>>;
let stripe: Stripe;
beforeAll(async () => {
  s = await startStandin({ port: 0, fixturesPath: FIXTURES_PATH, webhookSecret: WEBHOOK_SECRET });
  stripe = new Stripe('sk_test_standin', {
    host: '127.0.0.1',
    port: s.port,
    protocol: 'http',
    maxNetworkRetries: 0,
  });
});
afterAll(() => s.close());

it('keeps customers and prices: create, retrieve, list', async () => {
  const c = await stripe.customers.create({ email: 'x@y.example', metadata: { workspace_id: 'w1' } });
  expect((await stripe.customers.retrieve(c.id)) as Stripe.Customer).toMatchObject({
    id: c.id,
    metadata: { workspace_id: 'w1' },
  });
  const p = await stripe.prices.create({
    currency: 'usd',
    unit_amount: 39_900,
    recurring: { interval: 'month' },
    product_data: { name: 'Growth' },
  });
  expect((await stripe.prices.retrieve(p.id)).recurring?.interval).toBe('month');
  expect((await stripe.prices.list()).data.map((x) => x.id)).toContain(p.id);
  await expect(stripe.customers.retrieve('cus_missing')).rejects.toThrow(/No such customer/);
});

it('invoice items are idempotent per key; an invoice takes pending items and finalizes once', async () => {
  const c = await stripe.customers.create({});
  const params = {
    customer: c.id,
    currency: 'usd',
    quantity: 77,
    unit_amount_decimal: Stripe.Decimal.from('400'),
    description: 'Flex credits 2026-10: 77.7 used, 77 billed',
    metadata: { workspace_id: 'w1', month: '2026-10', credits: '77.7' },
  };
  const a = await stripe.invoiceItems.create(params, { idempotencyKey: 'flex:w1:2026-10' });
  const b = await stripe.invoiceItems.create(params, { idempotencyKey: 'flex:w1:2026-10' });
  expect(b.id).toBe(a.id);
  expect(a.amount).toBe(30_800);
  await expect(
    stripe.invoiceItems.create({ ...params, quantity: 78 }, { idempotencyKey: 'flex:w1:2026-10' }),
  ).rejects.toThrow(/same parameters/);
  expect((await stripe.invoiceItems.list({ customer: c.id })).data).toHaveLength(1);

  const excluded = await stripe.invoices.create({ customer: c.id });
  expect(excluded.total).toBe(0); // Stripe's default leaves pending items for the next subscription invoice
  const invoice = await stripe.invoices.create({
    customer: c.id,
    pending_invoice_items_behavior: 'include',
    auto_advance: false,
  });
  expect(invoice).toMatchObject({ status: 'draft', total: 30_800 });
  const open = await stripe.invoices.finalizeInvoice(invoice.id!);
  expect(open.status).toBe('open');
  await expect(stripe.invoices.finalizeInvoice(invoice.id!)).rejects.toThrow(/already open/);
  expect((await stripe.invoices.list({ customer: c.id })).data).toHaveLength(2);
  expect(s.standin.events.some((e) => e.type === 'invoice.finalized')).toBe(true);
});
