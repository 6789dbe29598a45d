/**
 * Property tests: random sequences of grants, adjustments, spends, flex settings, plan changes
 * and time (across cycle ends) run against the TypeScript mirror and the Lua scripts with the
 * same inputs. After every step both must answer alike and hold the same state, the mirror's
 * state must keep the burn-down's invariants, and at the end the Redis ledger must prove the
 * balances. The cycle arithmetic (addMonths) is held to one answer in TypeScript and Lua.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { EngineState, PlanChange } from '../../src/domain/burndown.js';
import { addMonths } from '../../src/domain/cycle.js';
import { unitsForCents } from '../../src/domain/units.js';
import { checkLedger } from '../../src/services/ledger-check.js';
import { ANNUAL, FREE, GROWTH, GROWTH_CHEAPER_FLEX, GROWTH_YEARLY, u } from '../support/burndown-cases.js';
import { type DebitView, MirrorEngine, RedisEngine } from '../support/engines.js';
import { testRedis } from '../support/redis.js';

const r = testRedis();
afterAll(() => r.close());

const DAY = 86_400_000;

type Action =
  | { op: 'prepaid'; units: number }
  | { op: 'adjust'; kind: 'included' | 'prepaid'; units: number }
  | { op: 'consume' | 'record'; units: number }
  /** Repeats an earlier spend with its idempotency key (R-CON-5); `pick` chooses which. */
  | { op: 'repeat'; pick: number }
  | { op: 'flex'; enabled: boolean }
  | { op: 'cap'; capCents: number | null }
  | { op: 'threshold'; thresholdCents: number | null }
  | { op: 'plan'; plan: PlanChange }
  /** A Stripe subscription event: a period around now, an event time that may be older. */
  | { op: 'stripe'; plan: PlanChange; startAgo: number; length: number; eventAt: number; forfeit: boolean }
  | { op: 'look' };

/**
 * How time moves before an action: by some ms (0 included: several movements in one
 * millisecond), or onto the current cycle's end ± 1 ms.
 */
type Move = { by: number } | { toCycleEnd: -1 | 0 | 1 };

// From one unit (0.0001 credit) to 20 000 credits, weighted toward amounts near the balances.
const unitsArb = fc.oneof(
  fc.constant(1),
  fc.integer({ min: 1, max: u('1') }),
  { weight: 3, arbitrary: fc.integer({ min: 1, max: u('200') }) },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 300 }).map((n) => n * u('1')) },
  fc.integer({ min: 1, max: u('20000') }),
);
const grantArb = fc.oneof(
  fc.constant(1),
  fc.integer({ min: 1, max: u('100') }),
  fc.integer({ min: 1, max: u('5000') }),
);

const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ op: fc.constantFrom('consume', 'record'), units: unitsArb }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('prepaid'), units: grantArb }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('adjust'),
      kind: fc.constantFrom('included', 'prepaid'),
      units: fc.tuple(grantArb, fc.boolean()).map(([n, neg]) => (neg ? -n : n)),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('repeat'), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('flex'), enabled: fc.boolean() }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('cap'),
      capCents: fc.option(
        fc.oneof(fc.integer({ min: 100, max: 200 }), fc.integer({ min: 100, max: 500_000 })),
        {
          nil: null,
        },
      ),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('threshold'),
      thresholdCents: fc.option(fc.integer({ min: 0, max: 200_000 }), { nil: null }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant('plan'),
      plan: fc.constantFrom(GROWTH, ANNUAL, FREE, GROWTH_YEARLY, GROWTH_CHEAPER_FLEX),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('stripe' as const),
      plan: fc.constantFrom(GROWTH, ANNUAL, FREE, GROWTH_YEARLY, GROWTH_CHEAPER_FLEX),
      startAgo: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 40 * DAY })),
      length: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 400 * DAY })),
      eventAt: fc.integer({ min: 0, max: 50 }),
      forfeit: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ op: 'look' as const }) },
);

