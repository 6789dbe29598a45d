/**
 * The ledger for good (R-CON-7): every entry of every workspace's ledger stream is copied to
 * PostgreSQL's `ledger_entries`, then trimmed from Redis once it is both copied and older than
 * LEDGER_REDIS_RETENTION. Redis keeps the recent part for the hot path and the seam; an entry
 * not yet copied stays in Redis whatever its age, so PostgreSQL being down loses nothing (the
 * copy waits and catches up).
 *
 * Per workspace a watermark (`{ws:<id>}:archived`, the id of the last entry copied) says where
 * the next copy starts. Copying is idempotent: the stream id is the row's primary key, a COPY
 * holding a row PostgreSQL has is refused whole and its round goes by an INSERT that skips the
 * rows it has, so a crash between the copy and the watermark (or two workers on the same
 * workspace) copies again and adds nothing twice.
 */
import { sql } from 'kysely';
import type { RedisClient } from '../redis/clients.js';
import type { LedgerRow } from '../redis/engine-store.js';
import { archiveStatusKey, workspaceKeys } from '../redis/keys.js';
import type { ScriptClient } from '../redis/scripts.js';
import { workspacePages } from '../redis/workspace-pages.js';
import type { AlertArchive } from './alert-archive.js';
import { copyIn, type Db } from './database.js';
import { COPY_COLUMNS, CopyText, parseStreamId, type RawEntry, rowJson } from './ledger-copy.js';
import type { UsageDayRetention } from './usage-retention.js';

/** A pass sweeps the day totals' and the alerts' retention at most this often. */
const RETENTION_EVERY_MS = 10 * 60_000;
/** Workspaces a pass copies as one group (archiveGroup). */
const GROUP = 200;
/**
 * Entries a group reads in one round, shared among its workspaces (a page each of PAGE_MIN at
 * least, so a round of a full group holds up to GROUP × PAGE_MIN): bounds the worker's memory.
 */
const ROUND_ROWS = 10_000;
/**
 * The fewest entries a workspace's page of a round holds. Under load a pass finds a few dozen
 * per workspace: a page of 100 takes them in one round, where one of 50 took two, and every
 * round costs each workspace an XRANGE and a watermark script in Redis, on the debits' thread.
 */
const PAGE_MIN = 100;
/** Rows of one INSERT of late usage's answers (usage_keys: seven parameters a row). */
const KEY_ROWS = 2000;
/** Rows of one INSERT. */
const INSERT_ROWS = 5000;
/** Workspaces whose retention (day totals, alerts) is swept at the same time. */
const RETENTION_PARALLEL = 16;

/** XRANGE's start past a watermark: the entry after it, or the first there is. */
const after = (mark: string | null) => (mark ? `(${mark}` : '-');

const compareIds = (a: string, b: string) => {
  const x = parseStreamId(a);
  const y = parseStreamId(b);
  return x.ms - y.ms || x.seq - y.seq;
};

/** A row of `ledger_entries` as the ledger views read it. */
export function rowOfRecord(r: {
  stream_ms: string;
  stream_seq: string;
  at_ms: string;
  type: string;
  kind: string;
  units: string;
  balance_after: string;
  ref: string;
  extra: Record<string, string>;
}): LedgerRow {
  const fields: Record<string, string> = {
    at: r.at_ms,
    type: r.type,
    kind: r.kind,
    units: r.units,
    bal: r.balance_after,
    ref: r.ref,
    ...r.extra,
  };
  return {
    id: `${r.stream_ms}-${r.stream_seq}`,
    at: Number(r.at_ms),
    type: r.type,
    kind: r.kind,
    units: Number(r.units),
    balanceAfter: Number(r.balance_after),
    ref: r.ref,
    fields,
  };
}

/** What archiveGroup did for one workspace; `error`: why its copy stopped (its entries wait). */
export interface GroupResult {
  copied: number;
  /** Of `copied`, how many went by INSERT, not COPY (copyRound): PGlite, or a re-copy. */
  inserted: number;
  /**
   * PostgreSQL did not hold the entry the watermark named (restored from an older backup): the
   * watermark was taken back and the copy started again from the first entry in Redis.
   */
  rewound?: boolean;
  trimmed: number;
  waitedMs: number;
  error?: Error;
}

/**
 * Whether PostgreSQL refused a statement for what its rows hold (SQLSTATE class 22, data
 * exception, or 23, integrity), not because it is unreachable or failing.
 */
