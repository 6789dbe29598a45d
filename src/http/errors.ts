/** The one table from error codes to HTTP statuses, and the error middleware that uses it. */
import type { ErrorRequestHandler } from 'express';
import type { z } from 'zod';
import { BurnrateError, type ErrorCode } from '../domain/errors.js';
import type { Logger } from '../observability/logger.js';
import type { OutageLog } from '../observability/outage-log.js';

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

/**
 * ioredis' words for a connection that is down or went down under a command. Two are a Cluster
 * failing over (a master SIGKILLed under load, test/integration/cluster-failover.test.ts):
 * "Command aborted due to connection close", a pipelined command whose node died after it was
 * sent (it may have run: a retry with the same Idempotency-Key, or Stripe's redelivery, finds
 * out), and "Too many Cluster redirections", ioredis' retries of CLUSTERDOWN or MOVED used up
 * before the replica was promoted.
 */
const REDIS_DOWN =
  /Stream isn't writeable|Cluster isn't ready|Connection is closed|Command aborted due to connection close|Too many Cluster redirections|Command timed out|Failed to refresh slots cache|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|max retries/i;
/**
 * Redis's own replies that say it cannot serve now: loading, busy with a script, a replica
 * after a failover (READONLY), a failed disk write (MISCONF), out of memory, auth lost, a
 * cluster without a master for the slot, or a slot that lives elsewhere now (MOVED, ASK: the
 * command was not run). ioredis follows a redirect itself, except in a pipeline whose commands
 * got different ones: the API's auto-pipeline sends the debits of several slots of one master
 * together, and after that master's failover each of them got its own slot's MOVED.
 */
const REDIS_REFUSING =
  /^(LOADING|BUSY|READONLY|MISCONF|OOM|NOAUTH|WRONGPASS|CLUSTERDOWN|TRYAGAIN|MASTERDOWN|MOVED|ASK) /;

/**
 * A Redis that cannot be reached, or does not answer in time (stalled): the request fails with
 * 503 rather than waiting or going through unchecked (R-OPS-3).
 */
export function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return (
    err.name === 'MaxRetriesPerRequestError' ||
    err.name === 'ClusterAllFailedError' ||
    REDIS_DOWN.test(err.message) ||
    REDIS_REFUSING.test(err.message)
  );
}

/** An error of Node's HTTP stack or a body parser that says the request was at fault. */
interface ClientFault {
  status?: unknown;
  type?: unknown;
  name?: unknown;
}

function clientFaultStatus(err: unknown): number | null {
  const status = (err as ClientFault | null)?.status;
  return typeof status === 'number' && status >= 400 && status < 500 ? status : null;
}

/** Said of a request its client gave up on mid-body: nothing to answer, nothing to fix here. */
function isAbortedRequest(err: unknown): boolean {
  return (err as ClientFault | null)?.type === 'request.aborted';
}

function toBurnrateError(err: unknown): BurnrateError {
  if (err instanceof BurnrateError) return err;
  const e = err as ClientFault;
  if (e?.type === 'entity.too.large')
    return new BurnrateError('payload_too_large', 'the request body is too large');
  if (e?.type === 'entity.parse.failed')
    return new BurnrateError('invalid_request', 'the request body is not valid JSON');
  if (e?.type === 'encoding.unsupported' || e?.type === 'charset.unsupported')
    return new BurnrateError('invalid_request', 'unsupported body encoding');
  if (isAbortedRequest(err)) return new BurnrateError('invalid_request', 'the request was aborted');
  if (isRedisUnavailable(err))
    return new BurnrateError('unavailable', 'the credit store is unreachable; retry later');
  const status = clientFaultStatus(err);
  if (status === 413) return new BurnrateError('payload_too_large', 'the request body is too large');
  if (e?.name === 'URIError' && status !== null)
    return new BurnrateError('invalid_request', 'the path is not valid percent-encoding');
  // A body that says it is gzip (or deflate, br) and is not: the decoder's own words.
  if (status !== null)
    return new BurnrateError(
      'invalid_request',
      `the request could not be read: ${err instanceof Error ? err.message : 'malformed'}`,
    );
  return new BurnrateError('internal', 'internal error');
}

/**
 * Maps every error to its status through STATUS. Expected faults are not errors of ours: an
 * outage is logged once through `outage` (a warning, no stack), a client's abort as one warning;
 * only what is left (a 500) is logged at error with its stack.
 */
export function errorHandler(log: Logger, outage: OutageLog): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const e = toBurnrateError(err);
    const status = STATUS[e.code];
    const where = { method: req.method, path: req.path };
    if (e.code === 'unavailable' && !(err instanceof BurnrateError)) outage.refuse(err, where);
    // Said on purpose (no webhook secret configured, Stripe out of reach): a warning, no stack.
    else if (e.code === 'unavailable') log.warn({ ...where, reason: e.message }, 'answered 503');
    else if (isAbortedRequest(err)) log.warn(where, 'the client aborted its request');
    else if (status >= 500) log.error({ err, ...where, code: e.code }, 'request failed');
    else log.debug({ ...where, code: e.code }, 'request refused');
    if (res.headersSent || !res.writable) return;
    res
      .status(status)
      .json({ error: { code: e.code, message: e.message, ...(e.details ? { details: e.details } : {}) } });
  };
}