const moveArb: fc.Arbitrary<Move> = fc.oneof(
  { weight: 2, arbitrary: fc.constant({ by: 0 }) },
  { weight: 4, arbitrary: fc.record({ by: fc.integer({ min: 1, max: 3_600_000 }) }) },
  { weight: 3, arbitrary: fc.record({ by: fc.integer({ min: 1, max: 10 * DAY }) }) },
  { weight: 2, arbitrary: fc.record({ by: fc.integer({ min: 25 * DAY, max: 100 * DAY }) }) },
  { weight: 1, arbitrary: fc.record({ by: fc.integer({ min: 300 * DAY, max: 800 * DAY }) }) },
  { weight: 2, arbitrary: fc.record({ toCycleEnd: fc.constantFrom(-1 as const, 0 as const, 1 as const) }) },
);

const runArb = fc.record({
  plan: fc.constantFrom(GROWTH, ANNUAL, FREE, GROWTH_YEARLY, GROWTH_CHEAPER_FLEX),
  // Anchors anywhere in 2024–2030, so the 29th–31st and leap days come up.
  start: fc.integer({ min: Date.UTC(2024, 0, 1), max: Date.UTC(2030, 0, 1) }),
  steps: fc.array(fc.record({ move: moveArb, action: actionArb }), {
    minLength: 1,
    maxLength: 40,
    size: 'max',
  }),
});

/** Flex units the cap and the threshold still allow (R-FLX-2, R-FLX-4), computed apart from the engine. */
function flexAllowance(s: EngineState): number | null {
  if (!s.flexAllowed || !s.flexEnabled) return 0;
  const limits = [s.capCents, s.thresholdCents]
    .filter((c): c is number => c !== null)
    .map((c) => Math.max(0, unitsForCents(c, s.flexPriceE4) - s.flexCycle));
  return limits.length === 0 ? null : Math.min(...limits);
}

function expectSane(s: EngineState, now: number) {
  expect(s.included).toBeGreaterThanOrEqual(0);
  expect(s.prepaid).toBeGreaterThanOrEqual(0);
  expect(s.flexCycle).toBeGreaterThanOrEqual(0);
  for (const lot of s.lots) expect(lot.remaining).toBeGreaterThan(0);
  expect(s.lots.reduce((sum, l) => sum + l.remaining, 0)).toBe(s.prepaid);
  expect(s.cycleStart).toBeLessThanOrEqual(now);
  expect(s.cycleEnd).toBeGreaterThan(now);
}

/** R-CON-1, R-CON-2, R-CON-4, R-FLX-2 on one spend, from the state just before it (rolled to now). */
function expectSpend(
  o: { mode: 'consume' | 'record'; units: number },
  before: EngineState,
  got: DebitView,
  after: EngineState,
) {
  const { included, prepaid, flex } = got.debited;
  if (o.mode === 'consume' && !got.ok) {
    // All or nothing: a refusal says why and changes nothing.
    expect(got.reason).not.toBeNull();
    expect(after).toEqual(before);
    return;
  }
  expect(got.ok).toBe(true);
  expect(included + prepaid + flex + got.shortfall).toBe(o.units);
  if (o.mode === 'consume') expect(got.shortfall).toBe(0);
  expect(after.blocked !== null).toBe(got.shortfall > 0);
  // Strictly included, then prepaid, then flex.
  if (before.blocked === null) {
    expect(included).toBe(Math.min(before.included, o.units));
    if (prepaid + flex + got.shortfall > 0) expect(included).toBe(before.included);
    if (flex + got.shortfall > 0) expect(prepaid).toBe(before.prepaid);
  } else {
    expect(included + prepaid + flex).toBe(0);
  }
  expect(after.included).toBe(before.included - included);
  expect(after.prepaid).toBe(before.prepaid - prepaid);
  expect(after.flexCycle).toBe(before.flexCycle + flex);
  // Prepaid lots burn oldest first: what is left is a tail of the lots before, the first maybe cut.
  const gone = before.lots.length - after.lots.length;
  expect(gone).toBeGreaterThanOrEqual(0);
  expect(after.lots.slice(1)).toEqual(before.lots.slice(gone + 1));
  if (after.lots.length > 0) expect(after.lots[0]!.id).toBe(before.lots[gone]!.id);
  // Flex never goes past the cap or threshold; a cap lowered below what was used adds nothing.
  const allowance = flexAllowance(before);
  if (allowance !== null) expect(flex).toBeLessThanOrEqual(allowance);
  if (before.capCents !== null) {
    const capUnits = unitsForCents(before.capCents, before.flexPriceE4);
    if (before.flexCycle <= capUnits) expect(after.flexCycle).toBeLessThanOrEqual(capUnits);
    else expect(flex).toBe(0);
  }
}

