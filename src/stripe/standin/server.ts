/**
 * A local stand-in for the part of Stripe's API burnrate uses, for development, the demo and
 * tests. It speaks Stripe's wire format (form-encoded requests, Stripe's object shapes, taken
 * from Stripe's published fixtures) so the real `stripe` SDK drives it, keeps its objects in
 * memory, and sends signed events to a webhook URL the way Stripe does.
 *
 * It keeps customers, prices, Checkout Sessions, subscriptions (create, change price, cancel),
 * invoice items and invoices (create, retrieve, list, finalize), honours Idempotency-Key on
 * every POST as Stripe does, and has test helpers (under /_standin, not Stripe's API) that
 * complete a session, refund its payment, renew a subscription and deliver any event again,
 * as often and in whatever order a test wants. `npm start` gives it the catalog's prices.
 * Test clocks as Stripe has them (issue 11 §3): `POST /v1/test_helpers/test_clocks` makes one at a
 * frozen time, a customer created with `test_clock` lives on it (its subscriptions start, change
 * and end at the clock's time), and `POST /v1/test_helpers/test_clocks/{id}/advance` moves it:
 * each of its subscriptions whose period ends on the way renews at that time, `invoice.paid`
 * for the next period's invoice and `customer.subscription.updated` with the new period, each
 * event `created` at the renewal's (clock) time. Periods follow the billing cycle anchor with
 * Stripe's clamping (Jan 31, Feb 28, Mar 31), the arithmetic burnrate's cycles use.
 * Optionally it limits the request rate as Stripe does (a 429 with Stripe's error body and
 * Stripe-Rate-Limited-Reason header), so the service's pacing and 429 handling can be tried.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import Stripe from 'stripe';
import { cycleAt } from '../../domain/cycle.js';
import { escapeHtml } from '../../http/escape-html.js';

type StripeObject = Record<string, unknown> & { id: string };

export interface StandinOptions {
  /** Where events go; unset: events are only kept. */
  webhookUrl?: string | undefined;
  webhookSecret: string;
  /** Recurring prices it knows, by id: `npm start` passes the catalog's. */
  prices?: { id: string; interval: 'month' | 'year' }[];
  /** Stripe's fixtures file (../shared/stripe/fixtures3.json): the base of every object. */
  fixturesPath: string;
  /**
   * Called with each request to Stripe's API (/v1) once its body is read, before it is
   * handled; the request waits for a returned promise (tests count requests, or hold them).
   */
  onRequest?: (req: { method: string; path: string }) => void | Promise<void>;
  /**
   * Requests a second (STRIPE_STANDIN_RATE_LIMIT) above which a request to the API (/v1) is
   * answered 429 the way Stripe answers it, in windows of one clock second; unset: no limit.
   */
  rateLimit?: number | undefined;
}

/** The fixtures the stand-in ships with (vendor/, a copy of Stripe's). */
export const STANDIN_FIXTURES = fileURLToPath(
  new URL('../../../vendor/stripe-fixtures3.json', import.meta.url),
);
/** The webhook secret of `npm start` with no Stripe configured: development only. */
export const DEV_WEBHOOK_SECRET = 'whsec_burnrate_local_standin';

/** Unique ids, Stripe-like: random per process, then a counter (no crypto call per object). */
const ID_SEED = randomBytes(6).toString('hex');
let idCounter = 0;
const newId = (prefix: string) => `${prefix}_test_${ID_SEED}${(++idCounter).toString(36).padStart(8, '0')}`;
const nowSeconds = () => Math.floor(Date.now() / 1000);

/** Stripe's largest charge in the smallest currency unit (most currencies: $999,999.99). */
const STRIPE_MAX_AMOUNT = 99_999_999;

class StripeStandinError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
    readonly extra: { code?: string; headers?: Record<string, string> } = {},
  ) {
    super(message);
  }
}

