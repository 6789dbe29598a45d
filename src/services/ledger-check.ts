/**
 * Proves a workspace's balances from its ledger (R-CON-7): replays every entry oldest first,
 * recomputes each balance, and compares it with what the engine holds. Each mismatch is one
 * problem, written for a person. Read-only apart from the snapshot's cycle roll.
 *
 * Setup → compute → execute: the stored figures are read through the store, the replay and
 * the comparison are pure functions of what was read, and the verdict is the return value.
 * Run it on a quiet workspace: a debit landing between the reads shows up as a mismatch.
 */
import { formatUnits } from '../domain/units.js';
import type { EngineStore, LedgerRow, StoredState } from '../redis/engine-store.js';
import { LedgerReader } from './ledger-reader.js';

/** The balances the ledger adds up to. */
export interface LedgerTotals {
  included: number;
  prepaid: number;
  /** Every lot ever granted, lot id → units left. */
  lots: Record<string, number>;
  /** Flex units used in the state's current cycle. */
  flexCycle: number;
  /** Calendar month "YYYY-MM" → flex units used in it. */
  flexMonths: Record<string, number>;
}

export interface LedgerCheck {
  ok: boolean;
  problems: string[];
  recomputed: LedgerTotals;
}

export async function checkLedger(
  store: EngineStore,
  workspaceId: string,
  now: number,
  /** The whole ledger, PostgreSQL's part included; without it, what Redis has. */
  reader: LedgerReader = new LedgerReader({ store }),
): Promise<LedgerCheck> {
  // The snapshot goes first: rolling an ended cycle writes ledger entries the replay must see.
  const snap = await store.snapshot(workspaceId, now);
  const empty: LedgerTotals = { included: 0, prepaid: 0, lots: {}, flexCycle: 0, flexMonths: {} };
  if (!snap) return { ok: false, problems: [`workspace ${workspaceId} does not exist`], recomputed: empty };
  const rows = await reader.all(workspaceId);
  const [lotBalances, openLots, flexMonths] = await Promise.all([
    store.lotBalances(workspaceId),
    store.lots(workspaceId),
    store.flexMonths(workspaceId),
  ]);

  const replay = replayLedger(rows, snap.state.cycleSeq);
  const problems = [
    ...replay.problems,
    ...compareTotals(replay.totals, { state: snap.state, lots: lotBalances, flexMonths }),
    ...compareOpenLots(
      replay.openLots,
      openLots.map((l) => l.id),
    ),
  ];
  return { ok: problems.length === 0, problems, recomputed: replay.totals };
}

const credits = (units: number) => `${formatUnits(units)} credits`;

function entryName(row: LedgerRow): string {
  return `ledger entry ${row.id} (${row.type} ${row.kind}, ref ${row.ref || '-'})`;
}

/**
 * Sums the ledger kind by kind, and checks each entry's balance-after against the sum so far.
 * Maps, not plain objects, hold the per-lot and per-month sums: a lot id is a caller's ref and
 * could be any string, "constructor" included.
 */
