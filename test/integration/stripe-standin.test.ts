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

it("Checkout's page: what is bought and for how much; Pay completes the session once and goes to success_url", async () => {
  const session = await stripe.checkout.sessions.create({
    mode: 'payment',
    line_items: [
      {
        quantity: 1,
        price_data: { currency: 'usd', unit_amount: 36_000, product_data: { name: 'credits' } },
      },
    ],
    metadata: { workspace_id: 'w<1>', credits: '100' },
    success_url: 'http://127.0.0.1:1/billing/?checkout=success&s={CHECKOUT_SESSION_ID}',
    cancel_url: 'http://127.0.0.1:1/billing/?checkout=cancel',
  });
  expect(session.url).toBe(`http://127.0.0.1:${s.port}/pay/${session.id}`);
  const page = await fetch(session.url!);
  const html = await page.text();
  expect(page.status).toBe(200);
  expect(html).toContain('100 prepaid credits');
  expect(html).toContain('Pay $360.00');
  expect(html).toContain('href="http://127.0.0.1:1/billing/?checkout=cancel"');
  const completed = () =>
    s.standin.events.filter(
      (e) =>
        e.type === 'checkout.session.completed' &&
        (e.data as { object: { id: string } }).object.id === session.id,
    ).length;
  expect(completed()).toBe(0);
  for (let i = 0; i < 2; i++) {
    const paid = await fetch(session.url!, { method: 'POST', redirect: 'manual' });
    expect(paid.status).toBe(303);
    expect(paid.headers.get('location')).toBe(`http://127.0.0.1:1/billing/?checkout=success&s=${session.id}`);
  }
  // Paid once, though the customer pressed twice.
  expect(completed()).toBe(1);
  expect((await stripe.checkout.sessions.retrieve(session.id)).payment_status).toBe('paid');
  expect(await (await fetch(session.url!)).text()).toContain('nothing more to pay');
  expect((await fetch(`http://127.0.0.1:${s.port}/pay/cs_nope`)).status).toBe(404);
});

it("Checkout's page renders whatever the session's metadata holds (a bracketed value is an object), never a 500", async () => {
  const form = new URLSearchParams({
    mode: 'payment',
    'line_items[0][quantity]': '1',
    'line_items[0][price_data][currency]': 'usd',
    'line_items[0][price_data][unit_amount]': '100',
    'line_items[0][price_data][product_data][name]': 'credits',
    'metadata[credits][a]': '<b>',
    success_url: 'http://127.0.0.1:1/ok',
  });
  const created = await fetch(`http://127.0.0.1:${s.port}/v1/checkout/sessions`, {
    method: 'POST',
    headers: { authorization: 'Bearer sk_test_standin', 'content-type': 'application/x-www-form-urlencoded' },
    body: form,
  });
  expect(created.status).toBe(200);
  const { url } = (await created.json()) as { url: string };
  const page = await fetch(url);
  expect(page.status).toBe(200);
  expect(await page.text()).not.toContain('<b>');
});
