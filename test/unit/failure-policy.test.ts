/** The workers' one failure policy (issue 8): what is retried, what fails a job at once. */
import { type Job, UnrecoverableError } from 'bullmq';
import Stripe from 'stripe';
import { expect, it } from 'vitest';
import { z } from 'zod';
import { BurnrateError } from '../../src/domain/errors.js';
import { isRetryable, parseJob, withFailurePolicy } from '../../workers/failure-policy.js';

const job = (attemptsMade: number, attempts: number, data: unknown = {}) =>
  ({ id: 'j', name: 'n', data, attemptsMade, opts: { attempts } }) as unknown as Job;

it('retries transient faults and no others', () => {
  expect(isRetryable(new BurnrateError('unavailable', 'Redis is away'))).toBe(true);
  expect(isRetryable(new Error('connect ECONNREFUSED'))).toBe(true);
  expect(isRetryable(new Stripe.errors.StripeRateLimitError({ message: 'slow down' }))).toBe(true);
  expect(isRetryable(new Stripe.errors.StripeAPIError({ message: 'oops' }))).toBe(true);

  expect(isRetryable(new BurnrateError('not_found', 'no such workspace'))).toBe(false);
  expect(isRetryable(new BurnrateError('invalid_request', 'bad object'))).toBe(false);
  expect(isRetryable(new BurnrateError('internal', 'a bug'))).toBe(false);
  expect(
    isRetryable(new BurnrateError('unavailable', 'not configured', undefined, { retryable: false })),
  ).toBe(false);
  expect(isRetryable(new Stripe.errors.StripeInvalidRequestError({ message: 'No such customer' }))).toBe(
    false,
  );
  expect(isRetryable(new UnrecoverableError('given up'))).toBe(false);
  expect(isRetryable(z.string().safeParse(1).error)).toBe(false);
});

it('keeps BurnrateError backward compatible: three arguments, retryable from the code', () => {
  const e = new BurnrateError('idempotency_conflict', 'm', { key: 'k' });
  expect([e.code, e.message, e.details, e.retryable]).toEqual([
    'idempotency_conflict',
    'm',
    { key: 'k' },
    false,
  ]);
});

it('fails a job at once on a permanent fault, after giving up; rethrows a transient one as it is', async () => {
  const gaveUp: string[] = [];
  const onGiveUp = async (_: Job, err: Error) => void gaveUp.push(err.message);
  const permanent = withFailurePolicy(async () => {
    throw new BurnrateError('not_found', 'gone');
  }, onGiveUp);
  await expect(permanent(job(0, 8))).rejects.toBeInstanceOf(UnrecoverableError);
  expect(gaveUp).toEqual(['gone']);

  const blink = new Error('ETIMEDOUT');
  const transient = withFailurePolicy(async () => {
    throw blink;
  }, onGiveUp);
  await expect(transient(job(0, 8))).rejects.toBe(blink);
  expect(gaveUp).toEqual(['gone']);
  // Its last attempt gives up too.
  await expect(transient(job(7, 8))).rejects.toBe(blink);
  expect(gaveUp).toEqual(['gone', 'ETIMEDOUT']);
});

it('never retries a malformed job', async () => {
  const process = withFailurePolicy(async (j: Job) => parseJob(z.object({ n: z.number() }), j));
  await expect(process(job(0, 8, { n: 'x' }))).rejects.toBeInstanceOf(UnrecoverableError);
  await expect(process(job(0, 8, { n: 1 }))).resolves.toEqual({ n: 1 });
});
