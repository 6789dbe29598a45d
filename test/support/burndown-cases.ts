/**
 * One table of burn-down cases, run against both the TypeScript mirror and the Lua scripts
 * (test/redis/burndown-cases.test.ts). Each case names the rules it pins.
 */
import type { EngineState, PlanChange, RefusalReason } from '../../src/domain/burndown.js';
import { parseDecimal4 } from '../../src/domain/units.js';

export const T0 = Date.UTC(2026, 0, 31, 12, 0, 0); // Jan 31: the next cycle ends on Feb 28
/** The end of a Stripe period that started an hour after T0 (a trial-like short period). */
const P1 = Date.UTC(2026, 1, 28, 12);
export const HOUR = 3_600_000;
export const u = (credits: string) => parseDecimal4(credits)!;

export const GROWTH: PlanChange = {
  planId: 'growth',
  intervalMonths: 1,
  allotment: u('150'),
  flexAllowed: true,
  flexPriceE4: 4_000_000,
  defaultCapCents: 10_000,
};
export const ANNUAL: PlanChange = {
  ...GROWTH,
  planId: 'growth-annual',
  intervalMonths: 12,
  allotment: u('1800'),
  defaultCapCents: 120_000,
};
export const FREE: PlanChange = { ...GROWTH, planId: 'free', allotment: u('30'), flexAllowed: false };
/** The growth plan put on a yearly cycle by an enterprise override: same plan id. */
export const GROWTH_YEARLY: PlanChange = {
  ...GROWTH,
  intervalMonths: 12,
  allotment: u('1800'),
  defaultCapCents: 120_000,
};
/** The growth plan with an override of its flex price: same plan id and interval. */
export const GROWTH_CHEAPER_FLEX: PlanChange = { ...GROWTH, flexPriceE4: 3_500_000 };

type Expect = {
  ok?: boolean;
  included?: string;
  prepaid?: string;
  flex?: string;
  shortfall?: string;
  reason?: RefusalReason | null;
};
export type StateExpect = Partial<
  Pick<EngineState, 'planId' | 'blocked' | 'capCents' | 'flexEnabled' | 'cycleStart' | 'cycleEnd'>
> & { included?: string; prepaid?: string; flexCycle?: string; lots?: [string, string][] };

export type Step =
  | { op: 'consume' | 'record'; credits: string; t?: number; key?: string; expect: Expect }
  | { op: 'prepaid'; credits: string; key: string; t?: number }
  | { op: 'adjust'; kind: 'included' | 'prepaid'; credits: string; key: string; expect: string; t?: number }
  | { op: 'flex'; enabled?: boolean; capCents?: number | null; thresholdCents?: number | null; t?: number }
  | { op: 'plan'; plan: PlanChange; t?: number }
  | {
      op: 'stripe';
      plan: PlanChange;
      period?: { start: number; end: number };
      eventAt: number;
      expiryType?: 'expiry' | 'forfeit';
      t?: number;
      outcome: string;
    }
  | { op: 'state'; t?: number; expect: StateExpect };

export interface BurndownCase {
  name: string;
  plan: PlanChange;
  steps: Step[];
}

