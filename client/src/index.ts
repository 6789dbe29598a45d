/**
 * A typed client of burnrate's platform API (../shared/API.md). Its request and answer types are
 * the server's own zod schemas (src/http/schemas.ts) and read views, imported as types only: the
 * client has no run-time dependency on the server's code, only on Node's fetch.
 *
 * Retries: 503, 429 and network errors (a refused connection, a reset, a timed-out attempt) are
 * retried with exponential backoff and full jitter, honouring Retry-After, and every attempt of a
 * usage call carries the same idempotency key, so a retried debit is booked once (R-CON-5).
 * Other 4xx are never retried. Each attempt has its own timeout (AbortSignal.timeout).
 */
import type { z } from 'zod';
import type { ErrorCode } from '../../src/domain/errors.js';
import { parseDecimal4 } from '../../src/domain/units.js';
import type {
  adjustmentBodySchema,
  authorizeBodySchema,
  authorizeResponseSchema,
  batchBodySchema,
  billingSessionBodySchema,
  billingSessionResponseSchema,
  checkoutBodySchema,
  checkoutResponseSchema,
  flexBodySchema,
  invoicePreviewSchema,
  ledgerResponseSchema,
  prepaidQuoteSchema,
  putWorkspaceBodySchema,
  testClockAdvanceSchema,
  testClockSchema,
  usageBodySchema,
  usageOkSchema,
  usageRefusedSchema,
  workspaceSchema,
} from '../../src/http/schemas.js';
import type { InvoicingRuns } from '../../src/services/invoicing-runs.js';
import type { ReadViews } from '../../src/services/read-views.js';

// ---- Types, from the server's schemas -------------------------------------------------------

type Optional<T, K extends keyof T> = Omit<T, K> & Partial<Pick<T, K>>;

/** POST /usage's body; the client makes an idempotencyKey when none is given. */
export type UsageInput = Optional<z.input<typeof usageBodySchema>, 'idempotencyKey'>;
/** One event of POST /v1/usage/batch. */
export type BatchEventInput = Optional<z.input<typeof batchBodySchema>['events'][number], 'idempotencyKey'>;
export type AuthorizeInput = z.input<typeof authorizeBodySchema>;
export type PutWorkspaceInput = z.input<typeof putWorkspaceBodySchema>;
export type FlexInput = z.input<typeof flexBodySchema>;
export type AdjustmentInput = Optional<z.input<typeof adjustmentBodySchema>, 'idempotencyKey'>;
export type CheckoutInput = z.input<typeof checkoutBodySchema>;
export type BillingSessionInput = z.input<typeof billingSessionBodySchema>;

export type Workspace = z.output<typeof workspaceSchema>;
export type UsageOk = z.output<typeof usageOkSchema>;
export type UsageRefused = z.output<typeof usageRefusedSchema>;
export type RefusalReason = UsageRefused['reason'];
/** A usage answer: `ok: true` debited, `ok: false` refused (HTTP 402, not an error). `replayed`
 * says the idempotency key had been seen and this is the first answer again. */
export type UsageResult = (UsageOk | UsageRefused) & { replayed: boolean };
export type AuthorizeResult = z.output<typeof authorizeResponseSchema>;
export type LedgerPage = z.output<typeof ledgerResponseSchema>;
export type LedgerEntry = LedgerPage['entries'][number];
export type InvoicePreview = z.output<typeof invoicePreviewSchema>;
export type CheckoutSession = z.output<typeof checkoutResponseSchema>;
export type BillingSessionLink = z.output<typeof billingSessionResponseSchema>;
export type PrepaidQuote = z.output<typeof prepaidQuoteSchema>;
export type UsageView = Awaited<ReturnType<ReadViews['usageView']>>;
export type Alerts = Awaited<ReturnType<ReadViews['alerts']>>;
export type Recommendations = Awaited<ReturnType<ReadViews['recommendations']>>;
export type Catalog = Awaited<ReturnType<ReadViews['catalogView']>>;
export type Lang = Alerts['lang'];
export type InvoicingRun = Awaited<ReturnType<InvoicingRuns['run']>>;
export type InvoicingRunStatus = Awaited<ReturnType<InvoicingRuns['status']>>;
/** The test clock (issue 11 §3): the clock and its offset from the system time. */
export type TestClock = z.output<typeof testClockSchema>;
/** An advance's answer: the clock after it, and the runs, sweep and Stripe test clocks it moved. */
export type TestClockAdvance = z.output<typeof testClockAdvanceSchema>;
export type GroupBy = Parameters<ReadViews['usageView']>[1]['groupBy'];

