/**
 * `npm run bench:failover`: what a Redis Cluster failover loses of what burnrate acknowledged
 * (issue 9 §2), with REDIS_WAIT_REPLICAS=0 / REDIS_GRANT_REPLICAS=0 and then =1 / =1, in one run.
 *
 * Each mode gets a private cluster of 3 masters with a replica each (AOF everysec, as `npm start`
 * runs it; cluster-node-timeout 2 s), the real API process (webhooks/main.ts) and worker process
 * (workers/main.ts) as `npm run start:http` / `start:worker` run them. Under load (debits from
 * DEBIT_CLIENTS clients, paid Checkout webhooks from WEBHOOK_CLIENTS; each request retried until
 * 2xx, debits with their Idempotency-Key, as a careful client and Stripe do) the master of one
 * shard after another is SIGKILLed, its replica promoted, and the killed node restarted (it
 * rejoins as a replica), KILLS times. Afterwards, with every queued event processed:
 * - lost debits: debits answered 2xx whose usage id the workspace's ledger lacks (R-CON-5,
 *   R-CON-7: a debit the platform was told succeeded, gone);
 * - lost idempotency records: keys answered 2xx whose first answer is no longer kept (a retry of
 *   that key would debit again);
 * - lost grants: Checkout sessions whose webhook was answered 2xx that were never granted (R-PRE-2,
 *   R-WH-2: Stripe does not deliver an acknowledged event again).
 *
 * Three modes, each on a cluster of its own, same load and same kills:
 * - `wait0_plain`: WAIT 0 / GRANT 0, nothing injected. Replication on loopback lags well under a
 *   millisecond, so a kill rarely catches a write only the master has: this is what plain
 *   asynchronous replication loses here (so far: nothing).
 * - `wait0`: WAIT 0 / GRANT 0, and before each kill the master's replication link is down for
 *   LINK_DOWN_MS (BENCH_LINK_DOWN_MS, 300 by default): its replica is stopped (SIGSTOP, so it
 *   cannot reconnect), the master drops the link (CLIENT KILL TYPE replica) and goes on answering
 *   writes no replica gets, as after a network break or a replica dropped for its output buffer
 *   limit; the replica is resumed (SIGCONT) right after the kill and promoted. What the master
 *   acknowledged in those 300 ms is what a failover can lose.
 * - `wait1`: WAIT 1 / GRANT 1 under the same faults: nothing acknowledged may be lost (the run
 *   exits 1 otherwise).
 *
 * Progress goes to stderr; stdout is a table, then one JSON line, last.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import Stripe from 'stripe';
import { loadConfig } from '../src/config/env.js';
import { STRIPE_EVENTS_QUEUE } from '../src/queues/stripe-events.js';
import { bullConnection, openRedis, type RedisTarget } from '../src/redis/clients.js';
import { clusterView, type EmbeddedCluster, startEmbeddedCluster } from '../src/redis/embedded-cluster.js';
import { freePort } from '../src/redis/embedded-server.js';
import { EngineStore } from '../src/redis/engine-store.js';
import { queuePrefix } from '../src/redis/keys.js';
import { defineScripts } from '../src/redis/scripts.js';
import { checkLedger } from '../src/services/ledger-check.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const KILLS = Number(process.env.BENCH_FAILOVER_KILLS ?? 5);
const LINK_DOWN_MS = Number(process.env.BENCH_LINK_DOWN_MS ?? 300);
const WORKSPACES = 30;
const DEBIT_CLIENTS = 48;
const WEBHOOK_CLIENTS = 8;
/** Load on the healthy cluster before each kill, and after the last rejoin. */
const CALM_MS = 2000;
const NODE_TIMEOUT_MS = 2000;
/** A request retried this long without a 2xx is given up (and counted). */
const GIVE_UP_MS = 60_000;
const PREFIX = 'br:';
const SECRET = 'whsec_bench_failover';
const PLATFORM_KEY = 'bench-platform-key';
const OPERATOR_KEY = 'bench-operator-key';
const t0 = performance.now();
const note = (msg: string) =>
  process.stderr.write(`bench:failover: ${((performance.now() - t0) / 1000).toFixed(1)} s: ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Mode {
  name: 'wait0_plain' | 'wait0' | 'wait1';
  waitReplicas: number;
  grantReplicas: number;
  /** The replication link down this long before each kill (0: nothing injected). */
  linkDownMs: number;
}

interface ModeResult {
  acked_debits: number;
  lost_debits: number;
  lost_idempotency_records: number;
  acked_grants: number;
  lost_grants: number;
  double_grants: number;
  /** Workspaces whose ledger check (R-CON-7) found a problem. */
  ledger_check_failures: number;
  answers_503: number;
  answers_500: number;
  other_answers: number;
  gave_up: number;
  debit_rps: number;
  failover_ms: number[];
}

/** Children that exited before the bench stopped them. */
const died: string[] = [];

function child(entry: string, env: Record<string, string>): ChildProcess {
  const c = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'error', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  c.on('exit', (code, signal) => {
    died.push(`${entry} exited (${signal ?? code})`);
    note(`${entry} exited (${signal ?? code})`);
  });
  return c;
}

async function waitReady(url: string) {
  for (let i = 0; i < 400; i++) {
    const ok = await fetch(url).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`${url} never became ready`);
}

const fixtures = JSON.parse(readFileSync(join(ROOT, 'vendor/stripe-fixtures3.json'), 'utf8')).resources;
const signer = new Stripe('sk_bench_signer');

/** A signed checkout.session.completed of a paid purchase of `credits` credits. */
function paidCheckout(workspaceId: string, credits: number) {
  const session = {
    ...fixtures['checkout.session'],
    id: `cs_bench_${randomBytes(10).toString('hex')}`,
    mode: 'payment',
    status: 'complete',
    payment_status: 'paid',
    client_reference_id: workspaceId,
    metadata: { workspace_id: workspaceId, credits: String(credits) },
  };
  const payload = JSON.stringify({
    ...fixtures.event,
    id: `evt_bench_${randomBytes(10).toString('hex')}`,
    type: 'checkout.session.completed',
    created: Math.floor(Date.now() / 1000),
    data: { object: session },
  });
  return {
    sessionId: session.id as string,
    payload,
    signature: signer.webhooks.generateTestHeaderString({ payload, secret: SECRET }),
  };
}

async function runMode(mode: Mode): Promise<ModeResult> {
  const dir = mkdtempSync(join(tmpdir(), `burnrate-bench-failover-${mode.name}-`));
  const children: ChildProcess[] = [];
  let cluster: EmbeddedCluster | undefined;
  try {
    note(`${mode.name}: starting a 3-master, 3-replica cluster (AOF on)`);
    cluster = await startEmbeddedCluster({
      dir,
      masters: 3,
      replicasPerMaster: 1,
      appendOnly: true,
      nodeTimeoutMs: NODE_TIMEOUT_MS,
    });
    const target: RedisTarget = { clusterNodes: cluster.nodes };
    const port = await freePort();
    const env = {
      REDIS_CLUSTER_NODES: cluster.seedList,
      REDIS_PREFIX: PREFIX,
      REDIS_WAIT_REPLICAS: String(mode.waitReplicas),
      REDIS_GRANT_REPLICAS: String(mode.grantReplicas),
      BURNRATE_API_KEYS: `platform:${PLATFORM_KEY},operator:${OPERATOR_KEY}`,
      STRIPE_WEBHOOK_SECRET: SECRET,
      PORT: String(port),
      HOST: '127.0.0.1',
      // A job whose master died under it runs again within seconds, not after 30.
      WORKER_LOCK_MS: '2000',
    };
    children.push(child('webhooks/main.ts', env), child('workers/main.ts', env));
    const base = `http://127.0.0.1:${port}`;
    await waitReady(`${base}/readyz`);

    const ids = Array.from({ length: WORKSPACES }, (_, i) => `fo-${i}`);
    for (const id of ids) {
      const res = await fetch(`${base}/v1/workspaces/${id}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${OPERATOR_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ planId: 'growth' }),
      });
      if (res.status !== 201) throw new Error(`PUT ${id}: ${res.status} ${await res.text()}`);
    }

    const statuses = new Map<number, number>();
    let gaveUp = 0;
    /** POST until a 2xx; the parsed 2xx body, or null when given up. */
    const untilAcknowledged = async (path: string, body: string, headers: Record<string, string>) => {
      const started = Date.now();
      for (;;) {
        try {
          const res = await fetch(`${base}${path}`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', ...headers },
            body,
          });
          const text = await res.text();
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          if (res.ok) return JSON.parse(text) as { usageId?: string };
        } catch {
          // the connection failed: try again
        }
        if (Date.now() - started > GIVE_UP_MS) {
          gaveUp++;
          return null;
        }
        await sleep(20);
      }
    };

    const debits: { workspaceId: string; key: string; usageId: string }[] = [];
    const sessions: { workspaceId: string; sessionId: string }[] = [];
    let stop = false;
    let seq = 0;
    const pick = () => ids[Math.floor(Math.random() * ids.length)]!;
    const debitClient = async () => {
      while (!stop) {
        const workspaceId = pick();
        const key = `${mode.name}-${seq++}`;
        const answer = await untilAcknowledged(
          `/v1/workspaces/${workspaceId}/usage`,
          JSON.stringify({ idempotencyKey: key, credits: 0.01 }),
          { authorization: `Bearer ${PLATFORM_KEY}` },
        );
        if (answer?.usageId) debits.push({ workspaceId, key, usageId: answer.usageId });
      }
    };
    const webhookClient = async () => {
      while (!stop) {
        const workspaceId = pick();
        const e = paidCheckout(workspaceId, 1);
        const answer = await untilAcknowledged('/webhooks/stripe', e.payload, {
          'stripe-signature': e.signature,
        });
        if (answer) sessions.push({ workspaceId, sessionId: e.sessionId });
      }
    };

    const view = await clusterView(cluster.nodes[0]!.port);
    const shardSlots = (view ?? [])
      .filter((n) => n.role === 'master' && n.slots.length > 0)
      .map((n) => n.slots[0]![0])
      .sort((a, b) => a - b);
    note(
      `${mode.name}: load (${DEBIT_CLIENTS} debit clients, ${WEBHOOK_CLIENTS} webhook clients), ${KILLS} kills`,
    );
    const started = performance.now();
    const clients = [
      ...Array.from({ length: DEBIT_CLIENTS }, debitClient),
      ...Array.from({ length: WEBHOOK_CLIENTS }, webhookClient),
    ];
    const failoverMs: number[] = [];
    try {
      for (let k = 0; k < KILLS; k++) {
        await sleep(CALM_MS);
        const slot = shardSlots[k % shardSlots.length]!;
        const f = await cluster.killMaster(slot, { replicaLinkDownMs: mode.linkDownMs });
        failoverMs.push(f.failoverMs);
        note(
          `${mode.name}: kill ${k + 1}/${KILLS}: master ${f.killed} (slot ${slot}) → ${f.promoted} in ${f.failoverMs} ms, ` +
            `rejoined in ${f.rejoinMs} ms; ${debits.length} debits, ${sessions.length} grants acknowledged`,
        );
      }
      await sleep(CALM_MS);
    } finally {
      stop = true;
    }
    const loadSeconds = (performance.now() - started) / 1000;
    await Promise.all(clients);

    note(`${mode.name}: waiting for the queued events to be processed`);
    const connection = bullConnection(target);
    const queue = new Queue(STRIPE_EVENTS_QUEUE, { connection, prefix: queuePrefix(PREFIX) });
    for (let i = 0; ; i++) {
      const c = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
      if (Object.values(c).every((n) => n === 0)) break;
      if (i > 1200) throw new Error(`the stripe-events queue did not drain: ${JSON.stringify(c)}`);
      await sleep(100);
    }
    await queue.close();
    connection.disconnect();

    note(`${mode.name}: reading the ledgers`);
    const redis = defineScripts(openRedis(target, { maxRetriesPerRequest: 3 }));
    const { idempotencyTtlSeconds } = loadConfig(env);
    const store = new EngineStore(redis, { prefix: PREFIX, idempotencyTtlSeconds });
    const consumed = new Set<string>();
    const granted = new Map<string, number>();
    let ledgerCheckFailures = 0;
    for (const id of ids) {
      for await (const row of store.ledgerAll(id)) {
        if (row.type === 'consume') consumed.add(row.ref);
        if (row.type === 'grant' && row.ref.startsWith('checkout:'))
          granted.set(row.ref, (granted.get(row.ref) ?? 0) + 1);
      }
      if (!(await checkLedger(store, id, Date.now())).ok) ledgerCheckFailures++;
    }
    note(`${mode.name}: ledgers read; checking ${debits.length} idempotency records`);
    const lostDebits = debits.filter((d) => !consumed.has(d.usageId)).length;
    let lostRecords = 0;
    for (let i = 0; i < debits.length; i += 500) {
      const kept = await Promise.all(
        debits.slice(i, i + 500).map((d) => store.hasUsageRecord(d.workspaceId, d.key, Date.now())),
      );
      lostRecords += kept.filter((k) => !k).length;
    }
    const lostGrants = sessions.filter((s) => !granted.has(`checkout:${s.sessionId}`)).length;
    const doubleGrants = [...granted.values()].filter((n) => n > 1).length;
    redis.disconnect();

    const count = (pred: (s: number) => boolean) =>
      [...statuses].filter(([s]) => pred(s)).reduce((sum, [, n]) => sum + n, 0);
    return {
      acked_debits: debits.length,
      lost_debits: lostDebits,
      lost_idempotency_records: lostRecords,
      acked_grants: sessions.length,
      lost_grants: lostGrants,
      double_grants: doubleGrants,
      ledger_check_failures: ledgerCheckFailures,
      answers_503: count((s) => s === 503),
      answers_500: count((s) => s === 500),
      other_answers: count((s) => s !== 200 && s !== 503 && s !== 500),
      gave_up: gaveUp,
      debit_rps: Math.round(debits.length / loadSeconds),
      failover_ms: failoverMs,
    };
  } finally {
    for (const c of children) c.removeAllListeners('exit'); // stopped on purpose from here
    // SIGTERM (graceful), and SIGKILL for whoever still runs 10 s later: after failovers the
    // worker's graceful shutdown has been seen to wait for ever (workers/main.ts logged
    // "shutting down", and the alert-webhooks Worker's close() never returned).
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    await Promise.all(
      children.map(async (c) => {
        if (c.exitCode !== null || c.signalCode !== null) return;
        const timer = setTimeout(() => {
          note(`${c.spawnargs.at(-1)} still running 10 s after SIGTERM: SIGKILL`);
          c.kill('SIGKILL');
        }, 10_000);
        await once(c, 'exit');
        clearTimeout(timer);
      }),
    );
    for (const pid of cluster?.pids ?? []) {
      try {
        process.kill(pid, 'SIGCONT'); // a replica stopped for a kill that failed halfway
      } catch {
        // gone
      }
    }
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  const modes: Mode[] = [
    { name: 'wait0_plain', waitReplicas: 0, grantReplicas: 0, linkDownMs: 0 },
    { name: 'wait0', waitReplicas: 0, grantReplicas: 0, linkDownMs: LINK_DOWN_MS },
    { name: 'wait1', waitReplicas: 1, grantReplicas: 1, linkDownMs: LINK_DOWN_MS },
  ];
  const results = new Map<Mode['name'], ModeResult>();
  for (const mode of modes) results.set(mode.name, await runMode(mode));
  const all = modes.map((m) => results.get(m.name)!);
  const [plain, w0, w1] = all as [ModeResult, ModeResult, ModeResult];

  const rows: [string, keyof ModeResult][] = [
    ['debits acknowledged (2xx)', 'acked_debits'],
    ['  lost from the ledger', 'lost_debits'],
    ['  idempotency records lost', 'lost_idempotency_records'],
    ['grants acknowledged (webhook 2xx)', 'acked_grants'],
    ['  never granted', 'lost_grants'],
    ['  granted twice', 'double_grants'],
    ['workspaces failing the ledger check', 'ledger_check_failures'],
    ['answers 503', 'answers_503'],
    ['answers 500', 'answers_500'],
    ['other non-2xx answers', 'other_answers'],
    ['requests given up (no 2xx in 60 s)', 'gave_up'],
    ['debits/s acknowledged (whole run)', 'debit_rps'],
  ];
  const cell = (v: string | number) => String(v).padStart(14);
  process.stdout.write(
    [
      `burnrate bench:failover: ${KILLS} master kills per mode, a 3-master, 3-replica cluster each (AOF everysec, ` +
        `cluster-node-timeout ${NODE_TIMEOUT_MS} ms), ${WORKSPACES} workspaces, ${DEBIT_CLIENTS} debit + ` +
        `${WEBHOOK_CLIENTS} webhook clients retrying until 2xx`,
      `link down: the replication link of the master to kill is down ${LINK_DOWN_MS} ms before the kill ` +
        '(replica SIGSTOPped, CLIENT KILL TYPE replica on the master; SIGCONT after the kill)',
      '',
      `${''.padEnd(38)}${cell('WAIT 0, plain')}${cell('WAIT 0, link')}${cell('WAIT 1, link')}`,
      ...rows.map(([label, k]) => `${label.padEnd(38)}${all.map((r) => cell(String(r[k]))).join('')}`),
      `${'failover times (ms)'.padEnd(38)}${all.map((r) => `  ${r.failover_ms.join(' ')}`).join(' |')}`,
      ...(died.length > 0 ? [`processes that died under the bench: ${died.join('; ')}`] : []),
      '',
    ].join('\n'),
  );
  const slim = (r: ModeResult) => ({
    acked_debits: r.acked_debits,
    lost_debits: r.lost_debits,
    lost_idempotency_records: r.lost_idempotency_records,
    acked_grants: r.acked_grants,
    lost_grants: r.lost_grants,
    double_grants: r.double_grants,
    answers_503: r.answers_503,
    answers_500: r.answers_500,
  });
  process.stdout.write(
    `${JSON.stringify({
      kills: KILLS,
      link_down_ms: LINK_DOWN_MS,
      wait0_plain: slim(plain),
      wait0: slim(w0),
      wait1: slim(w1),
      debit_rps_wait0: w0.debit_rps,
      debit_rps_wait1: w1.debit_rps,
    })}\n`,
  );
  // WAIT 1 is the promise: nothing acknowledged may be lost there, and no failover is a 500.
  const broken = w1.lost_debits + w1.lost_idempotency_records + w1.lost_grants + w1.double_grants;
  if (broken > 0 || all.some((r) => r.answers_500 > 0 || r.gave_up > 0) || died.length > 0)
    process.exitCode = 1;
}

await main();
