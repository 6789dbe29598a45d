/**
 * Spending credits (R-CON-2, R-CON-3, R-CON-4, R-CON-5): consume or record one event, a batch
 * of them, or ask whether an amount could be spent. Answers are outcomes (a refusal is
 * `{ok: false, reason}`); src/http/routes.ts gives them their HTTP statuses.
 */
import type { UsageKeyArchive } from '../db/usage-keys.js';
import { available as availableUnits, split } from '../domain/burndown.js';
import { type Catalog, featureUnits } from '../domain/catalog.js';
import { LATE_USAGE_MAX_MS, monthOf } from '../domain/cycle.js';
import { BurnrateError } from '../domain/errors.js';
import { sha256 } from '../domain/hash.js';
import { formatUnits, MAX_REQUEST_UNITS } from '../domain/units.js';
import type { RedisClient } from '../redis/clients.js';
import {
  CONFLICT,
  CONFLICT_MESSAGE,
  type DebitEvent,
  type DebitOutcome,
  type EngineStore,
  parseDebitReply,
} from '../redis/engine-store.js';
import { REQUEST_REPLICA_WAIT_MS } from '../redis/replicas.js';
import type { AlertService } from './alerts.js';
import { balances } from './balance-view.js';
import type { Clock } from './clock.js';
import { requireWorkspace } from './require-workspace.js';

export interface DebitMetrics {
  debit(outcome: 'ok' | 'refused' | 'shortfall' | 'replayed', mode: string, seconds: number): void;
}

export interface UsageRequest {
  idempotencyKey: string;
  credits?: number | undefined;
  feature?: string | undefined;
  quantity?: number | undefined;
  mode: 'consume' | 'record';
  metadata?: Record<string, string | number | boolean> | undefined;
  /** When the usage happened (ISO 8601), for late usage: at most 35 days back (R-FLX-5). */
  occurredAt?: string | undefined;
}

/** Clock skew allowed for an `occurredAt` slightly ahead of burnrate's clock. */
const OCCURRED_AT_SKEW_MS = 5 * 60 * 1000;

/** The answer to a usage event: debited (`ok: true`) or refused (`ok: false` with the reason). */
export type UsageAnswer = ReturnType<typeof usageAnswer>;

/** A usage event's outcome, and whether it repeats the first answer of its key (R-CON-5). */
export interface UsageOutcome {
  replayed: boolean;
  answer: UsageAnswer;
}

/** A batch event that was not applied: its workspace does not exist, or its key has another body. */
export interface BatchEventError {
  error: { code: 'not_found' | 'idempotency_conflict'; message: string };
}

/**
 * A stable hash of a usage request as sent (credits, or feature and quantity; not the priced
 * credits, so a retry after a rate-card change is still the same request), to catch a key
 * reused with another body.
 */
function usageHash(r: UsageRequest): string {
  const meta = r.metadata ? Object.entries(r.metadata).sort(([a], [b]) => (a < b ? -1 : 1)) : [];
  const fields: unknown[] = [r.credits ?? 0, r.feature ?? '', r.quantity ?? 0, r.mode, meta];
  // Only when given, so requests without it hash as they always did.
  if (r.occurredAt !== undefined) fields.push(Date.parse(r.occurredAt));
  return sha256(JSON.stringify(fields), 'base64');
}

export class UsageService {
  constructor(
    private readonly deps: {
      redis: RedisClient;
      store: EngineStore;
      catalog: Catalog;
      clock: Clock;
      metrics?: DebitMetrics | undefined;
      /** Banners and the outbound alert webhooks (R-ALR-2). */
      alerts: AlertService;
      /** Replicas a debit must reach before it is answered (REDIS_WAIT_REPLICAS; 0: none). */
      waitReplicas?: number | undefined;
      /**
       * Late usage's keys in PostgreSQL (R-FLX-5): a retry older than the idempotency window
       * replays from there. Undefined (no database): such a retry is a new event.
       */
      archivedKeys?: UsageKeyArchive | undefined;
    },
  ) {}

