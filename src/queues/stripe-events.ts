/** The queue of verified Stripe events: its name and its job payload (R-WH-2). */
import type { z } from 'zod';
import { stripeEventSchema } from '../stripe/events.js';

export const STRIPE_EVENTS_QUEUE = 'stripe-events';

/** A job is the event as Stripe sent it (its id is the job id). */
export const stripeEventJobSchema = stripeEventSchema;

/** Retries with exponential backoff; a job that keeps failing stays visible in the failed set. */
export const STRIPE_JOB_OPTIONS = {
  attempts: 10,
  backoff: { type: 'exponential', delay: 1000 },
  removeOnComplete: { age: 7 * 24 * 3600 },
  removeOnFail: false,
} as const;

export type StripeEventJob = z.infer<typeof stripeEventJobSchema>;
