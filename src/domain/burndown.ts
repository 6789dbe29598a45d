/**
 * The burn-down, in pure TypeScript: the mirror of the Lua scripts in src/redis/lua/.
 * One table of cases (test/support/burndown-cases.ts) and property-based sequences run
 * against both, so the atomic Redis version and this readable one cannot drift apart.
 *
 * Rules: R-CON-1 (included → prepaid → flex, prepaid lots oldest first), R-CON-2 (consume is
 * all or nothing), R-CON-4 (record books a shortfall and blocks), R-CYC-1 (cycle roll),
 * R-CYC-2 (plan change), R-FLX-1 and R-FLX-3 (flex switch), R-FLX-2 (cap in dollars per
 * cycle), R-FLX-4 (threshold).
 */
import { addMonths, cycleAt } from './cycle.js';
import { unitsForCents } from './units.js';

export const REFUSAL_REASONS = [
  'insufficient_credits',
  'flex_disabled',
  'flex_cap_reached',
  'billing_threshold_reached',
  'plan_blocks_flex',
] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];

export interface Lot {
  id: string;
  remaining: number;
}

export interface EngineState {
  planId: string;
  intervalMonths: number;
  anchor: number;
  cycleIndex: number;
  cycleStart: number;
  cycleEnd: number;
  /** Cycles ever started, plan changes included: the ledger's flex entries carry it. */
  cycleSeq: number;
  /** `created` (s) of the last Stripe subscription event applied; 0 when none. */
  stripeEventAt: number;
  /** Included units granted at each cycle start. */
  allotment: number;
  included: number;
  /** Included units granted this cycle, net of manual adjustments. */
  includedGranted: number;
  prepaid: number;
  /** Prepaid lots with something left, oldest first. */
  lots: Lot[];
  flexAllowed: boolean;
  flexEnabled: boolean;
  flexPriceE4: number;
  /** Flex cap per cycle in cents; null = removed (unlimited). */
  capCents: number | null;
  defaultCapCents: number;
  capCustom: boolean;
  /** Operator's billing threshold per cycle in cents; null = none. */
  thresholdCents: number | null;
  /** Flex units used this cycle. */
  flexCycle: number;
  blocked: RefusalReason | null;
}

export type EntryType = 'grant' | 'consume' | 'expiry' | 'forfeit' | 'adjustment' | 'shortfall';
export type EntryKind = 'included' | 'prepaid' | 'flex' | 'none';

export interface LedgerEntry {
  at: number;
  type: EntryType;
  kind: EntryKind;
  /** Signed units: positive adds credit (or, for flex, gives back), negative takes it. */
  units: number;
  /** The kind's balance after the entry (flex: units used this cycle). */
  balanceAfter: number;
  ref: string;
  lot?: string;
}

export interface Split {
  included: number;
  prepaid: number;
  flex: number;
  shortfall: number;
  /** Why the amount is not fully covered; null when it is. */
  reason: RefusalReason | null;
}

export interface FlexRoom {
  /** Flex units still allowed this cycle; null = no limit. 0 when flex cannot be used. */
  room: number | null;
  /** Why flex stops at `room`. */
  reason: RefusalReason;
}

/** The flex headroom: the lower of the cap and the billing threshold (R-FLX-2, R-FLX-4). */
export function flexRoom(s: EngineState): FlexRoom {
  if (!s.flexAllowed) return { room: 0, reason: 'plan_blocks_flex' };
  if (!s.flexEnabled) return { room: 0, reason: 'flex_disabled' };
  const capRoom =
    s.capCents === null ? null : Math.max(0, unitsForCents(s.capCents, s.flexPriceE4) - s.flexCycle);
  const thrRoom =
    s.thresholdCents === null
      ? null
      : Math.max(0, unitsForCents(s.thresholdCents, s.flexPriceE4) - s.flexCycle);
  // The threshold wins ties: raising the cap would not help then.
  if (thrRoom !== null && (capRoom === null || thrRoom <= capRoom))
    return { room: thrRoom, reason: 'billing_threshold_reached' };
  return { room: capRoom, reason: 'flex_cap_reached' };
}

