/**
 * Issue 9 §2, failover: masters of a Redis Cluster are SIGKILLed, one shard after another, under a
 * storm of paid Checkout webhooks and debits, with REDIS_GRANT_REPLICAS=1 and
 * REDIS_WAIT_REPLICAS=1. Each kill is a real failover (the replica promoted after
 * cluster-node-timeout) of a master whose replication link has been down for LINK_DOWN_MS, so it
 * dies with writes no replica has; the killed node is restarted (AOF on, as `npm start` runs it)
 * and rejoins as a replica. Proven afterwards, with the same API process throughout:
 * - R-PRE-2, R-WH-2: every paid session acknowledged (Stripe redelivers until 2xx) is granted
 *   exactly once: one `checkout:` grant per session, and each workspace's prepaid balance is the
 *   sum of its sessions. A 200 means the job was on a replica; a grant completes its job only once
 *   its own writes are (workers/stripe-events.ts), so no grant is lost and none applied twice.
 * - R-CON-5, R-CON-7: every debit answered 2xx (retried with its Idempotency-Key until then, as a
 *   careful client does) is in the ledger exactly once, under the usage id it was answered with;
 *   the ledger holds no other debit; the balances are what the 2xx answers add up to and the
 *   ledger check (src/services/ledger-check.ts) is clean; every key's idempotency record survived
 *   (a replay answers `replayed` with the same usage id, debiting nothing).
 * - R-OPS-3: during the failovers the API answered 503 (never 500 or anything else) and it
 *   recovered by itself: no restart of the API or the worker.
 * Runs in the cluster leg only (BURNRATE_TEST_REDIS=cluster), on a private 3-master/3-replica
 * cluster of its own; the single-node analogue is webhook-redis-kill.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'bullmq';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { UNITS_PER_CREDIT } from '../../src/domain/units.js';
import { createLogger } from '../../src/observability/logger.js';
import {
  clusterView,
  type EmbeddedCluster,
  type FailoverReport,
  startEmbeddedCluster,
} from '../../src/redis/embedded-cluster.js';
import { checkLedger } from '../../src/services/ledger-check.js';
import { PLATFORM, startTestApi, type TestApi } from '../support/http.js';
import { onCluster } from '../support/redis.js';
import { event, paidCheckoutSession, sign } from '../support/stripe.js';
import { settledWithoutFailures, startStripeWorker } from '../support/stripe-worker.js';

/** Workspaces per shard: every kill hits workspaces that are being debited and granted. */
const PER_SHARD = 3;
const WEBHOOK_SENDERS = 6;
const DEBIT_SENDERS = 10;
const BATCH_SENDERS = 2;
const BATCH_EVENTS = 12;
/** Healthy load before each kill, and after the last rejoin. */
const CALM_MS = 1500;
/**
 * Before each kill the master's replication link is down this long (its replica stopped, the link
 * dropped: embedded-cluster.ts killMaster), and the master goes on answering writes no replica
 * gets. Loopback replication is otherwise too quick for a kill to catch a write on the master
 * alone (bench:failover measures both); with it, REDIS_WAIT_REPLICAS=0 / REDIS_GRANT_REPLICAS=0
 * lose acknowledged debits and grants here, and this test fails.
 */
const LINK_DOWN_MS = 300;
/** Low, so a failover takes ~2–3 s; high enough that 2 busy cores do not fail a live master over. */
const NODE_TIMEOUT_MS = 1500;
/** A request retried this long without a 2xx is a failure of the test, not a hang. */
const GIVE_UP_MS = 30_000;
const INCLUDED = 150; // the growth plan's allotment

let dir: string | undefined;
let cluster: EmbeddedCluster | undefined;
let api: TestApi;
let worker: Worker;
/** Lines the API logged at error level (a 500's cause). */
const apiErrors: string[] = [];

