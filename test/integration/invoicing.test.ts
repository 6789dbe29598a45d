import { type Job, UnrecoverableError, Worker } from 'bullmq';
import Stripe from 'stripe';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadCatalog } from '../../src/config/catalog.js';
import { loadConfig } from '../../src/config/env.js';
import { createLogger } from '../../src/observability/logger.js';
import { INVOICING_QUEUE } from '../../src/queues/invoicing.js';
import { bullConnection } from '../../src/redis/clients.js';
import { freePort } from '../../src/redis/embedded-server.js';
import { queuePrefix } from '../../src/redis/keys.js';
import { defineScripts } from '../../src/redis/scripts.js';
import { buildService } from '../../src/runtime.js';
import type { Invoicer } from '../../src/services/invoicing.js';
import { handleStripeEvent } from '../../src/services/stripe-event-handler.js';
import { startStandin } from '../../src/stripe/standin/server.js';
import { invoicingProcessor } from '../../workers/invoicing.js';
import { stripeEventsProcessor } from '../../workers/stripe-events.js';
import { PLATFORM, startTestApi, type TestApi } from '../support/http.js';
import { testClient } from '../support/redis.js';
import { event, FIXTURES_PATH, subscription, WEBHOOK_SECRET } from '../support/stripe.js';
import { drained as drainedQueue } from '../support/stripe-worker.js';

const OCT = Date.UTC(2026, 9, 10, 12);
const NOV = Date.UTC(2026, 10, 2, 12);

let api: TestApi;
let worker: Worker;
let standin: Awaited<ReturnType<typeof startStandin>>;
let stripe: Stripe;
let invoicer: Invoicer;
beforeAll(async () => {
  const port = await freePort();
  const env = { STRIPE_API_BASE: `http://127.0.0.1:${port}`, STRIPE_SECRET_KEY: 'sk_test_standin' };
  api = await startTestApi({ now: OCT, env });
  standin = await startStandin({ port, fixturesPath: FIXTURES_PATH, webhookSecret: WEBHOOK_SECRET });
  stripe = new Stripe('sk_test_standin', { host: '127.0.0.1', port, protocol: 'http' });
  const runtime = {
    config: loadConfig({ NODE_ENV: 'test', REDIS_PREFIX: api.prefix, ...env }),
    catalog: loadCatalog('catalog/catalog.example.json'),
  };
  invoicer = buildService({
    runtime,
    redis: defineScripts(testClient({}, api.target)),
    clock: api.clock,
  }).invoicer;
  worker = new Worker(
    INVOICING_QUEUE,
    invoicingProcessor({
      invoicer,
      queue: api.invoicingQueue,
      clock: api.clock,
      log: createLogger({ level: 'silent', name: 't' }),
    }),
    {
      connection: bullConnection(api.target),
      prefix: queuePrefix(api.prefix),
      concurrency: 4,
    },
  );
});
afterAll(async () => {
  await worker.close();
  await standin.close();
  await api.close();
});

const drained = () => drainedQueue(api.invoicingQueue);

async function workspace(id: string, planId: string, flexCredits: string, withCustomer = true) {
  const customer = withCustomer
    ? (await stripe.customers.create({ metadata: { workspace_id: id } })).id
    : undefined;
  await api.call('PUT', `/v1/workspaces/${id}`, {
    body: { planId, ...(customer ? { stripeCustomerId: customer } : {}) },
  });
  await api.call('PATCH', `/v1/workspaces/${id}/flex`, { body: { capCents: null, confirmUnlimited: true } });
  const included = planId === 'growth-annual' ? 1800 : 150;
  const credits = (included * 10_000 + Math.round(Number(flexCredits) * 10_000)) / 10_000;
  const res = await api.call('POST', `/v1/workspaces/${id}/usage`, {
    key: PLATFORM,
    body: { idempotencyKey: 'oct', credits: String(credits) },
  });
  expect(res.body.debited.flex).toBe(flexCredits);
  return customer;
}