function refusedForItsData(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && /^2[23]/.test(code);
}

export interface ArchivePass {
  workspaces: number;
  copied: number;
  trimmed: number;
  /** Day totals deleted from Redis past USAGE_REDIS_RETENTION (PostgreSQL answers for them). */
  usageDaysTrimmed: number;
  /** Alerts of old cycles moved to PostgreSQL (alert-archive.ts). */
  alertsMoved: number;
  /** Workspaces whose watermark PostgreSQL did not hold, copied again from Redis (heldMarks). */
  rewound: string[];
  /** Age (s) of the oldest entry not in PostgreSQL after the pass; 0 when none is left. */
  lagSeconds: number;
  /** Why a copy failed (PostgreSQL down); the pass went on with the other workspaces. */
  error?: string;
  /** That first failure itself, for the log (its stack). */
  failure?: Error;
}

export class LedgerArchive {
  constructor(
    private readonly deps: {
      redis: ScriptClient;
      db: Db;
      keyPrefix: string;
      /** How long copied entries stay in Redis too (ms). */
      redisRetentionMs: number;
      /** Wall clock (stream ids are Redis' wall-clock ms). */
      now?: () => number;
      /** The day totals' retention (usage-retention.ts); undefined: they stay in Redis. */
      usageDays?: UsageDayRetention | undefined;
      /** Alerts of old cycles to PostgreSQL (alert-archive.ts); undefined: they stay in Redis. */
      alerts?: AlertArchive | undefined;
      /** How often a pass also sweeps the day totals and alerts past their retention (ms). */
      retentionEveryMs?: number | undefined;
    },
  ) {}

  private lastRetentionSweep = 0;

  private now() {
    return this.deps.now?.() ?? Date.now();
  }

  /**
   * Copies what is new in one workspace's ledger, then trims; how many copied and trimmed. A
   * copy that fails (PostgreSQL down) still trims what earlier copies covered, then throws.
   */
  async archiveWorkspace(workspaceId: string): Promise<Omit<GroupResult, 'error'>> {
    const [r] = await this.archiveGroup([workspaceId]);
    if (r!.error) throw r!.error;
    return r!;
  }

  /**
   * archiveWorkspace for many workspaces at once, the way a pass runs: each step is one round
   * of commands (auto-pipelined) over the group, and the group's new entries go to PostgreSQL
   * in a few INSERTs, not one per workspace. Per workspace under load a pass finds a few dozen
   * entries; an INSERT (a commit) each made a pass over 1,000 workspaces take 15–20 s.
   * A workspace whose copy failed has `error` (its entries wait in Redis); the others go on:
   * an entry PostgreSQL refuses holds up its own workspace only (copyRound).
   */
  async archiveGroup(workspaceIds: string[]): Promise<GroupResult[]> {
    const { redis } = this.deps;
    const keys = workspaceIds.map((id) => workspaceKeys(this.deps.keyPrefix, id));
    const out: GroupResult[] = workspaceIds.map(() => ({ copied: 0, inserted: 0, trimmed: 0, waitedMs: 0 }));
    let marks: (string | null)[] = workspaceIds.map(() => null);
    const now = Date.now();
    /** Workspaces with more to read: a full page came back. */
    let open = workspaceIds.map((_, i) => i);
    try {
      marks = await Promise.all(keys.map((k) => redis.get(k.archived)));
      marks = await this.heldMarks(workspaceIds, marks, out);
      while (open.length > 0) {
        // A lone workspace with a backlog takes the whole round: it catches up ten times faster
        // than a page at a time, and holds up the groups after it as briefly.
        const count = Math.max(PAGE_MIN, Math.floor(ROUND_ROWS / open.length));
        // Buffers: a compact entry's value is binary (src/redis/ledger-codec.ts).
        const pages = await Promise.all(
          open.map((i) => redis.xrangeBuffer(keys[i]!.ledger, after(marks[i] ?? null), '+', 'COUNT', count)),
        );
        const entries = new Map<number, RawEntry[]>();
        /** Per workspace of the round: its page's last id, where its watermark goes once copied. */
        const lastIds = new Map<number, string>();
        const next: number[] = [];
        open.forEach((i, j) => {
          const raw = pages[j]!;
          if (raw.length === 0) return;
          if (out[i]!.copied === 0) {
            out[i]!.waitedMs = Math.max(0, now - parseStreamId(raw[0]![0].toString()).ms);
          }
          entries.set(i, raw);
          lastIds.set(i, raw[raw.length - 1]![0].toString());
          if (raw.length === count) next.push(i);
        });
        // Nothing new in the group: no COPY (an idle group's pass is its watermarks' check only).
        if (entries.size === 0) break;
        const { copied, inserted } = await this.copyRound(workspaceIds, entries, out);
        // Each workspace copied in full: its watermark moves to its page's last id.
        await Promise.all(
          copied.map(async (i) => {
            marks[i] = await this.raiseMark(keys[i]!.archived, lastIds.get(i)!);
            out[i]!.copied += entries.get(i)!.length;
            if (inserted) out[i]!.inserted += entries.get(i)!.length;
          }),
        );
        open = next.filter((i) => !out[i]!.error);
      }
    } catch (err) {
      // Redis, or PostgreSQL itself (down, stalled): every workspace not yet caught up waits.
      for (const i of open) out[i]!.error ??= err as Error;
    } finally {
      // Runs after a failed copy too: entries copied before stay trimmable while PostgreSQL is down.
      await Promise.all(
        keys.map(async (k, i) => {
          if (marks[i]) out[i]!.trimmed = await this.trim(k.ledger, marks[i]!);
        }),
      );
    }
    // Late usage's answers are copied whatever became of the ledger's copy.
    try {
      await this.archiveKeys(workspaceIds);
    } catch (err) {
      for (const r of out) r.error ??= err as Error;
    }
    return out;
  }