  /**
   * With REDIS_WAIT_REPLICAS, the workspace's debits are on that many replicas before any is
   * answered: a failover then cannot take an acknowledged debit with its master. Fewer is a 503;
   * the debit may be applied, and a retry with the same key replays it, or applies it once if a
   * failover lost it (R-CON-5). A replay waits too: its first answer was written by another
   * request, perhaps never replicated.
   */
  private async replicated(workspaceId: string): Promise<void> {
    const replicas = this.deps.waitReplicas ?? 0;
    if (replicas === 0) return;
    const have = await this.deps.store.replicasHaving(workspaceId, {
      replicas,
      timeoutMs: REQUEST_REPLICA_WAIT_MS,
    });
    if (have < replicas)
      throw new BurnrateError(
        'unavailable',
        `the usage is on ${have} of ${replicas} replicas yet; retry with the same Idempotency-Key`,
      );
  }

  /** Credits of a request: given, or priced from the rate card (R-CAT-4). */
  private unitsOf(r: {
    credits?: number | undefined;
    feature?: string | undefined;
    quantity?: number | undefined;
  }) {
    if (r.credits !== undefined) return r.credits;
    const units = featureUnits(this.deps.catalog, r.feature!, r.quantity!);
    if (units === null)
      throw new BurnrateError('invalid_request', `unknown feature ${r.feature}`, { feature: r.feature });
    if (units > MAX_REQUEST_UNITS)
      throw new BurnrateError('invalid_request', 'the quantity costs too many credits');
    return units;
  }

  /** A usage request as the debit script takes it: priced, hashed, with a new usage id. */
  private debitEvent(r: UsageRequest, now: number): DebitEvent {
    return {
      units: this.unitsOf(r),
      mode: r.mode,
      idempotencyKey: r.idempotencyKey,
      bodyHash: usageHash(r),
      feature: r.feature ?? '',
      occurredAt: lateUsageAt(r.occurredAt, now),
    };
  }

  /** Whether a usage key has a first answer on record in Redis (a retry then replays it). */
  private async answered(workspaceId: string, e: DebitEvent, now: number): Promise<boolean> {
    return this.deps.store.hasUsageRecord(workspaceId, e.idempotencyKey, now);
  }

  /**
   * The first answer of a late usage event's key from PostgreSQL (R-FLX-5, R-CON-5), for a retry
   * Redis no longer has a record of: only late usage that occurred before the idempotency window
   * began can have its first answer older than the window, so only such events (with no record
   * in Redis) ask PostgreSQL. Null: not answered before, debit it. 503 when PostgreSQL cannot say,
   * or when first answers older than the window are still waiting to be copied there: never a
   * second debit.
   */
  private async fromArchive(
    workspaceId: string,
    e: DebitEvent,
    now: number,
  ): Promise<DebitOutcome | typeof CONFLICT | null> {
    const archive = this.deps.archivedKeys;
    const windowMs = this.deps.store.idempotencyWindowSeconds * 1000;
    if (!archive || e.occurredAt === undefined || e.occurredAt >= now - windowMs) return null;
    if (await this.answered(workspaceId, e, now)) return null;
    const waiting = await this.deps.store.oldestUnarchivedKey(workspaceId);
    if (waiting !== null && waiting < now - windowMs)
      throw new BurnrateError(
        'unavailable',
        'late usage keys older than the idempotency window are not in PostgreSQL yet; retry with the same idempotencyKey',
      );
    let found: Awaited<ReturnType<UsageKeyArchive['find']>>;
    try {
      found = await archive.find(workspaceId, e.idempotencyKey, e.occurredAt - OCCURRED_AT_SKEW_MS);
    } catch (err) {
      throw new BurnrateError(
        'unavailable',
        `PostgreSQL is needed to tell whether this late usage was answered before: ${(err as Error).message}`,
      );
    }
    if (!found) return null;
    if (found.bodyHash !== e.bodyHash) return CONFLICT;
    const out = parseDebitReply(found.reply);
    return out === CONFLICT ? CONFLICT : { ...out, replayed: true };
  }

