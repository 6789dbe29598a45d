/**
 * The ledger kept for good in PostgreSQL (R-CON-7, R-USE-2; issue 10): the archiver copies
 * every entry once, a crash between its copy and its watermark copies nothing twice and loses
 * nothing, Redis is trimmed only of entries PostgreSQL has, pages run across the seam with no
 * gap and no repeat, the ledger check adds up both parts, and a PostgreSQL that is down stops
 * neither the debits nor Redis keeping every entry until it is back (with the lag on /readyz).
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyIn, type Db, openDatabase } from '../../src/db/database.js';
import { LedgerArchive } from '../../src/db/ledger-archive.js';
import { COPY_COLUMNS } from '../../src/db/ledger-copy.js';
import { workspaceKeys } from '../../src/redis/keys.js';
import { checkLedger } from '../../src/services/ledger-check.js';
import { LedgerReader } from '../../src/services/ledger-reader.js';
import { type TestDatabase, testDatabase } from '../support/db.js';
import { PLATFORM, startTestApi, type TestApi } from '../support/http.js';
import { event, paidCheckoutSession, sign } from '../support/stripe.js';
import { drained, startStripeWorker } from '../support/stripe-worker.js';

let tdb: TestDatabase;
let api: TestApi;
beforeAll(async () => {
  tdb = await testDatabase();
  api = await startTestApi({ now: Date.now(), env: { ...tdb.env, ARCHIVE_LAG_ALERT_SECONDS: '60' } });
});
afterAll(async () => {
  await api.close();
  await tdb.close();
});

let seq = 0;
async function workspaceWithDebits(id: string, debits: number) {
  expect((await api.call('PUT', `/v1/workspaces/${id}`, { body: { planId: 'growth' } })).status).toBe(201);
  await spend(id, debits);
}
async function spend(id: string, debits: number) {
  for (let i = 0; i < debits; i++) {
    const res = await api.call('POST', `/v1/workspaces/${id}/usage`, {
      key: PLATFORM,
      body: { idempotencyKey: `k${++seq}`, credits: 1 },
    });
    expect(res.status).toBe(200);
  }
}

/** Every entry id in Redis, oldest first. */
async function redisIds(id: string): Promise<string[]> {
  const raw = await api.redis.xrange(workspaceKeys(api.prefix, id).ledger, '-', '+');
  return raw.map(([entryId]) => entryId);
}
async function archivedIds(id: string): Promise<string[]> {
  const rows = await tdb.db
    .selectFrom('ledger_entries')
    .select(['stream_ms', 'stream_seq'])
    .where('workspace_id', '=', id)
    .orderBy('stream_ms')
    .orderBy('stream_seq')
    .execute();
  return rows.map((r) => `${r.stream_ms}-${r.stream_seq}`);
}

/** Every page of GET …/ledger, following nextCursor. */
async function pageAll(id: string, limit: number): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 100; pages++) {
    const q: string = cursor ? `&cursor=${cursor}` : '';
    const res = await api.call('GET', `/v1/workspaces/${id}/ledger?limit=${limit}${q}`, { key: PLATFORM });
    expect(res.status).toBe(200);
    expect(res.body.entries.length).toBeLessThanOrEqual(limit);
    ids.push(...res.body.entries.map((e: { id: string }) => e.id));
    cursor = res.body.nextCursor;
    if (cursor === null) return ids;
  }
  throw new Error('more than 100 pages');
}

const archiver = (o: { retentionMs: number; now?: () => number; db?: TestDatabase['db'] }) =>
  new LedgerArchive({
    redis: api.redis,
    db: o.db ?? tdb.db,
    keyPrefix: api.prefix,
    redisRetentionMs: o.retentionMs,
    ...(o.now ? { now: o.now } : {}),
  });

/** Whether the test database is the embedded PGlite, which takes no COPY (database.ts, copyIn). */
const onPglite = async () =>
  /PGlite/.test((await sql<{ v: string }>`select version() as v`.execute(tdb.db)).rows[0]!.v);

const byId = (a: string, b: string) => {
  const [am, as] = a.split('-').map(Number);
  const [bm, bs] = b.split('-').map(Number);
  return am! - bm! || as! - bs!;
};

