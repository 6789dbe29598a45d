/**
 * The Stripe webhook end to end on a real Redis: signed events from Stripe's fixtures, the
 * receiver, the BullMQ queue and the worker's processor (R-WH-1, R-WH-2, R-WH-3, R-PRE-2).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../support/http.js';
import { startPrivateRedis } from '../support/redis.js';
import {
  event,
  fixture,
  paidCheckoutSession,
  renewalInvoice,
  sign,
  subscription,
} from '../support/stripe.js';
import { drained as drainedQueue, startStripeWorker } from '../support/stripe-worker.js';

let api: TestApi;
let worker: Worker;
beforeAll(async () => {
  api = await startTestApi({ now: Date.now() });
  worker = startStripeWorker(api);
  await worker.waitUntilReady();
});
afterAll(async () => {
  await worker.close();
  await api.close();
});

async function deliver(body: unknown, o: { header?: string | null; raw?: string } = {}) {
  const payload = o.raw ?? JSON.stringify(body);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  const header = o.header === undefined ? sign(payload) : o.header;
  if (header !== null) headers['stripe-signature'] = header;
  const res = await fetch(`${api.base}/webhooks/stripe`, { method: 'POST', headers, body: payload });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** Waits until the queue has nothing waiting, delayed or running. */
const drained = () => drainedQueue(api.stripeQueue);

let n = 0;
async function workspace() {
  const id = `wh${++n}`;
  expect((await api.call('PUT', `/v1/workspaces/${id}`, { body: { planId: 'growth' } })).status).toBe(201);
  return id;
}
const prepaid = async (id: string) => (await api.call('GET', `/v1/workspaces/${id}`)).body.prepaid.remaining;

describe('prepaid purchases through Checkout (R-PRE-2)', () => {
  it('grants once: the same event delivered 20 times, and the async success of the same session', async () => {
    const ws = await workspace();
    const session = paidCheckoutSession({ workspaceId: ws, credits: '100' });
    const completed = event('checkout.session.completed', session);
    const answers = await Promise.all(Array.from({ length: 20 }, () => deliver(completed)));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    // Concurrent deliveries may each find no job yet; BullMQ still adds one (the job id).
    expect((await deliver(completed)).body.duplicate).toBe(true);
    await deliver(event('checkout.session.async_payment_succeeded', session));
    await drained();
    expect(await prepaid(ws)).toBe('100');
    const ledger = await api.call('GET', `/v1/workspaces/${ws}/ledger`);
    const grants = ledger.body.entries.filter(
      (e: { type: string; kind: string }) => e.type === 'grant' && e.kind === 'prepaid',
    );
    expect(grants).toHaveLength(1);
    expect(grants[0]).toMatchObject({ credits: '100', ref: `checkout:${session.id}` });
  });

  it('grants nothing for an unpaid completion or a failed async payment, then grants on success', async () => {
    const ws = await workspace();
    const session = paidCheckoutSession({ workspaceId: ws, credits: '12.5', paid: false });
    await deliver(event('checkout.session.completed', session));
    await deliver(event('checkout.session.async_payment_failed', session));
    await drained();
    expect(await prepaid(ws)).toBe('0');
    await deliver(event('checkout.session.async_payment_succeeded', { ...session, payment_status: 'paid' }));
    await drained();
    expect(await prepaid(ws)).toBe('12.5');
  });

  it('fails a purchase for an unknown workspace at once, visibly, without retrying it', async () => {
    const e = event(
      'checkout.session.completed',
      paidCheckoutSession({ workspaceId: 'nobody', credits: '5' }),
    );
    expect((await deliver(e)).status).toBe(200);
    await drained();
    const job = await api.stripeQueue.getJob(e.id as string);
    expect(await job?.getState()).toBe('failed');
    expect(job?.attemptsMade).toBe(1);
    expect(job?.failedReason).toMatch(/nobody does not exist/);
  });
});

