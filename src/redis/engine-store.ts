/**
 * Typed wrappers around the workspace scripts: each builds KEYS/ARGV, runs one script and
 * parses its reply through zod. This is the only code that knows the scripts' reply layout.
 */
import { z } from 'zod';
import { ALERT_NAMES, type AlertName, type AlertRecord, alertRecordSchema } from '../domain/alerts.js';
import type { EngineState, Lot, PlanChange, RefusalReason } from '../domain/burndown.js';
import { REFUSAL_REASONS } from '../domain/burndown.js';
import { dayOf, MAX_CLOCK_SKEW_MS, monthOf } from '../domain/cycle.js';
import { BurnrateError } from '../domain/errors.js';
import { sha256 } from '../domain/hash.js';
import { type WorkspaceKeys, workspaceKeys } from './keys.js';
import { decodeLedgerFields } from './ledger-codec.js';
import { replicasHaving } from './replicas.js';
import { DEBIT_KEYS, type ScriptClient } from './scripts.js';

/** The order of core.lua's STATE_FIELDS. */
const STATE_FIELDS = [
  'plan',
  'iv',
  'anchor',
  'cidx',
  'cstart',
  'cend',
  'allot',
  'incl',
  'inclGr',
  'pre',
  'flexOk',
  'flexOn',
  'price',
  'capC',
  'capDef',
  'capCustom',
  'thrC',
  'flexCyc',
  'blocked',
  'lotSeq',
  'cseq',
  'subAt',
] as const;

/** Descriptive fields stored beside the state, written by upsert and read by the API. */
export const META_FIELDS = ['createdAt', 'priceBook', 'currency', 'stripeCustomerId', 'overrides'] as const;
export type WorkspaceMeta = Record<(typeof META_FIELDS)[number], string>;

export type StoredState = Omit<EngineState, 'lots'>;

const upsertOutcomeSchema = z.enum(['created', 'plan_changed', 'renewed', 'updated', 'stale']);
export type UpsertOutcome = z.infer<typeof upsertOutcomeSchema>;

const reasonSchema = z.enum(REFUSAL_REASONS);
const alertNameSchema = z.enum(ALERT_NAMES);
const replySchema = z.array(z.string());

/** An event whose idempotency key was used before with a different body. */
export const CONFLICT = 'conflict' as const;
export const CONFLICT_MESSAGE = 'this idempotency key was used with a different request body';
const int = (s: string) => {
  const n = Number(s);
  if (!Number.isSafeInteger(n)) throw new BurnrateError('internal', `script replied a non-integer: ${s}`);
  return n;
};

function parseState(fields: string[]): StoredState {
  const f = (name: (typeof STATE_FIELDS)[number]) => fields[STATE_FIELDS.indexOf(name)]!;
  if (fields.length < STATE_FIELDS.length) throw new BurnrateError('internal', 'short state reply');
  const capC = int(f('capC'));
  const thrC = int(f('thrC'));
  return {
    planId: f('plan'),
    intervalMonths: int(f('iv')),
    anchor: int(f('anchor')),
    cycleIndex: int(f('cidx')),
    cycleStart: int(f('cstart')),
    cycleEnd: int(f('cend')),
    allotment: int(f('allot')),
    included: int(f('incl')),
    includedGranted: int(f('inclGr')),
    prepaid: int(f('pre')),
    flexAllowed: f('flexOk') === '1',
    flexEnabled: f('flexOn') === '1',
    flexPriceE4: int(f('price')),
    capCents: capC < 0 ? null : capC,
    defaultCapCents: int(f('capDef')),
    capCustom: f('capCustom') === '1',
    thresholdCents: thrC < 0 ? null : thrC,
    flexCycle: int(f('flexCyc')),
    blocked: f('blocked') === '' ? null : reasonSchema.parse(f('blocked')),
    cycleSeq: int(f('cseq')),
    stripeEventAt: int(f('subAt')),
  };
}