describe('copying', () => {
  it('copies every entry once and trims only what is copied and past the retention', async () => {
    await workspaceWithDebits('copy', 12);
    const before = await redisIds('copy');
    expect(before).toHaveLength(13); // the cycle's grant and 12 debits
    // A week's retention: everything is copied, nothing is old enough to leave Redis.
    expect(await archiver({ retentionMs: 7 * 86_400_000 }).archiveWorkspace('copy')).toMatchObject({
      copied: 13,
      trimmed: 0,
    });
    expect(await archivedIds('copy')).toEqual(before);
    expect(await redisIds('copy')).toEqual(before);
    // Again: nothing new to copy.
    expect((await archiver({ retentionMs: 7 * 86_400_000 }).archiveWorkspace('copy')).copied).toBe(0);
    // The retention's edge inside the ledger: the entries before it leave Redis, the rest stay.
    const edge = Number(before[6]!.split('-')[0]);
    const trimmedAt = archiver({ retentionMs: 1000, now: () => edge + 1000 });
    await trimmedAt.archiveWorkspace('copy');
    const left = await redisIds('copy');
    expect(left[0]!.split('-')[0]).toBe(String(edge));
    expect(left.every((id) => before.includes(id))).toBe(true);
    expect(await archivedIds('copy')).toEqual(before);
  });

  it('an entry PostgreSQL refuses holds up its own workspace only; a NUL is kept as U+FFFD', async () => {
    await workspaceWithDebits('iso-good', 3);
    await workspaceWithDebits('iso-bad', 3);
    // A reason with a NUL (PostgreSQL's text has none), written by the engine as any reason is.
    await api.store.adjust({
      workspaceId: 'iso-good',
      kind: 'prepaid',
      units: 10_000,
      ref: 'nul',
      type: 'grant',
      reason: 'a\u0000b',
      idempotencyKey: 'nul',
      bodyHash: 'h',
      now: Date.now(),
    });
    // An entry in the old field/value format whose units are no integer: PostgreSQL refuses it.
    const bad = workspaceKeys(api.prefix, 'iso-bad');
    await api.redis.xadd(
      bad.ledger,
      '*',
      'at',
      Date.now(),
      'type',
      'consume',
      'kind',
      'included',
      'units',
      '1.5',
      'bal',
      '0',
      'ref',
      'x',
    );
    await api.redis.xadd(bad.usageKeyLog, '*', 'k', 'late-iso', 'h', 'h', 'r', 'reply', 'at', Date.now());
    const a = archiver({ retentionMs: 7 * 86_400_000 });
    const [good, refused] = await a.archiveGroup(['iso-good', 'iso-bad']);
    expect(good).toMatchObject({ copied: 5 });
    expect(good!.error).toBeUndefined();
    expect(await archivedIds('iso-good')).toEqual(await redisIds('iso-good'));
    const nul = await tdb.db
      .selectFrom('ledger_entries')
      .select('extra')
      .where('workspace_id', '=', 'iso-good')
      .where('ref', '=', 'nul')
      .executeTakeFirstOrThrow();
    expect(nul.extra).toMatchObject({ reason: 'a\uFFFDb' });
    // The refused workspace waits, with the reason, its entries all in Redis; its late usage's
    // answers were copied all the same.
    expect(refused!.error?.message).toMatch(/bigint/);
    expect(await archivedIds('iso-bad')).toEqual([]);
    expect(await api.redis.get(bad.archived)).toBeNull();
    expect(await api.redis.xlen(bad.ledger)).toBe(5);
    const keys = await tdb.db
      .selectFrom('usage_keys')
      .select('idempotency_key')
      .where('workspace_id', '=', 'iso-bad')
      .execute();
    expect(keys).toEqual([{ idempotency_key: 'late-iso' }]);
    await api.redis.del(bad.ledger); // the rest of this file's passes go over every workspace
  });

  it("text with COPY's own characters (tab, newline, return, backslash, quotes) arrives exactly", async () => {
    // A real PostgreSQL takes a round by COPY in its text format, where these four characters are
    // escapes; PGlite takes it by INSERT. Either way the text is what the engine wrote.
    await workspaceWithDebits('copy-text', 1);
    const reason = 'tab\there\nnew line\r\\N \\ "quoted" \'single\' é 한 \u{1F600}';
    const ref = 'ref\twith\\back\nslash';
    await api.store.adjust({
      workspaceId: 'copy-text',
      kind: 'prepaid',
      units: 10_000,
      ref,
      type: 'grant',
      reason,
      idempotencyKey: 'copy-text',
      bodyHash: 'h',
      now: Date.now(),
    });
    const [r] = await archiver({ retentionMs: 7 * 86_400_000 }).archiveGroup(['copy-text']);
    expect(r!.error).toBeUndefined();
    // By COPY where the server takes it: a badly escaped line would be refused and go by INSERT.
    expect(r!.inserted).toBe((await onPglite()) ? r!.copied : 0);
    expect(await archivedIds('copy-text')).toEqual(await redisIds('copy-text'));
    const row = await tdb.db
      .selectFrom('ledger_entries')
      .select(['ref', 'extra', 'units'])
      .where('workspace_id', '=', 'copy-text')
      .where('type', '=', 'grant')
      .where('kind', '=', 'prepaid')
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({ ref, extra: { reason }, units: '10000' });
  });

  it('a server that takes COPY takes it whole; PGlite is answered false and nothing changes', async () => {
    const text = (n: number) => `copy-in\t${n}\t0\t${n}\tconsume\tincluded\t-1\t0\tr\t{}\n`;
    const pglite = await onPglite();
    const count = async () =>
      Number(
        (
          await tdb.db
            .selectFrom('ledger_entries')
            .select((eb) => eb.fn.countAll().as('n'))
            .where('workspace_id', '=', 'copy-in')
            .executeTakeFirstOrThrow()
        ).n,
      );
    expect(await copyIn(tdb.db, 'ledger_entries', COPY_COLUMNS, text(1) + text(2))).toBe(!pglite);
    expect(await count()).toBe(pglite ? 0 : 2);
    if (pglite) return;
    // A row it has already (a re-copy) refuses the whole COPY: the new row is not taken either.
    await expect(copyIn(tdb.db, 'ledger_entries', COPY_COLUMNS, text(3) + text(2))).rejects.toMatchObject({
      code: '23505',
    });
    expect(await count()).toBe(2);
    // The connection it used is fine afterwards.
    expect(await copyIn(tdb.db, 'ledger_entries', COPY_COLUMNS, text(3))).toBe(true);
    expect(await count()).toBe(3);
  });

  it('a crash between the copy and the watermark copies nothing twice and loses nothing', async () => {
    await workspaceWithDebits('crash', 20);
    const all = await redisIds('crash');
    const a = archiver({ retentionMs: 7 * 86_400_000 });
    await a.archiveWorkspace('crash');
    // As if the process died after the INSERT of the last page, before its watermark, and the
    // copy of an earlier page was lost with its transaction: the watermark back at the start,
    // half the rows gone.
    await api.redis.del(workspaceKeys(api.prefix, 'crash').archived);
    await tdb.db
      .deleteFrom('ledger_entries')
      .where('workspace_id', '=', 'crash')
      .where('stream_ms', '<=', all[10]!.split('-')[0]!)
      .execute();
    const again = await a.archiveWorkspace('crash');
    expect(await archivedIds('crash')).toEqual(all);
    // COPY refused the rows PostgreSQL had; INSERT skipped them and added the lost ones.
    expect(again).toMatchObject({ copied: all.length, inserted: all.length });
  });

  it('a watermark never moves back: a slower copier finishing late leaves it where it is', async () => {
    await workspaceWithDebits('mark', 3);
    const all = await redisIds('mark');
    const markKey = workspaceKeys(api.prefix, 'mark').archived;
    await archiver({ retentionMs: 7 * 86_400_000 }).archiveWorkspace('mark');
    expect(await api.redis.get(markKey)).toBe(all.at(-1));
    await api.redis.set(markKey, all.at(-1)!);
    // Two archivers at once copy the same entries; the rows are unique by stream id.
    await Promise.all([
      archiver({ retentionMs: 7 * 86_400_000 }).archiveWorkspace('mark'),
      archiver({ retentionMs: 7 * 86_400_000 }).archiveWorkspace('mark'),
    ]);
    expect(await archivedIds('mark')).toEqual(all);
    expect(await api.redis.get(markKey)).toBe(all.at(-1));
  });
});

