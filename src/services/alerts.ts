/**
 * Alerts on the Redis side. The debit script raises them (R-ALR-1: once per cycle, in the
 * atomic step that crosses the threshold) and stores each with its figures; this module reads
 * the current cycle's banners in the asked language (R-ALR-2, R-ALR-3), and moves raised
 * alerts to the outbound webhooks (R-ALR-2):
 *
 *   debit script: HSETNX alerts id, ZADD alertq id   (the outbox, in the same atomic step)
 *   API, right after the debit: one job per alert and URL, then ZREM alertq id
 *   worker, every minute (sweep): alerts left in an outbox (the API died in between) → same
 *   worker (deliver): POST, signed, retried with backoff until a 2xx
 *
 * Job ids are per alert and URL, so an alert queued twice is delivered once while its job
 * exists; a receiver sees each alert id at least once and dedupes on it.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Queue } from 'bullmq';
import {
  ALERT_NAMES,
  type AlertRecord,
  alertId,
  alertMessages,
  isActive,
  type Lang,
  type PrepaidOffer,
  renderAlert,
  withCurrentFigures,
} from '../domain/alerts.js';
import type { EngineState } from '../domain/burndown.js';
import { type Catalog, effectiveOverrides, prepaidQuote, priceBookFor } from '../domain/catalog.js';
import { centsForUnits, UNITS_PER_CREDIT } from '../domain/units.js';
import { ALERT_JOB_OPTIONS, type AlertWebhookJob, alertJobId } from '../queues/alerts.js';
import type { RedisClient } from '../redis/clients.js';
import type { EngineStore, RaisedAlert, StoredState, WorkspaceMeta } from '../redis/engine-store.js';
import { workspacePages } from '../redis/workspace-pages.js';

/** `Burnrate-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">` (Stripe's scheme). */
export function signAlertBody(secret: string, body: string, t = Math.floor(Date.now() / 1000)): string {
  const v1 = createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
  return `t=${t},v1=${v1}`;
}

/** A receiver's check of the signature: the right secret, within `toleranceS` seconds. */
export function verifyAlertSignature(
  secret: string,
  body: string,
  header: string | undefined,
  now = Math.floor(Date.now() / 1000),
  toleranceS = 300,
): boolean {
  if (!header) return false;
  const parts = Object.fromEntries(header.split(',').map((p) => p.split('=', 2) as [string, string]));
  const t = Number(parts.t);
  if (!Number.isInteger(t) || Math.abs(now - t) > toleranceS || !parts.v1) return false;
  const want = Buffer.from(createHmac('sha256', secret).update(`${t}.${body}`).digest('hex'));
  const got = Buffer.from(parts.v1);
  return want.length === got.length && timingSafeEqual(want, got);
}

export class AlertService {
  constructor(
    private readonly deps: {
      redis: RedisClient;
      store: EngineStore;
      catalog: Catalog;
      /** The deployment's key prefix (REDIS_PREFIX): the workspace index lives under it. */
      keyPrefix: string;
      /** Where the outbound webhooks go; none: alerts are banners only. */
      webhookUrls: string[];
      /** The producer of the alert-webhooks queue (API and workers). */
      queue?: Queue<AlertWebhookJob> | undefined;
    },
  ) {}

  /** Whether raised alerts go to the outbox (the debit script's ARGV outbound flag). */
  get outbound(): boolean {
    return this.deps.webhookUrls.length > 0 && this.deps.queue !== undefined;
  }

  /** The alerts raised in the workspace's current cycle, oldest first. */
  async raisedThisCycle(workspaceId: string, state: StoredState): Promise<AlertRecord[]> {
    const engineKey = this.deps.store.keys(workspaceId).engine;
    const ids = ALERT_NAMES.map((n) => alertId(engineKey, state.cycleSeq, n));
    return (await this.deps.store.alertRecords(workspaceId, ids)).sort((a, b) => a.at - b.at);
  }

  /**
   * For each of the last `cycles` cycles (newest first, the current one included): whether
   * included credits ran out in it (R-ALR-4's upgrade looks at these).
   */
  async includedExhaustedInRecentCycles(workspaceId: string, state: StoredState, cycles: number) {
    const k = this.deps.store.keys(workspaceId);
    const seqs = Array.from({ length: Math.min(cycles, state.cycleSeq) }, (_, i) => state.cycleSeq - i);
    if (seqs.length === 0) return [];
    const found = await this.deps.redis.hmget(
      k.alerts,
      ...seqs.map((q) => alertId(k.engine, q, 'included_exhausted')),
    );
    return found.map((r) => r !== null);
  }