export class Standin {
  readonly app: Express;
  private readonly fixtures: Record<string, Record<string, unknown>>;
  private readonly objects = new Map<string, StripeObject>();
  /** The objects of each type, oldest first: lists and lookups never scan everything. */
  private readonly byType = new Map<string, Map<string, StripeObject>>();
  /** The invoice items attached to each invoice. */
  private readonly invoiceItems = new Map<string, StripeObject[]>();
  readonly events: StripeObject[] = [];
  /** payment_intent_data.metadata of each session, for the PaymentIntent its payment creates. */
  private readonly paymentMetadata = new Map<string, unknown>();
  /** Recurring prices by id: those it was started with, and those created through the API. */
  private readonly prices = new Map<string, { id: string; interval: 'month' | 'year' }>();
  /**
   * Idempotency-Key → the request's body and its answer (Stripe keeps them at least 24 h); a
   * request with a key still in flight waits for the first one's answer.
   */
  private readonly idempotent = new Map<string, { body: string; answer: Promise<unknown> }>();
  private readonly signer = new Stripe('sk_standin_signer');
  /** The current one-second window of the rate limit: its second, and the requests let in. */
  private window = { second: 0, count: 0 };
  /** Requests to the API let in and refused (429) by the rate limit: for tests and benchmarks. */
  readonly traffic = { accepted: 0, rateLimited: 0 };
  /** The rate limit in force (requests a second; undefined: none): a test may change it. */
  rateLimit: number | undefined;

  constructor(private readonly opts: StandinOptions) {
    this.fixtures = (
      JSON.parse(readFileSync(opts.fixturesPath, 'utf8')) as {
        resources: Record<string, Record<string, unknown>>;
      }
    ).resources;
    for (const p of opts.prices ?? []) this.prices.set(p.id, p);
    this.rateLimit = opts.rateLimit;
    this.app = this.routes();
  }

  private fixture(name: string, fields: Record<string, unknown>): StripeObject {
    const base = this.fixtures[name];
    if (!base) throw new Error(`no fixture ${name}`);
    // A shallow copy: the stand-in replaces nested fields, never changes them in place.
    const obj = {
      ...base,
      livemode: false,
      created: nowSeconds(),
      ...fields,
    } as unknown as StripeObject;
    this.objects.set(obj.id, obj);
    const type = String(obj.object);
    const ofType = this.byType.get(type) ?? new Map<string, StripeObject>();
    this.byType.set(type, ofType.set(obj.id, obj));
    return obj;
  }

  /** The objects of one type (`invoiceitem`, `invoice`, …), oldest first: for tests and benchmarks. */
  objectsOf(type: string): StripeObject[] {
    return [...(this.byType.get(type)?.values() ?? [])];
  }

  /** A customer, as `POST /v1/customers` creates it (tests and benchmarks seed many at once). */
  createCustomer(
    fields: { email?: string | null; metadata?: Record<string, string>; test_clock?: string } = {},
  ): StripeObject {
    const clock = fields.test_clock ? this.get(fields.test_clock, 'test_helpers.test_clock') : undefined;
    return this.fixture('customer', {
      id: newId('cus'),
      email: fields.email ?? null,
      metadata: fields.metadata ?? {},
      test_clock: clock?.id ?? null,
      ...(clock ? { created: clock.frozen_time } : {}),
    });
  }

  /** The time (s) of a customer's world: its test clock's frozen time, else now. */
  private timeOf(customerId: unknown): number {
    const customer = typeof customerId === 'string' ? this.objects.get(customerId) : undefined;
    const clock =
      typeof customer?.test_clock === 'string' ? this.objects.get(customer.test_clock) : undefined;
    return clock ? Number(clock.frozen_time) : nowSeconds();
  }

  /**
   * The period that ends at the subscription's current period end follows: Stripe bills it
   * (`invoice.paid`, billing_reason subscription_cycle, its line over the new period) and moves
   * the subscription on (`customer.subscription.updated`), both at `at` (s; default the end).
   */
  private async renew(sub: StripeObject, at?: number): Promise<StripeObject> {
    const item = (sub.items as { data: Record<string, unknown>[] }).data[0]!;
    const start = Number(item.current_period_end);
    const when = at ?? start;
    sub.items = this.items(
      this.price((item.price as { id: string }).id),
      start,
      Number(sub.billing_cycle_anchor),
    );
    const next = (sub.items as { data: Record<string, unknown>[] }).data[0]!;
    const invoiceId = newId('in');
    const line = {
      ...structuredClone(this.fixtures.line_item ?? {}),
      id: newId('il'),
      invoice: invoiceId,
      amount: 0,
      metadata: {},
      description: null,
      parent: {
        type: 'subscription_item_details',
        invoice_item_details: null,
        subscription_item_details: {
          invoice_item: null,
          proration: false,
          proration_details: { credited_items: null },
          subscription: sub.id,
          subscription_item: next.id,
        },
      },
      period: { start, end: next.current_period_end },
      subscription: sub.id,
    };
    const invoice = this.fixture('invoice', {
      id: invoiceId,
      created: when,
      customer: sub.customer,
      billing_reason: 'subscription_cycle',
      status: 'paid',
      test_clock: sub.test_clock ?? null,
      period_start: start,
      period_end: start,
      status_transitions: {
        finalized_at: when,
        marked_uncollectible_at: null,
        paid_at: when,
        voided_at: null,
      },
      parent: {
        type: 'subscription_details',
        quote_details: null,
        subscription_details: { metadata: sub.metadata, subscription: sub.id },
      },
      lines: { object: 'list', has_more: false, url: `/v1/invoices/${invoiceId}/lines`, data: [line] },
    });
    sub.latest_invoice = invoice.id;
    await this.emit('invoice.paid', invoice, when);
    return this.emit('customer.subscription.updated', sub, when);
  }