function failIfError(reply: string[], workspaceId: string): void {
  if (reply[0] === 'not_found')
    throw new BurnrateError('not_found', `workspace ${workspaceId} does not exist`);
  if (reply[0] === CONFLICT) throw new BurnrateError('idempotency_conflict', CONFLICT_MESSAGE);
}

/** One usage event of a debit call. */
export interface DebitEvent {
  units: number;
  mode: 'consume' | 'record';
  idempotencyKey: string;
  bodyHash: string;
  /**
   * Not used since issue 10: a usage id is derived from the workspace, the day and the key
   * (usageIdOf), so no idempotency record stores it. Accepted so older callers still compile.
   */
  usageId?: string | undefined;
  feature: string;
  /** When the usage happened (ms), if earlier than now: late usage (R-FLX-5). */
  occurredAt?: number | undefined;
}

export interface DebitInput extends DebitEvent {
  workspaceId: string;
  now: number;
  month: string;
  outbound?: boolean;
}

export interface DebitManyInput {
  workspaceId: string;
  events: DebitEvent[];
  now: number;
  month: string;
  /** Queue raised alerts for the outbound webhooks (R-ALR-2). */
  outbound?: boolean | undefined;
}

/** The balances after a debit, as every usage answer shows them. */
export type DebitBalances = Pick<
  StoredState,
  'included' | 'prepaid' | 'flexCycle' | 'flexPriceE4' | 'blocked'
>;

export interface DebitOutcome {
  ok: boolean;
  replayed: boolean;
  usageId: string;
  debited: { included: number; prepaid: number; flex: number };
  shortfall: number;
  reason: RefusalReason | null;
  /** Units spendable at a refusal; null on a debit. */
  available: number | null;
  state: DebitBalances;
  /** The alerts this event raised (R-ALR-1); a replay repeats the first answer's. */
  alerts: RaisedAlert[];
}

export type RaisedAlert = { id: string; name: AlertName };

/** A script's "<id>=<name>,…" of the alerts it raised (R-ALR-1). */
function parseAlerts(field: string): RaisedAlert[] {
  if (field === '') return [];
  return field.split(',').map((pair) => {
    const [id, name] = pair.split('=');
    return { id: id!, name: alertNameSchema.parse(name) };
  });
}

/** The alerts after a script's state reply (`offset`: where the state starts), if any. */
function trailingAlerts(reply: string[], offset: number): RaisedAlert[] {
  return reply.length === offset + STATE_FIELDS.length + 1 ? parseAlerts(reply[reply.length - 1]!) : [];
}

/** One event's answer of debit.lua (tab-joined fields), or CONFLICT. */
export function parseDebitReply(packed: string): DebitOutcome | typeof CONFLICT {
  if (packed === CONFLICT) return CONFLICT;
  const r = packed.split('\t');
  if (r.length !== 15) throw new BurnrateError('internal', `debit replied ${r.length} fields`);
  const avail = r[8]!;
  return {
    ok: r[0] === 'ok',
    replayed: r[1] === '1',
    usageId: r[2]!,
    debited: { included: int(r[3]!), prepaid: int(r[4]!), flex: int(r[5]!) },
    shortfall: int(r[6]!),
    reason: r[7] === '' ? null : reasonSchema.parse(r[7]),
    available: avail === '' ? null : int(avail),
    state: {
      included: int(r[9]!),
      prepaid: int(r[10]!),
      flexCycle: int(r[11]!),
      flexPriceE4: int(r[12]!),
      blocked: r[13] === '' ? null : reasonSchema.parse(r[13]),
    },
    alerts: parseAlerts(r[14]!),
  };
}

const DAY_MS = 86_400_000;
/**
 * How much longer than its lookups a day's records live (core.lua idemStore): a record a lookup
 * found is still there when the debit script runs, and a late retry that finds none in Redis
 * can trust PostgreSQL (R-CON-5).
 */
export const RECORD_MARGIN_MS = 3_600_000;