describe("late usage's answers (usage_keys)", () => {
  it('a backlog over many workspaces is copied whole, each answer once, and leaves Redis', async () => {
    // 300 workspaces with 300 answers each in their logs (as debit.lua writes them for late
    // usage): 90,000 rows, seven parameters each, far past one statement's 65,535.
    const ids = Array.from({ length: 300 }, (_, i) => `keys${i}`);
    for (const id of ids) {
      const log = workspaceKeys(api.prefix, id).usageKeyLog;
      const p = api.redis.pipeline();
      for (let n = 0; n < 300; n++)
        p.xadd(log, '*', 'k', `late-${n}`, 'h', 'h', 'r', `reply-${n}`, 'at', '1');
      await p.exec();
    }
    const a = archiver({ retentionMs: 7 * 86_400_000 });
    expect(await a.archiveKeys(ids)).toBe(90_000);
    expect(await a.archiveKeys(ids)).toBe(0);
    const rows = await tdb.db
      .selectFrom('usage_keys')
      .select(sql<string>`count(distinct (workspace_id, idempotency_key))`.as('n'))
      .where('workspace_id', 'like', 'keys%')
      .executeTakeFirstOrThrow();
    expect(Number(rows.n)).toBe(90_000);
    for (const id of ids.slice(0, 5))
      expect(await api.redis.xlen(workspaceKeys(api.prefix, id).usageKeyLog)).toBe(0);
  }, 120_000);
});

