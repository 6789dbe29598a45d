/**
 * The Stripe rate bucket (R-FLX-6): one token bucket in Redis, shared by every process and
 * every caller of Stripe (invoicing, final invoices, Checkout). The typed wrappers of
 * lua/stripe-rate-take-1.lua and lua/stripe-rate-limited-1.lua; the tuning lives here.
 */
import { z } from 'zod';
import type { ScriptClient } from './scripts.js';

/**
 * After a 429 the rate drops to CUT_FACTOR of what it is, holds there HOLD_MS (429s meanwhile
 * are the same signal: no further cut), then climbs back by RECOVER_SHARE of the configured
 * rate each second. Against a limit at the configured rate, one 429 costs 5% for a second and
 * 2.5% for the next (about 96% of the limit used, a 429 every two seconds); against a lower
 * limit, 429s keep coming a second apart and each cuts again, so the rate falls to it
 * (100 to 25 in about 27 s). Never below FLOOR requests/s.
 */
const CUT_FACTOR = 0.95;
const HOLD_MS = 1000;
const RECOVER_SHARE = 0.05;
const FLOOR = 1;
/**
 * How far ahead slots may be handed out before the bucket takes it that the clock stepped back:
 * callers in flight (64 jobs per worker process, the API's, the stripe-events worker's) at
 * the floor rate would reach minutes, never hours.
 */
const MAX_AHEAD_MS = 5 * 60_000;

const waitReply = z.number().int().min(0);
const rateReply = z.coerce.number().positive();

export interface StripeRateBucket {
  /** Takes the next call's slot: the milliseconds to wait before sending it (0: now). */
  take(now: number): Promise<number>;
  /** Stripe answered 429: every process slows down. The rate now (requests/s). */
  limited(now: number): Promise<number>;
}

export function stripeRateBucket(
  redis: ScriptClient,
  o: { key: string; requestsPerSecond: number },
): StripeRateBucket {
  if (!(o.requestsPerSecond > 0)) throw new Error('a rate bucket needs a rate above 0');
  const client = redis;
  const full = o.requestsPerSecond;
  const recover = full * RECOVER_SHARE;
  const floor = Math.min(full, FLOOR);
  return {
    async take(now) {
      return waitReply.parse(await client.stripeRateTake(o.key, now, full, recover, HOLD_MS, MAX_AHEAD_MS));
    },
    async limited(now) {
      return rateReply.parse(
        await client.stripeRateLimited(o.key, now, full, recover, HOLD_MS, CUT_FACTOR, floor),
      );
    },
  };
}