it('R-FLX-5 R-FLX-6 bills each workspace-month once: the floor of its flex, annual invoices finalized, re-runs add nothing', async () => {
  api.clock.set(OCT);
  const monthly = await workspace('inv-monthly', 'growth', '77.7');
  const annual = await workspace('inv-annual', 'growth-annual', '10.5');
  await workspace('inv-tiny', 'growth', '0.9');
  await workspace('inv-nocustomer', 'growth', '5', false);
  api.clock.set(NOV);

  expect(
    (await api.call('POST', '/v1/admin/invoicing/runs', { key: PLATFORM, body: { month: '2026-10' } }))
      .status,
  ).toBe(403);
  expect((await api.call('POST', '/v1/admin/invoicing/runs', { body: { month: '2026-11' } })).status).toBe(
    400,
  );
  // Not in the first minutes after its end either: a process whose clock is behind this one's
  // (up to MAX_CLOCK_SKEW_MS) still books October's usage, which a run now would push to November.
  api.clock.set(Date.UTC(2026, 10, 1, 0, 2));
  const early = await api.call('POST', '/v1/admin/invoicing/runs', { body: { month: '2026-10' } });
  expect(early.status).toBe(400);
  expect(early.body.error.message).toMatch(
    /2026-10 is not closed yet \(a month can be run 5 minutes after it ends\)/,
  );
  // A dry run closes nothing, so it may look already.
  const earlyDry = await api.call('POST', '/v1/admin/invoicing/runs', {
    body: { month: '2026-10', dryRun: true },
  });
  expect(earlyDry.status).toBe(200);
  expect(await api.invoicingQueue.count()).toBe(0);
  api.clock.set(NOV);
  const dry = await api.call('POST', '/v1/admin/invoicing/runs', {
    body: { month: '2026-10', dryRun: true },
  });
  expect(dry.body).toEqual({
    month: '2026-10',
    dryRun: true,
    workspaces: 3,
    finalInvoices: 0,
    billedCredits: 92,
  });
  expect(await api.invoicingQueue.count()).toBe(0);
  // A dry run closes no month to late usage; the run closes it for every workspace it read.
  const closed = (id: string) => api.redis.smembers(api.store.keys(id).flexClosed);
  expect(await closed('inv-monthly')).toEqual([]);

  expect((await api.call('POST', '/v1/admin/invoicing/runs', { body: { month: '2026-10' } })).status).toBe(
    202,
  );
  await drained();
  const status = (await api.call('GET', '/v1/admin/invoicing/runs/2026-10')).body;
  expect(status).toMatchObject({
    month: '2026-10',
    workspaces: 3,
    counts: { item_created: 1, invoiced: 1, failed: 1, pending: 0 },
    billedCredits: 87,
    amountCents: 87 * 400,
  });
  expect(status.failures).toEqual([
    { workspaceId: 'inv-nocustomer', reason: 'the workspace has no Stripe customer' },
  ]);
  for (const id of ['inv-monthly', 'inv-annual', 'inv-tiny', 'inv-nocustomer'])
    expect(await closed(id), id).toEqual(['2026-10']);

  const items = (await stripe.invoiceItems.list({ customer: monthly! })).data;
  expect(items).toHaveLength(1);
  expect(items[0]).toMatchObject({
    quantity: 77,
    amount: 30_800,
    invoice: null,
    metadata: { month: '2026-10', flex_credits: '77.7' },
  });
  const invoices = (await stripe.invoices.list({ customer: annual! })).data;
  expect(invoices).toHaveLength(1);
  expect(invoices[0]).toMatchObject({ status: 'open', total: 4_000 });

  // A re-run of the month bills nothing twice.
  await api.call('POST', '/v1/admin/invoicing/runs', { body: { month: '2026-10' } });
  await drained();
  expect((await stripe.invoiceItems.list({ customer: monthly! })).data).toHaveLength(1);
  expect((await stripe.invoiceItems.list({ customer: annual! })).data).toHaveLength(1);
  expect((await stripe.invoices.list({ customer: annual! })).data).toHaveLength(1);
  expect((await api.call('GET', '/v1/admin/invoicing/runs/2026-10')).body.counts.invoiced).toBe(1);
  expect((await api.call('GET', '/v1/admin/invoicing/runs/2026-13')).status).toBe(400);
});