  /**
   * Moves a test clock to `frozenTime` (s): every subscription of its customers whose period
   * ends on the way renews, in time order, each at its period's end. An event the webhook URL
   * did not take stays in `events` (a test delivers it again): the clock still gets there.
   */
  private async advanceClock(clock: StripeObject, frozenTime: number): Promise<void> {
    const subs = this.objectsOf('subscription').filter(
      (sub) => sub.test_clock === clock.id && (sub.status === 'active' || sub.status === 'past_due'),
    );
    const periodEnd = (sub: StripeObject) =>
      Number((sub.items as { data: Record<string, unknown>[] }).data[0]!.current_period_end);
    for (;;) {
      const due = subs
        .filter((sub) => periodEnd(sub) <= frozenTime)
        .sort((a, b) => periodEnd(a) - periodEnd(b))[0];
      if (!due) break;
      clock.frozen_time = periodEnd(due);
      await this.renew(due).catch(() => undefined);
    }
    Object.assign(clock, { frozen_time: frozenTime, status: 'ready' });
    await this.emit('test_helpers.test_clock.ready', clock, frozenTime).catch(() => undefined);
  }

  private attach(item: StripeObject, invoiceId: string) {
    item.invoice = invoiceId;
    const items = this.invoiceItems.get(invoiceId);
    if (items) items.push(item);
    else this.invoiceItems.set(invoiceId, [item]);
  }

  private get(id: string, object: string): StripeObject {
    const o = this.objects.get(id);
    if (!o || o.object !== object)
      throw new StripeStandinError(404, 'invalid_request_error', `No such ${object}: '${id}'`);
    return o;
  }

  private price(id: string | undefined): { id: string; interval: 'month' | 'year' } {
    const p = id === undefined ? undefined : this.prices.get(id);
    if (!p) throw new StripeStandinError(400, 'invalid_request_error', `No such price: '${id}'`);
    return p;
  }

  /**
   * A subscription's items: one, for a price, over the period of the billing cycle anchored at
   * `anchor` (s; default `start`) that holds `start` (s).
   */
  private items(price: { id: string; interval: 'month' | 'year' }, start: number, anchor = start) {
    const period = cycleAt({
      anchor: anchor * 1000,
      intervalMonths: price.interval === 'year' ? 12 : 1,
      fromIndex: 0,
      now: start * 1000,
    });
    return {
      object: 'list',
      has_more: false,
      url: '/v1/subscription_items',
      data: [
        {
          ...structuredClone(this.fixtures.subscription_item ?? {}),
          id: newId('si'),
          price: {
            ...structuredClone(this.fixtures.price ?? {}),
            id: price.id,
            recurring: { interval: price.interval, interval_count: 1 },
          },
          current_period_start: Math.floor(period.start / 1000),
          current_period_end: Math.floor(period.end / 1000),
        },
      ],
    };
  }

  /** An invoice with its lines and total: the invoice items attached to it. */
  private withLines(invoice: StripeObject): StripeObject {
    const items = this.invoiceItems.get(invoice.id) ?? [];
    const total = items.reduce((sum, i) => sum + Number(i.amount), 0);
    Object.assign(invoice, {
      amount_due: total,
      total,
      subtotal: total,
      lines: {
        object: 'list',
        has_more: false,
        url: `/v1/invoices/${invoice.id}/lines`,
        data: items.map((i) => ({
          object: 'line_item',
          id: `il_${i.id}`,
          amount: i.amount,
          currency: i.currency,
          description: i.description,
          quantity: i.quantity,
          metadata: i.metadata,
          period: { start: i.created, end: i.created },
        })),
      },
    });
    return invoice;
  }

