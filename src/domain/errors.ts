/**
 * Faults, as one error class with a semantic code. The HTTP layer maps codes to statuses in
 * one table (src/http/errors.ts); nothing below it knows about HTTP. A refused debit is not
 * a fault: it is a value ({ok: false, reason}).
 */
export type ErrorCode =
  | 'invalid_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'idempotency_conflict'
  | 'payload_too_large'
  | 'unavailable'
  | 'internal';

/**
 * Faults that pass by themselves: Redis or Stripe out of reach. Anything else (a bad request,
 * a missing workspace, a conflict, a bug) fails the same way on every attempt.
 */
const TRANSIENT: ReadonlySet<ErrorCode> = new Set(['unavailable']);

export class BurnrateError extends Error {
  /** Whether trying again later may succeed: the queues retry these and give up on the rest. */
  readonly retryable: boolean;

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
    opts: { retryable?: boolean } = {},
  ) {
    super(message);
    this.name = 'BurnrateError';
    this.retryable = opts.retryable ?? TRANSIENT.has(code);
  }
}
