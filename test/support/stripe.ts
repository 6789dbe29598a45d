/** Signed Stripe webhook payloads built from Stripe's own fixtures (../shared/stripe/fixtures3.json). */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Stripe from 'stripe';

/**
 * Stripe's fixtures: ../shared's copy where the project sits beside it (CI, this workspace),
 * else the identical copy the project ships in vendor/ (any other clone).
 */
const SHARED = fileURLToPath(new URL('../../../shared/stripe/fixtures3.json', import.meta.url));
export const FIXTURES_PATH = existsSync(SHARED)
  ? SHARED
  : fileURLToPath(new URL('../../vendor/stripe-fixtures3.json', import.meta.url));
const fixtures = JSON.parse(readFileSync(FIXTURES_PATH, 'utf8')) as {
  resources: Record<string, Record<string, unknown>>;
};

export const WEBHOOK_SECRET = 'whsec_test_burnrate';
const stripe = new Stripe('sk_test_fixtures');

export function fixture(name: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const base = fixtures.resources[name];
  if (!base) throw new Error(`no fixture ${name}`);
  return { ...structuredClone(base), ...overrides };
}

/** A paid Checkout Session of a prepaid purchase, as burnrate creates them. */
export function paidCheckoutSession(o: {
  workspaceId: string;
  credits: string;
  id?: string;
  paid?: boolean;
}) {
  return fixture('checkout.session', {
    id: o.id ?? `cs_test_${randomUUID().replaceAll('-', '')}`,
    mode: 'payment',
    status: 'complete',
    payment_status: o.paid === false ? 'unpaid' : 'paid',
    client_reference_id: o.workspaceId,
    metadata: { workspace_id: o.workspaceId, credits: o.credits },
  });
}

export function event(
  type: string,
  object: Record<string, unknown>,
  o: { id?: string; created?: number } = {},
) {
  return fixture('event', {
    id: o.id ?? `evt_test_${randomUUID().replaceAll('-', '')}`,
    type,
    created: o.created ?? Math.floor(Date.now() / 1000),
    data: { object },
  });
}

export function sign(payload: string, o: { secret?: string; timestamp?: number } = {}): string {
  return stripe.webhooks.generateTestHeaderString({
    payload,
    secret: o.secret ?? WEBHOOK_SECRET,
    ...(o.timestamp === undefined ? {} : { timestamp: o.timestamp }),
  });
}

/** A subscription to a catalog price for a workspace, over one period (seconds). */
export function subscription(o: {
  workspaceId?: string;
  customer?: string;
  price: string;
  start: number;
  end: number;
  status?: string;
  id?: string;
}) {
  const base = fixture('subscription');
  const items = base.items as { data: Record<string, unknown>[] };
  const item = items.data[0]!;
  return {
    ...base,
    id: o.id ?? 'sub_test_1',
    customer: o.customer ?? 'cus_test_1',
    status: o.status ?? 'active',
    metadata: o.workspaceId ? { workspace_id: o.workspaceId } : {},
    items: {
      ...items,
      data: [
        {
          ...item,
          price: { ...(item.price as object), id: o.price },
          current_period_start: o.start,
          current_period_end: o.end,
        },
      ],
    },
  };
}

/** A paid renewal invoice of a subscription for one period (seconds). */
export function renewalInvoice(o: { customer: string; subscription: string; start: number; end: number }) {
  const base = fixture('invoice');
  const lines = base.lines as { data: Record<string, unknown>[] };
  return {
    ...base,
    customer: o.customer,
    billing_reason: 'subscription_cycle',
    status: 'paid',
    parent: {
      type: 'subscription_details',
      quote_details: null,
      subscription_details: { metadata: {}, subscription: o.subscription },
    },
    lines: { ...lines, data: [{ ...lines.data[0], period: { start: o.start, end: o.end } }] },
  };
}
