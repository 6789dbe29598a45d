/**
 * Monthly flex invoicing (R-FLX-5, R-FLX-6). A run finds every workspace with flex in a closed
 * calendar month; each workspace-month then gets one Stripe invoice item: the month's flex
 * rounded down to whole credits (77.7 → 77), at the workspace's flex price, with the Stripe
 * idempotency key `flex:{workspace}:{YYYY-MM}`. Monthly plans leave the item for the next
 * subscription invoice; annual plans get an invoice created, the item attached, and the invoice
 * finalized at once. Each workspace-month's state (pending, item_created, invoiced, skipped,
 * failed) is kept, so a run can be resumed, re-run or inspected, and every Stripe call is
 * idempotent: a re-run, a retry or a killed worker never bills twice.
 *
 * An ended subscription's final invoice (R-CYC-3) is a bill of its own: the flex its month
 * gained since the month's last final invoice (its final stretch), with its own state and
 * idempotency keys (the subscription id added), so a workspace that subscribes again and ends
 * again in the same month gets a second final invoice. The monthly run bills the month's flex
 * less what final invoices took, and bills again the final invoices their Stripe event left
 * failed or pending (nothing else would: the event's job is done, and the month less what they
 * took leaves them out).
 */
import type { ChainableCommander } from 'ioredis';
import type { Catalog } from '../domain/catalog.js';
import { monthOf } from '../domain/cycle.js';
import { BurnrateError } from '../domain/errors.js';
import {
  type Bill,
  type BillDecision,
  type BillFacts,
  billStateSchema,
  decideBill,
  INVOICE_STATUSES,
  type WorkspaceMonthState,
} from '../domain/invoicing.js';
import { floorToWholeCredits, formatUnits, UNITS_PER_CREDIT } from '../domain/units.js';
import type { RedisClient } from '../redis/clients.js';
import type { EngineStore } from '../redis/engine-store.js';
import { invoicingKey, invoicingRunsKey, type WorkspaceKeys } from '../redis/keys.js';
import { workspacePages } from '../redis/workspace-pages.js';
import type { StripeClient } from '../stripe/client.js';
import { type FlexInvoiceWriter, flexInvoiceWriter } from '../stripe/flex-invoices.js';

/** A bill's field in its month's state hash: a workspace id has no '/' (its API pattern). */
const stateField = (b: Bill) => (b.subscriptionId ? `${b.workspaceId}/${b.subscriptionId}` : b.workspaceId);

/** The month's flex less what final invoices took (R-CYC-3), from the two HGET replies. */
const remainder = (flexUnits: unknown, finalUnits: unknown) =>
  Number(flexUnits ?? 0) - Number(finalUnits ?? 0);

export function previousMonth(now: number): string {
  const d = new Date(now);
  return monthOf(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() - 1, 1));
}

/**
 * A month's closing read of one workspace, queued on a transaction (R-FLX-5): close the month to
 * late usage, then its flex and what final invoices took of it; the replies come in this order.
 */
const closing = (tx: ChainableCommander, k: WorkspaceKeys, month: string) =>
  tx.sadd(k.flexClosed, month).hget(k.flexMonths, month).hget(k.flexFinal, month);

export class Invoicer {
  private readonly writer: FlexInvoiceWriter | undefined;

  constructor(
    private readonly deps: {
      redis: RedisClient;
      store: EngineStore;
      catalog: Catalog;
      stripe: StripeClient | undefined;
      keyPrefix: string;
    },
  ) {
    this.writer = deps.stripe && flexInvoiceWriter(deps.stripe);
  }

  private key(month: string) {
    return invoicingKey(this.deps.keyPrefix, month);
  }

  private async save(bill: Bill, s: WorkspaceMonthState) {
    await this.deps.redis.hset(this.key(bill.month), stateField(bill), JSON.stringify(s));
    return s;
  }

  async state(bill: Bill): Promise<WorkspaceMonthState | null> {
    const raw = await this.deps.redis.hget(this.key(bill.month), stateField(bill));
    return raw === null ? null : billStateSchema.parse(JSON.parse(raw));
  }