/** "YYYY-MM-DD" of a day number (days since 1970-01-01), remembered: every debit asks for two. */
const dayNames = new Map<number, string>();
function dayName(day: number): string {
  let name = dayNames.get(day);
  if (name === undefined) {
    if (dayNames.size >= 64) dayNames.clear();
    name = dayOf(day * DAY_MS);
    dayNames.set(day, name);
  }
  return name;
}

/**
 * The days a usage key's record may be in (R-CON-5), oldest first: those the idempotency window
 * touches, widened by MAX_CLOCK_SKEW_MS at both ends, since another process's clock may differ
 * by that much. So tomorrow in the last minutes of today (a process ahead answered the key after
 * its midnight), and the day before the window's first in its first minutes (a process behind
 * answered it before its midnight). A key answers its first reply for at least the window, and
 * at most until the end of its day plus the window and MAX_CLOCK_SKEW_MS. `today`: today's
 * index.
 */
export function recordDays(now: number, windowSeconds: number): { days: string[]; today: number } {
  const days: string[] = [];
  const today = Math.floor(now / DAY_MS);
  const first = Math.floor((now - windowSeconds * 1000 - MAX_CLOCK_SKEW_MS) / DAY_MS);
  for (let d = first; d <= Math.floor((now + MAX_CLOCK_SKEW_MS) / DAY_MS); d++) days.push(dayName(d));
  return { days, today: today - first };
}

/**
 * sha256(workspace, day, key)'s first 16 bytes in hex: the record's field (its first 10 bytes,
 * core.lua idemFind) and the usage id. Hex, not a Buffer: a command with a Buffer argument costs
 * ioredis more than twice as much to write, and the script packs the bytes itself (binOf).
 */
export function usageDigestHex(workspaceId: string, day: string, key: string): string {
  return sha256(`${workspaceId}\n${day}\n${key}`, 'hex').slice(0, 32);
}

/**
 * The usage id of a key's first answer on a day: `use_` and 32 hex characters, derived, so no
 * record stores it (a key used again on another day, after its window, is another usage).
 */
export function usageIdOf(workspaceId: string, day: string, key: string): string {
  return `use_${usageDigestHex(workspaceId, day, key)}`;
}

/** One sum of usage totals: per "<feature>|<kind>" (day -1), or per day index and kind. */
export interface UsageTotal {
  day: number;
  field: string;
  units: number;
}

export interface LedgerRow {
  id: string;
  at: number;
  type: string;
  kind: string;
  units: number;
  balanceAfter: number;
  ref: string;
  fields: Record<string, string>;
}

export class EngineStore {
  constructor(
    private readonly redis: ScriptClient,
    private readonly opts: { prefix: string; idempotencyTtlSeconds: number },
  ) {}

  /** How long a usage key answers its first reply, at least (IDEMPOTENCY_TTL_SECONDS). */
  get idempotencyWindowSeconds(): number {
    return this.opts.idempotencyTtlSeconds;
  }

  keys(workspaceId: string): WorkspaceKeys {
    return workspaceKeys(this.opts.prefix, workspaceId);
  }

  async upsert(o: {
    workspaceId: string;
    terms: PlanChange;
    meta: Partial<WorkspaceMeta>;
    now: number;
    /** Stripe's billing period: the cycle becomes it (see upsert-workspace-3.lua). */
    period?: { start: number; end: number } | undefined;
    /** The Stripe event's `created` (s): an older event than the last applied changes nothing. */
    eventAt?: number | undefined;
    /** The old included remainder: expires (a plan change) or is forfeited (R-CYC-3). */
    expiryType?: 'expiry' | 'forfeit';
  }): Promise<{ outcome: UpsertOutcome; state: StoredState }> {
    const k = this.keys(o.workspaceId);
    const t = o.terms;
    const meta = Object.entries(o.meta).flatMap(([key, v]) => (v === undefined ? [] : [key, v]));
    const reply = replySchema.parse(
      await this.redis.upsertWorkspace(
        k.engine,
        k.ledger,
        k.meta,
        o.now,
        t.planId,
        t.intervalMonths,
        t.allotment,
        t.flexAllowed ? 1 : 0,
        t.flexPriceE4,
        t.defaultCapCents,
        o.period?.start ?? '',
        o.period?.end ?? '',
        o.eventAt ?? '',
        o.expiryType ?? 'expiry',
        ...meta,
      ),
    );
    const outcome = upsertOutcomeSchema.parse(reply[0]);
    return { outcome, state: parseState(reply.slice(1)) };
  }