let runs = 0;

describe('burn-down properties: mirror and Lua agree on random sequences', () => {
  it('R-CON-1 R-CON-2 R-CON-4 R-CON-5 R-FLX-2 R-CYC-1 R-CYC-2 same answers and state after every step, invariants hold, and the ledger proves the balances (R-CON-7)', async () => {
    await fc.assert(
      fc.asyncProperty(runArb, async ({ plan, start, steps }) => {
        const ws = `prop${++runs}`;
        const mirror = new MirrorEngine();
        const lua = new RedisEngine(r.store, ws);
        await mirror.create(plan, start);
        await lua.create(plan, start);
        const spends: {
          units: number;
          mode: 'consume' | 'record';
          key: string;
          at: number;
          first: DebitView;
        }[] = [];
        let now = start;
        let prev = await mirror.state(now);

        for (const [i, step] of steps.entries()) {
          now = 'by' in step.move ? now + step.move.by : prev.cycleEnd + step.move.toCycleEnd;
          const before = await mirror.state(now);
          if (now >= prev.cycleEnd) {
            // R-CYC-1: the cycle rolled on its own: a fresh allotment, no flex used, nothing blocked.
            expect(before.cycleStart).toBeGreaterThan(prev.cycleStart);
            expect(before.included).toBe(before.allotment);
            expect(before.flexCycle).toBe(0);
            expect(before.blocked).toBeNull();
          }
          const a = step.action;
          const key = `k${i}`;
          switch (a.op) {
            case 'consume':
            case 'record': {
              const o = { units: a.units, mode: a.op, now, key };
              const got = await mirror.debit(o);
              expect(await lua.debit(o)).toEqual(got);
              expectSpend(o, before, got, await mirror.state(now));
              spends.push({ units: a.units, mode: a.op, key, at: now, first: got });
              break;
            }
            case 'repeat': {
              const earlier = spends[a.pick % Math.max(1, spends.length)];
              // A key answers its first reply for the idempotency window (issue 10 §2); after
              // it, a key may be a new event (the mirror keeps keys for ever).
              if (!earlier || now - earlier.at > r.store.idempotencyWindowSeconds * 1000) break;
              const o = { units: earlier.units, mode: earlier.mode, now, key: earlier.key };
              const got = await mirror.debit(o);
              expect(await lua.debit(o)).toEqual(got);
              expect(got).toEqual(earlier.first);
              expect(await mirror.state(now)).toEqual(before);
              break;
            }
            case 'prepaid':
            case 'adjust': {
              const kind = a.op === 'prepaid' ? 'prepaid' : a.kind;
              const o = { kind, units: a.units, now, key } as const;
              const status = await mirror.adjust(o);
              expect(await lua.adjust(o)).toBe(status);
              if (a.op === 'prepaid') expect(status).toBe('ok');
              break;
            }
            case 'flex':
              await mirror.setFlex({ enabled: a.enabled, now });
              await lua.setFlex({ enabled: a.enabled, now });
              break;
            case 'cap':
              await mirror.setFlex({ capCents: a.capCents, now });
              await lua.setFlex({ capCents: a.capCents, now });
              break;
            case 'threshold':
              await mirror.setFlex({ thresholdCents: a.thresholdCents, now });
              await lua.setFlex({ thresholdCents: a.thresholdCents, now });
              break;
            case 'plan':
              await mirror.changePlan(a.plan, now);
              await lua.changePlan(a.plan, now);
              break;
            case 'stripe': {
              const period = { start: now - a.startAgo, end: now - a.startAgo + a.length };
              const o = {
                period,
                eventAt: a.eventAt,
                expiryType: a.forfeit ? ('forfeit' as const) : ('expiry' as const),
              };
              expect(await lua.changePlan(a.plan, now, o)).toBe(await mirror.changePlan(a.plan, now, o));
              break;
            }
            case 'look':
              break;
          }
          const state = await mirror.state(now);
          expectSane(state, now);
          expect(await lua.state(now)).toEqual(state);
          prev = state;
        }

        const check = await checkLedger(r.store, ws, now);
        expect(check.problems).toEqual([]);
      }),
      { numRuns: 100 },
    );
  });
});

