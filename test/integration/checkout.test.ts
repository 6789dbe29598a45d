import Stripe from 'stripe';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Standin } from '../../src/stripe/standin/server.js';
import { PLATFORM, type TestApi } from '../support/http.js';
import { drained as drainedQueue, startApiOnStandin } from '../support/stripe-worker.js';

let api: TestApi;
let standin: Awaited<ReturnType<typeof startApiOnStandin>>['standin'];
let close: () => Promise<void>;
beforeAll(async () => {
  ({ api, standin, close } = await startApiOnStandin({ now: Date.now() }));
});
afterAll(() => close());

const drained = () => drainedQueue(api.stripeQueue);
const helper = (path: string, body: unknown = {}) =>
  fetch(`${standin.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  }).then((r) => r.json() as Promise<Record<string, unknown>>);
const prepaid = async (id: string) => (await api.call('GET', `/v1/workspaces/${id}`)).body.prepaid.remaining;
const sessionOf = (s: Standin, id: string) =>
  s.events.find((e) => (e.data as { object: { id: string } }).object.id === id);

it('R-PRE-1 R-PRE-2 a bundle bought through Checkout arrives as prepaid credits, once', async () => {
  expect((await api.call('PUT', '/v1/workspaces/buyer', { body: { planId: 'growth' } })).status).toBe(201);
  const res = await api.call('POST', '/v1/workspaces/buyer/checkout-sessions', {
    key: PLATFORM,
    body: {
      bundleId: 'bundle-100',
      successUrl: 'https://app.example/ok',
      cancelUrl: 'https://app.example/no',
    },
  });
  expect(res.status).toBe(200);
  expect(res.body).toMatchObject({ credits: '100', amountCents: 36_000, currency: 'usd' }); // 10% off $4.00
  expect(res.body.id).toMatch(/^cs_test_/);

  const completed = await helper(`/_standin/checkout/sessions/${res.body.id}/complete`);
  await helper(`/_standin/events/${completed.id}/deliver`, { times: 3 });
  await drained();
  expect(await prepaid('buyer')).toBe('100');
  expect(sessionOf(standin.standin, res.body.id)?.type).toBe('checkout.session.completed');

  // R-PRE-3: half refunded while all 100 are unspent takes back 50.
  const pi = (completed.data as { object: { payment_intent: string } }).object.payment_intent;
  await helper(`/_standin/payment_intents/${pi}/refund`, { amount: 18_000 });
  await drained();
  expect(await prepaid('buyer')).toBe('50');
});

it('R-PRE-1 any quantity is priced at the tier it reaches; bad requests change nothing', async () => {
  await api.call('PUT', '/v1/workspaces/buyer2', { body: { planId: 'growth' } });
  const path = '/v1/workspaces/buyer2/checkout-sessions';
  const urls = { successUrl: 'https://a.example/ok', cancelUrl: 'https://a.example/no' };
  const res = await api.call('POST', path, { key: PLATFORM, body: { credits: 260, ...urls } });
  expect(res.body).toMatchObject({ credits: '260', amountCents: 260 * 352 }); // 250+: 12% off
  expect((await api.call('POST', path, { body: { credits: 0, ...urls } })).status).toBe(400);
  expect((await api.call('POST', path, { body: { credits: 1.5, ...urls } })).status).toBe(400);
  expect((await api.call('POST', path, { body: { bundleId: 'nope', ...urls } })).status).toBe(400);
  expect(
    (await api.call('POST', path, { body: { credits: 5, bundleId: 'bundle-50', ...urls } })).status,
  ).toBe(400);
  expect(
    (
      await api.call('POST', path, {
        body: { credits: 5, successUrl: 'javascript:x', cancelUrl: urls.cancelUrl },
      })
    ).status,
  ).toBe(400);
  expect(
    (await api.call('POST', '/v1/workspaces/nobody/checkout-sessions', { body: { credits: 5, ...urls } }))
      .status,
  ).toBe(404);
});

it('R-PRE-2 a delayed payment grants on success; a failed one grants nothing', async () => {
  await api.call('PUT', '/v1/workspaces/buyer3', { body: { planId: 'growth' } });
  const urls = { successUrl: 'https://a.example/ok', cancelUrl: 'https://a.example/no' };
  const ok = await api.call('POST', '/v1/workspaces/buyer3/checkout-sessions', {
    body: { credits: 10, ...urls },
  });
  const bad = await api.call('POST', '/v1/workspaces/buyer3/checkout-sessions', {
    body: { credits: 20, ...urls },
  });
  await helper(`/_standin/checkout/sessions/${bad.body.id}/complete`, { outcome: 'failed' });
  await helper(`/_standin/checkout/sessions/${ok.body.id}/complete`, { outcome: 'delayed' });
  await drained();
  expect(await prepaid('buyer3')).toBe('10');
});

it('R-CYC-1 R-CYC-2 R-CYC-3 a subscription through the stand-in and the real SDK: subscribe, change price, renew, cancel', async () => {
  const stripe = new Stripe('sk_test_standin', { host: '127.0.0.1', port: standin.port, protocol: 'http' });
  const w = async () => (await api.call('GET', '/v1/workspaces/subber')).body;
  const customer = await stripe.customers.create({ email: 'a@b.example' });
  const sub = await stripe.subscriptions.create({
    customer: customer.id,
    items: [{ price: 'price_growth_monthly' }],
    metadata: { workspace_id: 'subber' },
  });
  await drained();
  expect(await w()).toMatchObject({
    planId: 'growth',
    stripeCustomerId: customer.id,
    included: { remaining: '150' },
  });

  await stripe.subscriptions.update(sub.id, {
    items: [{ price: 'price_growth_annual' }],
  } as Stripe.SubscriptionUpdateParams);
  await drained();
  expect(await w()).toMatchObject({ planId: 'growth-annual', included: { remaining: '1800' } });

  await api.call('POST', '/v1/workspaces/subber/usage', { body: { idempotencyKey: 'u', credits: 800 } });
  const before = (await w()).cycle.end;
  await helper(`/_standin/subscriptions/${sub.id}/renew`);
  await drained();
  const renewed = await w();
  expect(renewed.cycle.start).toBe(before);
  expect(renewed.included.remaining).toBe('1800');

  await stripe.subscriptions.cancel(sub.id);
  await drained();
  expect(await w()).toMatchObject({ planId: 'free', included: { remaining: '30' } });
});

it('finds the workspace through the Stripe customer when the subscription does not name it', async () => {
  const stripe = new Stripe('sk_test_standin', { host: '127.0.0.1', port: standin.port, protocol: 'http' });
  const customer = await stripe.customers.create({ metadata: { workspace_id: 'by-customer' } });
  await stripe.subscriptions.create({ customer: customer.id, items: [{ price: 'price_growth_monthly' }] });
  await drained();
  expect((await api.call('GET', '/v1/workspaces/by-customer')).body.planId).toBe('growth');
});

it("R-PRE-1 a purchase above Stripe's largest Checkout amount is a 400 that changes nothing, and Stripe is not asked", async () => {
  await api.call('PUT', '/v1/workspaces/whale', { body: { planId: 'growth' } });
  const urls = { successUrl: 'https://a.example/ok', cancelUrl: 'https://a.example/no' };
  const sessions = () => standin.standin.objectsOf('checkout.session').length;
  const before = sessions();
  const res = await api.call('POST', '/v1/workspaces/whale/checkout-sessions', {
    key: PLATFORM,
    body: { credits: 1_000_000, ...urls },
  });
  expect(res.status).toBe(400);
  expect(res.body.error).toMatchObject({ code: 'invalid_request', details: { maxAmountCents: 99_999_999 } });
  expect(res.body.error.message).toMatch(/99,999,999/);
  expect(sessions()).toBe(before);
  expect(await prepaid('whale')).toBe('0');
  // The largest purchase under the limit still goes through.
  const ok = await api.call('POST', '/v1/workspaces/whale/checkout-sessions', {
    key: PLATFORM,
    body: { credits: 250_000, ...urls },
  });
  expect(ok.status).toBe(200);
  expect(ok.body.amountCents).toBeLessThanOrEqual(99_999_999);

  // The stand-in refuses such an amount as Stripe does.
  const stripe = new Stripe('sk_test_standin', { host: '127.0.0.1', port: standin.port, protocol: 'http' });
  const refused = await stripe.checkout.sessions
    .create({
      mode: 'payment',
      line_items: [
        {
          quantity: 1,
          price_data: { currency: 'usd', unit_amount: 100_000_000, product_data: { name: 'x' } },
        },
      ],
      success_url: urls.successUrl,
    })
    .catch((e: unknown) => e);
  expect(refused).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
});

it('R-PRE-1 a Checkout Stripe refuses as invalid (a customer Stripe does not know) is a 400 invalid_request, not a 500, and names no secret', async () => {
  await api.call('PUT', '/v1/workspaces/lost-customer', {
    body: { planId: 'growth', stripeCustomerId: 'cus_gone' },
  });
  const res = await api.call('POST', '/v1/workspaces/lost-customer/checkout-sessions', {
    key: PLATFORM,
    body: { credits: 10, successUrl: 'https://a.example/ok', cancelUrl: 'https://a.example/no' },
  });
  expect(res.status).toBe(400);
  expect(res.body.error.code).toBe('invalid_request');
  expect(res.body.error.message).toMatch(/cus_gone/);
  expect(JSON.stringify(res.body)).not.toMatch(/sk_test_standin/);
});

it("R-CAT-3 R-CAT-5 the prepaid quote is the price the workspace's own terms say, what Checkout charges it", async () => {
  const urls = { successUrl: 'https://a.example/ok', cancelUrl: 'https://a.example/no' };
  const create = async (id: string, extra: Record<string, unknown>) =>
    expect(
      (await api.call('PUT', `/v1/workspaces/${id}`, { body: { planId: 'growth', ...extra } })).status,
    ).toBe(201);
  await create('quote-legacy', { createdAt: '2026-03-27T23:59:59Z' });
  await create('quote-current', { createdAt: '2026-03-28T00:00:00Z' });
  await create('quote-deal', { createdAt: '2026-03-28T00:00:00Z', overrides: { prepaidDiscountBps: 2500 } });
  await create('quote-legacy-deal', {
    createdAt: '2025-06-01T00:00:00Z',
    overrides: { prepaidDiscountBps: 500 },
  });
  // The catalog's enterprise override: 20% off whatever the quantity.
  await api.call('PUT', '/v1/workspaces/acme-enterprise', { body: { planId: 'growth' } });

  // [workspace, credits, discount, cents a credit]: $4.00 a credit before any discount.
  const cases: [string, number, number, number][] = [
    // The book before 2026-03-28: no discount below 50 credits, 8% from 50.
    ['quote-legacy', 49, 0, 400],
    ['quote-legacy', 50, 800, 368],
    ['quote-legacy', 260, 1200, 352],
    // The book from 2026-03-28: 8% from the first credit.
    ['quote-current', 49, 800, 368],
    ['quote-current', 260, 1200, 352],
    // An override's discount replaces the tiers, deeper or shallower, on either book.
    ['quote-deal', 1, 2500, 300],
    ['quote-deal', 1000, 2500, 300],
    ['quote-legacy-deal', 10, 500, 380],
    ['quote-legacy-deal', 1000, 500, 380],
    ['acme-enterprise', 7, 2000, 320],
    ['acme-enterprise', 1000, 2000, 320],
  ];
  for (const [id, credits, discountBps, cents] of cases) {
    const what = `${id} × ${credits}`;
    const quote = await api.call('GET', `/v1/workspaces/${id}/prepaid-quote?credits=${credits}`, {
      key: PLATFORM,
    });
    expect(quote.status, what).toBe(200);
    expect(quote.body, what).toEqual({
      credits: String(credits),
      amountCents: credits * cents,
      unitAmountCents: String(cents),
      discountBps,
      currency: 'usd',
    });
    const checkout = await api.call('POST', `/v1/workspaces/${id}/checkout-sessions`, {
      key: PLATFORM,
      body: { credits, ...urls },
    });
    expect(checkout.status, what).toBe(200);
    expect(checkout.body.amountCents, what).toBe(quote.body.amountCents);
  }
});