describe('the receiver refuses what Stripe did not sign (R-WH-1) and ignores what it does not handle (R-WH-3)', () => {
  const valid = () =>
    event('checkout.session.completed', paidCheckoutSession({ workspaceId: 'wh-x', credits: '1' }));
  const queued = async (id: unknown) => (await api.stripeQueue.getJob(String(id))) !== undefined;

  it.each([
    ['no signature', (p: string) => ({ header: null, raw: p })],
    [
      'a signature made with another secret',
      (p: string) => ({ header: sign(p, { secret: 'whsec_other' }), raw: p }),
    ],
    [
      'a stale timestamp (6 minutes old)',
      (p: string) => ({ header: sign(p, { timestamp: Math.floor(Date.now() / 1000) - 360 }), raw: p }),
    ],
    ['a body changed after signing', (p: string) => ({ header: sign(p), raw: p.replace('"1"', '"1000"') })],
  ])('%s: 400, nothing queued', async (_what, make) => {
    const e = valid();
    const res = await deliver(undefined, make(JSON.stringify(e)));
    expect(res.status).toBe(400);
    expect((res.body.error as { code: string }).code).toBe('invalid_request');
    expect(await queued(e.id)).toBe(false);
  });

  it('malformed JSON, even signed: 400', async () => {
    const raw = '{"id": "evt_x", "type": ';
    const res = await deliver(undefined, { raw, header: sign(raw) });
    expect(res.status).toBe(400);
  });

  it('a signed event missing fields burnrate needs: 400, nothing queued', async () => {
    const e = { ...valid(), id: 'not-an-event-id' };
    expect((await deliver(e)).status).toBe(400);
    expect(await queued('not-an-event-id')).toBe(false);
  });

  it('an oversized body: 413, nothing queued', async () => {
    const e = valid();
    const big = {
      ...e,
      data: { object: { ...(e.data as { object: object }).object, pad: 'x'.repeat(300_000) } },
    };
    const res = await deliver(big);
    expect(res.status).toBe(413);
    expect(await queued(e.id)).toBe(false);
  });

  it('an unknown event type: acknowledged and ignored', async () => {
    const e = event('customer.tax_id.created', { id: 'txi_1' });
    const res = await deliver(e);
    expect(res).toEqual({ status: 200, body: { received: true, ignored: true } });
    expect(await queued(e.id)).toBe(false);
  });
});

it('answers 503 when Redis cannot be reached, so Stripe delivers again (R-WH-2)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'burnrate-wh-down-'));
  const redis = await startPrivateRedis(dir);
  const down = await startTestApi({ target: redis.target });
  try {
    await redis.stop();
    const e = event('checkout.session.completed', paidCheckoutSession({ workspaceId: 'w', credits: '1' }));
    const payload = JSON.stringify(e);
    const res = await fetch(`${down.base}/webhooks/stripe`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'stripe-signature': sign(payload) },
      body: payload,
    });
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('unavailable');
  } finally {
    await down.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
});