  /** Queues the alerts a debit raised for the webhooks; the worker's sweep catches a failure. */
  private async dispatchAlerts(workspaceId: string, outs: readonly (DebitOutcome | typeof CONFLICT)[]) {
    await this.deps.alerts.dispatchRaised(
      workspaceId,
      outs.flatMap((o) => (o === CONFLICT || o.replayed ? [] : o.alerts)),
    );
  }

  /** consume (R-CON-2) or record (R-CON-4), idempotent per key (R-CON-5). */
  async spend(workspaceId: string, r: UsageRequest): Promise<UsageOutcome> {
    const now = this.deps.clock.now();
    const event = this.debitEvent(r, now);
    const archived = await this.fromArchive(workspaceId, event, now);
    if (archived === CONFLICT) throw new BurnrateError('idempotency_conflict', CONFLICT_MESSAGE);
    if (archived) {
      this.deps.metrics?.debit('replayed', r.mode, 0);
      return { replayed: true, answer: usageAnswer(archived) };
    }
    if (isTooOld(event, now) && !(await this.answered(workspaceId, event, now))) throw tooOldError(now);
    const started = process.hrtime.bigint();
    const out = await this.deps.store.debit({
      workspaceId,
      ...event,
      now,
      month: monthOf(now),
      outbound: this.deps.alerts.outbound,
    });
    this.deps.metrics?.debit(outcomeOf(out), r.mode, Number(process.hrtime.bigint() - started) / 1e9);
    await this.replicated(workspaceId);
    await this.dispatchAlerts(workspaceId, [out]);
    return { replayed: out.replayed, answer: usageAnswer(out) };
  }

  /**
   * Up to 1,000 usage events. All are validated before any is applied; then each workspace's
   * events go to the debit script in one call, in their order. Outcomes come in event order:
   * debited, refused, or not applied (unknown workspace, key conflict).
   */
  async spendBatch(
    events: (UsageRequest & { workspaceId: string })[],
  ): Promise<(UsageOutcome | BatchEventError)[]> {
    const now = this.deps.clock.now();
    const prepared = events.map((e, i) => {
      try {
        return this.debitEvent(e, now);
      } catch (err) {
        if (err instanceof BurnrateError)
          throw new BurnrateError(err.code, `events[${i}]: ${err.message}`, err.details);
        throw err;
      }
    });
    const results: (UsageOutcome | BatchEventError)[] = new Array(events.length);
    // Late usage past the window replays from PostgreSQL (R-FLX-5). Too old is refused unless it
    // is a retry of an event answered before (R-CON-5): its key answers the first reply for as
    // long as it is kept.
    for (const [i, e] of prepared.entries()) {
      const archived = await this.fromArchive(events[i]!.workspaceId, e, now);
      if (archived === CONFLICT) {
        results[i] = { error: { code: 'idempotency_conflict', message: CONFLICT_MESSAGE } };
        continue;
      }
      if (archived) {
        this.deps.metrics?.debit('replayed', events[i]!.mode, 0);
        results[i] = { replayed: true, answer: usageAnswer(archived) };
        continue;
      }
      if (isTooOld(e, now) && !(await this.answered(events[i]!.workspaceId, e, now))) {
        throw tooOldError(now, `events[${i}]: `);
      }
    }
    const groups = new Map<string, number[]>();
    events.forEach((e, i) => {
      if (results[i] !== undefined) return;
      const g = groups.get(e.workspaceId);
      if (g) g.push(i);
      else groups.set(e.workspaceId, [i]);
    });
    const month = monthOf(now);
    const outbound = this.deps.alerts.outbound;
    await Promise.all(
      [...groups].map(async ([workspaceId, idx]) => {
        const started = process.hrtime.bigint();
        let outs: Awaited<ReturnType<EngineStore['debitMany']>>;
        try {
          outs = await this.deps.store.debitMany({
            workspaceId,
            events: idx.map((i) => prepared[i]!),
            now,
            month,
            outbound,
          });
        } catch (err) {
          if (!(err instanceof BurnrateError && err.code === 'not_found')) throw err;
          for (const i of idx) results[i] = { error: { code: 'not_found', message: err.message } };
          return;
        }
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        await this.replicated(workspaceId);
        outs.forEach((out, j) => {
          const i = idx[j]!;
          if (out === CONFLICT) {
            results[i] = { error: { code: 'idempotency_conflict', message: CONFLICT_MESSAGE } };
            return;
          }
          this.deps.metrics?.debit(outcomeOf(out), events[i]!.mode, seconds);
          results[i] = { replayed: out.replayed, answer: usageAnswer(out) };
        });
        await this.dispatchAlerts(workspaceId, outs);
      }),
    );
    return results;
  }

