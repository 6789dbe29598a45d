/**
 * The one failure policy of every BullMQ processor: a transient fault is thrown as it is, so
 * BullMQ retries it with the queue's backoff; anything else fails the job at once
 * (UnrecoverableError) and stays visible in the failed set, instead of spending its attempts
 * on a fault that fails the same way every time.
 */
import { type Job, UnrecoverableError } from 'bullmq';
import Stripe from 'stripe';
import { ZodError, type z } from 'zod';
import { BurnrateError } from '../src/domain/errors.js';
import { isRetryableStripeError } from '../src/stripe/client.js';

/**
 * Transient: a BurnrateError that says so, Stripe's rate limits, outages and conflicts, and
 * any other error (a lost connection, a timeout, a receiver that answered 5xx). Not: a job or
 * an object that fails its schema, a BurnrateError that is not retryable, a request Stripe
 * refused.
 */
export function isRetryable(err: unknown): boolean {
  if (err instanceof UnrecoverableError || err instanceof ZodError) return false;
  if (err instanceof BurnrateError) return err.retryable;
  if (err instanceof Stripe.errors.StripeError) return isRetryableStripeError(err);
  return true;
}

/** A job's payload through its schema; a malformed one is never retried. */
export function parseJob<S extends z.ZodType>(schema: S, job: Job): z.output<S> {
  const parsed = schema.safeParse(job.data);
  if (!parsed.success)
    throw new BurnrateError(
      'invalid_request',
      `malformed ${job.name} job ${job.id}: ${parsed.error.message}`,
    );
  return parsed.data;
}

/**
 * A processor under the policy. `onGiveUp` runs before the job fails for good (a fault no retry
 * fixes, or its last attempt), e.g. to record the failure where operators look.
 */
export function withFailurePolicy<J extends Job, R>(
  process: (job: J) => Promise<R>,
  onGiveUp?: (job: J, err: Error) => Promise<void>,
): (job: J) => Promise<R> {
  return async (job) => {
    try {
      return await process(job);
    } catch (caught) {
      const err = caught instanceof Error ? caught : new Error(String(caught));
      const retry = isRetryable(err);
      const last = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      if (onGiveUp && (!retry || last)) await onGiveUp(job, err);
      throw retry || err instanceof UnrecoverableError ? err : new UnrecoverableError(err.message);
    }
  };
}
