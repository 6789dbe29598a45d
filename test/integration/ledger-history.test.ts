/**
 * R-USE-1 from PostgreSQL (issue 10 §3): the usage of days Redis no longer keeps, summed from
 * the archived ledger. The statement reads the entries on Redis' clock by a range of stream ids
 * and the others (a test clock, a clock far off) by the partial index that holds only them
 * (migration 0005); these tests hold it to a model of the rule written here in plain code, over
 * entries on, near and far off the clock, late usage and shortfalls, and check that both parts
 * are read by their index.
 */
import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { LedgerHistory, OFF_CLOCK_MS } from '../../src/db/ledger-history.js';
import { LATE_USAGE_MAX_MS } from '../../src/domain/cycle.js';
import { type TestDatabase, testDatabase } from '../support/db.js';

const DAY = 86_400_000;
/** Midnight UTC, 2026-10-01: the ranges of days start in the 60 days after. */
const BASE = Date.parse('2026-10-01T00:00:00Z');
const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);

let tdb: TestDatabase;
beforeAll(async () => {
  tdb = await testDatabase();
});
afterAll(async () => {
  await tdb.close();
});

interface Entry {
  streamMs: number;
  /** at_ms − stream_ms. */
  offset: number;
  type: 'consume' | 'shortfall' | 'grant';
  kind: 'included' | 'prepaid' | 'flex' | 'none';
  units: number;
  feature?: string;
  /** Late usage: how long before at_ms it occurred. */
  lateBy?: number;
  lot?: boolean;
}

/**
 * Entries around the range of days [first, end): anywhere from 40 days before it to 40 after,
 * and near where the statement's bounds are (first; end, and end plus late usage's 35 days),
 * within minutes either side.
 */
const entryArb = (first: number, end: number): fc.Arbitrary<Entry> => {
  const near = (t: number) => fc.integer({ min: t - 2 * OFF_CLOCK_MS, max: t + 2 * OFF_CLOCK_MS });
  return fc.record(
    {
      streamMs: fc.oneof(
        fc.integer({ min: first - 40 * DAY, max: end + 40 * DAY }),
        near(first),
        near(end),
        near(end + LATE_USAGE_MAX_MS),
      ),
      // On the clock, at its edge either side, off it by minutes, and a test clock days away.
      offset: fc.oneof(
        fc.integer({ min: -OFF_CLOCK_MS, max: OFF_CLOCK_MS }),
        fc.constantFrom(-OFF_CLOCK_MS - 1, OFF_CLOCK_MS + 1, -OFF_CLOCK_MS, OFF_CLOCK_MS),
        fc.integer({ min: -40 * DAY, max: 40 * DAY }),
      ),
      type: fc.constantFrom('consume', 'consume', 'shortfall', 'grant'),
      kind: fc.constantFrom('included', 'prepaid', 'flex', 'none'),
      units: fc.integer({ min: 1, max: 5_000_000 }),
      feature: fc.constantFrom('training.gpu', 'data.storage'),
      lateBy: fc.oneof(
        fc.integer({ min: 0, max: LATE_USAGE_MAX_MS }),
        fc.integer({ min: LATE_USAGE_MAX_MS - 2 * OFF_CLOCK_MS, max: LATE_USAGE_MAX_MS }),
      ),
      lot: fc.boolean(),
    },
    { requiredKeys: ['streamMs', 'offset', 'type', 'kind', 'units'] },
  );
};

let ws = 0;
async function insert(workspaceId: string, entries: Entry[]) {
  if (entries.length === 0) return;
  await tdb.db
    .insertInto('ledger_entries')
    .values(
      entries.map((e, seq) => {
        const at = e.streamMs + e.offset;
        const extra: Record<string, string> = {};
        if (e.feature) extra.feature = e.feature;
        if (e.lateBy !== undefined) extra.occurredAt = String(at - e.lateBy);
        if (e.lot) extra.lot = 'lot-1';
        return {
          workspace_id: workspaceId,
          stream_ms: e.streamMs,
          stream_seq: seq,
          at_ms: at,
          type: e.type,
          kind: e.kind,
          units: e.type === 'grant' ? e.units : -e.units,
          balance_after: 0,
          ref: `r${seq}`,
          extra: JSON.stringify(extra),
        };
      }),
    )
    .execute();
}

/** The rule itself: usage by the day it occurred, a shortfall with a lot not usage (R-USE-1). */
function model(entries: Entry[], days: string[], mode: 'field' | 'day') {
  const totals = new Map<string, number>();
  for (const e of entries) {
    const at = e.streamMs + e.offset;
    const day = dayOf(at - (e.lateBy ?? 0));
    const i = days.indexOf(day);
    if (i < 0) continue;
    if (!(e.type === 'consume' || (e.type === 'shortfall' && !e.lot))) continue;
    const kind = e.type === 'shortfall' ? 'shortfall' : e.kind;
    const key = mode === 'day' ? `${i}|${kind}` : `-1|${e.feature ?? ''}|${kind}`;
    totals.set(key, (totals.get(key) ?? 0) + e.units);
  }
  return [...totals].map(([key, units]) => {
    const [day, ...field] = key.split('|');
    return { day: Number(day), field: field.join('|'), units };
  });
}