  /** How many replicas have every write to the workspace so far, by anyone (src/redis/replicas.ts). */
  async replicasHaving(workspaceId: string, o: { replicas: number; timeoutMs: number }): Promise<number> {
    return replicasHaving(this.redis, this.keys(workspaceId).replicaFence, o);
  }

  /** The state after rolling an ended cycle, and the descriptive fields; null if unknown. */
  async snapshot(
    workspaceId: string,
    now: number,
  ): Promise<{ state: StoredState; meta: WorkspaceMeta; rolled: boolean } | null> {
    const k = this.keys(workspaceId);
    // Both go out on one connection in this order, so the metadata is read after the roll.
    const [snap, metaVals] = await Promise.all([
      this.redis.snapshot(k.engine, k.ledger, now),
      this.redis.hmget(k.meta, ...META_FIELDS),
    ]);
    const reply = replySchema.parse(snap);
    if (reply[0] === 'not_found') return null;
    const values = z.array(z.string().nullable()).parse(metaVals);
    const meta = Object.fromEntries(META_FIELDS.map((f, i) => [f, values[i] ?? ''])) as WorkspaceMeta;
    return { state: parseState(reply.slice(1)), meta, rolled: reply[0] === 'rolled' };
  }

  /** Stored alerts by id (R-ALR-1), in the order asked; ids not stored are left out. */
  async alertRecords(workspaceId: string, ids: string[]): Promise<AlertRecord[]> {
    if (ids.length === 0) return [];
    const raw = await this.redis.hmget(this.keys(workspaceId).alerts, ...ids);
    return raw.filter((r): r is string => r !== null).map((r) => alertRecordSchema.parse(JSON.parse(r)));
  }

  /**
   * Usage totals of some days (R-USE-1), summed in Redis: per "<feature>|<kind>" over all the
   * days ('field'), or per day and kind ('day', the day as its index in `days`).
   */
  async usageTotals(workspaceId: string, days: string[], mode: 'field' | 'day'): Promise<UsageTotal[]> {
    if (days.length === 0) return [];
    const k = this.keys(workspaceId);
    const reply = replySchema.parse(
      await this.redis.usageSum(days.length, ...days.map((d) => k.usageDay(d)), mode),
    );
    const out: UsageTotal[] = [];
    if (mode === 'field') {
      for (let i = 0; i < reply.length; i += 2)
        out.push({ day: -1, field: reply[i]!, units: int(reply[i + 1]!) });
    } else {
      for (let i = 0; i < reply.length; i += 3)
        out.push({ day: int(reply[i]!) - 1, field: reply[i + 1]!, units: int(reply[i + 2]!) });
    }
    return out;
  }

  /** The descriptive fields alone; null when the workspace has none (does not exist). */
  async meta(workspaceId: string): Promise<WorkspaceMeta | null> {
    const values = await this.redis.hmget(this.keys(workspaceId).meta, ...META_FIELDS);
    if (values.every((v) => v === null)) return null;
    return Object.fromEntries(META_FIELDS.map((f, i) => [f, values[i] ?? ''])) as WorkspaceMeta;
  }