  /**
   * Reads a workspace-month's flex to bill and closes that month for the workspace, in one
   * MULTI: from then on late usage (`occurredAt`) of the month counts toward the current month
   * (the debit script checks `flexClosed`), so the amount read is final and nothing booked
   * later is lost. What final invoices took of the month (R-CYC-3) is read in the same MULTI,
   * and none takes more once the month is closed. The keys carry the workspace's hash tag, so
   * this works on Redis Cluster.
   */
  private async readClosing({ workspaceId, month }: Bill): Promise<number> {
    const k = this.deps.store.keys(workspaceId);
    const res = await closing(this.deps.redis.multi(), k, month).exec();
    const failed = res?.find(([err]) => err)?.[0];
    if (!res || failed) throw failed ?? new Error('the closing read was discarded');
    return remainder(res[1]?.[1], res[2]?.[1]);
  }

  /**
   * The closing reads of a page of workspaces. On one Redis node their transactions go out in
   * one pipeline (ioredis's inline transactions: each MULTI … EXEC stays atomic); a cluster
   * pipeline must stay within one slot, so there each goes alone.
   */
  private async readClosingPage(ids: string[], month: string): Promise<number[]> {
    const redis = this.deps.redis;
    if (redis.isCluster)
      return Promise.all(ids.map((workspaceId) => this.readClosing({ workspaceId, month })));
    // ioredis's Pipeline has multi() (inline transactions); its types leave it out.
    const pipe = redis.pipeline() as ChainableCommander & { multi(): ChainableCommander };
    for (const id of ids) {
      const k = this.deps.store.keys(id);
      // exec() inside the pipeline closes the transaction; the last one sends it all.
      void closing(pipe.multi(), k, month).exec();
    }
    const replies = (await pipe.exec()) ?? [];
    // Per workspace: MULTI, three QUEUED, then EXEC's [SADD, HGET, HGET].
    return ids.map((_, i) => {
      const [err, results] = replies[i * 5 + 4] ?? [null, null];
      if (err) throw err;
      if (!Array.isArray(results)) throw new Error(`the closing read of ${ids[i]} was discarded`);
      return remainder(results[1], results[2]);
    });
  }

  /**
   * The workspaces with flex to bill in a month, a page at a time (bounded memory). With
   * `close` (a real run, not a dry run) every workspace's amount is a closing read.
   */
  async *candidatePages(
    month: string,
    opts: { close?: boolean } = {},
  ): AsyncGenerator<{ workspaceId: string; units: number }[]> {
    for await (const ids of workspacePages(this.deps.redis, { keyPrefix: this.deps.keyPrefix })) {
      let units: number[];
      if (opts.close) {
        units = await this.readClosingPage(ids, month);
      } else {
        // Sent together by auto-pipelining (per node on a cluster): one pipeline of the page
        // would span the workspaces' slots, which a Redis Cluster refuses.
        const { redis, store } = this.deps;
        units = await Promise.all(
          ids.map(async (id) => {
            const k = store.keys(id);
            return remainder(
              ...(await Promise.all([redis.hget(k.flexMonths, month), redis.hget(k.flexFinal, month)])),
            );
          }),
        );
      }
      const page = ids.flatMap((workspaceId, i) => {
        const u = units[i] ?? 0;
        return u >= UNITS_PER_CREDIT ? [{ workspaceId, units: u }] : [];
      });
      if (page.length > 0) yield page;
    }
  }

  /** The workspaces with flex to bill in a month (a dry run: closes nothing). */
  async *candidates(month: string): AsyncGenerator<{ workspaceId: string; units: number }> {
    for await (const page of this.candidatePages(month)) yield* page;
  }

  /**
   * Bills one workspace-month, or with `subscriptionId` that subscription's final stretch
   * (R-CYC-3), resuming from its recorded state: load what it needs, decide (decideBill, pure),
   * carry the decision out. Every Stripe call carries an idempotency key derived from the bill,
   * so repeating any step is harmless. A final stretch with no flex records nothing: null.
   */
  async invoiceWorkspace(o: Bill & { now: number }): Promise<WorkspaceMonthState | null> {
    const bill: Bill = { workspaceId: o.workspaceId, month: o.month, subscriptionId: o.subscriptionId };
    const decision = decideBill(await this.load(bill, o.now));
    switch (decision.kind) {
      case 'nothing':
        return null;
      case 'done':
        return decision.state;
      case 'no_workspace':
        throw new BurnrateError('not_found', `workspace ${bill.workspaceId} does not exist`);
      case 'skip':
        return this.save(bill, decision.state);
      case 'fail': {
        const { state } = decision;
        await this.save(bill, state);
        // The message is the reason, so recording the failure again (the worker does) keeps it.
        // Stripe not configured is a fault of the deployment (internal), no Stripe customer a
        // thing not found (not_found): neither passes by itself, so neither is retried; an
        // operator fixes it and a re-run bills it.
        const code = decision.stripeMissing ? 'internal' : 'not_found';
        throw new BurnrateError(code, state.reason ?? '', bill);
      }
      case 'bill':
        return this.execute(bill, decision);
    }
  }