  /**
   * The current banners (R-ALR-2): raised this cycle and still true now, in one language, with
   * the figures of now (the webhook sent the figures of the raising).
   */
  async banners(workspaceId: string, snap: { state: StoredState; meta: WorkspaceMeta }, lang: Lang) {
    const state: EngineState = { ...snap.state, lots: [] };
    const raised = await this.raisedThisCycle(workspaceId, snap.state);
    return raised
      .filter((r) => isActive(r.name, state))
      .map((r) => withCurrentFigures(r, state))
      .map((r) => renderAlert(r, lang, snap.meta.currency || 'usd', this.offer(workspaceId, snap.meta, r)));
  }

  /**
   * The prepaid offer of flex_started: the smallest bundle that costs less than the same
   * credits as flex, at the workspace's price book and discount; null when none does.
   */
  offer(workspaceId: string, meta: WorkspaceMeta, r: AlertRecord): PrepaidOffer | null {
    if (r.name !== 'flex_started') return null;
    const { catalog } = this.deps;
    const book = priceBookFor(catalog, Date.parse(meta.createdAt) || r.at);
    const discount = effectiveOverrides(catalog, workspaceId, meta.overrides).prepaidDiscountBps;
    for (const b of [...catalog.bundles].sort((x, y) => x.credits - y.credits)) {
      const q = prepaidQuote({ book, credits: b.credits, overrideDiscountBps: discount });
      const asFlex = centsForUnits(b.credits * UNITS_PER_CREDIT, r.priceE4);
      if (asFlex > q.amountCents) {
        return {
          bundleId: b.id,
          credits: b.credits,
          amountCents: q.amountCents,
          savingCents: asFlex - q.amountCents,
        };
      }
    }
    return null;
  }

  /** The webhook body of an alert (API.md): fixed bytes, so retries are identical. */
  private webhookBody(workspaceId: string, meta: WorkspaceMeta | null, record: AlertRecord): string {
    const currency = meta?.currency || 'usd';
    const offer = meta ? this.offer(workspaceId, meta, record) : null;
    const view = renderAlert(record, 'en', currency, offer);
    return JSON.stringify({
      id: record.id,
      type: `alert.${record.name}`,
      workspaceId,
      createdAt: view.raisedAt,
      data: { ...view.data, messages: alertMessages(record, currency, offer) },
    });
  }

  /**
   * Queues the alerts a script just raised for the webhooks, right after it. A failure leaves
   * them in the workspace's outbox, which the worker's sweep queues within a minute: the
   * movement that raised them has happened and its answer must not fail for this.
   */
  async dispatchRaised(workspaceId: string, raised: readonly RaisedAlert[]): Promise<void> {
    if (!this.outbound || raised.length === 0) return;
    try {
      await this.dispatch(
        workspaceId,
        raised.map((a) => a.id),
      );
    } catch {
      // Left in the outbox for the sweep (above).
    }
  }

  /**
   * Queues alerts for every receiver, then takes them out of the outbox. Safe to repeat: the
   * job id is per alert and URL.
   */
  async dispatch(workspaceId: string, ids: string[]): Promise<number> {
    const queue = this.deps.queue;
    if (ids.length === 0 || !queue || this.deps.webhookUrls.length === 0) return 0;
    const k = this.deps.store.keys(workspaceId);
    const jobs = [];
    // The workspace's meta once for all its alerts (currency, price book for the offer).
    const [records, meta] = await Promise.all([
      this.deps.store.alertRecords(workspaceId, ids),
      this.deps.store.meta(workspaceId),
    ]);
    for (const record of records) {
      const body = this.webhookBody(workspaceId, meta, record);
      for (const url of this.deps.webhookUrls) {
        jobs.push({
          name: record.name,
          data: { url, alertId: record.id, body },
          opts: { ...ALERT_JOB_OPTIONS, jobId: alertJobId(record.id, url) },
        });
      }
    }
    if (jobs.length > 0) await queue.addBulk(jobs);
    await this.deps.redis.zrem(k.alertQueue, ...ids);
    return jobs.length;
  }

  /**
   * Queues what an API process raised but could not queue (it stopped, or Redis failed
   * between the debit and the queue): outbox entries older than `graceMs`. Walks the
   * workspaces in pages (bounded memory).
   */
  async sweep(now: number, graceMs = 30_000): Promise<{ workspaces: number; queued: number }> {
    let workspaces = 0;
    let queued = 0;
    for await (const ids of workspacePages(this.deps.redis, { keyPrefix: this.deps.keyPrefix })) {
      // One command per workspace, sent together (auto-pipelining, per node on a cluster): a
      // pipeline of its own would span the workspaces' slots, which a Redis Cluster refuses.
      const res = await Promise.all(
        ids.map((id) =>
          this.deps.redis.zrangebyscore(this.deps.store.keys(id).alertQueue, '-inf', now - graceMs),
        ),
      );
      for (const [i, id] of ids.entries()) {
        const pending = res[i] ?? [];
        if (pending.length === 0) continue;
        workspaces++;
        queued += await this.dispatch(id, pending);
      }
    }
    return { workspaces, queued };
  }
}