  /**
   * The watermarks whose entries PostgreSQL holds, as read; each one it does not hold (restored
   * from a backup older than it, failed over to a replica behind it) taken back to nothing, so
   * this copy starts again from the first entry Redis still holds (skipping what PostgreSQL has)
   * and nothing PostgreSQL lacks is trimmed: after a restore less than LEDGER_REDIS_RETENTION
   * old, the archive is whole again within a pass. One query a group. When PostgreSQL cannot be
   * asked (down), it throws: the group's copy waits, and its trim trusts the watermarks as read,
   * so entries copied before stay trimmable.
   */
  private async heldMarks(
    workspaceIds: string[],
    marks: (string | null)[],
    out: GroupResult[],
  ): Promise<(string | null)[]> {
    const asked = marks.flatMap((m, i) => (m ? [{ i, ws: workspaceIds[i]!, ...parseStreamId(m) }] : []));
    if (asked.length === 0) return marks;
    // Any failure (PostgreSQL down, or the check itself refused) is archiveGroup's: its copy waits
    // and the pass reports it, and the trim trusts the watermarks as read.
    // The marks as one unnest (three array parameters), each probed on the primary key: a
    // 200-row IN list cost PostgreSQL about 40 ms a group to plan and run, this a few.
    const rows = await this.deps.db
      .with(
        't(ws, ms, seq)',
        () =>
          sql<{
            ws: string;
            ms: string;
            seq: string;
          }>`(select * from unnest(${asked.map((a) => a.ws)}::text[], ${asked.map((a) => String(a.ms))}::bigint[], ${asked.map((a) => String(a.seq))}::bigint[]))`,
      )
      .selectFrom('t')
      .where(({ exists, selectFrom }) =>
        exists(
          selectFrom('ledger_entries as e')
            .select(sql`1`.as('one'))
            .whereRef('e.workspace_id', '=', 't.ws')
            .whereRef('e.stream_ms', '=', 't.ms')
            .whereRef('e.stream_seq', '=', 't.seq'),
        ),
      )
      .select(['t.ws', 't.ms', 't.seq'])
      .execute();
    const held = new Set(rows.map((r) => `${r.ws}\n${r.ms}-${r.seq}`));
    const checked = [...marks];
    for (const a of asked) {
      if (held.has(`${a.ws}\n${marks[a.i]}`)) continue;
      const key = workspaceKeys(this.deps.keyPrefix, a.ws).archived;
      if (await this.deps.redis.archiveUnmark(key, marks[a.i]!)) {
        checked[a.i] = null;
        out[a.i]!.rewound = true;
      } else {
        // Moved meanwhile: another archiver took it back (and copies from the start) or copied
        // past it; this copy goes on from where it is now, and the next pass checks that one.
        checked[a.i] = await this.deps.redis.get(key);
      }
    }
    return checked;
  }