describe('subscriptions drive plans and cycles', () => {
  const DAY = 86_400;
  const nowS = () => Math.floor(api.clock.now() / 1000);
  const state = async (id: string) => (await api.call('GET', `/v1/workspaces/${id}`)).body;
  const ledger = async (id: string) =>
    (await api.call('GET', `/v1/workspaces/${id}/ledger?limit=20`)).body.entries;

  it('created: the plan from the price, the cycle from the item period; the customer is remembered', async () => {
    const ws = `sub${++n}`;
    const start = nowS() - 60;
    await deliver(
      event(
        'customer.subscription.created',
        subscription({
          workspaceId: ws,
          customer: `cus_${ws}`,
          price: 'price_growth_monthly',
          start,
          end: start + 30 * DAY,
        }),
      ),
    );
    await drained();
    const w = await state(ws);
    expect(w).toMatchObject({
      planId: 'growth',
      stripeCustomerId: `cus_${ws}`,
      included: { remaining: '150' },
    });
    expect(w.cycle.start).toBe(new Date(start * 1000).toISOString());
    expect(w.cycle.end).toBe(new Date((start + 30 * DAY) * 1000).toISOString());
  });

  it('R-WH-2 updated before created, and an old updated after a newer one, leave the newest state', async () => {
    const ws = `sub${++n}`;
    const start = nowS() - 60;
    const monthly = subscription({
      workspaceId: ws,
      price: 'price_growth_monthly',
      start,
      end: start + 30 * DAY,
    });
    const annual = subscription({
      workspaceId: ws,
      price: 'price_growth_annual',
      start,
      end: start + 365 * DAY,
    });
    await deliver(event('customer.subscription.updated', annual, { created: 2_000 }));
    await drained();
    await deliver(event('customer.subscription.created', monthly, { created: 1_000 }));
    await drained();
    expect((await state(ws)).planId).toBe('growth-annual');
    await deliver(event('customer.subscription.updated', monthly, { created: 1_500 }));
    await drained();
    const w = await state(ws);
    expect(w.planId).toBe('growth-annual');
    expect(w.included.remaining).toBe('1800');
  });

  it('R-CYC-1 invoice.paid for the next period grants a fresh allotment once, however often it comes', async () => {
    const ws = `sub${++n}`;
    const customer = `cus_${ws}`;
    const start = nowS() - 30 * DAY + 60;
    const end = nowS() + 60;
    await deliver(
      event(
        'customer.subscription.created',
        subscription({ workspaceId: ws, customer, price: 'price_growth_monthly', start, end }),
      ),
    );
    await drained();
    await api.call('POST', `/v1/workspaces/${ws}/usage`, { body: { idempotencyKey: 'u1', credits: 100 } });
    api.clock.advance(120_000); // past the period's end
    const invoice = renewalInvoice({ customer, subscription: 'sub_test_1', start: end, end: end + 30 * DAY });
    await deliver(event('invoice.paid', invoice));
    await deliver(event('invoice.paid', invoice));
    await drained();
    await api.call('POST', `/v1/workspaces/${ws}/usage`, { body: { idempotencyKey: 'u2', credits: 10 } });
    await deliver(event('invoice.paid', invoice));
    await drained();
    const w = await state(ws);
    expect(w.included.remaining).toBe('140');
    expect(w.cycle.start).toBe(new Date(end * 1000).toISOString());
    const grants = (await ledger(ws)).filter(
      (e: { type: string; kind: string }) => e.type === 'grant' && e.kind === 'included',
    );
    expect(grants).toHaveLength(2);
  });

  it('R-CYC-3 deleted: included forfeited on the ledger, prepaid kept, the free plan', async () => {
    const ws = `sub${++n}`;
    const start = nowS() - 60;
    const sub = subscription({
      workspaceId: ws,
      price: 'price_growth_monthly',
      start,
      end: start + 30 * DAY,
    });
    await deliver(event('customer.subscription.created', sub, { created: 10 }));
    await drained();
    await api.call('POST', `/v1/workspaces/${ws}/adjustments`, {
      body: { idempotencyKey: 'p', kind: 'prepaid', credits: 7, reason: 'bundle' },
    });
    await deliver(event('customer.subscription.deleted', { ...sub, status: 'canceled' }, { created: 20 }));
    await drained();
    const w = await state(ws);
    expect(w).toMatchObject({ planId: 'free', prepaid: { remaining: '7' }, included: { remaining: '30' } });
    expect(
      (await ledger(ws)).some(
        (e: { type: string; credits: string }) => e.type === 'forfeit' && e.credits === '-150',
      ),
    ).toBe(true);
  });

  it("a period that ends before it starts (as in Stripe's own fixture) fails at once and changes nothing", async () => {
    const ws = await workspace();
    const e = event(
      'customer.subscription.updated',
      subscription({ workspaceId: ws, price: 'price_growth_annual', start: nowS(), end: nowS() - DAY }),
    );
    await deliver(e);
    await drained();
    expect(await (await api.stripeQueue.getJob(e.id as string))?.getState()).toBe('failed');
    expect((await state(ws)).planId).toBe('growth');
  });

  it('a subscription to a price no plan has fails at once, visibly', async () => {
    const e = event(
      'customer.subscription.created',
      subscription({ workspaceId: 'wsx', price: 'price_unknown', start: nowS(), end: nowS() + DAY }),
    );
    await deliver(e);
    await drained();
    const job = await api.stripeQueue.getJob(e.id as string);
    expect(await job?.getState()).toBe('failed');
    expect(job?.failedReason).toMatch(/price_unknown/);
  });
});