  /** Whether an amount could be spent now, debiting nothing (R-CON-3). */
  async authorize(workspaceId: string, r: Omit<UsageRequest, 'idempotencyKey' | 'mode'>) {
    const units = this.unitsOf(r);
    const snap = await requireWorkspace(this.deps.store, workspaceId, this.deps.clock.now());
    const state = { ...snap.state, lots: [] };
    const avail = availableUnits(state);
    const { reason } = split(state, units);
    return {
      ok: reason === null,
      ...(reason ? { reason } : {}),
      credits: formatUnits(units),
      available: avail === null ? null : formatUnits(avail),
    };
  }
}

/**
 * The instant of late usage, checked not to be ahead of now (beyond clock skew); undefined when
 * not given or not earlier than now (then it is simply now's usage). The 35-day limit is
 * checked by the caller, after looking for a first answer to replay (isTooOld).
 */
function lateUsageAt(occurredAt: string | undefined, now: number): number | undefined {
  if (occurredAt === undefined) return undefined;
  const at = Date.parse(occurredAt);
  if (at > now + OCCURRED_AT_SKEW_MS) {
    throw new BurnrateError('invalid_request', 'occurredAt is in the future', { occurredAt });
  }
  return at < now ? at : undefined;
}

/** Late usage older than Stripe's meters accept (R-FLX-5). */
function isTooOld(e: DebitEvent, now: number): boolean {
  return e.occurredAt !== undefined && e.occurredAt < now - LATE_USAGE_MAX_MS;
}

function tooOldError(now: number, where = '') {
  return new BurnrateError('invalid_request', `${where}occurredAt is more than 35 days ago (R-FLX-5)`, {
    earliest: new Date(now - LATE_USAGE_MAX_MS).toISOString(),
  });
}

function outcomeOf(o: DebitOutcome) {
  if (o.replayed) return 'replayed' as const;
  if (!o.ok) return 'refused' as const;
  return o.shortfall > 0 ? ('shortfall' as const) : ('ok' as const);
}

/** The alerts an event raised, when it raised any (R-ALR-1): the platform may act at once. */
function alertsOf(o: DebitOutcome) {
  return o.alerts.length > 0 ? { alerts: o.alerts.map((a) => ({ id: a.id, type: a.name })) } : {};
}

function usageAnswer(o: DebitOutcome) {
  if (!o.ok) {
    return {
      ok: false as const,
      reason: o.reason,
      available: o.available === null ? null : formatUnits(o.available),
      usageId: o.usageId,
      ...alertsOf(o),
      workspace: balances(o.state),
    };
  }
  return {
    ok: true as const,
    usageId: o.usageId,
    debited: {
      included: formatUnits(o.debited.included),
      prepaid: formatUnits(o.debited.prepaid),
      flex: formatUnits(o.debited.flex),
    },
    ...(o.shortfall > 0 ? { shortfall: formatUnits(o.shortfall) } : {}),
    ...alertsOf(o),
    workspace: balances(o.state),
  };
}