  /**
   * Copies a round's entries (per workspace index); which workspaces' entries are all in
   * PostgreSQL. First as one COPY (copyIn), all or nothing. Where that cannot be (PGlite), or
   * PostgreSQL refuses it for what a row holds, INSERTs of INSERT_ROWS rows that skip the rows
   * PostgreSQL has: a re-copy (a crash between the copy and the watermark, two archivers) ends
   * here, COPY having refused the duplicate key. When an INSERT is refused for what a row holds
   * (a data or integrity error, SQLSTATE class 22 or 23), the round is inserted again workspace
   * by workspace, so only the workspace holding that row waits, with the error. Any other
   * failure (PostgreSQL down or stalled) is thrown: trying each workspace alone would only wait
   * longer.
   */
  private async copyRound(
    workspaceIds: string[],
    entries: Map<number, RawEntry[]>,
    out: GroupResult[],
  ): Promise<{ copied: number[]; inserted: boolean }> {
    if (await this.copyAll(workspaceIds, entries)) return { copied: [...entries.keys()], inserted: false };
    const rows = new Map<number, string[]>();
    for (const [i, raw] of entries) {
      const ws = JSON.stringify(workspaceIds[i]!);
      rows.set(
        i,
        raw.map((r) => rowJson(ws, r)),
      );
    }
    const all = [...rows.values()].flat();
    try {
      for (let k = 0; k < all.length; k += INSERT_ROWS) await this.insert(all.slice(k, k + INSERT_ROWS));
      return { copied: [...rows.keys()], inserted: true };
    } catch (err) {
      if (!refusedForItsData(err)) throw err;
    }
    const copied: number[] = [];
    for (const [i, own] of rows) {
      try {
        for (let k = 0; k < own.length; k += INSERT_ROWS) await this.insert(own.slice(k, k + INSERT_ROWS));
        copied.push(i);
      } catch (err) {
        if (!refusedForItsData(err)) throw err;
        out[i]!.error = err as Error;
      }
    }
    return { copied, inserted: true };
  }

  /** False once PostgreSQL answered that it takes no COPY (PGlite): every round then inserts. */
  private takesCopy = true;

  /**
   * The round as one COPY: true when PostgreSQL has every entry. False when it takes no COPY
   * (PGlite) or refused this one for what its rows hold (a row it has already: a re-copy), the
   * rows then going by INSERT.
   */
  private async copyAll(workspaceIds: string[], entries: Map<number, RawEntry[]>): Promise<boolean> {
    if (!this.takesCopy) return false;
    let rows = 0;
    for (const raw of entries.values()) rows += raw.length;
    const copy = new CopyText(rows);
    for (const [i, raw] of entries) copy.add(workspaceIds[i]!, raw);
    try {
      this.takesCopy = await copyIn(this.deps.db, 'ledger_entries', COPY_COLUMNS, copy.bytes);
      return this.takesCopy;
    } catch (err) {
      if (refusedForItsData(err)) return false;
      throw err;
    }
  }

  /**
   * Copies the workspaces' logs of late usage's first answers (R-FLX-5, R-CON-5) to `usage_keys`
   * and trims what it copied: each answer stays in Redis until PostgreSQL has it. Idempotent like
   * the ledger's copy (the log's stream id is the row's key), so it needs no watermark.
   */
  async archiveKeys(workspaceIds: string[]): Promise<number> {
    const logs = workspaceIds.map((id) => workspaceKeys(this.deps.keyPrefix, id).usageKeyLog);
    let copied = 0;
    let open = workspaceIds.map((_, i) => i);
    while (open.length > 0) {
      // As the ledger's copy: a round's entries shared among the workspaces still open.
      const count = Math.max(PAGE_MIN, Math.floor(ROUND_ROWS / open.length));
      const pages = await Promise.all(
        open.map((i) => this.deps.redis.xrange(logs[i]!, '-', '+', 'COUNT', count)),
      );
      const values = open.flatMap((i, j) =>
        pages[j]!.map(([id, flat]) => {
          const f: Record<string, string> = {};
          for (let n = 0; n + 1 < flat.length; n += 2) f[flat[n]!] = flat[n + 1]!;
          const { ms, seq } = parseStreamId(id);
          return {
            workspace_id: workspaceIds[i]!,
            stream_ms: ms,
            stream_seq: seq,
            idempotency_key: f.k ?? '',
            body_hash: f.h ?? '',
            reply: f.r ?? '',
            at_ms: Number(f.at ?? 0),
          };
        }),
      );
      if (values.length === 0) return copied;
      // Seven parameters a row: a few thousand rows a statement stay far below PostgreSQL's
      // 65,535 parameters, however many workspaces the round holds.
      for (let k = 0; k < values.length; k += KEY_ROWS)
        await this.deps.db
          .insertInto('usage_keys')
          .values(values.slice(k, k + KEY_ROWS))
          .onConflict((c) => c.columns(['workspace_id', 'stream_ms', 'stream_seq']).doNothing())
          .execute();
      const next: number[] = [];
      await Promise.all(
        open.map(async (i, j) => {
          const raw = pages[j]!;
          if (raw.length === 0) return;
          const { ms, seq } = parseStreamId(raw[raw.length - 1]![0]);
          await this.deps.redis.xtrim(logs[i]!, 'MINID', `${ms}-${seq + 1}`);
          copied += raw.length;
          if (raw.length === count) next.push(i);
        }),
      );
      open = next;
    }
    return copied;
  }