export interface ApiErrorBody {
  code: string;
  message: string;
  details?: unknown;
}
/** One result of a batch, in event order: the usage answer, or the event's error. */
export type BatchResult =
  | ({ status: 200 | 402; replayed?: true } & (UsageOk | UsageRefused))
  | { status: number; error: ApiErrorBody };

// ---- Errors ---------------------------------------------------------------------------------

/** The API's error codes, and the client's own for an answer that never came. */
export type BurnrateErrorCode = ErrorCode | 'network_error' | 'timeout' | 'aborted' | (string & {});

/**
 * An error answer (`{"error": {code, message, details}}`), or, with status 0, no answer at all
 * after the retries (code `network_error` or `timeout`) or the caller's abort (`aborted`).
 */
export class BurnrateApiError extends Error {
  override readonly name = 'BurnrateApiError';
  constructor(
    readonly status: number,
    readonly code: BurnrateErrorCode,
    message: string,
    readonly details?: unknown,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

// ---- The client -----------------------------------------------------------------------------

export interface BurnrateOptions {
  /** e.g. `http://localhost:3000`; in a browser also a path (`/billing/api`, the billing page's). */
  baseUrl: string;
  /** The platform or operator key; none in a browser, which is authenticated by its session cookie. */
  apiKey?: string;
  /** fetch's `credentials` (the billing page: `same-origin`, for its session cookie). */
  credentials?: RequestInit['credentials'];
  /** Headers sent with every call (the billing page: its CSRF token), or a function that gives them. */
  headers?: Record<string, string> | (() => Record<string, string>);
  /** Each attempt's timeout; default 10 s. */
  timeoutMs?: number;
  /** Retries after the first attempt, on 503, 429 and network errors; default 4. */
  retries?: number;
  /** The first backoff; it doubles each retry, with full jitter; default 100 ms. */
  backoffMs?: number;
  /** The longest backoff (and Retry-After honoured); default 5 s. */
  maxBackoffMs?: number;
  fetch?: typeof fetch;
}

export interface CallOptions {
  /** Cancels the call and its retries. */
  signal?: AbortSignal;
  timeoutMs?: number;
}

interface RequestSpec extends CallOptions {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH';
  path: string;
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  /** Statuses that are answers, not errors (402 for usage). */
  accept?: number[];
  /** Whether a network error may be retried: only where repeating the request is safe. */
  idempotent: boolean;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

const seg = (s: string) => encodeURIComponent(s);

export class Burnrate {
  private readonly base: string;
  private readonly opts: Required<
    Omit<BurnrateOptions, 'fetch' | 'baseUrl' | 'apiKey' | 'credentials' | 'headers'>
  >;
  private readonly auth: Pick<BurnrateOptions, 'apiKey' | 'credentials' | 'headers'>;
  private readonly fetchFn: typeof fetch;

  constructor(options: BurnrateOptions) {
    this.base = options.baseUrl.replace(/\/+$/, '');
    // Bound: a browser's fetch called as a method of another object throws "Illegal invocation".
    this.fetchFn = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.auth = { apiKey: options.apiKey, credentials: options.credentials, headers: options.headers };
    this.opts = {
      timeoutMs: options.timeoutMs ?? 10_000,
      retries: options.retries ?? 4,
      backoffMs: options.backoffMs ?? 100,
      maxBackoffMs: options.maxBackoffMs ?? 5_000,
    };
  }

  // ---- Spending ----

  /** Spend credits (`consume`, all or nothing: a refusal is `ok: false`) or book usage (`record`). */
  async usage(workspaceId: string, body: UsageInput, o: CallOptions = {}): Promise<UsageResult> {
    const withKey = { ...body, idempotencyKey: body.idempotencyKey ?? newKey() };
    const res = await this.request<UsageOk | UsageRefused>({
      ...o,
      method: 'POST',
      path: `/v1/workspaces/${seg(workspaceId)}/usage`,
      body: withKey,
      accept: [402],
      idempotent: true,
    });
    return { ...res.body, replayed: res.headers.get('idempotent-replayed') === 'true' };
  }

  /** Up to 1,000 events; one result per event, in order. Events without a key get one. */
  async usageBatch(events: BatchEventInput[], o: CallOptions = {}): Promise<BatchResult[]> {
    const withKeys = events.map((e) => ({ ...e, idempotencyKey: e.idempotencyKey ?? newKey() }));
    const res = await this.request<{ results: BatchResult[] }>({
      ...o,
      method: 'POST',
      path: '/v1/usage/batch',
      body: { events: withKeys },
      idempotent: true,
    });
    return res.body.results;
  }

  /** Could this amount be spent now? Debits nothing. */
  async authorize(workspaceId: string, body: AuthorizeInput, o: CallOptions = {}): Promise<AuthorizeResult> {
    return this.body({
      ...o,
      method: 'POST',
      path: `/v1/workspaces/${seg(workspaceId)}/authorize`,
      body,
      idempotent: true,
    });
  }

  // ---- Reading ----

  async getWorkspace(workspaceId: string, o: CallOptions = {}): Promise<Workspace> {
    return this.body({ ...o, method: 'GET', path: `/v1/workspaces/${seg(workspaceId)}`, idempotent: true });
  }

  /** One page of the ledger, newest first. */
  async ledgerPage(
    workspaceId: string,
    q: { limit?: number; cursor?: string | null } = {},
    o: CallOptions = {},
  ): Promise<LedgerPage> {
    return this.body({
      ...o,
      method: 'GET',
      path: `/v1/workspaces/${seg(workspaceId)}/ledger`,
      query: { limit: q.limit, cursor: q.cursor ?? undefined },
      idempotent: true,
    });
  }

  /** Every ledger entry, newest first, fetched a page at a time as the loop asks for more. */
  async *ledger(
    workspaceId: string,
    q: { pageSize?: number; cursor?: string } = {},
    o: CallOptions = {},
  ): AsyncGenerator<LedgerEntry, void, undefined> {
    let cursor: string | null = q.cursor ?? null;
    do {
      const page: LedgerPage = await this.ledgerPage(workspaceId, { limit: q.pageSize, cursor }, o);
      yield* page.entries;
      cursor = page.nextCursor;
    } while (cursor !== null);
  }

  /** Usage over a range of UTC days (YYYY-MM-DD or ISO instants), grouped, and the cycle's summary. */
  async getUsage(
    workspaceId: string,
    q: { from?: string; to?: string; groupBy?: GroupBy } = {},
    o: CallOptions = {},
  ): Promise<UsageView> {
    return this.body({
      ...o,
      method: 'GET',
      path: `/v1/workspaces/${seg(workspaceId)}/usage`,
      query: q,
      idempotent: true,
    });
  }

  async alerts(workspaceId: string, q: { lang?: Lang } = {}, o: CallOptions = {}): Promise<Alerts> {
    return this.body({
      ...o,
      method: 'GET',
      path: `/v1/workspaces/${seg(workspaceId)}/alerts`,
      query: q,
      idempotent: true,
    });
  }

  async recommendations(workspaceId: string, o: CallOptions = {}): Promise<Recommendations> {
    return this.body({
      ...o,
      method: 'GET',
      path: `/v1/workspaces/${seg(workspaceId)}/recommendations`,
      idempotent: true,
    });
  }

  async invoicePreview(
    workspaceId: string,
    q: { month?: string } = {},
    o: CallOptions = {},
  ): Promise<InvoicePreview> {
    return this.body({
      ...o,
      method: 'GET',
      path: `/v1/workspaces/${seg(workspaceId)}/invoice-preview`,
      query: q,
      idempotent: true,
    });
  }

  async catalog(q: { workspaceId?: string } = {}, o: CallOptions = {}): Promise<Catalog> {
    return this.body({ ...o, method: 'GET', path: '/v1/catalog', query: q, idempotent: true });
  }

  /** What any quantity of prepaid credits costs the workspace: the tier it reaches. */
  async prepaidQuote(workspaceId: string, credits: number, o: CallOptions = {}): Promise<PrepaidQuote> {
    return this.body({
      ...o,
      method: 'GET',
      path: `/v1/workspaces/${seg(workspaceId)}/prepaid-quote`,
      query: { credits },
      idempotent: true,
    });
  }

  /**
   * A single-use link (15 minutes by default) to the workspace's hosted billing page, to send
   * the customer to; `returnUrl` is where its "back" goes. Not retried on network errors: each
   * call makes a new link.
   */
  async billingSession(
    workspaceId: string,
    body: BillingSessionInput,
    o: CallOptions = {},
  ): Promise<BillingSessionLink> {
    return this.body({
      ...o,
      method: 'POST',
      path: `/v1/workspaces/${seg(workspaceId)}/billing-sessions`,
      body,
      idempotent: false,
    });
  }

  // ---- Settings ----

  /** (operator) Create or update a workspace; `created` tells which. */
  async putWorkspace(
    workspaceId: string,
    body: PutWorkspaceInput,
    o: CallOptions = {},
  ): Promise<Workspace & { created: boolean }> {
    const res = await this.request<Workspace>({
      ...o,
      method: 'PUT',
      path: `/v1/workspaces/${seg(workspaceId)}`,
      body,
      idempotent: true,
    });
    return { ...res.body, created: res.status === 201 };
  }

  async setFlex(workspaceId: string, body: FlexInput, o: CallOptions = {}): Promise<Workspace> {
    return this.body({
      ...o,
      method: 'PATCH',
      path: `/v1/workspaces/${seg(workspaceId)}/flex`,
      body,
      idempotent: true,
    });
  }

  /** (operator) */
  async setBillingThreshold(
    workspaceId: string,
    thresholdCents: number | null,
    o: CallOptions = {},
  ): Promise<Workspace> {
    return this.body({
      ...o,
      method: 'PUT',
      path: `/v1/workspaces/${seg(workspaceId)}/billing-threshold`,
      body: { thresholdCents },
      idempotent: true,
    });
  }

  /** (operator) A signed manual grant or debit; a key is made when none is given. */
  async adjust(workspaceId: string, body: AdjustmentInput, o: CallOptions = {}): Promise<Workspace> {
    return this.body({
      ...o,
      method: 'POST',
      path: `/v1/workspaces/${seg(workspaceId)}/adjustments`,
      body: { ...body, idempotencyKey: body.idempotencyKey ?? newKey() },
      idempotent: true,
    });
  }

  /** A Stripe Checkout Session for prepaid credits. Not retried on network errors: it has no key. */
  async createCheckout(
    workspaceId: string,
    body: CheckoutInput,
    o: CallOptions = {},
  ): Promise<CheckoutSession> {
    return this.body({
      ...o,
      method: 'POST',
      path: `/v1/workspaces/${seg(workspaceId)}/checkout-sessions`,
      body,
      idempotent: false,
    });
  }

  // ---- Operating ----

  /** (operator) Queue a closed month's flex invoicing, or count it with `dryRun`. Not retried on
   * network errors (a re-run is harmless but should be the caller's choice). */
  async runInvoicing(month: string, o: CallOptions & { dryRun?: boolean } = {}): Promise<InvoicingRun> {
    return this.body({
      ...o,
      method: 'POST',
      path: '/v1/admin/invoicing/runs',
      body: { month, dryRun: o.dryRun ?? false },
      idempotent: false,
    });
  }

  /** (operator) A month's invoicing: workspaces by state, billed credits and cents, failures. */
  async invoicingStatus(month: string, o: CallOptions = {}): Promise<InvoicingRunStatus> {
    return this.body({
      ...o,
      method: 'GET',
      path: `/v1/admin/invoicing/runs/${seg(month)}`,
      idempotent: true,
    });
  }

  /** (operator) The test clock (issue 11 §3); 403 `forbidden` with NODE_ENV=production. */
  async testClock(o: CallOptions = {}): Promise<TestClock> {
    return this.body({ ...o, method: 'GET', path: '/v1/admin/test-clock', idempotent: true });
  }

  /**
   * (operator) Moves burnrate's clock forward to `advanceTo` (a Date or ISO 8601), for every
   * process, and Stripe's test clocks with it; a time before the clock is a 400
   * (`invalid_request`) that changes nothing. The clock's own time moves nothing and queues the
   * months' runs still pending (those of an advance that answered 503 after the clock moved).
   * Not retried on network errors: the clock runs on, so a retry of an advance that landed
   * would be refused as before it.
   */
  async advanceTestClock(advanceTo: Date | string, o: CallOptions = {}): Promise<TestClockAdvance> {
    return this.body({
      ...o,
      method: 'POST',
      path: '/v1/admin/test-clock',
      body: { advanceTo: advanceTo instanceof Date ? advanceTo.toISOString() : advanceTo },
      idempotent: false,
    });
  }

  // ---- Metering long-running work (R-CON-6) ----

  /**
   * Debits an amount now and then every `every` ms while the work runs (R-CON-6); the first
   * refusal aborts `meter.signal` (its reason a MeterStopped) and ends the meter. Each tick's
   * idempotency key is `<meterId>:<tick>`, so a retried tick, or a meter resumed with the same
   * id, never debits twice. A tick that fails after the retries (no answer, a 4xx) ends the meter
   * too: work whose spending cannot be booked stops (`reason: 'error'`). `stop()` (or the
   * caller's `signal`) cancels a tick in flight at once, its timeout and retries with it.
   *
   * Two shapes: the issue's `meter(id, {credits | feature, every, ...})` (a feature alone is one
   * unit of it a tick; `quantityPerTick` sets how many), or `meter(id, amount, {every, ...})`.
   *
   * Amounts (`credits`, `quantityPerTick`): a decimal string such as `'0.3'` is the recommended
   * form, exact whatever arithmetic made it. A number is sent as its exact decimal (`0.25` →
   * `'0.25'`), and one with more than 4 decimal places (`0.1 + 0.2` is 0.30000000000000004) is
   * refused here with a RangeError, as the API would refuse it: round it, or pass a string. A
   * string that is not a positive decimal with at most 4 decimals is refused the same way.
   */
  meter(workspaceId: string, o: MeterAmount & MeterOptions): Meter;
  meter(workspaceId: string, amount: MeterAmount, opts: MeterOptions): Meter;
  meter(workspaceId: string, amount: MeterAmount & Partial<MeterOptions>, opts?: MeterOptions): Meter {
    if (opts === undefined) {
      const { every, signal, meterId, metadata, ...rest } = amount;
      return new Meter(this, workspaceId, rest as MeterAmount, {
        every: every as number,
        ...(signal ? { signal } : {}),
        ...(meterId !== undefined ? { meterId } : {}),
        ...(metadata ? { metadata } : {}),
      });
    }
    return new Meter(this, workspaceId, amount, opts);
  }

  // ---- The transport ----

  private async body<T>(spec: RequestSpec): Promise<T> {
    return (await this.request<T>(spec)).body;
  }

  private async request<T>(spec: RequestSpec): Promise<{ status: number; body: T; headers: Headers }> {
    // A path base resolves against the page's location in a browser.
    const url = new URL(
      this.base + spec.path,
      (globalThis as { location?: { href: string } }).location?.href,
    );
    for (const [k, v] of Object.entries(spec.query ?? {}))
      if (v !== undefined) url.searchParams.set(k, String(v));
    const extra = typeof this.auth.headers === 'function' ? this.auth.headers() : this.auth.headers;
    const headers: Record<string, string> = { ...extra, accept: 'application/json' };
    if (this.auth.apiKey !== undefined) headers.authorization = `Bearer ${this.auth.apiKey}`;
    const payload = spec.body === undefined ? undefined : JSON.stringify(spec.body);
    if (payload !== undefined) headers['content-type'] = 'application/json';
    const timeoutMs = spec.timeoutMs ?? this.opts.timeoutMs;

    for (let attempt = 0; ; attempt++) {
      if (spec.signal?.aborted) throw aborted(spec.signal);
      const timeout = AbortSignal.timeout(timeoutMs);
      const signal = spec.signal ? AbortSignal.any([spec.signal, timeout]) : timeout;
      let res: Response;
      let text: string;
      try {
        res = await this.fetchFn(url, {
          method: spec.method,
          headers,
          body: payload,
          signal,
          ...(this.auth.credentials ? { credentials: this.auth.credentials } : {}),
        });
        text = await res.text();
      } catch (err) {
        if (spec.signal?.aborted) throw aborted(spec.signal);
        const timedOut = timeout.aborted;
        if (spec.idempotent && attempt < this.opts.retries) {
          await this.backoff(attempt, null, spec.signal);
          continue;
        }
        throw new BurnrateApiError(
          0,
          timedOut ? 'timeout' : 'network_error',
          timedOut
            ? `${spec.method} ${spec.path}: no answer in ${timeoutMs} ms`
            : `${spec.method} ${spec.path}: ${err instanceof Error ? err.message : String(err)}`,
          undefined,
          { cause: err },
        );
      }
      if ((res.status === 503 || res.status === 429) && attempt < this.opts.retries) {
        await this.backoff(attempt, res.headers.get('retry-after'), spec.signal);
        continue;
      }
      const parsed = parseJson(text);
      if (res.ok || spec.accept?.includes(res.status)) {
        return { status: res.status, body: parsed as T, headers: res.headers };
      }
      const e = (parsed as { error?: Partial<ApiErrorBody> } | undefined)?.error;
      throw new BurnrateApiError(
        res.status,
        e?.code ?? `http_${res.status}`,
        e?.message ?? `${spec.method} ${spec.path} answered ${res.status}`,
        e?.details,
      );
    }
  }

  private async backoff(attempt: number, retryAfter: string | null, signal?: AbortSignal): Promise<void> {
    const { backoffMs, maxBackoffMs } = this.opts;
    const ceiling = Math.min(maxBackoffMs, backoffMs * 2 ** attempt);
    let ms = Math.random() * ceiling; // full jitter
    const after = retryAfter === null ? Number.NaN : Number(retryAfter);
    if (Number.isFinite(after) && after >= 0) ms = Math.min(maxBackoffMs, Math.max(ms, after * 1000));
    try {
      await sleep(ms, signal);
    } catch {
      throw aborted(signal);
    }
  }
}

/** An idempotency key: Web Crypto's UUID, in Node (20+) and in browsers alike. */
const newKey = (): string => globalThis.crypto.randomUUID();

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function aborted(signal?: AbortSignal): BurnrateApiError {
  return new BurnrateApiError(0, 'aborted', 'the call was aborted', undefined, { cause: signal?.reason });
}

// ---- The meter ------------------------------------------------------------------------------

/** Why a meter ended its work: a refusal (with what could be spent), an error, or stop(). */
export type MeterEnd =
  | { reason: RefusalReason; available: string | null; refused: UsageRefused }
  | { reason: 'error'; error: unknown }
  | { reason: 'stopped' };

/** The reason `meter.signal` is aborted with. */
export class MeterStopped extends Error {
  override readonly name = 'MeterStopped';
  constructor(readonly end: MeterEnd) {
    super(
      end.reason === 'stopped'
        ? 'the meter was stopped'
        : end.reason === 'error'
          ? `a debit failed: ${end.error instanceof Error ? end.error.message : String(end.error)}`
          : `credits refused: ${end.reason}${'available' in end ? ` (available ${end.available ?? 'unlimited'})` : ''}`,
    );
  }
}

/**
 * A credit amount or quantity: a decimal string (recommended: `'0.3'`), or a number with at most
 * 4 decimal places, sent as its exact decimal.
 */
export type DecimalAmount = string | number;

/** What a meter debits each tick: credits, or a feature priced from the rate card. */
export type MeterAmount =
  | { credits: DecimalAmount; feature?: never; quantityPerTick?: never }
  | { feature: string /** Default 1. */; quantityPerTick?: DecimalAmount; credits?: never };

export interface MeterOptions {
  /** Milliseconds between ticks. */
  every: number;
  /** Stops the meter (as stop() does) when aborted. */
  signal?: AbortSignal;
  /** Resumes a meter: its ticks' keys are `<meterId>:<tick>`. */
  meterId?: string;
  metadata?: UsageInput['metadata'];
}

/**
 * `value` as the decimal string the API takes, exactly: a string as given (trimmed), a number as
 * its shortest round-trip decimal. What the API would refuse (more than 4 decimal places, not a
 * decimal, too large: parseDecimal4, the API's own parser) or not above zero: a RangeError
 * naming `what`.
 */
function decimalAmount(value: DecimalAmount, what: string): string {
  // String(number) is the shortest decimal that reads back as the same number: exact.
  const text = typeof value === 'string' ? value.trim() : String(value);
  const units = typeof value === 'string' || typeof value === 'number' ? parseDecimal4(text) : null;
  if (units === null || units < 0) {
    const tooPrecise = /^\d+\.\d{5,}$/.test(text);
    throw new RangeError(
      tooPrecise
        ? `${what}: ${text} has more than 4 decimal places (the API takes at most 4): round it, or pass a decimal string such as '0.3'`
        : `${what}: ${String(value)} is not a positive decimal with at most 4 decimal places; pass a decimal string such as '0.25'`,
    );
  }
  if (units === 0) throw new RangeError(`${what}: must be greater than zero`);
  return text;
}

export class Meter {
  readonly meterId: string;
  /** Aborted on the first refusal or failed debit (not by stop()): hand it to the work. */
  readonly signal: AbortSignal;
  /** Ticks debited so far. */
  ticks = 0;
  /** Set once the meter has ended. */
  end: MeterEnd | null = null;
  /** Resolves when the meter has ended, with why. */
  readonly done: Promise<MeterEnd>;

  private readonly controller = new AbortController();
  /** Aborted by stop(): cancels a tick in flight (its timeout and retries with it). */
  private readonly stopController = new AbortController();
  /** Each tick's body, checked and formatted once. */
  private readonly body: UsageInput;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private inflight: Promise<void> | null = null;
  private stopping = false;
  private resolveDone!: (end: MeterEnd) => void;

  constructor(
    private readonly client: Burnrate,
    private readonly workspaceId: string,
    amount: MeterAmount,
    private readonly opts: MeterOptions,
  ) {
    if (!(Number.isFinite(opts.every) && opts.every > 0))
      throw new RangeError(`meter: every must be a positive number of milliseconds, not ${opts.every}`);
    const byCredits = amount.credits !== undefined;
    if (byCredits === (amount.feature !== undefined))
      throw new TypeError('meter: give either credits, or a feature (and its quantityPerTick), not both');
    this.body =
      amount.credits !== undefined
        ? { credits: decimalAmount(amount.credits, 'meter credits') }
        : {
            feature: amount.feature as string,
            quantity: decimalAmount(amount.quantityPerTick ?? '1', 'meter quantityPerTick'),
          };
    this.meterId = opts.meterId ?? newKey();
    this.signal = this.controller.signal;
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve;
    });
    if (opts.signal?.aborted) {
      this.finish({ reason: 'stopped' });
      return;
    }
    opts.signal?.addEventListener('abort', () => void this.stop(), { once: true });
    this.inflight = this.tick();
  }

  /** Ends the meter: no more ticks; a tick in flight is cancelled (its request aborted). */
  async stop(): Promise<MeterEnd> {
    this.stopping = true;
    clearTimeout(this.timer);
    // A tick in flight ends now (aborted), not after its timeout and retries. Whether the server
    // booked it is unknown: resuming with this meterId replays its key, never debits it twice.
    this.stopController.abort(new MeterStopped({ reason: 'stopped' }));
    await this.inflight;
    this.finish({ reason: 'stopped' });
    return this.done;
  }

  /** The idempotency key of tick n: the same for every attempt and every resumption. */
  static tickKey(meterId: string, tick: number): string {
    return `${meterId}:${tick}`;
  }

  private async tick(): Promise<void> {
    if (this.end || this.stopping) return;
    const n = this.ticks;
    try {
      const res = await this.client.usage(
        this.workspaceId,
        {
          ...this.body,
          idempotencyKey: Meter.tickKey(this.meterId, n),
          ...(this.opts.metadata ? { metadata: this.opts.metadata } : {}),
        },
        { signal: this.stopController.signal },
      );
      if (this.end) return;
      if (!res.ok) {
        this.finish({ reason: res.reason, available: res.available, refused: res });
        return;
      }
      this.ticks = n + 1;
      if (this.stopping) return;
      this.timer = setTimeout(() => {
        this.inflight = this.tick();
      }, this.opts.every);
    } catch (error) {
      // Cancelled by stop(): stop() ends the meter, as stopped.
      if (this.stopController.signal.aborted && error instanceof BurnrateApiError && error.code === 'aborted')
        return;
      if (!this.end) this.finish({ reason: 'error', error });
    }
  }

  private finish(end: MeterEnd): void {
    if (this.end) return;
    this.end = end;
    clearTimeout(this.timer);
    if (end.reason !== 'stopped') this.controller.abort(new MeterStopped(end));
    this.resolveDone(end);
  }
}