  /** The facts a bill is decided on; three reads at once. */
  private async load(bill: Bill, now: number): Promise<BillFacts> {
    const { workspaceId, month, subscriptionId } = bill;
    // The state and the snapshot share a write (auto-pipelining); the flex read has its own.
    const [prev, snap, units] = await Promise.all([
      this.state(bill),
      this.deps.store.snapshot(workspaceId, now),
      subscriptionId === undefined
        ? this.readClosing(bill)
        : this.deps.store.takeFinalFlex({ workspaceId, month, subscriptionId }),
    ]);
    return {
      bill,
      prev,
      units,
      workspace: snap && { state: snap.state, meta: snap.meta },
      catalog: this.deps.catalog,
      stripeConfigured: this.deps.stripe !== undefined,
    };
  }

  /** The Stripe steps a bill still needs, each recorded as it is done, so a retry resumes. */
  private async execute(
    bill: Bill,
    d: Extract<BillDecision, { kind: 'bill' }>,
  ): Promise<WorkspaceMonthState> {
    const writer = this.writer;
    if (!writer) throw new Error('decideBill billed without Stripe');
    const { figures, terms, billed } = d;
    const { flexCredits } = figures;
    if (d.saveTermsFirst) await this.save(bill, { ...figures, status: 'pending', terms });
    let invoiceId = d.invoiceId;
    if (terms.ownInvoice && !invoiceId) {
      invoiceId = await writer.createInvoice(bill, { terms, flexCredits });
      await this.save(bill, { ...figures, status: 'pending', terms, invoiceId });
    }
    const itemId = d.itemId ?? (await writer.createItem(bill, { terms, billed, flexCredits, invoiceId }));
    const created = {
      ...figures,
      status: 'item_created' as const,
      terms,
      itemId,
      ...(invoiceId ? { invoiceId } : {}),
    };
    if (!terms.ownInvoice || !invoiceId) return this.save(bill, created);
    // On its own invoice the item is not the end: the bill stays pending (with the ids, so a
    // retry resumes) until the invoice is finalized, and the run is not done before that.
    await this.save(bill, { ...created, status: 'pending' });
    await writer.finalize(bill, invoiceId);
    return this.save(bill, { ...created, status: 'invoiced' });
  }

  /**
   * Records that a bill's job gave up (a permanent error, or its last attempt), with the ids it
   * got so far, so it shows as failed (not pending forever) and a re-run retries it. With
   * `onlyIfRecorded`, a bill with no state yet stays without: a final invoice records its state
   * before its first Stripe call, so one without never got that far (a stale event, nothing to
   * bill), and a failed state would list it for ever.
   */
  async markFailed(bill: Bill, reason: string, opts: { onlyIfRecorded?: boolean } = {}): Promise<void> {
    const prev = await this.state(bill);
    if (!prev && opts.onlyIfRecorded) return;
    if (prev && prev.status !== 'pending' && prev.status !== 'failed') return;
    await this.save(bill, {
      flexCredits: '0',
      billedCredits: 0,
      ...prev,
      status: 'failed',
      reason,
    });
  }