  /**
   * One INSERT of a page; rows it has already (a re-copy) are skipped. The page goes as one
   * parameter, a JSON array of rows (rowJson) that PostgreSQL takes apart
   * (jsonb_array_elements): measured on 100,000 entries, this costs the worker half the CPU of
   * one array parameter per column (pg quotes every element) and PostgreSQL a fifth less time,
   * and the statement stays one parameter whatever the page's size.
   */
  private async insert(rows: string[]): Promise<void> {
    await this.deps.db
      .insertInto('ledger_entries')
      .columns([...COPY_COLUMNS])
      .expression(
        sql`select e->>0, (e->>1)::bigint, (e->>2)::bigint, (e->>3)::bigint, e->>4, e->>5, (e->>6)::bigint, (e->>7)::bigint, e->>8, e->9 from jsonb_array_elements(${`[${rows.join(',')}]`}::jsonb) as e`,
      )
      .onConflict((c) => c.columns(['workspace_id', 'stream_ms', 'stream_seq']).doNothing())
      .execute();
  }

  /** The watermark moves forward only: a slower copier finishing late never moves it back. */
  private async raiseMark(key: string, id: string): Promise<string> {
    // One script (archive-mark-1.lua): a GET then a SET let two archivers move it back.
    return String(await this.deps.redis.archiveMark(key, id));
  }

  /**
   * Removes entries that are copied (id ≤ the watermark) and older than the retention.
   * XTRIM MINID keeps every id ≥ the threshold: the smaller of the retention's edge and the id
   * right after the watermark.
   */
  private async trim(ledgerKey: string, mark: string): Promise<number> {
    const edge = `${Math.max(0, this.now() - this.deps.redisRetentionMs)}-0`;
    const { ms, seq } = parseStreamId(mark);
    const afterMark = `${ms}-${seq + 1}`;
    const threshold = compareIds(edge, afterMark) < 0 ? edge : afterMark;
    return Number(await this.deps.redis.xtrim(ledgerKey, 'MINID', threshold));
  }