describe('reading across the seam', () => {
  it('pages newest first through Redis and PostgreSQL with no gap and no repeat', async () => {
    await workspaceWithDebits('seam', 17);
    const first = await redisIds('seam');
    // Everything copied; all but the newest 5 trimmed from Redis.
    const edge = Number(first[first.length - 5]!.split('-')[0]);
    await archiver({ retentionMs: 1, now: () => edge + 1 }).archiveWorkspace('seam');
    const inRedis = await redisIds('seam');
    expect(inRedis.length).toBeLessThan(first.length);
    expect(inRedis.length).toBeGreaterThan(0);
    await spend('seam', 6); // in Redis only
    const expected = [...new Set([...(await archivedIds('seam')), ...(await redisIds('seam'))])]
      .sort(byId)
      .reverse();
    expect(expected).toHaveLength(first.length + 6);
    for (const limit of [1, 4, 5, 7, 100]) expect(await pageAll('seam', limit)).toEqual(expected);
  });

  it('a ledger trimmed empty in Redis still pages, and the ledger check adds up both parts', async () => {
    await workspaceWithDebits('gone', 9);
    const all = await redisIds('gone');
    await archiver({ retentionMs: 1, now: () => Date.now() + 60_000 }).archiveWorkspace('gone');
    expect(await redisIds('gone')).toEqual([]);
    expect(await pageAll('gone', 4)).toEqual([...all].reverse());
    const now = api.clock.now();
    expect((await checkLedger(api.store, 'gone', now, api.service.ledger)).problems).toEqual([]);
    // Redis' part alone no longer adds up: the check really reads PostgreSQL's.
    const redisOnly = await checkLedger(api.store, 'gone', now, new LedgerReader({ store: api.store }));
    expect(redisOnly.ok).toBe(false);
  });
});

