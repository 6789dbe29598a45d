/**
 * Workspaces and their settings: create or change the plan (from the API or Stripe's
 * subscription events), flex, the billing threshold, manual adjustments. Each answers with the
 * workspace view after it.
 */
import {
  type Catalog,
  findPlan,
  type Overrides,
  parseStoredOverrides,
  planTerms,
} from '../domain/catalog.js';
import { BurnrateError } from '../domain/errors.js';
import { sha256 } from '../domain/hash.js';
import { formatUnits } from '../domain/units.js';
import type { RedisClient } from '../redis/clients.js';
import type { EngineStore, WorkspaceMeta } from '../redis/engine-store.js';
import { indexWorkspace } from '../redis/workspace-index.js';
import type { StripeRecords } from '../stripe/stripe-records.js';
import type { AlertService } from './alerts.js';
import type { Clock } from './clock.js';
import type { ReadViews } from './read-views.js';
import { requireWorkspace } from './require-workspace.js';

export class WorkspaceService {
  constructor(
    private readonly deps: {
      redis: RedisClient;
      store: EngineStore;
      catalog: Catalog;
      clock: Clock;
      /** The deployment's key prefix (REDIS_PREFIX): the workspace index lives under it. */
      keyPrefix: string;
      stripeRecords: StripeRecords;
      /** The outbound alert webhooks of what a settings change crosses (R-ALR-1). */
      alerts: AlertService;
      /** The workspace view each change answers with. */
      views: ReadViews;
    },
  ) {}

  get catalog(): Catalog {
    return this.deps.catalog;
  }

  async putWorkspace(
    id: string,
    body: {
      planId: string;
      createdAt?: string | undefined;
      stripeCustomerId?: string | undefined;
      overrides?: Overrides | undefined;
    },
  ) {
    const { outcome } = await this.setPlan(id, body);
    return { outcome, workspace: await this.deps.views.getWorkspace(id) };
  }

  /**
   * Creates a workspace or sets its plan, from the API or from Stripe's subscription events
   * (with the billing period, the event's time, and whether the old remainder is forfeited).
   * Omitted fields keep what the workspace has; `overrides: {}` clears overrides.
   */
  async setPlan(
    id: string,
    o: {
      planId: string;
      createdAt?: string | undefined;
      stripeCustomerId?: string | undefined;
      overrides?: Overrides | undefined;
      period?: { start: number; end: number } | undefined;
      eventAt?: number | undefined;
      expiryType?: 'expiry' | 'forfeit';
    },
  ) {
    const { store, catalog, clock } = this.deps;
    const plan = findPlan(catalog, o.planId);
    if (!plan) {
      throw new BurnrateError('invalid_request', `unknown planId ${o.planId}`, {
        planIds: catalog.plans.map((p) => p.id),
      });
    }
    const now = clock.now();
    const existing = await store.snapshot(id, now);
    const createdAt = o.createdAt ?? existing?.meta.createdAt ?? new Date(now).toISOString();
    const apiOverrides =
      o.overrides ?? (existing ? parseStoredOverrides(existing.meta.overrides) : undefined);
    const overrides = { ...catalog.enterpriseOverrides[id], ...apiOverrides };
    const terms = planTerms({ catalog, plan, createdAt: Date.parse(createdAt), overrides });
    const meta: Partial<WorkspaceMeta> = {
      createdAt: new Date(Date.parse(createdAt)).toISOString(),
      priceBook: terms.priceBookId,
      currency: terms.currency,
      overrides: apiOverrides ? JSON.stringify(apiOverrides) : '',
    };
    if (o.stripeCustomerId !== undefined) {
      meta.stripeCustomerId = o.stripeCustomerId;
      await this.deps.stripeRecords.rememberCustomer(o.stripeCustomerId, id);
    }
    // Listed for the cycle sweep first: a crash in between leaves a name the sweep skips,
    // never a workspace it misses.
    await indexWorkspace(this.deps.redis, this.deps.keyPrefix, id);
    return store.upsert({
      workspaceId: id,
      terms: { ...terms, allotment: terms.allotmentUnits },
      meta,
      now,
      period: o.period,
      eventAt: o.eventAt,
      ...(o.expiryType ? { expiryType: o.expiryType } : {}),
    });
  }

  /** The plan a Stripe price id stands for (R-CAT-1), or undefined. */
  planOfPrice(priceId: string) {
    return this.deps.catalog.plans.find((p) => p.stripePriceIds.includes(priceId));
  }

  /** The workspace's current plan id, or null if there is no such workspace. */
  async currentPlan(id: string): Promise<string | null> {
    const snap = await this.deps.store.snapshot(id, this.deps.clock.now());
    return snap ? snap.state.planId : null;
  }

  async setFlex(
    workspaceId: string,
    body: { enabled?: boolean | undefined; capCents?: number | null | undefined },
  ) {
    const now = this.deps.clock.now();
    const { state } = await requireWorkspace(this.deps.store, workspaceId, now);
    if (!state.flexAllowed && (body.enabled === true || body.capCents !== undefined)) {
      throw new BurnrateError(
        'invalid_request',
        `plan ${state.planId} has no flex: upgrade to a paid plan first`,
      );
    }
    const { alerts } = await this.deps.store.flexSettings({
      workspaceId,
      ...body,
      now,
      outbound: this.deps.alerts.outbound,
    });
    await this.deps.alerts.dispatchRaised(workspaceId, alerts);
    return this.deps.views.getWorkspace(workspaceId);
  }

  async setThreshold(workspaceId: string, thresholdCents: number | null) {
    const { alerts } = await this.deps.store.flexSettings({
      workspaceId,
      thresholdCents,
      now: this.deps.clock.now(),
      outbound: this.deps.alerts.outbound,
    });
    await this.deps.alerts.dispatchRaised(workspaceId, alerts);
    return this.deps.views.getWorkspace(workspaceId);
  }

  /** A signed manual grant or debit, booked on the ledger (R-CON-7). */
  async adjust(
    workspaceId: string,
    body: { idempotencyKey: string; kind: 'included' | 'prepaid'; credits: number; reason: string },
  ) {
    const res = await this.deps.store.adjust({
      workspaceId,
      kind: body.kind,
      units: body.credits,
      ref: `adj:${body.idempotencyKey}`,
      type: 'adjustment',
      reason: body.reason,
      idempotencyKey: body.idempotencyKey,
      bodyHash: sha256(JSON.stringify([body.kind, body.credits, body.reason]), 'base64'),
      now: this.deps.clock.now(),
      outbound: this.deps.alerts.outbound,
    });
    if (!res.replayed) await this.deps.alerts.dispatchRaised(workspaceId, res.alerts);
    if (res.status === 'insufficient_balance') {
      throw new BurnrateError('invalid_request', `the ${body.kind} balance is smaller than the debit`, {
        balance: formatUnits(body.kind === 'included' ? res.state.included : res.state.prepaid),
      });
    }
    if (res.status === 'duplicate_lot') {
      throw new BurnrateError(
        'idempotency_conflict',
        'an adjustment with this idempotency key was booked before',
      );
    }
    return { replayed: res.replayed, workspace: await this.deps.views.getWorkspace(workspaceId) };
  }
}
