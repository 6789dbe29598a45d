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

export class BurnrateError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'BurnrateError';
  }
}