it('R-CYC-3 a workspace whose subscription ended before the run gets its last flex month on an invoice finalized at once', async () => {
  api.clock.set(OCT);
  const customer = await workspace('inv-ended-late', 'growth', '12.3');
  api.clock.set(NOV);
  // The subscription ended on Nov 1 (its final invoice had Nov's flex: none); back on free.
  await api.call('PUT', '/v1/workspaces/inv-ended-late', { body: { planId: 'free' } });
  await api.call('POST', '/v1/admin/invoicing/runs', { body: { month: '2026-10' } });
  await drained();
  const invoices = (await stripe.invoices.list({ customer: customer! })).data;
  expect(invoices).toHaveLength(1);
  expect(invoices[0]).toMatchObject({ status: 'open', total: 12 * 400 });
  expect(await api.invoicer.state({ month: '2026-10', workspaceId: 'inv-ended-late' })).toMatchObject({
    status: 'invoiced',
    billedCredits: 12,
  });
});

it('R-CAT-5 a workspace invoiced by hand is skipped by the run: no item in Stripe', async () => {
  api.clock.set(OCT);
  // acme-enterprise has catalog overrides: 5,000 included credits, manual invoicing.
  const customer = (await stripe.customers.create({ metadata: { workspace_id: 'acme-enterprise' } })).id;
  await api.call('PUT', '/v1/workspaces/acme-enterprise', {
    body: { planId: 'growth', stripeCustomerId: customer },
  });
  await api.call('PATCH', '/v1/workspaces/acme-enterprise/flex', {
    body: { capCents: null, confirmUnlimited: true },
  });
  const res = await api.call('POST', '/v1/workspaces/acme-enterprise/usage', {
    key: PLATFORM,
    body: { idempotencyKey: 'oct', credits: 5002 },
  });
  expect(res.body.debited.flex).toBe('2');
  api.clock.set(NOV);
  await api.call('POST', '/v1/admin/invoicing/runs', { body: { month: '2026-10' } });
  await drained();
  expect(await invoicer.state({ month: '2026-10', workspaceId: 'acme-enterprise' })).toMatchObject({
    status: 'skipped',
    billedCredits: 2,
    reason: 'invoiced by hand (R-CAT-5)',
  });
  expect((await stripe.invoiceItems.list({ customer })).data).toEqual([]);
});

/** A Stripe subscription event for a workspace's growth subscription, handled as the worker does. */
async function subscriptionEvent(
  type: 'customer.subscription.created' | 'customer.subscription.deleted',
  o: { workspaceId: string; customer: string; id?: string; start?: number },
) {
  const start = o.start ?? Math.floor(NOV / 1000) - 86_400;
  const sub = subscription({
    workspaceId: o.workspaceId,
    customer: o.customer,
    price: 'price_growth_monthly',
    start,
    end: start + 30 * 86_400,
    ...(o.id ? { id: o.id } : {}),
  });
  const e = event(type, type === 'customer.subscription.deleted' ? { ...sub, status: 'canceled' } : sub, {
    created: Math.floor(api.clock.now() / 1000),
  });
  return handleStripeEvent(
    {
      id: e.id as string,
      type: e.type as string,
      created: e.created as number,
      data: e.data as { object: Record<string, unknown> },
    },
    { store: api.store, service: api.service, now: api.clock.now(), invoicer },
  );
}

/** Stripe's customer.subscription.deleted for a workspace, handled as the worker does. */
const endSubscription = (workspaceId: string, customer: string, id?: string) =>
  subscriptionEvent('customer.subscription.deleted', { workspaceId, customer, ...(id ? { id } : {}) });