/** How `units` would be covered now, in the order included → prepaid → flex (R-CON-1). */
export function split(s: EngineState, units: number): Split {
  if (s.blocked !== null) {
    return { included: 0, prepaid: 0, flex: 0, shortfall: units, reason: 'insufficient_credits' };
  }
  const included = Math.min(s.included, units);
  const prepaid = Math.min(s.prepaid, units - included);
  const rest = units - included - prepaid;
  if (rest === 0) return { included, prepaid, flex: 0, shortfall: 0, reason: null };
  const { room, reason } = flexRoom(s);
  const flex = room === null ? rest : Math.min(room, rest);
  const shortfall = rest - flex;
  return { included, prepaid, flex, shortfall, reason: shortfall > 0 ? reason : null };
}

/**
 * A block (R-CON-4) lasts until a grant, a new cycle, or a change that gives flex room again
 * (a raised cap or threshold, flex switched back on: "blocked until the cap is raised").
 */
function unblockIfRoom(s: EngineState): void {
  if (s.blocked !== null && flexRoom(s).room !== 0) s.blocked = null;
}

/** What could be spent now; null when flex is unlimited (R-CON-3). */
export function available(s: EngineState): number | null {
  if (s.blocked !== null) return 0;
  const { room } = flexRoom(s);
  return room === null ? null : s.included + s.prepaid + room;
}

function clone(s: EngineState): EngineState {
  return { ...s, lots: s.lots.map((l) => ({ ...l })) };
}

/** Rolls the cycle if it ended: the old included remainder expires, the allotment is granted (R-CYC-1). */
export function roll(state: EngineState, now: number): { state: EngineState; entries: LedgerEntry[] } {
  if (now < state.cycleEnd) return { state, entries: [] };
  const s = clone(state);
  const next = cycleAt({ anchor: s.anchor, intervalMonths: s.intervalMonths, fromIndex: s.cycleIndex, now });
  const entries = startCycle(s, {
    at: next.start,
    expiryRef: `cycle:${s.cycleStart}`,
    grantRef: `cycle:${next.start}`,
  });
  s.cycleIndex = next.index;
  s.cycleStart = next.start;
  s.cycleEnd = next.end;
  return { state: s, entries };
}

function startCycle(
  s: EngineState,
  o: { at: number; expiryRef: string; grantRef: string; expiryType?: 'expiry' | 'forfeit' },
): LedgerEntry[] {
  const entries: LedgerEntry[] = [];
  if (s.included > 0) {
    entries.push({
      at: o.at,
      type: o.expiryType ?? 'expiry',
      kind: 'included',
      units: -s.included,
      balanceAfter: 0,
      ref: o.expiryRef,
    });
  }
  s.included = s.allotment;
  s.includedGranted = s.allotment;
  if (s.allotment > 0) {
    entries.push({
      at: o.at,
      type: 'grant',
      kind: 'included',
      units: s.allotment,
      balanceAfter: s.allotment,
      ref: o.grantRef,
    });
  }
  s.flexCycle = 0;
  s.blocked = null;
  s.cycleSeq += 1;
  return entries;
}

export interface PlanChange {
  planId: string;
  intervalMonths: number;
  allotment: number;
  flexAllowed: boolean;
  flexPriceE4: number;
  defaultCapCents: number;
}

/** A new workspace: its first cycle starts now with the plan's allotment. */
export function createWorkspace(
  plan: PlanChange,
  now: number,
): { state: EngineState; entries: LedgerEntry[] } {
  const s: EngineState = {
    ...plan,
    allotment: plan.allotment,
    anchor: now,
    cycleIndex: 0,
    cycleStart: now,
    cycleEnd: addMonths(now, plan.intervalMonths),
    cycleSeq: 0,
    stripeEventAt: 0,
    included: 0,
    includedGranted: 0,
    prepaid: 0,
    lots: [],
    flexEnabled: true,
    capCents: plan.defaultCapCents,
    capCustom: false,
    thresholdCents: null,
    flexCycle: 0,
    blocked: null,
  };
  const entries = startCycle(s, { at: now, expiryRef: '', grantRef: `cycle:${now}` });
  return { state: s, entries };
}