  /**
   * The month's final invoices (R-CYC-3) still to bill, a page at a time: failed (their job gave
   * up) or pending (it stopped before the end). Their Stripe event's job is done and the monthly
   * bill leaves out what they took, so only a run billing them again bills those credits. An
   * HSCAN of the month's states, whose final invoices are the fields "<workspace>/<subscription>"
   * (stateField); a field may come twice, which the run's job ids absorb.
   */
  async *unfinishedFinalBills(
    month: string,
  ): AsyncGenerator<{ bill: Bill & { subscriptionId: string }; state: WorkspaceMonthState }[]> {
    let cursor = '0';
    do {
      // One key, so one node on a cluster too: [next cursor, field, value, field, value, ...].
      const [next, flat] = (await this.deps.redis.hscan(
        this.key(month),
        cursor,
        'MATCH',
        '*/*',
        'COUNT',
        500,
      )) as [string, string[]];
      cursor = next;
      const page: { bill: Bill & { subscriptionId: string }; state: WorkspaceMonthState }[] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const [workspaceId, subscriptionId] = flat[i]!.split('/');
        const state = billStateSchema.parse(JSON.parse(flat[i + 1]!));
        if (workspaceId && subscriptionId && (state.status === 'failed' || state.status === 'pending'))
          page.push({ bill: { workspaceId, month, subscriptionId }, state });
      }
      if (page.length > 0) yield page;
    } while (cursor !== '0');
  }

  /** A run has queued every workspace-month it found: `runs` in the status counts these. */
  async recordRun(month: string): Promise<void> {
    await this.deps.redis.incr(invoicingRunsKey(this.deps.keyPrefix, month));
  }

  /**
   * A month's progress and totals (GET /v1/admin/invoicing/runs/{month}); `runs` is how many
   * runs have queued all their workspace-months, so a caller that queued one can tell when its
   * states are all there.
   */
  async status(month: string) {
    const [all, runs] = await Promise.all([
      this.deps.redis.hgetall(this.key(month)),
      this.deps.redis.get(invoicingRunsKey(this.deps.keyPrefix, month)),
    ]);
    const counts = Object.fromEntries(INVOICE_STATUSES.map((s) => [s, 0])) as Record<
      (typeof INVOICE_STATUSES)[number],
      number
    >;
    let billedCredits = 0;
    let amountCents = 0;
    const failures: { workspaceId: string; subscriptionId?: string; reason: string }[] = [];
    const workspaces = new Set<string>();
    for (const [field, raw] of Object.entries(all)) {
      // A final invoice's field (R-CYC-3) is "<workspace>/<subscription>".
      const [id = field, subscriptionId] = field.split('/');
      workspaces.add(id);
      const s = billStateSchema.parse(JSON.parse(raw));
      counts[s.status]++;
      if (s.status === 'item_created' || s.status === 'invoiced') {
        billedCredits += s.billedCredits;
        amountCents += s.amountCents ?? 0;
      }
      if (s.status === 'failed' && failures.length < 100)
        failures.push({
          workspaceId: id,
          ...(subscriptionId ? { subscriptionId } : {}),
          reason: s.reason ?? '',
        });
    }
    return {
      month,
      workspaces: workspaces.size,
      counts,
      billedCredits,
      amountCents,
      failures,
      runs: Number(runs ?? 0),
    };
  }

  /**
   * Marks a run's candidates pending, a page at a time: a workspace-month seen for the first
   * time, and one whose last attempt failed (a re-run tries it again: the operator may have
   * fixed its cause); any other keeps its state, so billing resumes where it was. Yields each
   * page's workspaces and, of those, the ones that had failed.
   */
  async *markPending(month: string): AsyncGenerator<{ ids: string[]; failed: string[] }> {
    const key = this.key(month);
    for await (const page of this.candidatePages(month, { close: true })) {
      const ids = page.map((c) => c.workspaceId);
      const prev = await this.deps.redis.hmget(key, ...ids);
      const failed = ids.filter(
        (_, i) => prev[i] != null && billStateSchema.parse(JSON.parse(prev[i]!)).status === 'failed',
      );
      const retried = new Set(failed);
      const pipe = this.deps.redis.pipeline();
      for (const [i, c] of page.entries()) {
        const retry = retried.has(c.workspaceId);
        if (prev[i] != null && !retry) continue;
        const s: WorkspaceMonthState = {
          status: 'pending',
          flexCredits: formatUnits(c.units),
          billedCredits: floorToWholeCredits(c.units),
        };
        // Never over a state a job wrote meanwhile, unless it is the failure being retried.
        if (retry) pipe.hset(key, c.workspaceId, JSON.stringify(s));
        else pipe.hsetnx(key, c.workspaceId, JSON.stringify(s));
      }
      await pipe.exec();
      yield { ids, failed };
    }
  }
}