describe('finance in SQL', () => {
  it('the views answer the monthly flex, purchases and shortfalls from the archived ledger', async () => {
    const worker = startStripeWorker(api);
    try {
      // 150 included, then 2.5 credits of flex: the month bills 2 whole credits (R-FLX-6).
      await workspaceWithDebits('fin', 0);
      for (const credits of [100, 50, 2.5]) {
        const res = await api.call('POST', '/v1/workspaces/fin/usage', {
          key: PLATFORM,
          body: { idempotencyKey: `fin${credits}`, credits },
        });
        expect(res.status).toBe(200);
      }
      // A bundle bought through Checkout (R-PRE-2).
      const paid = JSON.stringify(
        event('checkout.session.completed', paidCheckoutSession({ workspaceId: 'fin', credits: '40' })),
      );
      const delivered = await fetch(`${api.base}/webhooks/stripe`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'stripe-signature': sign(paid) },
        body: paid,
      });
      expect(delivered.status).toBe(200);
      await drained(api.stripeQueue);
      // The free plan has no flex: usage recorded past its 30 credits is a shortfall (R-CON-4).
      expect((await api.call('PUT', '/v1/workspaces/finfree', { body: { planId: 'free' } })).status).toBe(
        201,
      );
      const recorded = await api.call('POST', '/v1/workspaces/finfree/usage', {
        key: PLATFORM,
        body: { idempotencyKey: 'over', credits: 35, mode: 'record' },
      });
      expect(recorded.body.shortfall).toBe('5');
      const a = archiver({ retentionMs: 7 * 86_400_000 });
      await a.archiveWorkspace('fin');
      await a.archiveWorkspace('finfree');

      const month = new Date(api.clock.now()).toISOString().slice(0, 7);
      const db = tdb.db;
      expect(
        await db.selectFrom('flex_by_month').selectAll().where('workspace_id', '=', 'fin').execute(),
      ).toEqual([{ workspace_id: 'fin', month, flex_units: '25000', billable_credits: '2' }]);
      const bought = await db
        .selectFrom('purchases_and_refunds')
        .selectAll()
        .where('workspace_id', '=', 'fin')
        .execute();
      expect(bought.map((r) => [r.type, r.units, r.month])).toEqual([['grant', '400000', month]]);
      expect(bought[0]!.ref).toMatch(/^checkout:cs_test_/);
      expect(
        await db
          .selectFrom('shortfalls_by_month')
          .selectAll()
          .where('workspace_id', '=', 'finfree')
          .execute(),
      ).toEqual([{ workspace_id: 'finfree', month, shortfall_units: '50000' }]);
    } finally {
      await worker.close();
    }
  });
});

/** A TCP relay to PostgreSQL that the test can cut and restore, as a database going down. */
async function relay(target: string): Promise<{
  url: string;
  cut(): Promise<void>;
  restore(): Promise<void>;
  /** PostgreSQL stalls: the connections stay open and nothing goes either way. */
  stall(): void;
  unstall(): void;
}> {
  const t = new URL(target);
  const sockets = new Set<Socket>();
  const pairs = new Set<{ client: Socket; upstream: Socket }>();
  let stalled = false;
  const hold = (p: { client: Socket; upstream: Socket }) => {
    if (!stalled) return;
    p.upstream.pause();
    p.client.pause();
  };
  let server: Server;
  let port = 0;
  const listen = () =>
    new Promise<void>((resolve) => {
      server = createServer((client) => {
        const upstream = connect(Number(t.port || 5432), t.hostname);
        const pair = { client, upstream };
        pairs.add(pair);
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on('error', () => {});
          s.on('close', () => {
            sockets.delete(s);
            pairs.delete(pair);
            // One side gone, the other goes too, as a real connection would.
            client.destroy();
            upstream.destroy();
          });
        }
        client.pipe(upstream).pipe(client);
        hold(pair);
      });
      server.listen(port, '127.0.0.1', () => {
        port = (server.address() as { port: number }).port;
        resolve();
      });
    });
  await listen();
  const url = new URL(target);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  return {
    url: url.href,
    cut: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
    },
    restore: listen,
    stall: () => {
      stalled = true;
      for (const p of pairs) hold(p);
    },
    unstall: () => {
      stalled = false;
      for (const p of pairs) {
        p.client.resume();
        p.upstream.resume();
      }
    },
  };
}

/**
 * `test` with a database reached through a relay it may cut or stall (relay), the database's
 * own pool closed and the relay closed after.
 */