describe('burn-down examples the random sequences rarely reach', () => {
  let n = 0;
  it.each([
    ['mirror', () => new MirrorEngine()],
    ['lua', () => new RedisEngine(r.store, `lowered${++n}`)],
  ])(
    'R-FLX-2 a cap lowered below the flex already used refuses more flex and keeps what was used (%s)',
    async (_name, make) => {
      const engine = make();
      const t = Date.UTC(2026, 0, 10);
      await engine.create(GROWTH, t);
      expect((await engine.debit({ units: u('170'), mode: 'consume', now: t, key: 'a' })).debited.flex).toBe(
        u('20'),
      );
      // $40 at $4.00 a credit: 10 credits, below the 20 used.
      await engine.setFlex({ capCents: 4_000, now: t });
      const refused = await engine.debit({ units: 1, mode: 'consume', now: t, key: 'b' });
      expect(refused).toMatchObject({ ok: false, reason: 'flex_cap_reached' });
      const recorded = await engine.debit({ units: u('1'), mode: 'record', now: t, key: 'c' });
      expect(recorded).toMatchObject({
        ok: true,
        shortfall: u('1'),
        debited: { included: 0, prepaid: 0, flex: 0 },
      });
      expect((await engine.state(t)).flexCycle).toBe(u('20'));
      await engine.setFlex({ capCents: 10_000, now: t });
      expect((await engine.debit({ units: u('5'), mode: 'consume', now: t, key: 'd' })).debited.flex).toBe(
        u('5'),
      );
      expect((await engine.debit({ units: 1, mode: 'consume', now: t, key: 'e' })).ok).toBe(false);
      expect((await engine.state(t)).flexCycle).toBe(u('25'));
    },
  );
});

describe('addMonths: TypeScript and Lua agree (R-CYC-1)', () => {
  const core = readFileSync(new URL('../../src/redis/lua/includes/core.lua', import.meta.url), 'utf8');
  const script = `${core}\nreturn addMonths(tonumber(ARGV[1]), tonumber(ARGV[2]))`;
  const luaAddMonths = async (anchor: number, months: number) =>
    Number(await r.redis.eval(script, 0, String(anchor), String(months)));

  it('R-CYC-1 anchors on the 29th–31st (and any day), leap years, any time of day, 0..40 months', async () => {
    const anchorArb = fc
      .record({
        year: fc.integer({ min: 1900, max: 2200 }),
        month: fc.integer({ min: 0, max: 11 }),
        day: fc.oneof(fc.integer({ min: 28, max: 31 }), fc.integer({ min: 1, max: 31 })),
        timeOfDay: fc.integer({ min: 0, max: DAY - 1 }),
      })
      .map(({ year, month, day, timeOfDay }) => {
        const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
        return Date.UTC(year, month, Math.min(day, lastDay)) + timeOfDay;
      });
    await fc.assert(
      fc.asyncProperty(anchorArb, fc.integer({ min: 0, max: 40 }), async (anchor, months) => {
        expect(await luaAddMonths(anchor, months)).toBe(addMonths(anchor, months));
      }),
      { numRuns: 2000 },
    );
  });

  const noon = (y: number, m: number, d: number) => Date.UTC(y, m - 1, d, 12);
  it.each([
    ['Jan 31 2026 + 1 → Feb 28', noon(2026, 1, 31), 1, noon(2026, 2, 28)],
    ['Jan 31 2028 + 1 → Feb 29 (leap year)', noon(2028, 1, 31), 1, noon(2028, 2, 29)],
    ['Jan 31 2026 + 2 → Mar 31 (the anchor day comes back)', noon(2026, 1, 31), 2, noon(2026, 3, 31)],
    ['Feb 29 2028 + 12 → Feb 28 2029', noon(2028, 2, 29), 12, noon(2029, 2, 28)],
    [
      'Dec 31 2026 23:59:59.999 + 2 → Feb 28 2027, same time',
      Date.UTC(2026, 11, 31, 23, 59, 59, 999),
      2,
      Date.UTC(2027, 1, 28, 23, 59, 59, 999),
    ],
    ['Jan 31 2026 + 0 → itself', noon(2026, 1, 31), 0, noon(2026, 1, 31)],
  ])('R-CYC-1 %s', async (_name, anchor, months, expected) => {
    expect(addMonths(anchor, months)).toBe(expected);
    expect(await luaAddMonths(anchor, months)).toBe(expected);
  });
});
