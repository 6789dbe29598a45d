/**
 * The Stripe client: the real SDK, pointed at Stripe, at STRIPE_API_BASE, or at the local
 * stand-in; every call throttled client-side to a configured rate (Stripe allows about 25
 * requests/s in test mode and 100 in live mode), and its errors sorted into retryable or not.
 */
import Bottleneck from 'bottleneck';
import Stripe from 'stripe';

export interface StripeTarget {
  secretKey: string;
  /** e.g. http://127.0.0.1:12111; unset: Stripe itself. */
  apiBase?: string | undefined;
  /** 0: unthrottled. */
  requestsPerSecond: number;
}

export interface StripeClient {
  sdk: Stripe;
  /** Runs one Stripe call within the rate limit. */
  call<T>(fn: (sdk: Stripe) => Promise<T>): Promise<T>;
}

export function createStripeClient(t: StripeTarget): StripeClient {
  const base = t.apiBase ? new URL(t.apiBase) : undefined;
  const sdk = new Stripe(t.secretKey, {
    maxNetworkRetries: 2,
    ...(base
      ? {
          host: base.hostname,
          port: Number(base.port || (base.protocol === 'https:' ? 443 : 80)),
          protocol: base.protocol === 'https:' ? ('https' as const) : ('http' as const),
        }
      : {}),
  });
  if (t.requestsPerSecond === 0) return { sdk, call: (fn) => fn(sdk) };
  // Per process: the invoicing queue's limiter paces all worker processes together.
  const limiter = new Bottleneck({
    reservoir: t.requestsPerSecond,
    reservoirRefreshAmount: t.requestsPerSecond,
    reservoirRefreshInterval: 1000,
    maxConcurrent: t.requestsPerSecond,
  });
  return { sdk, call: (fn) => limiter.schedule(() => fn(sdk)) };
}

/** Worth retrying: rate limits, connection trouble, Stripe's own 5xx, lock timeouts. */
export function isRetryableStripeError(err: unknown): boolean {
  if (!(err instanceof Stripe.errors.StripeError)) return false;
  if (err instanceof Stripe.errors.StripeRateLimitError) return true;
  if (err instanceof Stripe.errors.StripeConnectionError) return true;
  if (err instanceof Stripe.errors.StripeAPIError) return true;
  return err.statusCode === 409 || (err.statusCode ?? 0) >= 500;
}