it('R-FLX-6 a month Stripe refuses shows as failed, not pending; a re-run after the fix bills it once', async () => {
  api.clock.set(OCT);
  await workspace('inv-badcus', 'growth', '4', false);
  await api.call('PUT', '/v1/workspaces/inv-badcus', {
    body: { planId: 'growth', stripeCustomerId: 'cus_gone' },
  });
  api.clock.set(NOV);
  await api.call('POST', '/v1/admin/invoicing/runs', { body: { month: '2026-10' } });
  await drained();
  const failed = await invoicer.state({ month: '2026-10', workspaceId: 'inv-badcus' });
  expect(failed).toMatchObject({ status: 'failed' });
  expect(failed?.reason).toMatch(/No such customer/);
  const customer = (await stripe.customers.create({ metadata: { workspace_id: 'inv-badcus' } })).id;
  await api.call('PUT', '/v1/workspaces/inv-badcus', {
    body: { planId: 'growth', stripeCustomerId: customer },
  });
  await api.call('POST', '/v1/admin/invoicing/runs', { body: { month: '2026-10' } });
  await drained();
  expect(await invoicer.state({ month: '2026-10', workspaceId: 'inv-badcus' })).toMatchObject({
    status: 'item_created',
    billedCredits: 4,
  });
  expect((await stripe.invoiceItems.list({ customer })).data).toHaveLength(1);
});

it('R-FLX-6 a retry bills at the terms of the first attempt, whatever changed since', async () => {
  api.clock.set(OCT);
  const customer = await workspace('inv-terms', 'growth', '3');
  api.clock.set(NOV);
  // The first attempt fixed its terms (a price of $3.50 a credit) and stopped before Stripe.
  await api.redis.hset(
    `${api.prefix}invoicing:2026-10`,
    'inv-terms',
    JSON.stringify({
      status: 'pending',
      flexCredits: '3',
      billedCredits: 3,
      terms: { priceE4: 3_500_000, currency: 'usd', customer, ownInvoice: false },
    }),
  );
  const state = await invoicer.invoiceWorkspace({
    workspaceId: 'inv-terms',
    month: '2026-10',
    now: api.clock.now(),
  });
  expect(state).toMatchObject({ status: 'item_created', amountCents: 1050 });
  const [item] = (await stripe.invoiceItems.list({ customer: customer! })).data;
  expect(item).toMatchObject({ quantity: 3, amount: 1050 });
});

it('R-CYC-3 the final invoice also takes the items still waiting for a subscription invoice', async () => {
  api.clock.set(OCT);
  const customer = await workspace('inv-sweep', 'growth', '5');
  api.clock.set(NOV);
  await api.call('POST', '/v1/admin/invoicing/runs', { body: { month: '2026-10' } });
  await drained();
  expect(await invoicer.state({ month: '2026-10', workspaceId: 'inv-sweep' })).toMatchObject({
    status: 'item_created',
  });
  await api.call('POST', '/v1/workspaces/inv-sweep/usage', {
    key: PLATFORM,
    body: { idempotencyKey: 'nov', credits: 3 }, // the same cycle (from Oct 10): all flex
  });
  expect(await endSubscription('inv-sweep', customer!)).toMatchObject({ action: 'subscription_ended' });
  const invoices = (await stripe.invoices.list({ customer: customer! })).data;
  expect(invoices).toHaveLength(1);
  expect(invoices[0]).toMatchObject({ status: 'open', total: (5 + 3) * 400 });
  const items = (await stripe.invoiceItems.list({ customer: customer! })).data;
  expect(items.map((i) => i.invoice)).toEqual([invoices[0]!.id, invoices[0]!.id]);
});

