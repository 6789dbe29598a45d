/**
 * Two engines behind one interface: the pure TypeScript mirror (src/domain/burndown.ts) and
 * the Lua scripts on a real Redis (src/redis/engine-store.ts). The shared table of cases and
 * the property tests drive both and compare what they say.
 */
import { createHash } from 'node:crypto';
import { ALERT_NAMES, type AlertName, crossedAlerts } from '../../src/domain/alerts.js';
import {
  adjust,
  changePlan,
  createWorkspace,
  debit,
  type EngineState,
  type PlanChange,
  type RefusalReason,
  roll,
  setFlex,
} from '../../src/domain/burndown.js';
import { monthOf } from '../../src/domain/cycle.js';
import type { EngineStore } from '../../src/redis/engine-store.js';

export interface DebitView {
  ok: boolean;
  debited: { included: number; prepaid: number; flex: number };
  shortfall: number;
  reason: RefusalReason | null;
  /** The alerts the event raised (R-ALR-1), in ALERT_NAMES order. */
  alerts: AlertName[];
}

export interface StripeChange {
  period?: { start: number; end: number };
  eventAt?: number;
  expiryType?: 'expiry' | 'forfeit';
}

export interface Engine {
  create(plan: PlanChange, now: number): Promise<void>;
  /** A plan change from the API, or (with a period and event time) from a Stripe event. */
  changePlan(plan: PlanChange, now: number, o?: StripeChange): Promise<string>;
  debit(o: { units: number; mode: 'consume' | 'record'; now: number; key: string }): Promise<DebitView>;
  adjust(o: { kind: 'included' | 'prepaid'; units: number; now: number; key: string }): Promise<string>;
  setFlex(o: {
    enabled?: boolean;
    capCents?: number | null;
    thresholdCents?: number | null;
    now: number;
  }): Promise<void>;
  /** The state as of `now` (an ended cycle rolled). */
  state(now: number): Promise<EngineState>;
}

export class MirrorEngine implements Engine {
  private s: EngineState | null = null;
  private readonly seen = new Map<string, DebitView>();
  /** The alerts raised per cycle (by cycle sequence): each at most once (R-ALR-1). */
  private readonly raised = new Map<number, Set<AlertName>>();

  private get current(): EngineState {
    if (!this.s) throw new Error('no workspace');
    return this.s;
  }

  async create(plan: PlanChange, now: number) {
    this.s = createWorkspace(plan, now).state;
  }
  async changePlan(plan: PlanChange, now: number, o: StripeChange = {}) {
    const r = changePlan(this.current, plan, now, o);
    this.s = r.state;
    return r.outcome;
  }
  async debit(o: { units: number; mode: 'consume' | 'record'; now: number; key: string }) {
    const first = this.seen.get(o.key);
    if (first) return first;
    const r = debit(this.current, { ...o, ref: o.key });
    this.s = r.state;
    const alerts = this.raise(r.state, r.result.split.shortfall > 0);
    const view: DebitView = {
      ok: r.result.applied,
      debited: r.result.applied
        ? { included: r.result.split.included, prepaid: r.result.split.prepaid, flex: r.result.split.flex }
        : { included: 0, prepaid: 0, flex: 0 },
      shortfall: r.result.split.shortfall,
      reason: r.result.split.reason,
      alerts,
    };
    this.seen.set(o.key, view);
    return view;
  }
  async adjust(o: { kind: 'included' | 'prepaid'; units: number; now: number; key: string }) {
    const r = adjust(this.current, { ...o, ref: o.key, type: 'adjustment' });
    this.s = r.state;
    // A manual debit raises what it crosses, as adjust-7.lua does (R-ALR-1).
    if (!r.error && o.units < 0) this.raise(r.state, false);
    return r.error ?? 'ok';
  }

  /** The alerts a state has crossed and its cycle has not raised yet, now raised. */
  private raise(state: EngineState, short: boolean): AlertName[] {
    const raised = this.raised.get(state.cycleSeq) ?? new Set<AlertName>();
    this.raised.set(state.cycleSeq, raised);
    const crossed = crossedAlerts(state, short);
    const fresh = ALERT_NAMES.filter((n) => crossed.has(n) && !raised.has(n));
    for (const n of fresh) raised.add(n);
    return fresh;
  }
  async setFlex(o: {
    enabled?: boolean;
    capCents?: number | null;
    thresholdCents?: number | null;
    now: number;
  }) {
    this.s = setFlex(this.current, o).state;
    this.raise(this.s, false);
  }
  async state(now: number) {
    this.s = roll(this.current, now).state;
    return this.s;
  }
}

export class RedisEngine implements Engine {
  constructor(
    private readonly store: EngineStore,
    private readonly workspaceId: string,
  ) {}

  async create(plan: PlanChange, now: number) {
    await this.store.upsert({ workspaceId: this.workspaceId, terms: plan, meta: {}, now });
  }
  async changePlan(plan: PlanChange, now: number, o: StripeChange = {}) {
    const r = await this.store.upsert({ workspaceId: this.workspaceId, terms: plan, meta: {}, now, ...o });
    return r.outcome;
  }
  async debit(o: { units: number; mode: 'consume' | 'record'; now: number; key: string }) {
    const r = await this.store.debit({
      workspaceId: this.workspaceId,
      units: o.units,
      mode: o.mode,
      idempotencyKey: o.key,
      bodyHash: createHash('sha256').update(`${o.units}:${o.mode}`).digest('hex'),
      usageId: o.key,
      feature: '',
      now: o.now,
      month: monthOf(o.now),
    });
    const alerts = r.alerts.map((a) => a.name);
    return { ok: r.ok, debited: r.debited, shortfall: r.shortfall, reason: r.reason, alerts };
  }
  async adjust(o: { kind: 'included' | 'prepaid'; units: number; now: number; key: string }) {
    const r = await this.store.adjust({
      workspaceId: this.workspaceId,
      ...o,
      ref: o.key,
      type: 'adjustment',
      reason: '',
      idempotencyKey: o.key,
      bodyHash: `${o.kind}:${o.units}`,
    });
    return r.status;
  }
  async setFlex(o: {
    enabled?: boolean;
    capCents?: number | null;
    thresholdCents?: number | null;
    now: number;
  }) {
    await this.store.flexSettings({ workspaceId: this.workspaceId, ...o });
  }
  async state(now: number): Promise<EngineState> {
    const snap = await this.store.snapshot(this.workspaceId, now);
    if (!snap) throw new Error('no workspace');
    return { ...snap.state, lots: await this.store.lots(this.workspaceId) };
  }
}