export const CASES: BurndownCase[] = [
  {
    name: 'R-CON-1 included, then prepaid lots oldest first, then flex',
    plan: GROWTH,
    steps: [
      { op: 'prepaid', credits: '20', key: 'lotA' },
      { op: 'prepaid', credits: '30', key: 'lotB' },
      { op: 'consume', credits: '160', expect: { ok: true, included: '150', prepaid: '10', flex: '0' } },
      {
        op: 'state',
        expect: {
          included: '0',
          prepaid: '40',
          lots: [
            ['lotA', '10'],
            ['lotB', '30'],
          ],
        },
      },
      { op: 'consume', credits: '45.5', expect: { ok: true, included: '0', prepaid: '40', flex: '5.5' } },
      { op: 'state', expect: { prepaid: '0', lots: [], flexCycle: '5.5' } },
    ],
  },
  {
    name: 'R-CON-2 consume is all or nothing; R-CYC-4 the free plan refuses past its credits',
    plan: FREE,
    steps: [
      { op: 'consume', credits: '30.0001', expect: { ok: false, reason: 'plan_blocks_flex', included: '0' } },
      { op: 'state', expect: { included: '30' } },
      { op: 'consume', credits: '30', expect: { ok: true, included: '30' } },
      { op: 'consume', credits: '0.0001', expect: { ok: false, reason: 'plan_blocks_flex' } },
      { op: 'consume', credits: '1', t: T0 + 29 * 24 * HOUR, expect: { ok: true, included: '1' } },
    ],
  },
  {
    name: 'R-FLX-2 the cap is dollars of flex per cycle: $100 at $4.00 a credit is 25 credits',
    plan: GROWTH,
    steps: [
      { op: 'consume', credits: '150', expect: { ok: true } },
      { op: 'consume', credits: '25.0001', expect: { ok: false, reason: 'flex_cap_reached' } },
      { op: 'consume', credits: '25', expect: { ok: true, flex: '25' } },
      { op: 'consume', credits: '0.0001', expect: { ok: false, reason: 'flex_cap_reached' } },
    ],
  },
  {
    name: 'R-FLX-2 a cap of $1.01 allows exactly 0.2525 credits (rounded down to the unit)',
    plan: GROWTH,
    steps: [
      { op: 'flex', capCents: 101 },
      { op: 'consume', credits: '150.2526', expect: { ok: false, reason: 'flex_cap_reached' } },
      { op: 'consume', credits: '150.2525', expect: { ok: true, flex: '0.2525' } },
    ],
  },
  {
    name: 'R-FLX-4 the billing threshold binds when lower than the cap',
    plan: GROWTH,
    steps: [
      { op: 'flex', thresholdCents: 2_000 },
      { op: 'consume', credits: '156', expect: { ok: false, reason: 'billing_threshold_reached' } },
      { op: 'consume', credits: '155', expect: { ok: true, flex: '5' } },
      { op: 'flex', thresholdCents: null },
      { op: 'consume', credits: '20', expect: { ok: true, flex: '20' } },
      { op: 'consume', credits: '0.0001', expect: { ok: false, reason: 'flex_cap_reached' } },
    ],
  },
  {
    name: 'R-FLX-3 flex disabled refuses past prepaid; R-FLX-1 enabling again restores the default cap',
    plan: GROWTH,
    steps: [
      { op: 'flex', capCents: 500 },
      { op: 'flex', enabled: false },
      { op: 'consume', credits: '150.0001', expect: { ok: false, reason: 'flex_disabled' } },
      { op: 'flex', enabled: true },
      { op: 'state', expect: { flexEnabled: true, capCents: 10_000 } },
      { op: 'consume', credits: '175', expect: { ok: true, flex: '25' } },
    ],
  },
  {
    name: 'R-FLX-2 a removed cap has no limit',
    plan: GROWTH,
    steps: [
      { op: 'flex', capCents: null },
      { op: 'consume', credits: '100150', expect: { ok: true, flex: '100000' } },
    ],
  },
  {
    name: 'R-CON-4 record books a shortfall and blocks until the next grant',
    plan: FREE,
    steps: [
      {
        op: 'record',
        credits: '35',
        expect: { ok: true, included: '30', shortfall: '5', reason: 'plan_blocks_flex' },
      },
      { op: 'state', expect: { blocked: 'plan_blocks_flex', included: '0' } },
      { op: 'consume', credits: '0.0001', expect: { ok: false, reason: 'insufficient_credits' } },
      { op: 'prepaid', credits: '10', key: 'lot1' },
      { op: 'state', expect: { blocked: null } },
      { op: 'consume', credits: '10', expect: { ok: true, prepaid: '10' } },
    ],
  },
  {
    name: 'R-CON-4 record past the flex cap books the rest as a shortfall',
    plan: GROWTH,
    steps: [
      {
        op: 'record',
        credits: '200',
        expect: { ok: true, included: '150', flex: '25', shortfall: '25', reason: 'flex_cap_reached' },
      },
      { op: 'state', expect: { blocked: 'flex_cap_reached', flexCycle: '25' } },
      { op: 'flex', capCents: 20_000 },
      { op: 'consume', credits: '25', expect: { ok: true, flex: '25' } },
    ],
  },
  {
    name: 'R-CYC-1 the cycle rolls at its end with no job: included resets, flex per cycle restarts',
    plan: GROWTH,
    steps: [
      { op: 'consume', credits: '170', expect: { ok: true, flex: '20' } },
      { op: 'state', t: Date.UTC(2026, 1, 28, 11, 59, 59, 999), expect: { included: '0', flexCycle: '20' } },
      {
        op: 'state',
        t: Date.UTC(2026, 1, 28, 12),
        expect: {
          included: '150',
          flexCycle: '0',
          cycleStart: Date.UTC(2026, 1, 28, 12),
          cycleEnd: Date.UTC(2026, 2, 31, 12),
        },
      },
      { op: 'consume', credits: '1', t: Date.UTC(2026, 6, 1), expect: { ok: true, included: '1' } },
      {
        op: 'state',
        t: Date.UTC(2026, 6, 1),
        expect: { included: '149', cycleStart: Date.UTC(2026, 5, 30, 12) },
      },
    ],
  },
  {
    name: 'R-CYC-2 a plan change starts a new cycle with the new allotment and default cap',
    plan: GROWTH,
    steps: [
      { op: 'consume', credits: '100', expect: { ok: true } },
      { op: 'plan', plan: ANNUAL, t: T0 + 5 * 24 * HOUR },
      {
        op: 'state',
        t: T0 + 5 * 24 * HOUR,
        expect: {
          planId: 'growth-annual',
          included: '1800',
          capCents: 120_000,
          cycleStart: T0 + 5 * 24 * HOUR,
          cycleEnd: Date.UTC(2027, 1, 5, 12),
        },
      },
      { op: 'consume', credits: '2100', t: T0 + 6 * 24 * HOUR, expect: { ok: true, flex: '300' } },
      {
        op: 'consume',
        credits: '0.0001',
        t: T0 + 6 * 24 * HOUR,
        expect: { ok: false, reason: 'flex_cap_reached' },
      },
    ],
  },
  {
    name: 'R-CYC-2 a customer-set cap survives a plan change',
    plan: GROWTH,
    steps: [
      { op: 'flex', capCents: 4_000 },
      { op: 'plan', plan: ANNUAL },
      { op: 'state', expect: { capCents: 4_000 } },
    ],
  },
  {
    name: 'R-CON-5 a repeated idempotency key debits once',
    plan: GROWTH,
    steps: [
      { op: 'consume', credits: '10', key: 'k1', expect: { ok: true, included: '10' } },
      { op: 'consume', credits: '10', key: 'k1', expect: { ok: true, included: '10' } },
      { op: 'state', expect: { included: '140' } },
    ],
  },
  {
    name: 'R-CON-7 manual adjustments never take a balance below zero',
    plan: GROWTH,
    steps: [
      { op: 'adjust', kind: 'included', credits: '-150.0001', key: 'a1', expect: 'insufficient_balance' },
      { op: 'adjust', kind: 'included', credits: '-50', key: 'a2', expect: 'ok' },
      { op: 'adjust', kind: 'prepaid', credits: '5', key: 'a3', expect: 'ok' },
      { op: 'adjust', kind: 'prepaid', credits: '-6', key: 'a4', expect: 'insufficient_balance' },
      { op: 'adjust', kind: 'prepaid', credits: '-2', key: 'a5', expect: 'ok' },
      { op: 'state', expect: { included: '100', prepaid: '3', lots: [['a3', '3']] } },
    ],
  },
  {
    name: 'R-CYC-2 the same plan on another interval (an override) starts a new cycle',
    plan: GROWTH,
    steps: [
      { op: 'consume', credits: '40', expect: { ok: true } },
      { op: 'plan', plan: GROWTH_YEARLY, t: T0 + 10 * 24 * HOUR },
      {
        op: 'state',
        t: T0 + 10 * 24 * HOUR,
        expect: {
          included: '1800',
          capCents: 120_000,
          cycleStart: T0 + 10 * 24 * HOUR,
          cycleEnd: Date.UTC(2027, 1, 10, 12),
        },
      },
      {
        op: 'state',
        t: Date.UTC(2027, 1, 10, 12),
        expect: { cycleStart: Date.UTC(2027, 1, 10, 12), cycleEnd: Date.UTC(2028, 1, 10, 12) },
      },
    ],
  },
  {
    name: 'R-CYC-2 the same plan and interval with other terms keeps the cycle',
    plan: GROWTH,
    steps: [
      { op: 'consume', credits: '40', expect: { ok: true } },
      { op: 'plan', plan: GROWTH_CHEAPER_FLEX, t: T0 + 5 * HOUR },
      { op: 'state', t: T0 + 5 * HOUR, expect: { included: '110', cycleStart: T0 } },
      { op: 'consume', credits: '138.5714', t: T0 + 6 * HOUR, expect: { ok: true, flex: '28.5714' } },
      {
        op: 'consume',
        credits: '0.0001',
        t: T0 + 6 * HOUR,
        expect: { ok: false, reason: 'flex_cap_reached' },
      },
    ],
  },
  {
    name: 'R-CON-4 a block stays until a grant or real flex room: switching flex on for a free plan does not lift it',
    plan: FREE,
    steps: [
      { op: 'record', credits: '31', expect: { ok: true, shortfall: '1', reason: 'plan_blocks_flex' } },
      { op: 'flex', enabled: true },
      { op: 'state', expect: { blocked: 'plan_blocks_flex' } },
      { op: 'plan', plan: FREE },
      { op: 'state', expect: { blocked: 'plan_blocks_flex' } },
      { op: 'record', credits: '1', expect: { ok: true, shortfall: '1' } },
      { op: 'state', expect: { blocked: 'plan_blocks_flex' } },
    ],
  },
  {
    name: 'R-CON-4 a block from the cap lifts when the cap is raised, not when it is lowered',
    plan: GROWTH,
    steps: [
      { op: 'record', credits: '180', expect: { ok: true, shortfall: '5', reason: 'flex_cap_reached' } },
      { op: 'flex', capCents: 5_000 },
      { op: 'state', expect: { blocked: 'flex_cap_reached' } },
      { op: 'flex', capCents: 10_400 },
      { op: 'state', expect: { blocked: null } },
      { op: 'consume', credits: '1', expect: { ok: true, flex: '1' } },
    ],
  },
  {
    name: 'R-CYC-1 a Stripe period is the cycle; its renewal is granted once, whether the cycle rolled first or the event came twice',
    plan: GROWTH,
    steps: [
      {
        op: 'stripe',
        plan: GROWTH,
        period: { start: T0 + HOUR, end: P1 },
        eventAt: 100,
        outcome: 'renewed',
        t: T0 + HOUR,
      },
      { op: 'state', t: T0 + HOUR, expect: { included: '150', cycleStart: T0 + HOUR, cycleEnd: P1 } },
      { op: 'consume', credits: '50', t: T0 + 2 * HOUR, expect: { ok: true } },
      {
        op: 'stripe',
        plan: GROWTH,
        period: { start: T0 + HOUR, end: P1 },
        eventAt: 100,
        outcome: 'updated',
        t: T0 + 3 * HOUR,
      },
      { op: 'state', t: T0 + 3 * HOUR, expect: { included: '100' } },
      // The period ends: the cycle rolls by itself, from the period's end.
      { op: 'consume', credits: '10', t: P1 + 1, expect: { ok: true, included: '10' } },
      {
        op: 'state',
        t: P1 + 1,
        expect: { included: '140', cycleStart: P1, cycleEnd: Date.UTC(2026, 2, 28, 12) },
      },
      // invoice.paid for that period arrives late: nothing granted again.
      {
        op: 'stripe',
        plan: GROWTH,
        period: { start: P1, end: Date.UTC(2026, 2, 28, 12) },
        eventAt: 200,
        outcome: 'updated',
        t: P1 + HOUR,
      },
      { op: 'state', t: P1 + HOUR, expect: { included: '140' } },
      // An older event (a stale subscription.updated) changes nothing.
      {
        op: 'stripe',
        plan: ANNUAL,
        period: { start: T0, end: P1 },
        eventAt: 150,
        outcome: 'stale',
        t: P1 + 2 * HOUR,
      },
      { op: 'state', t: P1 + 2 * HOUR, expect: { planId: 'growth', included: '140' } },
    ],
  },
  {
    name: 'R-CYC-1 a renewal event ahead of the roll starts the new period with a fresh allotment',
    plan: GROWTH,
    steps: [
      { op: 'consume', credits: '20', expect: { ok: true } },
      {
        op: 'stripe',
        plan: GROWTH,
        period: { start: T0 + 20 * 24 * HOUR, end: T0 + 50 * 24 * HOUR },
        eventAt: 5,
        outcome: 'renewed',
        t: T0 + 20 * 24 * HOUR,
      },
      { op: 'state', t: T0 + 20 * 24 * HOUR, expect: { included: '150', cycleEnd: T0 + 50 * 24 * HOUR } },
    ],
  },
  {
    name: 'R-CYC-3 a subscription that ends forfeits included credits, keeps prepaid, and falls to the free plan',
    plan: GROWTH,
    steps: [
      { op: 'prepaid', credits: '40', key: 'lot1' },
      { op: 'consume', credits: '100', expect: { ok: true } },
      {
        op: 'stripe',
        plan: FREE,
        eventAt: 300,
        expiryType: 'forfeit',
        outcome: 'plan_changed',
        t: T0 + 5 * HOUR,
      },
      {
        op: 'state',
        t: T0 + 5 * HOUR,
        expect: { planId: 'free', included: '30', prepaid: '40', cycleStart: T0 + 5 * HOUR },
      },
    ],
  },
  {
    name: 'R-FLX-4 the lower limit binds: the cap below the threshold says cap, a tie says threshold',
    plan: GROWTH,
    steps: [
      { op: 'flex', capCents: 2_000, thresholdCents: 4_000 },
      { op: 'consume', credits: '155.0001', expect: { ok: false, reason: 'flex_cap_reached' } },
      { op: 'flex', thresholdCents: 2_000 },
      { op: 'consume', credits: '155.0001', expect: { ok: false, reason: 'billing_threshold_reached' } },
      { op: 'consume', credits: '155', expect: { ok: true, flex: '5' } },
    ],
  },
];
