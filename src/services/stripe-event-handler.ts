/**
 * What a verified Stripe event does (the worker's processor calls this). Effects are
 * idempotent: an event delivered twice, or a job retried after a crash, changes nothing more.
 *
 * Now: prepaid purchases through Checkout (R-PRE-2) — credits are granted once per session,
 * when the payment succeeded. Subscriptions, renewals, cancellations and refunds come with
 * the rest of issue 3.
 */
import { createHash } from 'node:crypto';
import type { z } from 'zod';
import { BurnrateError } from '../domain/errors.js';
import { formatUnits, parseDecimal4 } from '../domain/units.js';
import type { EngineStore } from '../redis/engine-store.js';
import { checkoutSessionSchema, type StripeEventEnvelope } from '../stripe/events.js';

/** A failure no retry can fix (a malformed object, an unknown workspace). */
export class PermanentEventError extends Error {}

export type EventOutcome =
  | { action: 'granted' | 'already_granted'; workspaceId: string; credits: string }
  | { action: 'awaiting_payment' | 'payment_failed' | 'ignored' };

export async function handleStripeEvent(
  event: StripeEventEnvelope,
  deps: { store: EngineStore; now: number },
): Promise<EventOutcome> {
  switch (event.type) {
    case 'checkout.session.completed':
    case 'checkout.session.async_payment_succeeded': {
      const session = parse(checkoutSessionSchema, event.data.object, event);
      // A delayed payment method completes the session unpaid; its success event grants.
      if (session.payment_status !== 'paid') return { action: 'awaiting_payment' };
      return grantCheckout(session, deps);
    }
    case 'checkout.session.async_payment_failed':
      return { action: 'payment_failed' };
    default:
      return { action: 'ignored' };
  }
}

function parse<S extends z.ZodType>(schema: S, v: unknown, event: StripeEventEnvelope): z.output<S> {
  const r = schema.safeParse(v);
  if (!r.success) throw new PermanentEventError(`${event.type} ${event.id}: ${r.error.message}`);
  return r.data;
}

async function grantCheckout(
  session: {
    id: string;
    client_reference_id?: string | null | undefined;
    metadata?: Record<string, string> | null | undefined;
  },
  deps: { store: EngineStore; now: number },
): Promise<EventOutcome> {
  const workspaceId = session.metadata?.workspace_id ?? session.client_reference_id ?? undefined;
  const units = parseDecimal4(session.metadata?.credits ?? '');
  if (!workspaceId || units === null || units <= 0) {
    throw new PermanentEventError(
      `checkout session ${session.id} has no workspace_id and credits in its metadata`,
    );
  }
  // The session id names the lot and is the idempotency key: once per session (R-PRE-2).
  const ref = `checkout:${session.id}`;
  try {
    const res = await deps.store.adjust({
      workspaceId,
      kind: 'prepaid',
      units,
      ref,
      type: 'grant',
      reason: 'prepaid purchase',
      idempotencyKey: ref,
      bodyHash: createHash('sha256').update(String(units)).digest('base64'),
      now: deps.now,
    });
    const credits = formatUnits(units);
    const again = res.replayed || res.status === 'duplicate_lot';
    return { action: again ? 'already_granted' : 'granted', workspaceId, credits };
  } catch (err) {
    if (err instanceof BurnrateError && (err.code === 'not_found' || err.code === 'idempotency_conflict')) {
      throw new PermanentEventError(`checkout session ${session.id}: ${err.message}`);
    }
    throw err;
  }
}