function replayLedger(
  rows: LedgerRow[],
  cycleSeq: number,
): { totals: LedgerTotals; openLots: string[]; problems: string[] } {
  let included = 0;
  let prepaid = 0;
  // Insertion order is the order the ledger first names a lot, i.e. the order of the grants.
  const lots = new Map<string, number>();
  const flexMonths = new Map<string, number>();
  const flexByCycle = new Map<string, number>();
  const problems: string[] = [];
  const expectBalance = (row: LedgerRow, what: string, running: number) => {
    if (row.balanceAfter !== running) {
      problems.push(
        `${entryName(row)}: balance after is ${credits(row.balanceAfter)}, ${what} sums to ${credits(running)}`,
      );
    }
    if (running < 0) problems.push(`${entryName(row)}: ${what} goes negative (${credits(running)})`);
  };

  for (const row of rows) {
    if (!Number.isSafeInteger(row.units) || !Number.isSafeInteger(row.balanceAfter)) {
      problems.push(`${entryName(row)}: units or balance is not an integer`);
      continue;
    }
    switch (row.kind) {
      case 'included':
        included += row.units;
        expectBalance(row, 'the included ledger', included);
        break;
      case 'prepaid': {
        prepaid += row.units;
        expectBalance(row, 'the prepaid ledger', prepaid);
        const lot = row.fields.lot;
        if (lot === undefined) {
          problems.push(`${entryName(row)}: a prepaid entry without a lot`);
          break;
        }
        const left = (lots.get(lot) ?? 0) + row.units;
        lots.set(lot, left);
        if (left < 0) problems.push(`${entryName(row)}: lot ${lot} goes negative (${credits(left)})`);
        break;
      }
      case 'flex': {
        // Flex entries carry the units taken as negatives; "used" counts them up.
        const { month, cyc } = row.fields;
        if (month === undefined || cyc === undefined) {
          problems.push(`${entryName(row)}: a flex entry without its month or cycle`);
          break;
        }
        flexMonths.set(month, (flexMonths.get(month) ?? 0) - row.units);
        const usedInCycle = (flexByCycle.get(cyc) ?? 0) - row.units;
        flexByCycle.set(cyc, usedInCycle);
        if (row.balanceAfter !== usedInCycle) {
          problems.push(
            `${entryName(row)}: flex used after is ${credits(row.balanceAfter)}, ` +
              `the cycle's flex entries sum to ${credits(usedInCycle)}`,
          );
        }
        break;
      }
      case 'none':
        // A shortfall (R-CON-4): usage nobody paid for; it moves no balance.
        break;
      default:
        problems.push(`${entryName(row)}: unknown kind "${row.kind}"`);
    }
  }
  const totals: LedgerTotals = {
    included,
    prepaid,
    lots: Object.fromEntries(lots),
    flexCycle: flexByCycle.get(String(cycleSeq)) ?? 0,
    flexMonths: Object.fromEntries(flexMonths),
  };
  const openLots = [...lots].filter(([, left]) => left > 0).map(([id]) => id);
  return { totals, openLots, problems };
}

/** What the engine holds against what the ledger sums to. */
function compareTotals(
  ledger: LedgerTotals,
  stored: { state: StoredState; lots: Record<string, number>; flexMonths: Record<string, number> },
): string[] {
  const problems: string[] = [];
  const same = (what: string, held: number, summed: number) => {
    if (held !== summed) problems.push(`${what} is ${credits(held)}, the ledger sums to ${credits(summed)}`);
  };
  same('the included balance', stored.state.included, ledger.included);
  same('the prepaid balance', stored.state.prepaid, ledger.prepaid);
  same("this cycle's flex used", stored.state.flexCycle, ledger.flexCycle);
  for (const [lot, held, summed] of pairUp(stored.lots, ledger.lots)) same(`lot ${lot}`, held, summed);
  for (const [month, held, summed] of pairUp(stored.flexMonths, ledger.flexMonths)) {
    same(`flex used in ${month}`, held, summed);
  }
  return problems;
}

/** Every key of either record with both values (0 where one lacks it), sorted by key. */
function pairUp(held: Record<string, number>, summed: Record<string, number>): [string, number, number][] {
  const a = new Map(Object.entries(held));
  const b = new Map(Object.entries(summed));
  return [...new Set([...a.keys(), ...b.keys()])].sort().map((k) => [k, a.get(k) ?? 0, b.get(k) ?? 0]);
}

/**
 * The lots prepaid burns from (R-CON-1: oldest first) must be exactly those the ledger leaves
 * something in, in the order they were granted.
 */
function compareOpenLots(fromLedger: string[], open: string[]): string[] {
  const a = open.join(', ');
  const b = fromLedger.join(', ');
  return a === b ? [] : [`the open prepaid lots are [${a}], the ledger leaves [${b}] in grant order`];
}