it('R-CYC-3 an ended subscription gets its final month invoiced at once, and the monthly run does not bill it again', async () => {
  api.clock.set(NOV);
  const customer = await workspace('inv-cancel', 'growth', '12.3');
  const start = Math.floor(NOV / 1000) - 86_400;
  const deleted = event(
    'customer.subscription.deleted',
    {
      ...subscription({
        workspaceId: 'inv-cancel',
        customer: customer!,
        price: 'price_growth_monthly',
        start,
        end: start + 30 * 86_400,
      }),
      status: 'canceled',
    },
    { created: Math.floor(NOV / 1000) },
  );
  const e = {
    id: deleted.id as string,
    type: deleted.type as string,
    created: deleted.created as number,
    data: deleted.data as { object: Record<string, unknown> },
  };
  const outcome = await handleStripeEvent(e, {
    store: api.store,
    service: api.service,
    now: api.clock.now(),
    invoicer,
  });
  expect(outcome).toMatchObject({ action: 'subscription_ended', planId: 'free' });
  const invoices = (await stripe.invoices.list({ customer: customer! })).data;
  expect(invoices).toHaveLength(1);
  expect(invoices[0]).toMatchObject({ status: 'open', total: 12 * 400 });

  api.clock.set(Date.UTC(2026, 11, 1, 1));
  await api.call('POST', '/v1/admin/invoicing/runs', { body: { month: '2026-11' } });
  await drained();
  expect((await stripe.invoiceItems.list({ customer: customer! })).data).toHaveLength(1);
  // The final invoice is the subscription's bill; the 0.3 left in the month is no bill at all.
  expect(
    await invoicer.state({ month: '2026-11', workspaceId: 'inv-cancel', subscriptionId: 'sub_test_1' }),
  ).toMatchObject({ status: 'invoiced', billedCredits: 12 });
  expect(await invoicer.state({ month: '2026-11', workspaceId: 'inv-cancel' })).toBeNull();
});

it('R-FLX-6 a re-run tries a failed workspace-month again once its cause is fixed, and bills it once', async () => {
  api.clock.set(Date.UTC(2026, 8, 10, 12));
  await workspace('inv-retry', 'growth', '6', false);
  api.clock.set(OCT);
  await api.call('POST', '/v1/admin/invoicing/runs', { body: { month: '2026-09' } });
  await drained();
  expect((await api.call('GET', '/v1/admin/invoicing/runs/2026-09')).body).toMatchObject({
    counts: { failed: 1 },
    failures: [{ workspaceId: 'inv-retry', reason: 'the workspace has no Stripe customer' }],
    runs: 1,
  });

  const customer = (await stripe.customers.create({ metadata: { workspace_id: 'inv-retry' } })).id;
  await api.call('PUT', '/v1/workspaces/inv-retry', {
    body: { planId: 'growth', stripeCustomerId: customer },
  });
  await api.call('POST', '/v1/admin/invoicing/runs', { body: { month: '2026-09' } });
  await drained();
  expect((await api.call('GET', '/v1/admin/invoicing/runs/2026-09')).body).toMatchObject({
    counts: { failed: 0, item_created: 1 },
    failures: [],
    billedCredits: 6,
    runs: 2,
  });
  expect((await stripe.invoiceItems.list({ customer })).data).toHaveLength(1);
});

it('R-CYC-3 a second subscription ended in the same month gets its own final invoice with the flex of its own stretch', async () => {
  const DEC = Date.UTC(2026, 11, 3, 12);
  const hour = 3_600_000;
  api.clock.set(DEC);
  const customer = (await workspace('inv-twice', 'growth', '2.5'))!;
  await endSubscription('inv-twice', customer, 'sub_twice_1');
  api.clock.set(DEC + hour);
  await subscriptionEvent('customer.subscription.created', {
    workspaceId: 'inv-twice',
    customer,
    id: 'sub_twice_2',
    start: Math.floor((DEC + hour) / 1000),
  });
  await api.call('PATCH', '/v1/workspaces/inv-twice/flex', {
    body: { capCents: null, confirmUnlimited: true },
  });
  const used = await api.call('POST', '/v1/workspaces/inv-twice/usage', {
    key: PLATFORM,
    body: { idempotencyKey: 'dec-2', credits: '153.3' },
  });
  expect(used.body.debited.flex).toBe('3.3');
  api.clock.set(DEC + 2 * hour);
  await endSubscription('inv-twice', customer, 'sub_twice_2');
  // Stripe delivers again: nothing more.
  await endSubscription('inv-twice', customer, 'sub_twice_2');

  const invoices = async () =>
    (await stripe.invoices.list({ customer })).data
      .map((i) => ({ status: i.status, total: i.total }))
      .sort((a, b) => a.total - b.total);
  // Each final invoice floors its own stretch (R-FLX-5): 2.5 → 2, then 3.3 → 3.
  expect(await invoices()).toEqual([
    { status: 'open', total: 2 * 400 },
    { status: 'open', total: 3 * 400 },
  ]);
  // The month's run bills nothing already on a final invoice: the 0.5 and 0.3 left are not
  // a whole credit together.
  api.clock.set(Date.UTC(2027, 0, 1, 1));
  await api.call('POST', '/v1/admin/invoicing/runs', { body: { month: '2026-12' } });
  await drained();
  expect((await stripe.invoiceItems.list({ customer })).data.map((i) => i.quantity).sort()).toEqual([2, 3]);
  expect(await invoices()).toHaveLength(2);
  // The month's status counts each final invoice, and the workspace once.
  expect((await api.call('GET', '/v1/admin/invoicing/runs/2026-12')).body).toMatchObject({
    workspaces: 1,
    counts: { invoiced: 2, pending: 0, failed: 0 },
    billedCredits: 5,
    amountCents: 5 * 400,
  });
});