describe('refunds and lost disputes (R-PRE-3)', () => {
  const purchase = async (ws: string, pi: string, credits: string, amountTotal: number) => {
    const session = {
      ...paidCheckoutSession({ workspaceId: ws, credits }),
      payment_intent: pi,
      amount_total: amountTotal,
    };
    await deliver(event('checkout.session.completed', session));
    await drained();
  };
  const refund = (pi: string, amount: number, refunded: number) =>
    event(
      'charge.refunded',
      fixture('charge', {
        id: `ch_${pi}`,
        payment_intent: pi,
        amount,
        amount_refunded: refunded,
        refunded: true,
      }),
    );

  it('takes back the refunded share as far as unspent, the rest as a shortfall, once per refund', async () => {
    const ws = await workspace();
    await purchase(ws, 'pi_refund_1', '100', 36_800);
    // Spend the 150 included and 30 of the 100 prepaid.
    await api.call('POST', `/v1/workspaces/${ws}/usage`, { body: { idempotencyKey: 'u', credits: 180 } });
    expect(await prepaid(ws)).toBe('70');

    await deliver(refund('pi_refund_1', 36_800, 18_400)); // half: 50 credits
    await drained();
    expect(await prepaid(ws)).toBe('20');

    const full = refund('pi_refund_1', 36_800, 36_800); // the rest: 50 more, only 20 left
    await deliver(full);
    await deliver({ ...full, id: `${full.id}x` }); // the same refund under another event id
    await drained();
    expect(await prepaid(ws)).toBe('0');
    const entries = (await api.call('GET', `/v1/workspaces/${ws}/ledger?limit=10`)).body.entries as {
      type: string;
      credits: string;
    }[];
    expect(entries.filter((e) => e.type === 'refund').map((e) => e.credits)).toEqual(['-20', '-50']);
    expect(entries.filter((e) => e.type === 'shortfall').map((e) => e.credits)).toEqual(['-30']);
  });

  it('a refund that races the grant (the payment recorded, its lot not yet granted) is retried, and takes back the refunded share once the grant lands', async () => {
    const ws = await workspace();
    const sessionId = 'cs_test_race_1';
    const session = {
      ...paidCheckoutSession({ workspaceId: ws, credits: '100', id: sessionId }),
      payment_intent: 'pi_race_1',
      amount_total: 36_800,
    };
    // The grant's first step (its payment record) is done; the grant itself is not yet.
    await api.service.stripeRecords.rememberPayment('pi_race_1', {
      workspaceId: ws,
      lot: `checkout:${sessionId}`,
      units: 100 * 10_000,
      amountCents: 36_800,
    });
    const refunded = refund('pi_race_1', 36_800, 9_200); // a quarter: 25 credits
    await deliver(refunded);
    const job = async () => api.stripeQueue.getJob(refunded.id as string);
    for (let i = 0; i < 200 && (await (await job())?.getState()) !== 'delayed'; i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(await (await job())?.getState()).toBe('delayed');
    expect(await prepaid(ws)).toBe('0');

    await deliver(event('checkout.session.completed', session));
    await drained();
    expect(await (await job())?.getState()).toBe('completed');
    expect(await prepaid(ws)).toBe('75');
    const entries = (await api.call('GET', `/v1/workspaces/${ws}/ledger?limit=10`)).body.entries as {
      type: string;
      credits: string;
    }[];
    expect(entries.filter((e) => e.type === 'refund').map((e) => e.credits)).toEqual(['-25']);
  });

  it('a lost dispute takes back the whole purchase; a won one nothing; an unknown payment is ignored', async () => {
    const ws = await workspace();
    await purchase(ws, 'pi_dispute_1', '25', 9_200);
    await deliver(
      event(
        'charge.dispute.closed',
        fixture('dispute', { id: 'dp_won', status: 'won', amount: 9_200, payment_intent: 'pi_dispute_1' }),
      ),
    );
    await drained();
    expect(await prepaid(ws)).toBe('25');
    await deliver(
      event(
        'charge.dispute.closed',
        fixture('dispute', { id: 'dp_lost', status: 'lost', amount: 9_200, payment_intent: 'pi_dispute_1' }),
      ),
    );
    await deliver(refund('pi_not_ours', 1_000, 1_000));
    await drained();
    expect(await prepaid(ws)).toBe('0');
  });
});