beforeAll(async () => {
  if (!onCluster) return;
  dir = mkdtempSync(join(tmpdir(), 'burnrate-failover-'));
  cluster = await startEmbeddedCluster({
    dir,
    masters: 3,
    replicasPerMaster: 1,
    appendOnly: true,
    nodeTimeoutMs: NODE_TIMEOUT_MS,
  });
  api = await startTestApi({
    target: { clusterNodes: cluster.nodes },
    now: Date.now(),
    env: { REDIS_WAIT_REPLICAS: '1', REDIS_GRANT_REPLICAS: '1' },
    log: createLogger({
      level: 'error',
      name: 'failover-api',
      destination: { write: (line: string) => void apiErrors.push(line) },
    }),
  });
  // Short locks: a job whose Redis died mid-step runs again within a second or two.
  worker = startStripeWorker(api, { grantReplicas: 1, lockMs: 2000, name: 'failover-worker' });
}, 60_000);

afterAll(async () => {
  if (!onCluster) return;
  // Bounded: a BullMQ worker's close has been seen to wait for ever after failovers (the
  // alert-webhooks worker of workers/main.ts in bench:failover); the nodes go regardless.
  const atMost = (p: Promise<unknown> | undefined) =>
    Promise.race([p?.catch(() => {}), new Promise((r) => setTimeout(r, 5000))]);
  await atMost(worker?.close());
  await atMost(api?.close());
  // Every node, whatever state the test left it in (a node killed and not yet restarted too).
  for (const pid of cluster?.pids ?? []) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await cluster?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 30_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every answer the API gave during the storm, by status ('network' for a failed fetch). */
const statuses = new Map<string, number>();
const unexpected: string[] = [];
function saw(status: number | 'network', what: string, body?: unknown) {
  statuses.set(String(status), (statuses.get(String(status)) ?? 0) + 1);
  if (status !== 200 && status !== 503 && unexpected.length < 20)
    unexpected.push(`${what}: ${status} ${JSON.stringify(body)}`);
}

/** POST until a 2xx, as Stripe (webhooks) and a careful client (debits, same key) do. */
async function untilAcknowledged(
  what: string,
  path: string,
  body: string,
  headers: Record<string, string>,
  // biome-ignore lint/suspicious/noExplicitAny: the test reads whatever JSON came back
): Promise<any> {
  const started = Date.now();
  let last = '';
  for (;;) {
    try {
      const res = await fetch(`${api.base}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
      });
      const parsed: unknown = await res.json();
      saw(res.status, what, parsed);
      if (res.ok) return parsed;
      last = `${res.status} ${JSON.stringify(parsed)}`;
    } catch (err) {
      if (!(err instanceof TypeError)) throw err; // fetch's network failure only
      saw('network', what);
      last = String(err);
    }
    if (Date.now() - started > GIVE_UP_MS)
      throw new Error(`${what} ${path}: no 2xx in ${GIVE_UP_MS} ms, last ${last}`);
    await sleep(25);
  }
}

interface Debit {
  workspaceId: string;
  key: string;
  credits: number;
  /** From the 2xx answer. */
  usageId: string;
  units: number;
}

it.runIf(onCluster)(
  'masters killed one shard after another under webhooks and debits: nothing acknowledged is lost or doubled, 503s, no 500',
  async () => {
    const c = cluster!;
    // PER_SHARD workspaces on each master's slots; a shard is named by its first slot.
    // (Just after the start, a node may not have heard yet that another is a replica: to it, that
    // one is a master without slots.)
    const masters = (await clusterView(c.nodes[0]!.port))!.filter(
      (n) => n.role === 'master' && n.slots.length > 0,
    );
    expect(masters).toHaveLength(3);
    const shardSlots = masters.map((m) => m.slots[0]![0]);
    const shardOf = (slot: number) =>
      masters.findIndex((m) => m.slots.some(([from, to]) => from <= slot && slot <= to));
    const slotOf = async (workspaceId: string) =>
      Number(await api.redis.call('CLUSTER', 'KEYSLOT', api.store.keys(workspaceId).engine));
    const byShard: string[][] = masters.map(() => []);
    for (let i = 0; byShard.some((s) => s.length < PER_SHARD); i++) {
      const id = `fo${i}`;
      const shard = byShard[shardOf(await slotOf(id))]!;
      if (shard.length < PER_SHARD) shard.push(id);
    }
    const workspaces = byShard.flat();
    for (const id of workspaces) {
      expect((await api.call('PUT', `/v1/workspaces/${id}`, { body: { planId: 'growth' } })).status).toBe(
        201,
      );
    }

    const sessions = new Map<string, { workspaceId: string; credits: number }>();
    const debits = new Map<string, Debit>();
    let stop = false;
    let seq = 0;
    const pick = () => workspaces[Math.floor(Math.random() * workspaces.length)]!;
    const randomCredits = () => (1 + Math.floor(Math.random() * 5)) / 100; // 0.01–0.05

    const webhookSender = async () => {
      while (!stop) {
        const workspaceId = pick();
        const credits = 1 + (seq++ % 5);
        const session = paidCheckoutSession({ workspaceId, credits: String(credits) });
        const payload = JSON.stringify(event('checkout.session.completed', session));
        await untilAcknowledged('webhook', '/webhooks/stripe', payload, {
          'stripe-signature': sign(payload),
        });
        sessions.set(session.id as string, { workspaceId, credits });
      }
    };
    const debitSender = async () => {
      while (!stop) {
        const workspaceId = pick();
        const key = `d${seq++}`;
        const credits = randomCredits();
        const answer = await untilAcknowledged(
          'debit',
          `/v1/workspaces/${workspaceId}/usage`,
          JSON.stringify({ idempotencyKey: key, credits }),
          { authorization: `Bearer ${PLATFORM}` },
        );
        debits.set(key, { workspaceId, key, credits, usageId: answer.usageId, units: unitsOf(answer) });
      }
    };
    const batchSender = async () => {
      while (!stop) {
        const events = Array.from({ length: BATCH_EVENTS }, () => ({
          workspaceId: pick(),
          idempotencyKey: `b${seq++}`,
          credits: randomCredits(),
        }));
        const answer = await untilAcknowledged('batch', '/v1/usage/batch', JSON.stringify({ events }), {
          authorization: `Bearer ${PLATFORM}`,
        });
        answer.results.forEach((r: { status: number; usageId: string } & DebitAnswer, i: number) => {
          const e = events[i]!;
          if (r.status !== 200) {
            unexpected.push(`batch event ${e.idempotencyKey}: ${JSON.stringify(r)}`);
            return;
          }
          debits.set(e.idempotencyKey, {
            workspaceId: e.workspaceId,
            key: e.idempotencyKey,
            credits: e.credits,
            usageId: r.usageId,
            units: unitsOf(r),
          });
        });
      }
    };

    const started = Date.now();
    const senders = [
      ...Array.from({ length: WEBHOOK_SENDERS }, webhookSender),
      ...Array.from({ length: DEBIT_SENDERS }, debitSender),
      ...Array.from({ length: BATCH_SENDERS }, batchSender),
    ];
    // Each shard's master once: the shard of the stripe-events queue among them.
    const failovers: FailoverReport[] = [];
    /** 503s answered during each failover. */
    const busy: number[] = [];
    try {
      for (const slot of shardSlots) {
        await sleep(CALM_MS);
        const before = statuses.get('503') ?? 0;
        failovers.push(await c.killMaster(slot, { replicaLinkDownMs: LINK_DOWN_MS }));
        busy.push((statuses.get('503') ?? 0) - before);
      }
      await sleep(CALM_MS);
    } finally {
      stop = true;
    }
    // Each request in flight goes on until its 2xx.
    await Promise.all(senders);
    const stormMs = Date.now() - started;
    expect(new Set(failovers.map((f) => f.killed)).size).toBe(3);

    for (const line of [...unexpected, ...apiErrors]) process.stderr.write(`cluster-failover: ${line}\n`);
    expect(unexpected).toEqual([]);
    expect(statuses.get('500') ?? 0).toBe(0);
    expect(apiErrors.join('')).toBe('');
    // Each failover made requests wait for a replica, or find their master gone: 503, not 500.
    expect(
      busy.every((n) => n > 0),
      `503s per failover: ${busy}`,
    ).toBe(true);

    // Recovered by itself: a fresh debit on every workspace is answered 200 at once.
    for (const id of workspaces) {
      const res = await api.call('POST', `/v1/workspaces/${id}/usage`, {
        key: PLATFORM,
        body: { idempotencyKey: `after-${id}`, credits: 0.01 },
      });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      debits.set(`after-${id}`, {
        workspaceId: id,
        key: `after-${id}`,
        credits: 0.01,
        usageId: res.body.usageId,
        units: unitsOf(res.body),
      });
    }

    // Every acknowledged event's job runs to completion (a grant is retried until a replica has it).
    await settledWithoutFailures(api.stripeQueue, 300);

    const now = api.clock.now();
    for (const id of workspaces) {
      const rows = [];
      for await (const row of api.store.ledgerAll(id)) rows.push(row);

      // R-PRE-2: each acknowledged session granted once, nothing else granted as a purchase.
      const mine = [...sessions].filter(([, s]) => s.workspaceId === id);
      const grants = rows
        .filter((r) => r.type === 'grant' && r.ref.startsWith('checkout:'))
        .map((r) => r.ref);
      expect(grants.length, `${id}: checkout grants`).toBe(new Set(grants).size);
      const paid = mine.map(([sid]) => `checkout:${sid}`);
      expect(
        { lost: without(paid, grants), unpaid: without(grants, paid) },
        `${id}: acknowledged sessions never granted, grants of no acknowledged session`,
      ).toEqual({ lost: [], unpaid: [] });

      // R-CON-5, R-CON-7: each acknowledged debit once, under its answered usage id, and no other.
      const acked = [...debits.values()].filter((d) => d.workspaceId === id);
      const consumed = rows.filter((r) => r.type === 'consume').map((r) => r.ref);
      expect(consumed.length, `${id}: consume entries`).toBe(new Set(consumed).size);
      const answered = acked.map((d) => d.usageId);
      expect(
        { lost: without(answered, consumed), unanswered: without(consumed, answered) },
        `${id}: debits answered 2xx missing from the ledger, debits on it no 2xx answered`,
      ).toEqual({ lost: [], unanswered: [] });
      const spent = acked.reduce((sum, d) => sum + d.units, 0);
      expect(spent).toBe(acked.reduce((sum, d) => sum + Math.round(d.credits * UNITS_PER_CREDIT), 0));

      const snap = await api.store.snapshot(id, now);
      expect(snap?.state.prepaid, `${id}: prepaid`).toBe(
        mine.reduce((sum, [, s]) => sum + s.credits, 0) * UNITS_PER_CREDIT,
      );
      expect(snap?.state.included, `${id}: included`).toBe(INCLUDED * UNITS_PER_CREDIT - spent);
      const check = await checkLedger(api.store, id, now);
      expect(check.problems, id).toEqual([]);
    }

    // Every idempotency record survived: a replay debits nothing and answers the first usage id.
    const all = [...debits.values()];
    for (let i = 0; i < all.length; i += 1000) {
      const chunk = all.slice(i, i + 1000);
      const res = await api.call('POST', '/v1/usage/batch', {
        key: PLATFORM,
        body: {
          events: chunk.map((d) => ({
            workspaceId: d.workspaceId,
            idempotencyKey: d.key,
            credits: d.credits,
          })),
        },
      });
      expect(res.status).toBe(200);
      const wrong = res.body.results.filter(
        (r: { replayed?: boolean; usageId: string }, j: number) =>
          !r.replayed || r.usageId !== chunk[j]!.usageId,
      );
      expect(wrong).toEqual([]);
    }

    // What happened, for the log of a run that passes too.
    process.stderr.write(
      `cluster-failover: ${failovers.length} failovers ` +
        `(${failovers.map((f) => `${f.failoverMs}+${f.rejoinMs} ms`).join(', ')}), storm ${stormMs} ms, ` +
        `${sessions.size} sessions, ${debits.size} debits acknowledged, answers ${JSON.stringify(Object.fromEntries(statuses))}\n`,
    );
  },
  120_000,
);

/** The members of `a` that `b` lacks. */
function without(a: string[], b: string[]): string[] {
  const has = new Set(b);
  return a.filter((x) => !has.has(x));
}

interface DebitAnswer {
  debited: { included: string; prepaid: string; flex: string };
}

/** Units a usage answer says were debited (all from included here). */
function unitsOf(answer: DebitAnswer): number {
  const { included, prepaid, flex } = answer.debited;
  return Math.round((Number(included) + Number(prepaid) + Number(flex)) * UNITS_PER_CREDIT);
}
