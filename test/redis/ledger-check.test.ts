/**
 * The ledger check (R-CON-7) on a real Redis: a workspace taken through every kind of movement
 * proves its balances from its ledger, and any balance changed behind the scripts' back is
 * caught and named.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { PlanChange } from '../../src/domain/burndown.js';
import { monthOf } from '../../src/domain/cycle.js';
import { checkLedger } from '../../src/services/ledger-check.js';
import { ANNUAL, GROWTH, T0, u } from '../support/burndown-cases.js';
import { testRedis } from '../support/redis.js';

const r = testRedis();
afterAll(() => r.close());

const at = (month: number, day: number, hour = 12) => Date.UTC(2026, month - 1, day, hour);
const CHECK_AT = at(3, 8);

let seq = 0;

async function spend(ws: string, credits: string, mode: 'consume' | 'record', now: number) {
  const key = `use${++seq}`;
  return r.store.debit({
    workspaceId: ws,
    units: u(credits),
    mode,
    idempotencyKey: key,
    bodyHash: `${mode}:${credits}`,
    usageId: key,
    feature: 'training',
    now,
    month: monthOf(now),
  });
}

async function adjust(
  ws: string,
  o: {
    kind: 'included' | 'prepaid';
    credits: string;
    type: 'grant' | 'adjustment';
    ref?: string;
    now: number;
  },
) {
  const ref = o.ref ?? `adj${++seq}`;
  const res = await r.store.adjust({
    workspaceId: ws,
    kind: o.kind,
    units: u(o.credits),
    ref,
    type: o.type,
    reason: 'test',
    idempotencyKey: ref,
    bodyHash: `${o.kind}:${o.credits}`,
    now: o.now,
  });
  expect(res.status).toBe('ok');
}

async function setPlan(ws: string, plan: PlanChange, now: number) {
  return r.store.upsert({ workspaceId: ws, terms: plan, meta: {}, now });
}

/**
 * Grants, consumes of every kind, a record with a shortfall, adjustments both ways, a cycle
 * roll and a plan change. The expectations on the way pin that each movement really happened.
 */
async function busyWorkspace(ws: string): Promise<void> {
  expect((await setPlan(ws, GROWTH, T0)).outcome).toBe('created');
  const t1 = T0 + 1000;
  await adjust(ws, { kind: 'prepaid', credits: '20', type: 'grant', ref: 'lotA', now: t1 });
  await adjust(ws, { kind: 'prepaid', credits: '30', type: 'grant', ref: 'lotB', now: t1 });
  expect((await spend(ws, '160', 'consume', t1)).debited).toEqual({
    included: u('150'),
    prepaid: u('10'),
    flex: 0,
  });
  // January flex in the first cycle.
  expect((await spend(ws, '45.5', 'consume', t1)).debited).toEqual({
    included: 0,
    prepaid: u('40'),
    flex: u('5.5'),
  });
  // February flex in the same cycle, past the $100 cap (25 credits): a shortfall that blocks.
  const rec = await spend(ws, '30', 'record', at(2, 10));
  expect(rec.debited.flex).toBe(u('19.5'));
  expect(rec.shortfall).toBe(u('10.5'));
  expect(rec.state.blocked).toBe('flex_cap_reached');
  await adjust(ws, { kind: 'included', credits: '5', type: 'adjustment', now: at(2, 11) });
  await adjust(ws, { kind: 'prepaid', credits: '10', type: 'grant', ref: 'lotC', now: at(2, 11) });
  await adjust(ws, { kind: 'prepaid', credits: '-3', type: 'adjustment', now: at(2, 11) });
  expect((await spend(ws, '10', 'consume', at(2, 12))).debited).toEqual({
    included: u('5'),
    prepaid: u('5'),
    flex: 0,
  });
  // The cycle ended on Feb 28 12:00: this consume rolls it first.
  const afterRoll = await spend(ws, '140', 'consume', at(3, 5));
  expect(afterRoll.debited.included).toBe(u('140'));
  expect((await r.store.snapshot(ws, at(3, 5)))!.state.cycleStart).toBe(at(2, 28));
  expect((await setPlan(ws, ANNUAL, at(3, 6))).outcome).toBe('plan_changed');
  expect((await spend(ws, '1810', 'consume', at(3, 7))).debited).toEqual({
    included: u('1800'),
    prepaid: u('2'),
    flex: u('8'),
  });
  await adjust(ws, { kind: 'included', credits: '50', type: 'adjustment', now: at(3, 7) });
  await adjust(ws, { kind: 'included', credits: '-20', type: 'adjustment', now: at(3, 7) });
  await adjust(ws, { kind: 'prepaid', credits: '4', type: 'grant', ref: 'lotD', now: at(3, 7) });
}