export type PlanChangeOutcome = 'plan_changed' | 'renewed' | 'updated' | 'stale';

/**
 * Sets a workspace's plan (the API's PUT, or Stripe's subscription events). A different plan,
 * or the same plan on another interval, starts a new cycle: the old included remainder
 * expires (or is forfeited, R-CYC-3) and the new allotment is granted (R-CYC-2). The same plan
 * and interval only take the new terms.
 *
 * With Stripe's billing period the cycle is that period, and a later period of the same plan
 * is a renewal (R-CYC-1), granted once; cycles after it follow on from its end. An event older
 * than the last one applied changes nothing.
 */
export function changePlan(
  state: EngineState,
  plan: PlanChange,
  now: number,
  o: {
    period?: { start: number; end: number } | undefined;
    eventAt?: number | undefined;
    expiryType?: 'expiry' | 'forfeit';
  } = {},
): { state: EngineState; entries: LedgerEntry[]; outcome: PlanChangeOutcome } {
  if (o.eventAt !== undefined && state.stripeEventAt > o.eventAt)
    return { state, entries: [], outcome: 'stale' };
  const rolled = roll(state, now);
  const s = clone(rolled.state);
  let outcome: PlanChangeOutcome = 'updated';
  if (s.planId !== plan.planId || s.intervalMonths !== plan.intervalMonths) outcome = 'plan_changed';
  else if (o.period && o.period.start > s.cycleStart) outcome = 'renewed';
  Object.assign(s, plan);
  if (!s.capCustom) s.capCents = plan.defaultCapCents;
  let entries = rolled.entries;
  if (outcome === 'updated') {
    unblockIfRoom(s);
    if (o.period && o.period.start === s.cycleStart && o.period.end !== s.cycleEnd) followPeriod(s, o.period);
  } else {
    const at = o.period?.start ?? now;
    const expiryRef = outcome === 'renewed' ? `cycle:${s.cycleStart}` : 'plan_change';
    entries = [
      ...entries,
      ...startCycle(s, { at, expiryRef, grantRef: `cycle:${at}`, expiryType: o.expiryType ?? 'expiry' }),
    ];
    s.cycleStart = at;
    if (o.period) followPeriod(s, o.period);
    else {
      s.anchor = at;
      s.cycleIndex = 0;
      s.cycleEnd = addMonths(at, s.intervalMonths);
    }
  }
  if (o.eventAt !== undefined) s.stripeEventAt = o.eventAt;
  return { state: s, entries, outcome };
}

/** The current cycle ends where Stripe's period does; later ones follow on from there. */
function followPeriod(s: EngineState, period: { start: number; end: number }): void {
  s.anchor = period.end;
  s.cycleIndex = -1;
  s.cycleEnd = period.end;
}

/** Takes units from prepaid lots, oldest first (R-CON-1), one entry per lot; mutates `s`. */
function takePrepaid(
  s: EngineState,
  units: number,
  e: { at: number; type: EntryType; ref: string },
): LedgerEntry[] {
  const entries: LedgerEntry[] = [];
  let left = units;
  while (left > 0) {
    const lot = s.lots[0]!;
    const take = Math.min(lot.remaining, left);
    lot.remaining -= take;
    left -= take;
    s.prepaid -= take;
    entries.push({ ...e, kind: 'prepaid', units: -take, balanceAfter: s.prepaid, lot: lot.id });
    if (lot.remaining === 0) s.lots.shift();
  }
  return entries;
}

export interface DebitResult {
  split: Split;
  /** True when the debit happened (consume fully covered, or any record). */
  applied: boolean;
}