  /**
   * One pass over every workspace. A failed copy (PostgreSQL down) is counted and the pass
   * goes on; the lag is measured from Redis either way, and written for /readyz.
   */
  async runPass(): Promise<ArchivePass> {
    const pass: ArchivePass = {
      workspaces: 0,
      copied: 0,
      trimmed: 0,
      usageDaysTrimmed: 0,
      alertsMoved: 0,
      rewound: [],
      lagSeconds: 0,
    };
    let oldestUnarchived = Number.POSITIVE_INFINITY;
    let waited = 0;
    // The day totals' and alerts' retention changes daily at most: swept every few minutes.
    const retention =
      this.now() - this.lastRetentionSweep >= (this.deps.retentionEveryMs ?? RETENTION_EVERY_MS);
    if (retention) this.lastRetentionSweep = this.now();
    const runGroup = async (group: string[]) => {
      pass.workspaces += group.length;
      // Copied to the end: caught up as of now (what arrives meanwhile is the next pass's, and
      // its wait shows then).
      let left: (number | null)[] = group.map(() => null);
      try {
        const results = await this.archiveGroup(group);
        left = await Promise.all(
          results.map(async (r, i) => {
            pass.copied += r.copied;
            pass.trimmed += r.trimmed;
            if (r.rewound) pass.rewound.push(group[i]!);
            waited = Math.max(waited, r.waitedMs);
            if (!r.error) return null;
            pass.failure ??= r.error;
            pass.error ??= r.error.message;
            return this.oldestUnarchivedMs(group[i]!);
          }),
        );
      } catch (err) {
        pass.failure ??= err as Error;
        pass.error ??= (err as Error).message;
        left = await Promise.all(group.map((id) => this.oldestUnarchivedMs(id).catch(() => this.now())));
      }
      for (const l of left) if (l !== null) oldestUnarchived = Math.min(oldestUnarchived, l);
      if (!retention) return;
      const failed = (err: Error) => {
        pass.failure ??= err;
        pass.error ??= err.message;
        return 0;
      };
      for (let i = 0; i < group.length; i += RETENTION_PARALLEL) {
        await Promise.all(
          group.slice(i, i + RETENTION_PARALLEL).map(async (id, j) => {
            pass.usageDaysTrimmed += await this.trimUsageDays(id, left[i + j] ?? this.now()).catch(failed);
            pass.alertsMoved += (await this.deps.alerts?.trim(id).catch(failed)) ?? 0;
          }),
        );
      }
    };
    let group: string[] = [];
    for await (const ids of workspacePages(this.deps.redis, { keyPrefix: this.deps.keyPrefix })) {
      for (const id of ids) {
        group.push(id);
        if (group.length === GROUP) {
          await runGroup(group);
          group = [];
        }
      }
    }
    if (group.length > 0) await runGroup(group);
    // The lag: the longest an entry waited for its copy this pass, or, where a copy failed, how
    // long the oldest entry still uncopied has waited by now.
    const stillWaiting = Number.isFinite(oldestUnarchived) ? this.now() - oldestUnarchived : 0;
    pass.lagSeconds = Math.max(0, Math.round(Math.max(waited, stillWaiting) / 1000));
    await this.deps.redis.hset(archiveStatusKey(this.deps.keyPrefix), {
      lagSeconds: pass.lagSeconds,
      at: this.now(),
      error: pass.error ?? '',
    });
    return pass;
  }

  /** The day totals past their retention that PostgreSQL now has in full (usage-retention.ts). */
  private async trimUsageDays(workspaceId: string, archivedBeforeMs: number): Promise<number> {
    if (!this.deps.usageDays) return 0;
    const createdAt = await this.deps.redis.hget(
      workspaceKeys(this.deps.keyPrefix, workspaceId).meta,
      'createdAt',
    );
    return this.deps.usageDays.trim(workspaceId, {
      now: this.now(),
      archivedBeforeMs,
      createdAt: Number.isFinite(Date.parse(createdAt ?? '')) ? Date.parse(createdAt!) : archivedBeforeMs,
    });
  }

  /**
   * When the oldest entry not yet copied was written (ms), or null when all are: of the ledger
   * (after the watermark) and of the log of late usage's answers (all of it waits for its copy).
   */
  private async oldestUnarchivedMs(workspaceId: string): Promise<number | null> {
    const k = workspaceKeys(this.deps.keyPrefix, workspaceId);
    const mark = await this.deps.redis.get(k.archived);
    const [next, key] = await Promise.all([
      this.deps.redis.xrange(k.ledger, after(mark), '+', 'COUNT', 1),
      this.deps.redis.xrange(k.usageKeyLog, '-', '+', 'COUNT', 1),
    ]);
    const times = [...next, ...key].map(([id]) => parseStreamId(id).ms);
    return times.length === 0 ? null : Math.min(...times);
  }
}

/**
 * The archive as /readyz shows it: the lag its last pass measured, when that was, and `alert`
 * when the lag passed ARCHIVE_LAG_ALERT_SECONDS or no pass ran for that long (no worker
 * archives: entries pile up in Redis unseen).
 */
export async function archiveHealth(
  redis: RedisClient,
  config: { redisPrefix: string; archive: { lagAlertSeconds: number } },
  now = Date.now(),
): Promise<{ lagSeconds: number | null; lastPassAt: string | null; alert: boolean; error: string | null }> {
  const h = await redis.hgetall(archiveStatusKey(config.redisPrefix));
  const limit = config.archive.lagAlertSeconds;
  if (!h.at) return { lagSeconds: null, lastPassAt: null, alert: false, error: null };
  const lagSeconds = Number(h.lagSeconds);
  const sincePass = (now - Number(h.at)) / 1000;
  return {
    lagSeconds,
    lastPassAt: new Date(Number(h.at)).toISOString(),
    alert: lagSeconds > limit || sincePass > limit,
    error: h.error || null,
  };
}