describe('checkLedger (R-CON-7)', () => {
  it('R-CON-7 a workspace through grants, every kind of debit, a shortfall, adjustments, a roll and a plan change proves its balances', async () => {
    await busyWorkspace('busy');
    const check = await checkLedger(r.store, 'busy', CHECK_AT);
    expect(check.problems).toEqual([]);
    expect(check.ok).toBe(true);
    expect(check.recomputed).toEqual({
      included: u('30'),
      prepaid: u('4'),
      lots: { lotA: 0, lotB: 0, lotC: 0, lotD: u('4') },
      flexCycle: u('8'),
      flexMonths: { '2026-01': u('5.5'), '2026-02': u('19.5'), '2026-03': u('8') },
    });
  });

  it('R-CON-7 R-CYC-1 a check run after the cycle ended sees the expiry and grant its own roll books', async () => {
    await busyWorkspace('later');
    const check = await checkLedger(r.store, 'later', Date.UTC(2027, 3, 1));
    expect(check.problems).toEqual([]);
    expect(check.recomputed.included).toBe(ANNUAL.allotment);
    expect(check.recomputed.flexCycle).toBe(0);
  });

  it('R-CON-7 an unknown workspace does not pass', async () => {
    const check = await checkLedger(r.store, 'nobody', CHECK_AT);
    expect(check.ok).toBe(false);
    expect(check.problems).toEqual(['workspace nobody does not exist']);
  });

  /*
   * Flex entries once named their cycle by its start, and a plan change starts a cycle at
   * `now`: flex booked in the millisecond a cycle started, then a plan change in that same
   * millisecond, gave two cycles one name and the check counted the old cycle's flex in the
   * new one. Cycles now carry a sequence number (cseq) of their own.
   */
  it('R-CON-7 regression: flex booked in the ms a cycle started, then a plan change in that ms, stays in the old cycle', async () => {
    const ws = 'same-ms';
    await setPlan(ws, GROWTH, T0);
    expect((await spend(ws, '160', 'consume', T0)).debited.flex).toBe(u('10'));
    expect((await setPlan(ws, ANNUAL, T0)).state.flexCycle).toBe(0);
    const check = await checkLedger(r.store, ws, T0 + 1);
    expect(check.problems).toEqual([]);
  });

  /** Rewrites one field of the engine's MessagePack state behind the scripts' back. */
  const tamperEngine = async (ws: string, field: string, change: (v: number) => number) => {
    const key = r.store.keys(ws).engine;
    const read = "return cmsgpack.unpack(redis.call('GET', KEYS[1]))[ARGV[1]]";
    const write = `local s = cmsgpack.unpack(redis.call('GET', KEYS[1]))
      s[ARGV[1]] = tonumber(ARGV[2])
      return redis.call('SET', KEYS[1], cmsgpack.pack(s))`;
    const before = Number(await r.redis.eval(read, 1, key, field));
    await r.redis.eval(write, 1, key, field, change(before));
  };

  const tampering: [string, (ws: string) => Promise<unknown>, RegExp][] = [
    [
      'the included balance',
      (ws) => tamperEngine(ws, 'incl', (v) => v + 1),
      /^the included balance is 30\.0001 credits, the ledger sums to 30 credits$/,
    ],
    [
      'the prepaid balance',
      (ws) => tamperEngine(ws, 'pre', (v) => v - 1),
      /^the prepaid balance is 3\.9999 credits, the ledger sums to 4 credits$/,
    ],
    [
      "this cycle's flex used",
      (ws) => tamperEngine(ws, 'flexCyc', () => 0),
      /^this cycle's flex used is 0 credits, the ledger sums to 8 credits$/,
    ],
    [
      'a lot left',
      (ws) => r.redis.hset(r.store.keys(ws).lotbal, 'lotD', u('5')),
      /^lot lotD is 5 credits, the ledger sums to 4 credits$/,
    ],
    [
      'a spent lot revived',
      (ws) => r.redis.hset(r.store.keys(ws).lotbal, 'lotA', 1),
      /^lot lotA is 0\.0001 credits, the ledger sums to 0 credits$/,
    ],
    [
      "a month's flex",
      (ws) => r.redis.hincrby(r.store.keys(ws).flexMonths, '2026-03', 1),
      /^flex used in 2026-03 is 8\.0001 credits, the ledger sums to 8 credits$/,
    ],
    [
      'a month of flex nobody used',
      (ws) => r.redis.hset(r.store.keys(ws).flexMonths, '2026-04', u('1')),
      /^flex used in 2026-04 is 1 credits, the ledger sums to 0 credits$/,
    ],
    [
      'the open lots',
      (ws) => r.redis.zrem(r.store.keys(ws).lots, 'lotD'),
      /^the open prepaid lots are \[\], the ledger leaves \[lotD\] in grant order$/,
    ],
    [
      'a ledger entry whose balance-after is wrong',
      (ws) =>
        r.redis.xadd(
          r.store.keys(ws).ledger,
          '*',
          ...['at', '1', 'type', 'adjustment', 'kind', 'included', 'units', '1', 'bal', '1', 'ref', 'forged'],
        ),
      /^ledger entry \d+-\d+ \(adjustment included, ref forged\): balance after is 0\.0001 credits, the included ledger sums to 30\.0001 credits$/,
    ],
  ];

  it.each(tampering)(
    'R-CON-7 tampering with %s fails the check and names it',
    async (_what, tamper, problem) => {
      const ws = `tampered${++seq}`;
      await busyWorkspace(ws);
      expect((await checkLedger(r.store, ws, CHECK_AT)).ok).toBe(true);
      await tamper(ws);
      const check = await checkLedger(r.store, ws, CHECK_AT);
      expect(check.ok).toBe(false);
      expect(
        check.problems.some((p) => problem.test(p)),
        check.problems.join('\n'),
      ).toBe(true);
    },
  );
});