it('R-CYC-3 R-FLX-6 a final invoice that failed (no Stripe customer) is billed by the next run once the customer is fixed, exactly once, at the same amount', async () => {
  api.clock.set(NOV);
  await workspace('inv-final-nocus', 'growth', '7', false);
  const start = Math.floor(NOV / 1000) - 86_400;
  const deleted = event(
    'customer.subscription.deleted',
    {
      ...subscription({
        workspaceId: 'inv-final-nocus',
        price: 'price_growth_monthly',
        start,
        end: start + 30 * 86_400,
        id: 'sub_final_nocus',
      }),
      status: 'canceled',
    },
    { created: Math.floor(NOV / 1000) },
  );
  const processEvent = stripeEventsProcessor({
    store: api.store,
    service: api.service,
    invoicer,
    clock: api.clock,
    log: createLogger({ level: 'silent', name: 't' }),
  });
  const job = { id: deleted.id, name: deleted.type, data: deleted, attemptsMade: 0, opts: { attempts: 10 } };
  await expect(processEvent(job as unknown as Job)).rejects.toBeInstanceOf(UnrecoverableError);
  const bill = { month: '2026-11', workspaceId: 'inv-final-nocus', subscriptionId: 'sub_final_nocus' };
  expect(await invoicer.state(bill)).toMatchObject({
    status: 'failed',
    billedCredits: 7,
    amountCents: 7 * 400,
    reason: 'the workspace has no Stripe customer',
  });

  const customer = (await stripe.customers.create({ metadata: { workspace_id: 'inv-final-nocus' } })).id;
  await api.call('PUT', '/v1/workspaces/inv-final-nocus', {
    body: { planId: 'free', stripeCustomerId: customer },
  });
  api.clock.set(Date.UTC(2026, 11, 1, 1));
  const dry = await api.call('POST', '/v1/admin/invoicing/runs', {
    body: { month: '2026-11', dryRun: true },
  });
  expect(dry.body).toMatchObject({ finalInvoices: 1, billedCredits: 7 });
  for (let run = 0; run < 2; run++) {
    await api.call('POST', '/v1/admin/invoicing/runs', { body: { month: '2026-11' } });
    await drained();
  }
  const invoices = (await stripe.invoices.list({ customer })).data;
  expect(invoices.map((i) => ({ status: i.status, total: i.total }))).toEqual([
    { status: 'open', total: 7 * 400 },
  ]);
  expect((await stripe.invoiceItems.list({ customer })).data.map((i) => i.quantity)).toEqual([7]);
  expect(await invoicer.state(bill)).toMatchObject({
    status: 'invoiced',
    billedCredits: 7,
    amountCents: 7 * 400,
  });
  // The monthly bill takes none of it: the final invoice took the month's 7 credits.
  expect(await invoicer.state({ month: '2026-11', workspaceId: 'inv-final-nocus' })).toBeNull();
});