  /** The number of keys, KEYS and ARGV of debit.lua for these events (also the benchmark's). */
  debitArgs(o: DebitManyInput): (string | number)[] {
    const k = this.keys(o.workspaceId);
    const args: (string | number)[] = [
      DEBIT_KEYS.fixed + DEBIT_KEYS.perEvent * o.events.length,
      k.engine,
      k.lots,
      k.lotbal,
      k.ledger,
      k.flexMonths,
      k.flexClosed,
      k.alerts,
      k.alertQueue,
      k.usageKeyLog,
    ];
    const window = this.opts.idempotencyTtlSeconds;
    const { days, today: todayAt } = recordDays(o.now, window);
    const today = days[todayAt]!;
    for (const e of o.events) {
      args.push(
        k.usageIdem(e.idempotencyKey),
        k.usageDay(e.occurredAt === undefined ? today : dayOf(e.occurredAt)),
      );
    }
    const ttlMs = (Math.floor(o.now / DAY_MS) + 1) * DAY_MS + window * 1000 + RECORD_MARGIN_MS - o.now;
    args.push(
      o.now,
      o.month,
      ttlMs,
      o.outbound ? '1' : '0',
      k.usageRecords,
      days.length,
      todayAt + 1,
      ...days,
    );
    for (const e of o.events) {
      const late =
        e.occurredAt === undefined ? ['', '', ''] : [e.occurredAt, monthOf(e.occurredAt), e.idempotencyKey];
      args.push(e.units, e.mode, e.bodyHash, e.feature, ...late);
      for (const d of days) args.push(usageDigestHex(o.workspaceId, d, e.idempotencyKey));
    }
    return args;
  }

  /**
   * Whether a usage key has a first answer in Redis (R-CON-5): a record of the window's days, or
   * one written before issue 10.
   */
  async hasUsageRecord(workspaceId: string, idempotencyKey: string, now: number): Promise<boolean> {
    const k = this.keys(workspaceId);
    const { days } = recordDays(now, this.opts.idempotencyTtlSeconds);
    const reply = await this.redis.usageSeen(
      k.usageIdem(idempotencyKey),
      k.usageRecords,
      days.length,
      ...days,
      ...days.map((d) => usageDigestHex(workspaceId, d, idempotencyKey)),
    );
    return Number(reply) === 1;
  }

  /** The oldest first answer of late usage not yet copied to PostgreSQL: when it was given (ms). */
  async oldestUnarchivedKey(workspaceId: string): Promise<number | null> {
    const [first] = await this.redis.xrange(this.keys(workspaceId).usageKeyLog, '-', '+', 'COUNT', 1);
    if (!first) return null;
    const f = first[1];
    const i = f.indexOf('at');
    return i >= 0 && i % 2 === 0 ? Number(f[i + 1]) : 0;
  }

  /**
   * The debit script with `debitArgs`' arguments. One event's call goes as `debitOne`, its key
   * count fixed (scripts.ts): on a Cluster that auto-pipelines, as every call does on one node.
   */
  sendDebit(args: (string | number)[]): Promise<string[]> {
    if (args[0] === DEBIT_KEYS.fixed + DEBIT_KEYS.perEvent) return this.redis.debitOne(...args.slice(1));
    return this.redis.debit(...args);
  }

  /**
   * Several usage events of one workspace in one script call, applied in order; one answer
   * per event (or CONFLICT). A workspace that does not exist fails the whole call.
   */
  async debitMany(o: DebitManyInput): Promise<(DebitOutcome | typeof CONFLICT)[]> {
    const reply = replySchema.parse(await this.sendDebit(this.debitArgs(o)));
    if (reply[0] === 'not_found')
      throw new BurnrateError('not_found', `workspace ${o.workspaceId} does not exist`);
    if (reply.length !== o.events.length)
      throw new BurnrateError('internal', 'debit replied for other events');
    return reply.map(parseDebitReply);
  }

  async debit(o: DebitInput): Promise<DebitOutcome> {
    const [out] = await this.debitMany({
      workspaceId: o.workspaceId,
      events: [o],
      now: o.now,
      month: o.month,
      ...(o.outbound === undefined ? {} : { outbound: o.outbound }),
    });
    if (out === CONFLICT || out === undefined) {
      throw new BurnrateError('idempotency_conflict', CONFLICT_MESSAGE);
    }
    return out;
  }

