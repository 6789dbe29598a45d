/**
 * POST /webhooks/stripe: verify → queue keyed by the event id → acknowledge.
 * - R-WH-1: the raw body is verified with Stripe's scheme and 5-minute tolerance; anything
 *   unsigned, mis-signed, stale, malformed or oversized is a 4xx and queues nothing.
 * - R-WH-2: the event is queued as a BullMQ job whose id is the event id, and acknowledged only
 *   once the job exists. The job is the claim: there is no second key that could say "claimed"
 *   while no job exists (a Redis killed between a claim and its job once lost paid purchases for
 *   good, every redelivery answered as a duplicate). BullMQ adds nothing for a job id it holds,
 *   and keeps a completed job for 7 days, longer than Stripe redelivers (3 days); the processing
 *   is idempotent beyond that (a session is granted once, R-PRE-2).
 * - R-WH-3: event types no worker acts on are acknowledged and ignored.
 * If Redis cannot be reached the answer is 503, so Stripe delivers again.
 */
import type { Queue } from 'bullmq';
import express, { type Express } from 'express';
import Stripe from 'stripe';
import { BurnrateError } from '../src/domain/errors.js';
import { STRIPE_JOB_OPTIONS, type StripeEventJob } from '../src/queues/stripe-events.js';
import type { RedisClient } from '../src/redis/clients.js';
import { REQUEST_REPLICA_WAIT_MS, replicasHaving } from '../src/redis/replicas.js';
import { HANDLED_EVENT_TYPES, stripeEventSchema } from '../src/stripe/events.js';

/** Stripe's payloads are small; a body past this is not one of them. */
const BODY_LIMIT = '256kb';
const HANDLED = new Set<string>(HANDLED_EVENT_TYPES);

export interface StripeWebhookDeps {
  secret: string | undefined;
  /** A fail-fast producer (src/redis/clients.ts): while Redis is unreachable the answer is 503. */
  queue: Queue<StripeEventJob>;
  /** The queue's own connection: whether the event's job exists is read where it is written. */
  queueRedis: RedisClient;
  /**
   * Replicas the event's job must reach before it is acknowledged (REDIS_GRANT_REPLICAS): a 200
   * for a job that then vanishes with its master in a failover would never be redelivered.
   */
  replicas?: number;
}

// Only the webhook helpers are used; they need no API key.
const stripe = new Stripe('sk_webhooks_only');

/**
 * R-WH-2: the job is on `deps.replicas` replicas, or the answer is 503 and Stripe delivers again.
 * A redelivery finds a job another connection (or process) wrote; the fence covers it too.
 */
async function replicated(deps: StripeWebhookDeps): Promise<void> {
  const replicas = deps.replicas ?? 0;
  // One key of the queue's hash tag, so it lives on the job's master (and is no job's key).
  const fence = deps.queue.toKey('webhook-fence');
  const have = await replicasHaving(deps.queueRedis, fence, { replicas, timeoutMs: REQUEST_REPLICA_WAIT_MS });
  if (have < replicas)
    throw new BurnrateError(
      'unavailable',
      `the event is queued on ${have} of ${replicas} replicas; deliver it again`,
    );
}

export function mountStripeWebhook(app: Express, deps: StripeWebhookDeps): void {
  app.post(
    '/webhooks/stripe',
    express.raw({ type: 'application/json', limit: BODY_LIMIT }),
    async (req, res) => {
      if (!deps.secret) throw new BurnrateError('unavailable', 'STRIPE_WEBHOOK_SECRET is not configured');
      const signature = req.headers['stripe-signature'];
      if (typeof signature !== 'string')
        throw new BurnrateError('invalid_request', 'missing Stripe-Signature header');
      if (!Buffer.isBuffer(req.body))
        throw new BurnrateError('invalid_request', 'expected an application/json body');
      let verified: unknown;
      try {
        verified = stripe.webhooks.constructEvent(req.body, signature, deps.secret);
      } catch (err) {
        const what = err instanceof SyntaxError ? 'the body is not JSON' : (err as Error).message;
        throw new BurnrateError('invalid_request', `webhook refused: ${what}`);
      }
      const parsed = stripeEventSchema.safeParse(verified);
      if (!parsed.success) {
        const details = parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
        throw new BurnrateError('invalid_request', 'malformed Stripe event', details);
      }
      const event = parsed.data;
      if (!HANDLED.has(event.type)) {
        res.json({ received: true, ignored: true });
        return;
      }
      // Already queued (a redelivery): nothing to add. Not-yet-queued covers a crash anywhere
      // before the job existed: the redelivery queues it now.
      const jobKey = deps.queue.toKey(event.id);
      const duplicate = (await deps.queueRedis.exists(jobKey)) === 1;
      if (!duplicate) await deps.queue.add(event.type, event, { ...STRIPE_JOB_OPTIONS, jobId: event.id });
      if (deps.replicas) await replicated(deps);
      res.json(duplicate ? { received: true, duplicate: true } : { received: true });
    },
  );
}