const sorted = <T extends { day: number; field: string }>(xs: T[]) =>
  [...xs].sort((a, b) => a.day - b.day || a.field.localeCompare(b.field));

it('sums the usage of any days as the rule does, on the clock, at its edge, off it and on a test clock', async () => {
  const history = new LedgerHistory(tdb.db);
  await fc.assert(
    fc.asyncProperty(
      fc.tuple(fc.integer({ min: 0, max: 60 }), fc.integer({ min: 1, max: 40 })).chain(([from, length]) => {
        const first = BASE + from * DAY;
        const end = first + length * DAY;
        return fc.record({
          days: fc.constant(Array.from({ length }, (_, i) => dayOf(first + i * DAY))),
          entries: fc.array(entryArb(first, end), { maxLength: 40 }),
          others: fc.array(entryArb(first, end), { maxLength: 10 }),
        });
      }),
      async ({ days, entries, others }) => {
        const id = `h${++ws}`;
        await insert(id, entries);
        // Another workspace's entries, in the same days: never counted.
        await insert(`${id}-other`, others);
        for (const mode of ['field', 'day'] as const)
          expect(sorted(await history.usageTotals(id, days, mode))).toEqual(
            sorted(model(entries, days, mode)),
          );
      },
    ),
    { numRuns: 100 },
  );
});

it('counts the entries at each bound of the statement as the rule does', async () => {
  const history = new LedgerHistory(tdb.db);
  const days = [dayOf(BASE + 10 * DAY), dayOf(BASE + 11 * DAY)];
  const first = BASE + 10 * DAY;
  const end = BASE + 12 * DAY;
  const late = end + LATE_USAGE_MAX_MS;
  let units = 0;
  const use = (streamMs: number, offset: number, lateBy?: number): Entry => ({
    streamMs,
    offset,
    type: 'consume',
    kind: 'included',
    units: 10 ** units++,
    ...(lateBy === undefined ? {} : { lateBy }),
  });
  const entries = [
    // At the first midnight, written by a clock ahead or behind, by as much as OFF_CLOCK_MS
    // and by a millisecond more.
    use(first - OFF_CLOCK_MS, OFF_CLOCK_MS),
    use(first - OFF_CLOCK_MS - 1, OFF_CLOCK_MS + 1),
    use(first + OFF_CLOCK_MS, -OFF_CLOCK_MS),
    use(first + OFF_CLOCK_MS + 1, -OFF_CLOCK_MS - 1),
    // Late usage of the last day's last minutes, written 35 days on, as late as it can be.
    use(late + OFF_CLOCK_MS - 1, -OFF_CLOCK_MS, LATE_USAGE_MAX_MS),
    use(late + OFF_CLOCK_MS, -OFF_CLOCK_MS - 1, LATE_USAGE_MAX_MS),
    use(late - OFF_CLOCK_MS - 1, OFF_CLOCK_MS, LATE_USAGE_MAX_MS),
    use(late - OFF_CLOCK_MS - 2, OFF_CLOCK_MS + 1, LATE_USAGE_MAX_MS),
    // Just outside the days: not counted.
    use(first - 1, 0),
    use(end, 0),
  ];
  await insert('edges', entries);
  for (const mode of ['field', 'day'] as const) {
    const totals = await history.usageTotals('edges', days, mode);
    expect(sorted(totals)).toEqual(sorted(model(entries, days, mode)));
  }
  // Not vacuous: all but the two outside the days count.
  const field = await history.usageTotals('edges', days, 'field');
  expect(field.reduce((a, t) => a + t.units, 0)).toBe(entries.slice(0, 8).reduce((a, e) => a + e.units, 0));
});

it('reads the entries on the clock by the key and the others by the partial index, never the whole table', async () => {
  await insert('plan', [
    { streamMs: BASE + DAY, offset: 0, type: 'consume', kind: 'included', units: 1 },
    { streamMs: BASE + DAY, offset: 9 * DAY, type: 'consume', kind: 'included', units: 1 },
  ]);
  const plan = await tdb.db.connection().execute(async (conn) => {
    // As on a table of millions of rows: the planner must find an index for each part.
    await sql`set enable_seqscan = off`.execute(conn);
    try {
      const rows = await new LedgerHistory(conn)
        .usageTotalsQuery('plan', [dayOf(BASE), dayOf(BASE + DAY)])
        .explain();
      return rows.map((r) => String(Object.values(r)[0])).join('\n');
    } finally {
      await sql`reset enable_seqscan`.execute(conn);
    }
  });
  expect(plan).toContain('ledger_entries_pkey');
  // The key read by a range of stream ids, not the whole workspace.
  expect(plan).toMatch(/Index Cond: [^\n]*stream_ms/);
  // Fails if the query's predicate and the index's (migration 0005) part ways.
  expect(plan).toContain('ledger_entries_off_clock');
  expect(plan).not.toContain('Seq Scan');
});