  async adjust(o: {
    workspaceId: string;
    kind: 'included' | 'prepaid';
    units: number;
    ref: string;
    type: 'grant' | 'adjustment';
    reason: string;
    idempotencyKey: string;
    bodyHash: string;
    now: number;
    outbound?: boolean | undefined;
  }): Promise<{
    status: 'ok' | 'insufficient_balance' | 'duplicate_lot';
    replayed: boolean;
    state: StoredState;
    alerts: RaisedAlert[];
  }> {
    const k = this.keys(o.workspaceId);
    const reply = replySchema.parse(
      await this.redis.adjust(
        k.engine,
        k.lots,
        k.lotbal,
        k.ledger,
        k.adjustmentIdem(o.idempotencyKey),
        k.alerts,
        k.alertQueue,
        o.now,
        o.kind,
        o.units,
        o.ref,
        o.bodyHash,
        this.opts.idempotencyTtlSeconds,
        o.type,
        o.reason,
        o.outbound ? '1' : '0',
      ),
    );
    failIfError(reply, o.workspaceId);
    const status = z.enum(['ok', 'insufficient_balance', 'duplicate_lot']).parse(reply[0]);
    return {
      status,
      replayed: reply[1] === '1',
      state: parseState(reply.slice(2)),
      alerts: trailingAlerts(reply, 2),
    };
  }

  /** Takes back a refunded share of a lot: `target` is cumulative over the purchase's refunds. */
  async clawback(o: {
    workspaceId: string;
    lot: string;
    target: number;
    ref: string;
    now: number;
    outbound?: boolean | undefined;
  }) {
    const k = this.keys(o.workspaceId);
    const reply = replySchema.parse(
      await this.redis.clawback(
        k.engine,
        k.lots,
        k.lotbal,
        k.ledger,
        k.lotClawback,
        k.alerts,
        k.alertQueue,
        o.now,
        o.lot,
        o.target,
        o.ref,
        o.outbound ? '1' : '0',
      ),
    );
    failIfError(reply, o.workspaceId);
    // Retryable: a purchase's payment record is written before its lot is granted, so a refund
    // that races the grant finds no lot yet, and a later attempt takes it back (R-PRE-3).
    if (reply[0] === 'no_lot')
      throw new BurnrateError('not_found', `workspace ${o.workspaceId} has no lot ${o.lot}`, undefined, {
        retryable: true,
      });
    return {
      status: z.enum(['ok', 'noop']).parse(reply[0]),
      taken: int(reply[1]!),
      shortfall: int(reply[2]!),
      state: parseState(reply.slice(3)),
      alerts: trailingAlerts(reply, 3),
    };
  }

  /** Flex switch, cap and threshold; undefined keeps a setting, null removes a cap or threshold. */
  async flexSettings(o: {
    workspaceId: string;
    enabled?: boolean | undefined;
    capCents?: number | null | undefined;
    thresholdCents?: number | null | undefined;
    now: number;
    outbound?: boolean | undefined;
  }): Promise<{ state: StoredState; alerts: RaisedAlert[] }> {
    const k = this.keys(o.workspaceId);
    const arg = (v: number | null | undefined) => (v === undefined ? '' : v === null ? -1 : v);
    const reply = replySchema.parse(
      await this.redis.flexSettings(
        k.engine,
        k.ledger,
        k.alerts,
        k.alertQueue,
        o.now,
        o.enabled === undefined ? '' : o.enabled ? 1 : 0,
        arg(o.capCents),
        arg(o.thresholdCents),
        o.outbound ? '1' : '0',
      ),
    );
    failIfError(reply, o.workspaceId);
    return { state: parseState(reply.slice(1)), alerts: trailingAlerts(reply, 1) };
  }

  /** Prepaid lots with something left, oldest first. */
  async lots(workspaceId: string): Promise<Lot[]> {
    const k = this.keys(workspaceId);
    const ids = await this.redis.zrange(k.lots, '0', '-1');
    if (ids.length === 0) return [];
    const bals = await this.redis.hmget(k.lotbal, ...ids);
    return ids.map((id, i) => ({ id, remaining: Number(bals[i] ?? 0) }));
  }

  /** Every lot ever granted with what is left of it (spent lots at zero). */
  async lotBalances(workspaceId: string): Promise<Record<string, number>> {
    const raw = await this.redis.hgetall(this.keys(workspaceId).lotbal);
    return Object.fromEntries(Object.entries(raw).map(([id, v]) => [id, Number(v)]));
  }