  /** What a customer paying (or failing to) on Checkout's page makes Stripe send. */
  private async completeSession(id: string, outcome: string) {
    const session = this.get(id, 'checkout.session');
    const pi = this.fixture('payment_intent', {
      id: newId('pi'),
      amount: session.amount_total,
      currency: session.currency,
      metadata: this.paymentMetadata.get(session.id) ?? {},
      status: outcome === 'failed' ? 'requires_payment_method' : 'succeeded',
    });
    Object.assign(session, { status: 'complete', payment_intent: pi.id });
    if (outcome === 'delayed' || outcome === 'failed') {
      session.payment_status = 'unpaid';
      await this.emit('checkout.session.completed', session);
      if (outcome === 'failed') return this.emit('checkout.session.async_payment_failed', session);
      session.payment_status = 'paid';
      return this.emit('checkout.session.async_payment_succeeded', session);
    }
    session.payment_status = 'paid';
    this.fixture('charge', {
      id: newId('ch'),
      payment_intent: pi.id,
      amount: session.amount_total,
      amount_refunded: 0,
      refunded: false,
    });
    return this.emit('checkout.session.completed', session);
  }

  /**
   * Creates an event for an object and sends it, signed, to the webhook URL. `created` (s): the
   * time it happened, a test clock's for its customers' objects; default now.
   */
  async emit(type: string, object: StripeObject, created = nowSeconds()): Promise<StripeObject> {
    const event = this.fixture('event', {
      id: newId('evt'),
      created,
      type,
      api_version: '2026-10-28.endive',
      data: { object: structuredClone(object) },
      pending_webhooks: this.opts.webhookUrl ? 1 : 0,
    });
    this.events.push(event);
    await this.deliver(event);
    return event;
  }