async function throughRelay(
  o: { queryTimeoutMs?: number },
  test: (link: Awaited<ReturnType<typeof relay>>, db: Db) => Promise<void>,
): Promise<void> {
  const link = await relay(tdb.url);
  const db = openDatabase({ url: link.url, schema: tdb.schema, queryTimeoutMs: o.queryTimeoutMs });
  try {
    await test(link, db);
  } finally {
    link.unstall();
    await db.destroy();
    await link.cut().catch(() => {});
  }
}

describe('PostgreSQL restored from an older backup', () => {
  it("a pass finds the watermark's entry missing, copies again what Redis holds, and trims nothing PostgreSQL lacks", async () => {
    await workspaceWithDebits('restored', 4);
    const a = archiver({ retentionMs: 7 * 86_400_000 });
    await a.archiveWorkspace('restored');
    const backupTaken = await archivedIds('restored');
    await spend('restored', 4);
    await a.archiveWorkspace('restored');
    const all = await redisIds('restored');
    expect(await archivedIds('restored')).toEqual(all);
    // The restore: PostgreSQL as it was when the backup was taken, the watermark in Redis past it.
    const last = backupTaken[backupTaken.length - 1]!.split('-').map(Number) as [number, number];
    await tdb.db
      .deleteFrom('ledger_entries')
      .where('workspace_id', '=', 'restored')
      .where((eb) =>
        eb(eb.refTuple('stream_ms', 'stream_seq'), '>', eb.tuple(String(last[0]), String(last[1]))),
      )
      .execute();
    // Every entry past the retention: trusting the watermark, this pass would trim them all.
    const later = archiver({ retentionMs: 1000, now: () => Date.now() + 3_600_000 });
    const pass = await later.runPass();
    expect(pass.rewound).toContain('restored');
    expect(await archivedIds('restored')).toEqual(all);
    // Trimmed only once PostgreSQL had them again; the watermark back at the last entry.
    expect(await redisIds('restored')).toEqual([]);
    expect(await api.redis.get(workspaceKeys(api.prefix, 'restored').archived)).toBe(all[all.length - 1]);
    // Whole again: the next pass finds nothing missing.
    expect((await later.runPass()).rewound).not.toContain('restored');
  });

  it('a pass whose watermark another archiver took back first goes on from where it is, and reports no restore', async () => {
    await workspaceWithDebits('raced', 3);
    const all = await redisIds('raced');
    await archiver({ retentionMs: 7 * 86_400_000 }).archiveWorkspace('raced');
    const last = all[all.length - 1]!.split('-');
    await tdb.db
      .deleteFrom('ledger_entries')
      .where('workspace_id', '=', 'raced')
      .where('stream_ms', '=', last[0]!)
      .where('stream_seq', '=', last[1]!)
      .execute();
    // Between this pass's check and its script, another archiver takes the watermark back.
    const redis = new Proxy(api.redis, {
      get(target, name) {
        if (name === 'archiveUnmark')
          return async (key: string, mark: string) => {
            await target.del(key);
            return target.archiveUnmark(key, mark);
          };
        const v = Reflect.get(target, name);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const pass = await new LedgerArchive({
      redis,
      db: tdb.db,
      keyPrefix: api.prefix,
      redisRetentionMs: 7 * 86_400_000,
    }).runPass();
    // Not this pass's restore (the other archiver's), yet the copy went on from the start.
    expect(pass.rewound).not.toContain('raced');
    expect(await archivedIds('raced')).toEqual(all);
  });

  it('a watermark another archiver moved meanwhile is not taken back', async () => {
    const key = workspaceKeys(api.prefix, 'unmark').archived;
    await api.redis.set(key, '200-0');
    expect(Number(await api.redis.archiveUnmark(key, '100-0'))).toBe(0);
    expect(await api.redis.get(key)).toBe('200-0');
    expect(Number(await api.redis.archiveUnmark(key, '200-0'))).toBe(1);
    expect(await api.redis.get(key)).toBeNull();
  });
});

describe('PostgreSQL stalls', () => {
  // A stall after PostgreSQL committed a COPY, its answer lost, is the crash between the copy and
  // the watermark above (the rows are there, the watermark is not): the next copy skips them.
  it('mid-copy: the pass fails in its timeout, Redis keeps every entry, the next copies each once', async () => {
    await throughRelay({ queryTimeoutMs: 1000 }, async (link, db) => {
      await workspaceWithDebits('stall', 6);
      const all = await redisIds('stall');
      // Every entry past the retention: only "not yet copied" keeps one in Redis.
      const a = archiver({ retentionMs: 1000, now: () => Date.now() + 3_600_000, db });
      // Asked once, before the stall: whether the server takes COPY at all.
      await copyIn(db, 'ledger_entries', COPY_COLUMNS, '');
      link.stall();
      const [stalled] = await a.archiveGroup(['stall']);
      expect(stalled!.error?.message).toMatch(/timeout/i);
      expect(await redisIds('stall')).toEqual(all);
      expect(await api.redis.get(workspaceKeys(api.prefix, 'stall').archived)).toBeNull();
      link.unstall();
      const [r] = await a.archiveGroup(['stall']);
      expect(r!.error).toBeUndefined();
      // Nothing of the stalled COPY committed: its connection was closed. Handed on instead, it
      // would finish that COPY once PostgreSQL answers, and this copy would find its rows there.
      expect(r!.inserted).toBe((await onPglite()) ? all.length : 0);
      expect(await archivedIds('stall')).toEqual(all);
      expect(await redisIds('stall')).toEqual([]);
    });
  }, 30_000);
});

describe('PostgreSQL down', () => {
  it('at the first pass: the pass fails, and once it is back the copy goes by COPY, not for good by INSERT', async () => {
    await throughRelay({ queryTimeoutMs: 2000 }, async (link, db) => {
      await workspaceWithDebits('down-first', 3);
      const all = await redisIds('down-first');
      await link.cut();
      const a = archiver({ retentionMs: 7 * 86_400_000, db });
      const [failed] = await a.archiveGroup(['down-first']);
      expect(failed!.error).toBeTruthy();
      expect(await archivedIds('down-first')).toEqual([]);
      await link.restore();
      const [r] = await a.archiveGroup(['down-first']);
      expect(r!.error).toBeUndefined();
      expect(r).toMatchObject({ copied: all.length, inserted: (await onPglite()) ? all.length : 0 });
      expect(await archivedIds('down-first')).toEqual(all);
    });
  }, 30_000);

  it('debits go on, Redis keeps every entry, /readyz shows the lag, and the archive catches up', async () => {
    await throughRelay({}, async (link, db) => {
      await workspaceWithDebits('down', 2);
      // Far in the future: every entry is past the retention, so only "not yet copied" keeps it.
      const later = () => Date.now() + 3_600_000;
      const a = archiver({ retentionMs: 1000, now: later, db });
      const copiedBefore = await redisIds('down');
      await a.archiveWorkspace('down');
      await spend('down', 5);
      await link.cut();
      await spend('down', 5);
      const all = [...copiedBefore, ...(await redisIds('down'))];
      const pass = await a.runPass();
      expect(pass.error).toBeTruthy();
      // What was copied before left Redis; the ten debits since wait in Redis, past the retention.
      expect(await redisIds('down')).toEqual(all.slice(copiedBefore.length));
      expect(await redisIds('down')).toHaveLength(10);
      expect(pass.lagSeconds).toBeGreaterThan(3000);
      const ready = await api.call('GET', '/readyz', { key: null });
      expect(ready.status).toBe(200);
      expect(ready.body.archive).toMatchObject({ alert: true });
      expect(ready.body.archive.lagSeconds).toBeGreaterThan(60);

      await link.restore();
      const caughtUp = await a.runPass();
      expect(caughtUp.error).toBeUndefined();
      // This pass's lag is how long the copied entries had waited; the next finds none waiting.
      expect(caughtUp.lagSeconds).toBeLessThan(60);
      expect((await a.runPass()).lagSeconds).toBe(0);
      expect(await archivedIds('down')).toEqual(all);
      expect(await redisIds('down')).toEqual([]);
      expect(await pageAll('down', 3)).toEqual([...all].reverse());
      const ready2 = await api.call('GET', '/readyz', { key: null });
      expect(ready2.body.archive).toMatchObject({ alert: false, lagSeconds: 0, error: null });
    });
  }, 30_000);
});