  async flexMonths(workspaceId: string): Promise<Record<string, number>> {
    const raw = await this.redis.hgetall(this.keys(workspaceId).flexMonths);
    return Object.fromEntries(Object.entries(raw).map(([m, v]) => [m, Number(v)]));
  }

  /** The flex units final invoices took of a month (R-CYC-3): the monthly run bills the rest. */
  async flexFinalUnits(o: { workspaceId: string; month: string }): Promise<number> {
    return Number((await this.redis.hget(this.keys(o.workspaceId).flexFinal, o.month)) ?? 0);
  }

  /**
   * The flex units of an ended subscription's final stretch in a month (R-CYC-3), taken once per
   * subscription (take-final-flex-3.lua): a retry answers the same units.
   */
  async takeFinalFlex(o: { workspaceId: string; month: string; subscriptionId: string }): Promise<number> {
    const k = this.keys(o.workspaceId);
    const units = await this.redis.takeFinalFlex(
      k.flexMonths,
      k.flexFinal,
      k.flexClosed,
      o.month,
      o.subscriptionId,
    );
    return z.coerce.number().int().nonnegative().parse(units);
  }

  /** Ledger entries newest first, from an exclusive cursor (a stream id). */
  async ledgerPage(o: {
    workspaceId: string;
    limit: number;
    cursor?: string | undefined;
  }): Promise<{ entries: LedgerRow[]; nextCursor: string | null }> {
    const key = this.keys(o.workspaceId).ledger;
    const end = o.cursor === undefined ? '+' : `(${o.cursor}`;
    const raw = await this.redis.xrevrangeBuffer(key, end, '-', 'COUNT', String(o.limit + 1));
    const rows = raw.slice(0, o.limit).map(toLedgerRow);
    return { entries: rows, nextCursor: raw.length > o.limit ? rows[rows.length - 1]!.id : null };
  }

  /** Every ledger entry, oldest first, in pages (for the ledger check). */
  async *ledgerAll(workspaceId: string, pageSize = 1000): AsyncGenerator<LedgerRow> {
    const key = this.keys(workspaceId).ledger;
    let start = '-';
    for (;;) {
      const raw = await this.redis.xrangeBuffer(key, start, '+', 'COUNT', String(pageSize));
      for (const r of raw) yield toLedgerRow(r);
      if (raw.length < pageSize) return;
      start = `(${raw[raw.length - 1]![0].toString()}`;
    }
  }
}

/**
 * A ledger stream entry as a row: the compact entry (one binary field `p`, core.lua's ledger)
 * or one written before it (field/value pairs). Read the stream with the Buffer commands
 * (xrangeBuffer): the compact value is binary.
 */
/** A compact entry's binary value (its one field `p`), or null for an entry in the older format. */
export function compactLedgerValue(flat: (string | Buffer)[]): Buffer | null {
  const name = flat[0];
  // A Buffer's one byte compared, not made a string: the archiver asks this of every entry.
  if (
    flat.length !== 2 ||
    (typeof name === 'string' ? name !== 'p' : name!.length !== 1 || name![0] !== 0x70)
  )
    return null;
  const v = flat[1]!;
  return typeof v === 'string' ? Buffer.from(v, 'latin1') : v;
}

export function toLedgerRow([rawId, flat]: [string | Buffer, (string | Buffer)[]]): LedgerRow {
  const id = rawId.toString();
  let fields: Record<string, string>;
  const compact = compactLedgerValue(flat);
  if (compact) {
    fields = decodeLedgerFields(compact);
  } else {
    fields = {};
    for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!.toString()] = flat[i + 1]!.toString();
  }
  return {
    id,
    at: Number(fields.at),
    type: fields.type ?? '',
    kind: fields.kind ?? '',
    units: Number(fields.units),
    balanceAfter: Number(fields.bal),
    ref: fields.ref ?? '',
    fields,
  };
}
