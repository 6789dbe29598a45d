/**
 * The shared table of burn-down cases against the TypeScript mirror and the Lua scripts on a
 * real Redis: both must give the same answers and end in the same state.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { formatUnits } from '../../src/domain/units.js';
import { CASES, type StateExpect, T0, u } from '../support/burndown-cases.js';
import { type Engine, MirrorEngine, RedisEngine } from '../support/engines.js';
import { testRedis } from '../support/redis.js';

const r = testRedis();
afterAll(() => r.close());

let seq = 0;
const engines: [string, () => Engine][] = [
  ['mirror', () => new MirrorEngine()],
  ['lua', () => new RedisEngine(r.store, `case${++seq}`)],
];

describe.each(engines)('burn-down cases (%s)', (_name, make) => {
  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_n, c) => {
    const engine = make();
    await engine.create(c.plan, T0);
    let auto = 0;
    for (const step of c.steps) {
      const now = step.t ?? T0 + 1000;
      switch (step.op) {
        case 'consume':
        case 'record': {
          const got = await engine.debit({
            units: u(step.credits),
            mode: step.op,
            now,
            key: step.key ?? `auto${++auto}`,
          });
          const e = step.expect;
          if (e.ok !== undefined) expect(got.ok).toBe(e.ok);
          if (e.included !== undefined) expect(formatUnits(got.debited.included)).toBe(e.included);
          if (e.prepaid !== undefined) expect(formatUnits(got.debited.prepaid)).toBe(e.prepaid);
          if (e.flex !== undefined) expect(formatUnits(got.debited.flex)).toBe(e.flex);
          if (e.shortfall !== undefined) expect(formatUnits(got.shortfall)).toBe(e.shortfall);
          if (e.reason !== undefined) expect(got.reason).toBe(e.reason);
          break;
        }
        case 'prepaid':
          expect(await engine.adjust({ kind: 'prepaid', units: u(step.credits), now, key: step.key })).toBe(
            'ok',
          );
          break;
        case 'adjust':
          expect(await engine.adjust({ kind: step.kind, units: u(step.credits), now, key: step.key })).toBe(
            step.expect,
          );
          break;
        case 'flex':
          await engine.setFlex({ ...step, now });
          break;
        case 'plan':
          await engine.changePlan(step.plan, now);
          break;
        case 'stripe': {
          const { plan, period, eventAt, expiryType } = step;
          const outcome = await engine.changePlan(plan, now, {
            eventAt,
            ...(period ? { period } : {}),
            ...(expiryType ? { expiryType } : {}),
          });
          expect(outcome).toBe(step.outcome);
          break;
        }
        case 'state':
          expectState(await engine.state(now), step.expect);
          break;
      }
    }
  });
});

function expectState(s: Awaited<ReturnType<Engine['state']>>, e: StateExpect) {
  const { included, prepaid, flexCycle, lots, ...plain } = e;
  if (included !== undefined) expect(formatUnits(s.included)).toBe(included);
  if (prepaid !== undefined) expect(formatUnits(s.prepaid)).toBe(prepaid);
  if (flexCycle !== undefined) expect(formatUnits(s.flexCycle)).toBe(flexCycle);
  if (lots !== undefined) expect(s.lots.map((l) => [l.id, formatUnits(l.remaining)])).toEqual(lots);
  expect(s).toMatchObject(plain);
}
