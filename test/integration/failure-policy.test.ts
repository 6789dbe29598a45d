/**
 * One failure policy for every BullMQ processor (issue 8): a fault no retry fixes fails its job
 * at once (UnrecoverableError), whatever service raised it; a transient one is retried.
 */
import { type Job, UnrecoverableError } from 'bullmq';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLogger } from '../../src/observability/logger.js';
import { stripeEventsProcessor } from '../../workers/stripe-events.js';
import { PLATFORM, startTestApi, type TestApi } from '../support/http.js';
import { event, subscription } from '../support/stripe.js';

const NOV = Date.UTC(2026, 10, 2, 12);
let api: TestApi;
beforeAll(async () => {
  api = await startTestApi({ now: NOV });
});
afterAll(() => api.close());

/** A job as BullMQ hands it to a processor: its first attempt of `attempts`. */
const firstAttempt = (data: unknown, attempts = 10) =>
  ({ id: 'job-1', name: 'job', data, attemptsMade: 0, opts: { attempts } }) as unknown as Job;

it('R-CYC-3 a final invoice that cannot be billed (no Stripe customer) fails its Stripe event job at once, not after ten attempts', async () => {
  await api.call('PUT', '/v1/workspaces/fp-nocus', { body: { planId: 'growth' } });
  await api.call('PATCH', '/v1/workspaces/fp-nocus/flex', {
    body: { capCents: null, confirmUnlimited: true },
  });
  const used = await api.call('POST', '/v1/workspaces/fp-nocus/usage', {
    key: PLATFORM,
    body: { idempotencyKey: 'nov', credits: 152 },
  });
  expect(used.body.debited.flex).toBe('2');
  const start = Math.floor(NOV / 1000) - 86_400;
  const deleted = event(
    'customer.subscription.deleted',
    {
      ...subscription({
        workspaceId: 'fp-nocus',
        price: 'price_growth_monthly',
        start,
        end: start + 30 * 86_400,
      }),
      status: 'canceled',
    },
    { created: Math.floor(NOV / 1000) },
  );
  const process = stripeEventsProcessor({
    store: api.store,
    service: api.service,
    invoicer: api.invoicer,
    clock: api.clock,
    log: createLogger({ level: 'silent', name: 't' }),
  });
  await expect(process(firstAttempt(deleted))).rejects.toBeInstanceOf(UnrecoverableError);
});

it('a malformed Stripe event job fails at once', async () => {
  const process = stripeEventsProcessor({
    store: api.store,
    service: api.service,
    clock: api.clock,
    log: createLogger({ level: 'silent', name: 't' }),
  });
  await expect(process(firstAttempt({ id: 'evt_1' }))).rejects.toBeInstanceOf(UnrecoverableError);
});

it('R-CYC-3 a final invoice with Stripe not configured fails as what it is: a fault of the deployment (internal), not an outage (unavailable) that is not retried', async () => {
  await api.call('PUT', '/v1/workspaces/fp-nostripe', {
    body: { planId: 'growth', stripeCustomerId: 'cus_fp_nostripe' },
  });
  await api.call('PATCH', '/v1/workspaces/fp-nostripe/flex', {
    body: { capCents: null, confirmUnlimited: true },
  });
  await api.call('POST', '/v1/workspaces/fp-nostripe/usage', {
    key: PLATFORM,
    body: { idempotencyKey: 'nov', credits: 153 },
  });
  const err = await api.invoicer
    .invoiceWorkspace({ workspaceId: 'fp-nostripe', month: '2026-11', subscriptionId: 'sub_fp', now: NOV })
    .catch((e: unknown) => e);
  expect(err).toMatchObject({ code: 'internal', retryable: false, message: 'Stripe is not configured' });
});
