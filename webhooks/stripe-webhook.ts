/**
 * POST /webhooks/stripe (R-WH-1..3): verify → claim the event id → enqueue → acknowledge.
 * The raw body is verified with Stripe's scheme and 5-minute tolerance; anything unsigned,
 * mis-signed, stale, malformed or oversized is a 4xx and queues nothing. Event types no worker
 * acts on are acknowledged and ignored. If the claim or the queue cannot be reached the answer
 * is 500, so Stripe delivers again.
 */
import type { Queue } from 'bullmq';
import express, { type Express } from 'express';
import type { Redis } from 'ioredis';
import Stripe from 'stripe';
import { BurnrateError } from '../src/domain/errors.js';
import type { Logger } from '../src/observability/logger.js';
import { STRIPE_JOB_OPTIONS } from '../src/queues/stripe-events.js';
import { HANDLED_EVENT_TYPES, stripeEventSchema } from '../src/stripe/events.js';

/** Stripe's payloads are small; a body past this is not one of them. */
const BODY_LIMIT = '256kb';
/** How long an event id stays claimed: Stripe redelivers for up to 3 days. */
const CLAIM_SECONDS = 30 * 24 * 3600;
const HANDLED = new Set<string>(HANDLED_EVENT_TYPES);

export interface StripeWebhookDeps {
  secret: string | undefined;
  redis: Redis;
  queue: Queue;
  /** The key that claims an event id. */
  claimKey(eventId: string): string;
  log: Logger;
}

// Only the webhook helpers are used; they need no API key.
const stripe = new Stripe('sk_webhooks_only');

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
      const key = deps.claimKey(event.id);
      try {
        const claimed = await deps.redis.set(key, 'queued', 'EX', CLAIM_SECONDS, 'NX');
        if (claimed === null) {
          res.json({ received: true, duplicate: true });
          return;
        }
        try {
          await deps.queue.add(event.type, event, { ...STRIPE_JOB_OPTIONS, jobId: event.id });
        } catch (err) {
          await deps.redis.del(key).catch(() => {});
          throw err;
        }
      } catch (err) {
        deps.log.error({ err, eventId: event.id }, 'could not queue a Stripe event');
        throw new BurnrateError('internal', 'could not queue the event; Stripe will deliver it again');
      }
      res.json({ received: true });
    },
  );
}
