/** Stripe errors sorted in one place: what a job may retry and what it may not. */
import Stripe from 'stripe';
import { expect, it } from 'vitest';
import { isRetryableStripeError } from '../../src/stripe/client.js';

it.each([
  [
    'a rate limit (429)',
    new Stripe.errors.StripeRateLimitError({ message: 'slow down', statusCode: 429 }),
    true,
  ],
  ['a connection error', new Stripe.errors.StripeConnectionError({ message: 'ECONNRESET' }), true],
  ["Stripe's own error (500)", new Stripe.errors.StripeAPIError({ message: 'oops', statusCode: 500 }), true],
  [
    'a lock timeout (409)',
    new Stripe.errors.StripeInvalidRequestError({ message: 'lock', statusCode: 409 }),
    true,
  ],
  [
    'an invalid request (400)',
    new Stripe.errors.StripeInvalidRequestError({ message: 'bad', statusCode: 400 }),
    false,
  ],
  [
    'an idempotency mismatch',
    new Stripe.errors.StripeIdempotencyError({ message: 'same key', statusCode: 400 }),
    false,
  ],
  [
    'an auth error',
    new Stripe.errors.StripeAuthenticationError({ message: 'no key', statusCode: 401 }),
    false,
  ],
  ['not a Stripe error', new Error('boom'), false],
])('%s → retryable: %s', (_what, err, retryable) => {
  expect(isRetryableStripeError(err)).toBe(retryable);
});