/** consume (R-CON-2) or record (R-CON-4) after rolling the cycle. */
export function debit(
  state: EngineState,
  o: { units: number; mode: 'consume' | 'record'; now: number; ref: string },
): { state: EngineState; result: DebitResult; entries: LedgerEntry[] } {
  const rolled = roll(state, o.now);
  const sp = split(rolled.state, o.units);
  if (o.mode === 'consume' && sp.reason !== null) {
    return { state: rolled.state, result: { split: sp, applied: false }, entries: rolled.entries };
  }
  const s = clone(rolled.state);
  const entries = [...rolled.entries];
  const at = o.now;
  if (sp.included > 0) {
    s.included -= sp.included;
    entries.push({
      at,
      type: 'consume',
      kind: 'included',
      units: -sp.included,
      balanceAfter: s.included,
      ref: o.ref,
    });
  }
  entries.push(...takePrepaid(s, sp.prepaid, { at, type: 'consume', ref: o.ref }));
  if (sp.flex > 0) {
    s.flexCycle += sp.flex;
    entries.push({
      at,
      type: 'consume',
      kind: 'flex',
      units: -sp.flex,
      balanceAfter: s.flexCycle,
      ref: o.ref,
    });
  }
  if (sp.shortfall > 0) {
    s.blocked ??= sp.reason;
    entries.push({ at, type: 'shortfall', kind: 'none', units: -sp.shortfall, balanceAfter: 0, ref: o.ref });
  }
  return { state: s, result: { split: sp, applied: true }, entries };
}

export type AdjustError = 'insufficient_balance';

/**
 * A manual grant (positive) or debit (negative) of included or prepaid credit, or a
 * purchased prepaid lot. A prepaid grant is a new lot; a prepaid debit takes from the oldest
 * lots. A debit never takes a balance below zero. A grant lifts a block.
 */
export function adjust(
  state: EngineState,
  o: { kind: 'included' | 'prepaid'; units: number; now: number; ref: string; type: 'grant' | 'adjustment' },
): { state: EngineState; entries: LedgerEntry[]; error: AdjustError | null } {
  const rolled = roll(state, o.now);
  const s = clone(rolled.state);
  const entries = [...rolled.entries];
  const at = o.now;
  if (o.kind === 'included') {
    if (s.included + o.units < 0)
      return { state: rolled.state, entries: rolled.entries, error: 'insufficient_balance' };
    s.included += o.units;
    s.includedGranted += o.units;
    entries.push({
      at,
      type: o.type,
      kind: 'included',
      units: o.units,
      balanceAfter: s.included,
      ref: o.ref,
    });
  } else if (o.units > 0) {
    s.lots.push({ id: o.ref, remaining: o.units });
    s.prepaid += o.units;
    entries.push({
      at,
      type: o.type,
      kind: 'prepaid',
      units: o.units,
      balanceAfter: s.prepaid,
      ref: o.ref,
      lot: o.ref,
    });
  } else {
    if (s.prepaid + o.units < 0)
      return { state: rolled.state, entries: rolled.entries, error: 'insufficient_balance' };
    entries.push(...takePrepaid(s, -o.units, { at, type: o.type, ref: o.ref }));
  }
  if (o.units > 0) s.blocked = null;
  return { state: s, entries, error: null };
}

export interface FlexSettings {
  enabled?: boolean | undefined;
  /** A number sets the cap; null removes it (the caller checked the confirmation). */
  capCents?: number | null | undefined;
  /** undefined: keep; null: remove. */
  thresholdCents?: number | null | undefined;
}

/**
 * Flex settings: the switch (R-FLX-1, R-FLX-3), the cap (R-FLX-2), the threshold (R-FLX-4).
 * Enabling flex that was disabled sets the plan's default cap, unless the same change sets a
 * cap. A change that gives flex room again lifts a block; a spend that still does not fit is
 * refused with its own reason again.
 */
export function setFlex(
  state: EngineState,
  o: FlexSettings & { now: number },
): { state: EngineState; entries: LedgerEntry[] } {
  const rolled = roll(state, o.now);
  const s = clone(rolled.state);
  if (o.enabled !== undefined) {
    if (o.enabled && !s.flexEnabled) {
      s.capCents = s.defaultCapCents;
      s.capCustom = false;
    }
    s.flexEnabled = o.enabled;
  }
  if (o.capCents !== undefined) {
    s.capCents = o.capCents;
    s.capCustom = true;
  }
  if (o.thresholdCents !== undefined) s.thresholdCents = o.thresholdCents;
  unblockIfRoom(s);
  return { state: s, entries: rolled.entries };
}
