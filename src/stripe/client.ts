/**
 * The Stripe client: the real SDK, pointed at Stripe, at STRIPE_API_BASE, or at the local
 * stand-in, and its errors sorted into retryable or not. Every HTTP request the SDK sends (its
 * own retries included) first takes a slot from the rate bucket in Redis that all processes
 * share (R-FLX-6: Stripe allows about 25 requests/s in test mode and 100 in live mode, per
 * account). A 429 is retried here with backoff, and slows the bucket down for every process:
 * the SDK does not retry 429s itself.
 */
import Stripe from 'stripe';
import type { Logger } from '../observability/logger.js';
import type { StripeRateBucket } from '../redis/stripe-rate.js';

export interface StripeTarget {
  secretKey: string;
  /** e.g. http://127.0.0.1:12111; unset: Stripe itself. */
  apiBase?: string | undefined;
  /** The shared rate bucket; unset: unthrottled (STRIPE_REQUESTS_PER_SECOND=0, the benches). */
  bucket?: StripeRateBucket | undefined;
  /**
   * Where the bucket's `now` is read; default the wall clock. Never the service's business clock
   * (a test's or the demo's, which moves through months): Stripe counts requests in real time.
   */
  clock?: { now(): number };
  /** 429s are logged here (with Stripe's Stripe-Rate-Limited-Reason). */
  log?: Logger | undefined;
  /** 429s retried per request before the SDK sees one (a StripeRateLimitError); default 8. */
  rateLimitRetries?: number;
}

export interface StripeClient {
  sdk: Stripe;
  /** Runs Stripe calls: each request inside is paced and its 429s retried. */
  call<T>(fn: (sdk: Stripe) => Promise<T>): Promise<T>;
}

/** Milliseconds before the `attempt`-th retry (from 0) of a 429: doubling from 250 ms up to 4 s, jittered. */
export function rateLimitBackoffMs(attempt: number, random = Math.random): number {
  const ceiling = Math.min(4000, 250 * 2 ** attempt);
  return Math.round(ceiling * (0.5 + random() / 2));
}

/** The SDK's HTTP client interface (its config's `httpClient`). */
type HttpClient = NonNullable<NonNullable<ConstructorParameters<typeof Stripe>[1]>['httpClient']>;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The SDK's own Node HTTP client, with a slot taken before each request and 429s retried. */
function pacedHttpClient(t: StripeTarget): HttpClient {
  const inner = Stripe.createNodeHttpClient();
  const now = () => (t.clock ?? Date).now();
  const retries = t.rateLimitRetries ?? 8;
  return {
    getClientName: () => inner.getClientName(),
    async makeRequest(host, port, path, method, headers, requestData, protocol, timeout) {
      for (let attempt = 0; ; attempt++) {
        if (t.bucket) {
          const wait = await t.bucket.take(now());
          if (wait > 0) await sleep(wait);
        }
        // The same headers each time: the same Idempotency-Key, so a retry bills nothing twice.
        const res = await inner.makeRequest(
          host,
          port,
          path,
          method,
          headers,
          requestData,
          protocol,
          timeout,
        );
        if (res.getStatusCode() !== 429 || attempt >= retries) return res;
        const reason = res.getHeaders()['stripe-rate-limited-reason'];
        await Promise.resolve(res.toJSON()).catch(() => undefined); // read to the end: frees the socket
        const rate = t.bucket ? await t.bucket.limited(now()) : undefined;
        t.log?.warn(
          { method, path: path.split('?')[0], attempt: attempt + 1, ...(reason ? { reason } : {}), rate },
          'Stripe rate limit (429): backing off and slowing down',
        );
        await sleep(rateLimitBackoffMs(attempt));
      }
    },
  };
}

export function createStripeClient(t: StripeTarget): StripeClient {
  const base = t.apiBase ? new URL(t.apiBase) : undefined;
  const sdk = new Stripe(t.secretKey, {
    maxNetworkRetries: 2,
    httpClient: pacedHttpClient(t),
    ...(base
      ? {
          host: base.hostname,
          port: Number(base.port || (base.protocol === 'https:' ? 443 : 80)),
          protocol: base.protocol === 'https:' ? ('https' as const) : ('http' as const),
        }
      : {}),
  });
  return { sdk, call: (fn) => fn(sdk) };
}

/** Worth retrying: rate limits, connection trouble, Stripe's own 5xx, lock timeouts. */
export function isRetryableStripeError(err: unknown): boolean {
  if (!(err instanceof Stripe.errors.StripeError)) return false;
  if (err instanceof Stripe.errors.StripeRateLimitError) return true;
  if (err instanceof Stripe.errors.StripeConnectionError) return true;
  if (err instanceof Stripe.errors.StripeAPIError) return true;
  return err.statusCode === 409 || (err.statusCode ?? 0) >= 500;
}
