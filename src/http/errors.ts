/** The one table from error codes to HTTP statuses, and the error middleware that uses it. */
import type { ErrorRequestHandler } from 'express';
import type { z } from 'zod';
import { BurnrateError, type ErrorCode } from '../domain/errors.js';
import type { Logger } from '../observability/logger.js';

export const STATUS: Record<ErrorCode, number> = {
  invalid_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  idempotency_conflict: 409,
  payload_too_large: 413,
  unavailable: 503,
  internal: 500,
};

/** Parses with a schema, or fails with invalid_request and zod's issues as details. */
export function parseOr400<S extends z.ZodType>(schema: S, data: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(data);
  if (!parsed.success) {
    const details = parsed.error.issues.map((i) => ({
      path: i.path.map(String).join('.'),
      message: i.message,
    }));
    throw new BurnrateError('invalid_request', `invalid ${what}`, details);
  }
  return parsed.data;
}

const REDIS_DOWN =
  /Stream isn't writeable|Connection is closed|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|max retries/i;

/** A Redis that cannot be reached: the request fails with 503 rather than going through unchecked. */
export function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return err.name === 'MaxRetriesPerRequestError' || REDIS_DOWN.test(err.message);
}

function toBurnrateError(err: unknown): BurnrateError {
  if (err instanceof BurnrateError) return err;
  const e = err as { type?: string; status?: number };
  if (e?.type === 'entity.too.large')
    return new BurnrateError('payload_too_large', 'the request body is too large');
  if (e?.type === 'entity.parse.failed')
    return new BurnrateError('invalid_request', 'the request body is not valid JSON');
  if (e?.type === 'encoding.unsupported' || e?.type === 'charset.unsupported')
    return new BurnrateError('invalid_request', 'unsupported body encoding');
  if (isRedisUnavailable(err))
    return new BurnrateError('unavailable', 'the credit store is unreachable; retry later');
  return new BurnrateError('internal', 'internal error');
}

export function errorHandler(log: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const e = toBurnrateError(err);
    const status = STATUS[e.code];
    if (status >= 500) log.error({ err, method: req.method, path: req.path, code: e.code }, 'request failed');
    else log.debug({ method: req.method, path: req.path, code: e.code }, 'request refused');
    res
      .status(status)
      .json({ error: { code: e.code, message: e.message, ...(e.details ? { details: e.details } : {}) } });
  };
}