it('R-CYC-3 a final invoice whose Stripe event job gives up (its last attempt) shows as failed, and the next run bills it', async () => {
  const JAN = Date.UTC(2027, 0, 5, 12);
  api.clock.set(JAN);
  const customer = (await workspace('inv-final-giveup', 'growth', '4'))!;
  const start = Math.floor(JAN / 1000) - 86_400;
  const deleted = event(
    'customer.subscription.deleted',
    {
      ...subscription({
        workspaceId: 'inv-final-giveup',
        customer,
        price: 'price_growth_monthly',
        start,
        end: start + 30 * 86_400,
        id: 'sub_final_giveup',
      }),
      status: 'canceled',
    },
    { created: Math.floor(JAN / 1000) },
  );
  // Stripe out of reach on every attempt: transient, so only the last attempt gives up.
  const runtime = {
    config: loadConfig({
      NODE_ENV: 'test',
      REDIS_PREFIX: api.prefix,
      STRIPE_API_BASE: 'http://127.0.0.1:1',
      STRIPE_SECRET_KEY: 'sk_test_standin',
    }),
    catalog: loadCatalog('catalog/catalog.example.json'),
  };
  const unreachable = buildService({
    runtime,
    redis: defineScripts(testClient({}, api.target)),
    clock: api.clock,
  }).invoicer;
  const processEvent = stripeEventsProcessor({
    store: api.store,
    service: api.service,
    invoicer: unreachable,
    clock: api.clock,
    log: createLogger({ level: 'silent', name: 't' }),
  });
  const last = { id: deleted.id, name: deleted.type, data: deleted, attemptsMade: 9, opts: { attempts: 10 } };
  const err = await processEvent(last as unknown as Job).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(Error);
  expect(err).not.toBeInstanceOf(UnrecoverableError);
  const bill = { month: '2027-01', workspaceId: 'inv-final-giveup', subscriptionId: 'sub_final_giveup' };
  expect(await invoicer.state(bill)).toMatchObject({ status: 'failed', billedCredits: 4 });

  api.clock.set(Date.UTC(2027, 1, 1, 1));
  await api.call('POST', '/v1/admin/invoicing/runs', { body: { month: '2027-01' } });
  await drained();
  const invoices = (await stripe.invoices.list({ customer })).data;
  expect(invoices.map((i) => ({ status: i.status, total: i.total }))).toEqual([
    { status: 'open', total: 4 * 400 },
  ]);
  expect(await invoicer.state(bill)).toMatchObject({ status: 'invoiced', billedCredits: 4 });
});

it('R-CYC-3 R-FLX-5 the invoice preview says what final invoices took of the month and what the monthly run will still bill', async () => {
  const DEC = Date.UTC(2026, 11, 3, 12);
  const hour = 3_600_000;
  api.clock.set(DEC);
  const customer = (await workspace('inv-preview', 'growth', '2.5'))!;
  await endSubscription('inv-preview', customer, 'sub_preview_1');
  api.clock.set(DEC + hour);
  await subscriptionEvent('customer.subscription.created', {
    workspaceId: 'inv-preview',
    customer,
    id: 'sub_preview_2',
    start: Math.floor((DEC + hour) / 1000),
  });
  await api.call('PATCH', '/v1/workspaces/inv-preview/flex', {
    body: { capCents: null, confirmUnlimited: true },
  });
  const used = await api.call('POST', '/v1/workspaces/inv-preview/usage', {
    key: PLATFORM,
    body: { idempotencyKey: 'dec-2', credits: '153.3' },
  });
  expect(used.body.debited.flex).toBe('3.3');
  const preview = await api.call('GET', '/v1/workspaces/inv-preview/invoice-preview?month=2026-12', {
    key: PLATFORM,
  });
  // The month's whole flex as before (API.md), beside what its final invoice took (2.5, billed
  // 2) and what the monthly run will bill of the rest: 3.3 → 3.
  expect(preview.body).toEqual({
    month: '2026-12',
    flexCredits: '5.8',
    billedCredits: '5',
    unitAmountCents: '400',
    amountCents: 5 * 400,
    currency: 'usd',
    status: 'open',
    finalInvoicedCredits: '2.5',
    toBillCredits: '3',
    toBillAmountCents: 3 * 400,
  });
});