  /** Sends an event (again): Stripe delivers at least once. */
  async deliver(event: StripeObject): Promise<number | null> {
    if (!this.opts.webhookUrl) return null;
    const payload = JSON.stringify(event);
    const header = this.signer.webhooks.generateTestHeaderString({
      payload,
      secret: this.opts.webhookSecret,
    });
    const res = await fetch(this.opts.webhookUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'stripe-signature': header },
      body: payload,
    });
    return res.status;
  }

  /** Counts the request in its second's window: true when that is past the limit. */
  private overRateLimit(): boolean {
    const limit = this.rateLimit;
    if (!limit) return false;
    const second = Math.floor(Date.now() / 1000);
    if (second !== this.window.second) this.window = { second, count: 0 };
    if (this.window.count >= limit) {
      this.traffic.rateLimited++;
      return true;
    }
    this.window.count++;
    return false;
  }

  /** Stripe's 429: its error body and the Stripe-Rate-Limited-Reason header. */
  private rateLimitError(): StripeStandinError {
    return new StripeStandinError(
      429,
      'invalid_request_error',
      'Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.',
      { code: 'rate_limit', headers: { 'Stripe-Rate-Limited-Reason': 'global-rate' } },
    );
  }

  private routes(): Express {
    const app = express();
    app.disable('x-powered-by');
    app.set('etag', false); // a hash of every answer: Stripe sends none
    app.use(express.urlencoded({ extended: true, limit: '1mb' }));
    app.use(express.json({ limit: '1mb' }));
    app.use('/v1', (req, _res, next) => {
      const auth = req.headers.authorization ?? '';
      if (!/^Bearer sk_/.test(auth))
        return next(new StripeStandinError(401, 'invalid_request_error', 'Invalid API Key provided'));
      if (this.overRateLimit()) return next(this.rateLimitError());
      this.traffic.accepted++;
      const seen = this.opts.onRequest?.({ method: req.method, path: req.originalUrl.split('?')[0]! });
      if (seen) seen.then(() => next(), next);
      else next();
    });
    const handle =
      (fn: (req: Request) => Promise<unknown> | unknown) =>
      async (req: Request, res: Response, next: NextFunction) => {
        try {
          const key = req.method === 'POST' ? req.header('idempotency-key') : undefined;
          const body = JSON.stringify(req.body ?? {});
          const at = `${req.path} ${key}`;
          const seen = key ? this.idempotent.get(at) : undefined;
          if (seen && seen.body !== body) {
            throw new StripeStandinError(
              400,
              'idempotency_error',
              'Keys for idempotent requests can only be used with the same parameters they were first used with.',
            );
          }
          if (seen) {
            res.set('Idempotent-Replayed', 'true').json(await seen.answer);
            return;
          }
          const answer = Promise.resolve().then(() => fn(req));
          if (key) {
            this.idempotent.set(at, { body, answer });
            // A failed request is not kept: the same key may try again.
            answer.catch(() => this.idempotent.delete(at));
          }
          res.json(await answer);
        } catch (err) {
          next(err);
        }
      };
    const list = (object: string, where: (o: StripeObject) => boolean = () => true) => ({
      object: 'list',
      data: this.objectsOf(object).filter(where).reverse(),
      has_more: false,
      url: `/v1/${object}s`,
    });

    app.post(
      '/v1/customers',
      handle((req) =>
        this.createCustomer({
          email: req.body.email,
          metadata: req.body.metadata,
          test_clock: req.body.test_clock,
        }),
      ),
    );
    app.get(
      '/v1/customers/:id',
      handle((req) => this.get(String(req.params.id), 'customer')),
    );

    app.post(
      '/v1/checkout/sessions',
      handle((req) => {
        const b = req.body as Record<string, unknown>;
        if (b.mode !== 'payment')
          throw new StripeStandinError(400, 'invalid_request_error', 'the stand-in supports mode=payment');
        const items = (b.line_items ?? []) as {
          quantity?: string;
          price_data?: { currency?: string; unit_amount?: string };
        }[];
        if (items.length === 0)
          throw new StripeStandinError(400, 'invalid_request_error', 'line_items is required');
        const amount = items.reduce(
          (sum, i) => sum + Number(i.quantity ?? 1) * Number(i.price_data?.unit_amount ?? 0),
          0,
        );
        // Stripe's own limits, so the API meets here the refusals it meets in production.
        if (amount > STRIPE_MAX_AMOUNT)
          throw new StripeStandinError(
            400,
            'invalid_request_error',
            `Amount must be no more than ${STRIPE_MAX_AMOUNT} in the smallest currency unit`,
            { code: 'amount_too_large' },
          );
        if (typeof b.customer === 'string' && !this.objects.has(b.customer))
          throw new StripeStandinError(400, 'invalid_request_error', `No such customer: '${b.customer}'`, {
            code: 'resource_missing',
          });
        const id = newId('cs');
        const session = this.fixture('checkout.session', {
          id,
          mode: 'payment',
          status: 'open',
          payment_status: 'unpaid',
          amount_total: amount,
          amount_subtotal: amount,
          currency: items[0]?.price_data?.currency ?? 'usd',
          customer: b.customer ?? null,
          client_reference_id: b.client_reference_id ?? null,
          metadata: b.metadata ?? {},
          payment_intent: null,
          success_url: b.success_url ?? null,
          cancel_url: b.cancel_url ?? null,
          // Its own payment page (below), as Stripe's hosted Checkout page is.
          url: `${req.protocol}://${req.get('host') ?? 'localhost'}/pay/${id}`,
        });
        this.paymentMetadata.set(
          id,
          (b.payment_intent_data as { metadata?: unknown } | undefined)?.metadata ?? {},
        );
        return session;
      }),
    );
    app.get(
      '/v1/checkout/sessions/:id',
      handle((req) => this.get(String(req.params.id), 'checkout.session')),
    );

    app.post(
      '/v1/subscriptions',
      handle(async (req) => {
        const b = req.body as {
          customer?: string;
          items?: { price?: string }[];
          metadata?: Record<string, string>;
        };
        if (!b.customer) throw new StripeStandinError(400, 'invalid_request_error', 'customer is required');
        const customer = this.get(b.customer, 'customer');
        const price = this.price(b.items?.[0]?.price);
        const at = this.timeOf(b.customer);
        const sub = this.fixture('subscription', {
          id: newId('sub'),
          created: at,
          start_date: at,
          billing_cycle_anchor: at,
          customer: b.customer,
          status: 'active',
          metadata: b.metadata ?? {},
          test_clock: customer.test_clock ?? null,
          items: this.items(price, at),
        });
        await this.emit('customer.subscription.created', sub, at);
        return sub;
      }),
    );
    app.get(
      '/v1/subscriptions/:id',
      handle((req) => this.get(String(req.params.id), 'subscription')),
    );
    app.post(
      '/v1/subscriptions/:id',
      handle(async (req) => {
        const sub = this.get(String(req.params.id), 'subscription');
        const b = req.body as { items?: { price?: string }[]; metadata?: Record<string, string> };
        if (b.metadata) sub.metadata = { ...(sub.metadata as object), ...b.metadata };
        // A new price starts a new period now (proration aside), and anchors the cycles there.
        const at = this.timeOf(sub.customer);
        if (b.items?.[0]?.price) {
          sub.items = this.items(this.price(b.items[0].price), at);
          sub.billing_cycle_anchor = at;
        }
        await this.emit('customer.subscription.updated', sub, at);
        return sub;
      }),
    );
    app.delete(
      '/v1/subscriptions/:id',
      handle(async (req) => {
        const sub = this.get(String(req.params.id), 'subscription');
        const at = this.timeOf(sub.customer);
        Object.assign(sub, { status: 'canceled', canceled_at: at, ended_at: at });
        await this.emit('customer.subscription.deleted', sub, at);
        return sub;
      }),
    );

    app.post(
      '/v1/prices',
      handle((req) => {
        const b = req.body as {
          currency?: string;
          unit_amount?: string;
          recurring?: { interval?: string };
          metadata?: object;
        };
        const interval = b.recurring?.interval;
        if (interval !== undefined && interval !== 'month' && interval !== 'year') {
          throw new StripeStandinError(
            400,
            'invalid_request_error',
            'recurring[interval] must be month or year here',
          );
        }
        const price = this.fixture('price', {
          id: newId('price'),
          currency: b.currency ?? 'usd',
          unit_amount: b.unit_amount === undefined ? null : Number(b.unit_amount),
          recurring: interval ? { interval, interval_count: 1 } : null,
          type: interval ? 'recurring' : 'one_time',
          metadata: b.metadata ?? {},
        });
        if (interval) this.prices.set(price.id, { id: price.id, interval });
        return price;
      }),
    );
    app.get(
      '/v1/prices/:id',
      handle((req) => this.get(String(req.params.id), 'price')),
    );
    app.get(
      '/v1/prices',
      handle(() => list('price')),
    );
    app.get(
      '/v1/customers',
      handle(() => list('customer')),
    );

    app.post(
      '/v1/invoiceitems',
      handle((req) => {
        const b = req.body as Record<string, string | undefined> & { metadata?: object };
        if (!b.customer) throw new StripeStandinError(400, 'invalid_request_error', 'customer is required');
        this.get(b.customer, 'customer');
        const quantity = Number(b.quantity ?? 1);
        const unit = b.unit_amount_decimal;
        const amount = b.amount !== undefined ? Number(b.amount) : Math.round(quantity * Number(unit ?? 0));
        if (b.invoice) this.get(b.invoice, 'invoice');
        const item = this.fixture('invoiceitem', {
          id: newId('ii'),
          customer: b.customer,
          amount,
          currency: b.currency ?? 'usd',
          quantity,
          description: b.description ?? null,
          metadata: b.metadata ?? {},
          invoice: null,
        });
        if (b.invoice) this.attach(item, b.invoice);
        return item;
      }),
    );
    app.get(
      '/v1/invoiceitems/:id',
      handle((req) => this.get(String(req.params.id), 'invoiceitem')),
    );
    app.get(
      '/v1/invoiceitems',
      handle((req) => list('invoiceitem', (o) => !req.query.customer || o.customer === req.query.customer)),
    );
    app.post(
      '/v1/invoices',
      handle((req) => {
        const b = req.body as Record<string, string | undefined> & { metadata?: object };
        if (!b.customer) throw new StripeStandinError(400, 'invalid_request_error', 'customer is required');
        this.get(b.customer, 'customer');
        const invoice = this.fixture('invoice', {
          id: newId('in'),
          customer: b.customer,
          status: 'draft',
          billing_reason: 'manual',
          auto_advance: b.auto_advance === 'true',
          collection_method: b.collection_method ?? 'charge_automatically',
          metadata: b.metadata ?? {},
          parent: null,
        });
        // Stripe's default is 'exclude': pending items wait for the next subscription invoice.
        if (b.pending_invoice_items_behavior === 'include') {
          for (const item of this.objectsOf('invoiceitem')) {
            if (item.customer === b.customer && item.invoice === null) this.attach(item, invoice.id);
          }
        }
        return this.withLines(invoice);
      }),
    );
    app.get(
      '/v1/invoices/:id',
      handle((req) => this.withLines(this.get(String(req.params.id), 'invoice'))),
    );
    app.get(
      '/v1/invoices',
      handle((req) => list('invoice', (o) => !req.query.customer || o.customer === req.query.customer)),
    );
    app.post(
      '/v1/invoices/:id/finalize',
      handle(async (req) => {
        const invoice = this.get(String(req.params.id), 'invoice');
        if (invoice.status !== 'draft') {
          throw new StripeStandinError(
            400,
            'invalid_request_error',
            `This invoice is already ${invoice.status}.`,
          );
        }
        invoice.status = 'open';
        const withLines = this.withLines(invoice);
        await this.emit('invoice.finalized', withLines);
        return withLines;
      }),
    );

    // Stripe's test clocks (test mode's API, as the SDK's stripe.testHelpers.testClocks calls it).
    app.post(
      '/v1/test_helpers/test_clocks',
      handle((req) => {
        const frozen = Number(req.body?.frozen_time);
        if (!Number.isSafeInteger(frozen) || frozen <= 0)
          throw new StripeStandinError(400, 'invalid_request_error', 'frozen_time must be a Unix timestamp');
        return this.fixture('test_helpers.test_clock', {
          id: newId('clock'),
          name: req.body?.name ?? null,
          frozen_time: frozen,
          status: 'ready',
          status_details: {},
          deletes_after: frozen + 30 * 86_400,
        });
      }),
    );
    app.get(
      '/v1/test_helpers/test_clocks',
      handle(() => list('test_helpers.test_clock')),
    );
    app.get(
      '/v1/test_helpers/test_clocks/:id',
      handle((req) => this.get(String(req.params.id), 'test_helpers.test_clock')),
    );
    app.post(
      '/v1/test_helpers/test_clocks/:id/advance',
      handle(async (req) => {
        const clock = this.get(String(req.params.id), 'test_helpers.test_clock');
        const frozen = Number(req.body?.frozen_time);
        if (!Number.isSafeInteger(frozen) || frozen <= Number(clock.frozen_time))
          throw new StripeStandinError(
            400,
            'invalid_request_error',
            "The frozen_time must be later than the test clock's current frozen_time.",
          );
        if (clock.status !== 'ready')
          throw new StripeStandinError(400, 'invalid_request_error', 'The test clock is already advancing.');
        // As Stripe: answered at once with status advancing; the renewals and events follow.
        clock.status = 'advancing';
        const answer = structuredClone(clock);
        setImmediate(() => void this.advanceClock(clock, frozen));
        return answer;
      }),
    );

    // Test helpers: what a customer or Stripe would do.
    app.post(
      '/_standin/checkout/sessions/:id/complete',
      handle((req) =>
        this.completeSession(String(req.params.id), (req.body?.outcome as string | undefined) ?? 'paid'),
      ),
    );
    // The customer's side of Checkout: a page that says what is bought and for how much, with
    // "Pay" (completes the session as paid, then goes to its success_url) and "Cancel" (its
    // cancel_url). What the billing page's "Buy credits" opens when no Stripe key is set.
    app.get('/pay/:id', (req, res) => {
      const session = this.objects.get(String(req.params.id));
      if (session?.object !== 'checkout.session') {
        res
          .status(404)
          .type('html')
          .send(payPage({ title: 'No such Checkout Session' }));
        return;
      }
      res.type('html').send(
        payPage({
          title: 'Stripe stand-in: Checkout',
          session: session as StripeObject & { amount_total: number; currency: string; status: string },
        }),
      );
    });
    app.post('/pay/:id', async (req, res, next) => {
      try {
        const session = this.objects.get(String(req.params.id));
        if (session?.object !== 'checkout.session') {
          res
            .status(404)
            .type('html')
            .send(payPage({ title: 'No such Checkout Session' }));
          return;
        }
        if (session.status === 'open') await this.completeSession(session.id, 'paid');
        const back = String(session.success_url ?? '').replaceAll('{CHECKOUT_SESSION_ID}', session.id);
        if (back) res.redirect(303, back);
        else res.type('html').send(payPage({ title: 'Paid', session: session as never }));
      } catch (err) {
        next(err);
      }
    });
    app.post(
      '/_standin/payment_intents/:id/refund',
      handle(async (req) => {
        const pi = this.get(String(req.params.id), 'payment_intent');
        const total = Number(pi.amount);
        const charge =
          this.objectsOf('charge').find((o) => o.payment_intent === pi.id) ??
          this.fixture('charge', {
            id: newId('ch'),
            payment_intent: pi.id,
            amount: total,
            amount_refunded: 0,
          });
        const amount =
          req.body?.amount === undefined ? total - Number(charge.amount_refunded) : Number(req.body.amount);
        charge.amount_refunded = Math.min(total, Number(charge.amount_refunded) + amount);
        charge.refunded = charge.amount_refunded === total;
        return this.emit('charge.refunded', charge);
      }),
    );
    app.post(
      '/_standin/events/:id/deliver',
      handle(async (req) => {
        const e = this.get(String(req.params.id), 'event');
        const times = Number(req.body?.times ?? 1);
        const statuses: (number | null)[] = [];
        for (let i = 0; i < times; i++) statuses.push(await this.deliver(e));
        return { id: e.id, statuses };
      }),
    );
    app.post(
      '/_standin/subscriptions/:id/renew',
      // The period ends and Stripe bills the next one: invoice.paid, then the new period.
      handle((req) => {
        // At the subscription's clock: a test clock's customer renews at its time, as Stripe does.
        const sub = this.get(String(req.params.id), 'subscription');
        return this.renew(sub, this.timeOf(sub.customer));
      }),
    );
    app.get(
      '/_standin/events',
      handle(() => ({ data: this.events })),
    );

    app.use((_req: Request, _res: Response, next: NextFunction) => {
      next(
        new StripeStandinError(
          404,
          'invalid_request_error',
          'Unrecognized request URL (not in the stand-in)',
        ),
      );
    });
    app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
      const e =
        err instanceof StripeStandinError
          ? err
          : new StripeStandinError(500, 'api_error', (err as Error).message);
      if (e.extra.headers) res.set(e.extra.headers);
      res.status(e.status).json({
        error: { type: e.type, ...(e.extra.code ? { code: e.extra.code } : {}), message: e.message },
      });
    });
    return app;
  }
}

export async function startStandin(
  opts: StandinOptions & { port: number; host?: string },
): Promise<{ standin: Standin; url: string; port: number; close(): Promise<void> }> {
  const standin = new Standin(opts);
  const server: Server = standin.app.listen(opts.port, opts.host ?? '127.0.0.1');
  await once(server, 'listening');
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  return {
    standin,
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * An amount in the currency's smallest unit (Stripe's integer `amount`) for people: "$360.00",
 * "¥500". Intl formats the decimal string, so no float ever holds the amount.
 */
function formatMinorUnits(amount: number, currency: string): string {
  const f = new Intl.NumberFormat('en-US', { style: 'currency', currency: currency.toUpperCase() });
  const digits = f.resolvedOptions().maximumFractionDigits ?? 2;
  const whole = String(amount).padStart(digits + 1, '0');
  const decimal = digits === 0 ? whole : `${whole.slice(0, -digits)}.${whole.slice(-digits)}`;
  return f.format(decimal as unknown as number);
}

/** The stand-in's Checkout page: what is bought and for how much, Pay and Cancel. */
function payPage(o: {
  title: string;
  session?: StripeObject & { amount_total: number; currency: string; status: string };
}): string {
  const s = o.session;
  const amount = s ? formatMinorUnits(s.amount_total, s.currency) : '';
  const credits = (s?.metadata as Record<string, string> | undefined)?.credits;
  const body = !s
    ? '<p>This Checkout Session does not exist (the stand-in keeps sessions in memory).</p>'
    : s.status !== 'open'
      ? `<p>This Checkout Session is ${escapeHtml(s.status)}: nothing more to pay.</p>`
      : `<p>${credits ? `${escapeHtml(String(credits))} prepaid credits, ` : ''}<strong>${escapeHtml(amount)}</strong></p>
<form method="post" action="/pay/${escapeHtml(s.id)}"><button type="submit">Pay ${escapeHtml(amount)}</button></form>
${s.cancel_url ? `<p><a href="${escapeHtml(String(s.cancel_url))}">Cancel</a></p>` : ''}`;
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(o.title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 32rem; margin: 3rem auto; padding: 0 1rem">
<main><h1>${escapeHtml(o.title)}</h1>
<p>A local stand-in for Stripe's hosted Checkout page: no card is charged.</p>
${body}</main></body></html>`;
}
