/**
 * `npm run bench`: how fast the credit engine spends, on this machine, in one run.
 *
 * 1. Scripts: the debit script against a one-command Lua script (the ceiling of the harness),
 *    64 calls in flight on one ioredis client, spread over 1,000 workspaces.
 * 2. HTTP: POST /v1/workspaces/{id}/usage against an Express hello-world mounted in the same
 *    server process, 64 autocannon connections; then POST /v1/usage/batch, 1,000 events a request
 *    from 50 workspaces.
 *
 * 3. With `--cluster`: the consume script again, on a private 3-master Redis Cluster with a
 *    replica each (what `REDIS_CLUSTER=3 npm start` runs) started beside the single node, and
 *    POST /usage on it with REDIS_WAIT_REPLICAS=0 and then 1: what the client's routing costs
 *    (`cluster_consume_ratio`) and what waiting for a replica costs a debit.
 *
 * The Redis is a private one with AOF on (what `npm start` runs); the server is a child process
 * (bench/server.ts), so it and the load generator each have a core (Redis shares them; the
 * table shows who used how much). Only answers that did what they should count: 2xx statuses,
 * events answered 200 inside a batch, and the debits Redis shows afterwards are checked against
 * them. Progress goes to stderr; stdout is a table, then one JSON line, last.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { loadCatalog } from '../src/config/catalog.js';
import { loadConfig } from '../src/config/env.js';
import type { PlanChange } from '../src/domain/burndown.js';
import { type Catalog, priceBookFor } from '../src/domain/catalog.js';
import { monthOf } from '../src/domain/cycle.js';
import { parseDecimal4, UNITS_PER_CREDIT } from '../src/domain/units.js';
import { connectApiRedis } from '../src/redis/clients.js';
import { startEmbeddedCluster } from '../src/redis/embedded-cluster.js';
import { startEmbeddedRedis } from '../src/redis/embedded-server.js';
import { EngineStore } from '../src/redis/engine-store.js';
import { workspaceKeys } from '../src/redis/keys.js';
import type { ScriptClient, ScriptCommands } from '../src/redis/scripts.js';
import {
  type CpuShare,
  cpuShare,
  cpuSnapshot,
  type HttpRun,
  redisMicrosPerScript,
  runHttpLoad,
  runScriptLoad,
  type ScriptRun,
} from './load.js';

const WORKSPACES = 1000;
/** Script calls in flight on the client, and HTTP connections of the usage runs. */
const CONCURRENCY = 64;
const SCRIPT_RUN = { warmupSeconds: 1, seconds: 5 };
const HTTP_RUN = { warmupSeconds: 2, seconds: 8 };
const BATCH_EVENTS = 1000;
/**
 * A batch as a metering collector flushes it: 1,000 events of 50 busy workspaces (20 each),
 * the next batch the next 50. The API groups a batch's events by workspace into one script
 * call each, so the spread matters: 1,000 workspaces of one event each runs about half as fast.
 */
const BATCH_WORKSPACES = 50;
/** A few batches in flight keep both the server and Redis busy. */
const BATCH_CONNECTIONS = 4;
const CREDITS = '0.01';
const UNITS = parseDecimal4(CREDITS)!;
/** Given to the server explicitly, so a BURNRATE_API_KEYS of the caller's shell cannot break the run. */
const PLATFORM_KEY = 'bench-platform-key';
const TARGETS = {
  consumeRatio: 0.4,
  httpRatio: 0.5,
  batchEventsPerSecond: 50_000,
  clusterConsumeRatio: 0.7,
};
const CLUSTER = process.argv.includes('--cluster');

/** acme-style terms: an allotment no run can spend, so every consume succeeds. */
const BENCH_TERMS: PlanChange = {
  planId: 'growth',
  intervalMonths: 1,
  allotment: 100_000_000 * UNITS_PER_CREDIT,
  flexAllowed: true,
  flexPriceE4: 3_500_000,
  defaultCapCents: 500_000,
};

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const note = (msg: string) => process.stderr.write(`bench: ${msg}\n`);

// The bench runs on one node: its CPU and INFO figures are of that one redis-server.
type BenchRedis = Redis & ScriptCommands & { benchIncr(key: string): Promise<number> };

let seq = 0;
/** Unique across the whole run: idempotency keys, usage ids. */
const nextId = () => (++seq).toString(36);

interface Phase {
  name: string;
  rate: number;
  unit: string;
  p99Ms: number | null;
  failures: number;
  cpu: CpuShare;
  redisMicrosPerCall: number | null;
  /** Debits Redis shows for the measured window (null where nothing is debited). */
  applied: number | null;
}

async function main() {
  const dataDir = mkdtempSync(join(tmpdir(), 'burnrate-bench-'));
  const embedded = await startEmbeddedRedis({ dir: dataDir, appendOnly: true });
  let server: ChildProcess | undefined;
  let report:
    | {
        phases: Phase[];
        result: Parameters<typeof printTable>[1] & { failures: number; cluster_consume_ratio?: number };
      }
    | undefined;
  try {
    const env = {
      ...process.env,
      REDIS_URL: embedded.url,
      REDIS_PREFIX: 'br:',
      BURNRATE_API_KEYS: `platform:${PLATFORM_KEY}`,
    };
    const config = loadConfig(env);
    const catalog = loadCatalog(join(ROOT, config.catalogPath));
    const redis = (await connectApiRedis({ url: embedded.url })) as BenchRedis;
    redis.defineCommand('benchIncr', { numberOfKeys: 1, lua: "return redis.call('INCR', KEYS[1])" });
    const store = new EngineStore(redis, {
      prefix: config.redisPrefix,
      idempotencyTtlSeconds: config.idempotencyTtlSeconds,
    });

    const ids = Array.from({ length: WORKSPACES }, (_, i) => `bench-${String(i).padStart(4, '0')}`);
    const keys = ids.map((id) => workspaceKeys(config.redisPrefix, id));
    note(`creating ${WORKSPACES} workspaces in the private Redis at ${embedded.url} (AOF on)`);
    await createWorkspaces(store, catalog, ids);
    const debitedUnits = () => unitsDebited(store, ids);

    const phases: Phase[] = [];

    // 1. Scripts: the same harness, concurrency and workspaces for each.
    const bodyHash = createHash('sha256').update('bench').digest('base64');
    let next = 0;
    const consume = consumeOp(store, ids);
    const ceiling = async () => {
      const k = keys[next++ % WORKSPACES]!;
      return typeof (await redis.benchIncr(`${k.engine}:bench`)) === 'number';
    };
    const storeDebit = async () => {
      const workspaceId = ids[next++ % WORKSPACES]!;
      const id = nextId();
      const at = Date.now();
      const out = await store.debit({
        workspaceId,
        units: UNITS,
        mode: 'consume',
        idempotencyKey: id,
        bodyHash,
        usageId: usageIdOf(id),
        feature: '',
        now: at,
        month: monthOf(at),
      });
      return out.ok;
    };
    const scriptPhase = async (name: string, op: () => Promise<boolean>, debits: boolean) => {
      note(`${name}: ${SCRIPT_RUN.warmupSeconds} s warm-up, ${SCRIPT_RUN.seconds} s measured`);
      await runScriptLoad({ concurrency: CONCURRENCY, seconds: SCRIPT_RUN.warmupSeconds, op });
      const before = await debitedUnits();
      // Reset after reading the balances (a script too), so µs/script is the phase's alone.
      await redis.config('RESETSTAT');
      const cpu0 = await cpuSnapshot({ redis });
      const run = await runScriptLoad({ concurrency: CONCURRENCY, seconds: SCRIPT_RUN.seconds, op });
      const cpu1 = await cpuSnapshot({ redis });
      const micros = await redisMicrosPerScript(redis);
      const applied = debits ? ((await debitedUnits()) - before) / UNITS : null;
      phases.push(scriptRow(name, run, cpuShare(cpu0, cpu1), micros, applied));
      reportScriptFailures(name, run, applied);
      return run;
    };
    const consumeRun = await scriptPhase('consume script (debit.lua)', consume, true);
    const ceilingRun = await scriptPhase("ceiling script (redis.call('INCR'))", ceiling, false);
    const storeRun = await scriptPhase('EngineStore.debit (script + zod)', storeDebit, true);

    // 2. HTTP, against the server child.
    const child = await startServer(env);
    server = child.process;
    const url = `http://127.0.0.1:${child.port}`;
    const headers = { 'content-type': 'application/json', authorization: `Bearer ${PLATFORM_KEY}` };
    let nextWs = 0;
    const usageBody = () => JSON.stringify({ idempotencyKey: nextId(), credits: CREDITS });
    const usage = () => ({ path: `/v1/workspaces/${ids[nextWs++ % WORKSPACES]}/usage`, body: usageBody() });
    // The baseline sends the same requests, so the load generator does the same work in both.
    const hello = () => ({ path: '/bench/hello', body: usageBody() });
    let nextBatchWs = 0;
    const batch = () => {
      const first = nextBatchWs;
      nextBatchWs += BATCH_WORKSPACES;
      return {
        path: '/v1/usage/batch',
        body: JSON.stringify({
          events: Array.from({ length: BATCH_EVENTS }, (_, i) => ({
            workspaceId: ids[(first + (i % BATCH_WORKSPACES)) % WORKSPACES],
            idempotencyKey: nextId(),
            credits: CREDITS,
          })),
        }),
      };
    };
    await verifySample({ url, headers, usage, hello, batch });

    let batchEventsOk = 0;
    let batchEventsRejected = 0;
    const batchStatuses: Record<string, number> = {};
    /** Counts the events of a batch answer; true when every one was debited. */
    const countBatch = (text: string) => {
      let results: { status: number }[];
      try {
        results = (JSON.parse(text) as { results: { status: number }[] }).results;
      } catch {
        return false;
      }
      if (!Array.isArray(results)) return false;
      for (const r of results) batchStatuses[r.status] = (batchStatuses[r.status] ?? 0) + 1;
      const ok = results.filter((r) => r.status === 200).length;
      batchEventsOk += ok;
      batchEventsRejected += results.length - ok;
      return ok === results.length;
    };

    const httpPhase = async (o: {
      name: string;
      connections: number;
      next: () => { path: string; body: string };
      /** Whether its requests debit, so Redis's balances are checked against the count. */
      debits: boolean;
      verifyBody?: (body: string) => boolean;
    }) => {
      note(`${o.name}: ${HTTP_RUN.warmupSeconds} s warm-up, ${HTTP_RUN.seconds} s measured`);
      const load = { url, connections: o.connections, headers, next: o.next };
      await runHttpLoad({ ...load, seconds: HTTP_RUN.warmupSeconds });
      await settle();
      batchEventsOk = 0;
      batchEventsRejected = 0;
      const before = await debitedUnits();
      await redis.config('RESETSTAT');
      const cpu0 = await cpuSnapshot({ redis, serverUrl: url });
      const run = await runHttpLoad({
        ...load,
        seconds: HTTP_RUN.seconds,
        ...(o.verifyBody ? { verifyBody: o.verifyBody } : {}),
      });
      const cpu1 = await cpuSnapshot({ redis, serverUrl: url });
      await settle();
      const micros = await redisMicrosPerScript(redis);
      const applied = o.debits ? ((await debitedUnits()) - before) / UNITS : null;
      reportHttpFailures(o.name, run);
      return { run, cpu: cpuShare(cpu0, cpu1), micros, applied };
    };

    const base = await httpPhase({
      name: 'http baseline (Express hello)',
      connections: CONCURRENCY,
      next: hello,
      debits: false,
    });
    phases.push(httpRow('http baseline (Express hello)', base, base.run.ok, 'req/s'));
    const use = await httpPhase({
      name: 'http POST /usage',
      connections: CONCURRENCY,
      next: usage,
      debits: true,
    });
    phases.push(httpRow('http POST /usage', use, use.run.ok, 'req/s'));
    checkApplied('http POST /usage', use.applied, use.run.ok, CONCURRENCY);
    const bat = await httpPhase({
      name: `http POST /usage/batch ×${BATCH_EVENTS}`,
      connections: BATCH_CONNECTIONS,
      next: batch,
      debits: true,
      verifyBody: countBatch,
    });
    if (batchEventsRejected > 0)
      note(`batch: ${batchEventsRejected} events not debited, statuses ${JSON.stringify(batchStatuses)}`);
    phases.push(httpRow(`http POST /usage/batch ×${BATCH_EVENTS}`, bat, batchEventsOk, 'events/s'));
    checkApplied('batch', bat.applied, batchEventsOk, BATCH_CONNECTIONS * BATCH_EVENTS);

    const consumeRate = consumeRun.ops / consumeRun.seconds;
    const ceilingRate = ceilingRun.ops / ceilingRun.seconds;
    const httpRate = use.run.ok / use.run.seconds;
    const baseRate = base.run.ok / base.run.seconds;
    const batchRate = batchEventsOk / bat.run.seconds;
    const failures = phases.reduce((n, p) => n + p.failures, 0);
    const result = {
      consume_ops_per_s: Math.round(consumeRate),
      ceiling_ops_per_s: Math.round(ceilingRate),
      consume_ratio: round(consumeRate / ceilingRate, 3),
      http_rps: Math.round(httpRate),
      http_baseline_rps: Math.round(baseRate),
      http_ratio: round(httpRate / baseRate, 3),
      http_p99_ms: round(use.run.p99Ms, 2),
      batch_events_per_s: Math.round(batchRate),
      store_debit_ops_per_s: Math.round(storeRun.ops / storeRun.seconds),
      http_baseline_p99_ms: round(base.run.p99Ms, 2),
      batch_p99_ms: round(bat.run.p99Ms, 2),
      redis_us_per_debit: round(phases[0]!.redisMicrosPerCall ?? 0, 2),
      redis_us_per_ceiling_call: round(phases[1]!.redisMicrosPerCall ?? 0, 2),
      cpu: Object.fromEntries(phases.map((p) => [p.name, roundShares(p.cpu)])),
      failures,
      targets_met: {
        consume_ratio: consumeRate / ceilingRate >= TARGETS.consumeRatio,
        http_ratio: httpRate / baseRate >= TARGETS.httpRatio,
        batch_events_per_s: batchRate >= TARGETS.batchEventsPerSecond,
      },
      setup: {
        workspaces: WORKSPACES,
        concurrency: CONCURRENCY,
        batch_connections: BATCH_CONNECTIONS,
        batch_workspaces_per_request: BATCH_WORKSPACES,
        seconds: { script: SCRIPT_RUN.seconds, http: HTTP_RUN.seconds },
        node: process.version,
        redis: await redisVersion(redis),
        aof: 'appendonly yes, appendfsync everysec',
      },
    };

    await redis.quit();
    if (server.exitCode === null) {
      server.kill('SIGTERM');
      await once(server, 'exit');
    }
    const cluster = CLUSTER
      ? await clusterLeg({ env, catalog, ids, singleConsumeRate: consumeRate, dir: join(dataDir, 'cluster') })
      : undefined;
    report = { phases: [...phases, ...(cluster?.phases ?? [])], result: { ...result, ...cluster?.result } };
    if (cluster) report.result.failures += cluster.failures;
  } finally {
    if (server && server.exitCode === null) {
      server.kill('SIGTERM');
      await once(server, 'exit');
    }
    await embedded.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
  // After the server stopped, so its shutdown lines come before the report.
  printTable(report.phases, report.result);
  process.stdout.write(`${JSON.stringify(report.result)}\n`);
  // Failed requests are printed and left out of the rates; the exit code says so too.
  if (report.result.failures > 0) process.exitCode = 1;
}

const NO_CPU: CpuShare = {
  bench: null,
  server: null,
  serverLoop: null,
  redis: null,
  other: null,
  redisForks: 0,
};

/**
 * `--cluster`: the private 3-master cluster (a replica each, AOF on) beside the single node of
 * the same run. The consume script runs as on the single node, through ioredis' Cluster client;
 * then POST /usage against a server on the cluster, without and with REDIS_WAIT_REPLICAS=1.
 * CPU shares are of one redis-server, so the cluster's rows leave them out.
 */
async function clusterLeg(o: {
  env: NodeJS.ProcessEnv;
  catalog: Catalog;
  ids: readonly string[];
  singleConsumeRate: number;
  dir: string;
}) {
  note('starting a private Redis Cluster: 3 masters, a replica each, AOF on');
  const cluster = await startEmbeddedCluster({
    dir: o.dir,
    masters: 3,
    replicasPerMaster: 1,
    appendOnly: true,
  });
  const phases: Phase[] = [];
  let failures = 0;
  let server: ChildProcess | undefined;
  try {
    const target = { clusterNodes: cluster.nodes };
    const redis = await connectApiRedis(target);
    const store = new EngineStore(redis, { prefix: o.env.REDIS_PREFIX!, idempotencyTtlSeconds: 86_400 });
    await createWorkspaces(store, o.catalog, o.ids);
    const name = 'cluster: consume script (debit.lua)';
    const op = consumeOp(store, o.ids);
    note(`${name}: ${SCRIPT_RUN.warmupSeconds} s warm-up, ${SCRIPT_RUN.seconds} s measured`);
    await runScriptLoad({ concurrency: CONCURRENCY, seconds: SCRIPT_RUN.warmupSeconds, op });
    const before = await unitsDebited(store, o.ids);
    const run = await runScriptLoad({ concurrency: CONCURRENCY, seconds: SCRIPT_RUN.seconds, op });
    const applied = ((await unitsDebited(store, o.ids)) - before) / UNITS;
    reportScriptFailures(name, run, applied);
    phases.push(scriptRow(name, run, NO_CPU, null, applied));
    failures += run.failed;
    await redis.quit();

    const http: Record<string, HttpRun> = {};
    for (const wait of [0, 1]) {
      const { REDIS_URL: _single, ...env } = o.env;
      const child = await startServer({
        ...env,
        REDIS_CLUSTER_NODES: cluster.seedList,
        REDIS_WAIT_REPLICAS: String(wait),
      });
      server = child.process;
      const rowName = `cluster: http POST /usage, REDIS_WAIT_REPLICAS=${wait}`;
      note(`${rowName}: ${HTTP_RUN.warmupSeconds} s warm-up, ${HTTP_RUN.seconds} s measured`);
      let nextWs = 0;
      const load = {
        url: `http://127.0.0.1:${child.port}`,
        connections: CONCURRENCY,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${PLATFORM_KEY}` },
        next: () => ({
          path: `/v1/workspaces/${o.ids[nextWs++ % o.ids.length]}/usage`,
          body: JSON.stringify({ idempotencyKey: nextId(), credits: CREDITS }),
        }),
      };
      await runHttpLoad({ ...load, seconds: HTTP_RUN.warmupSeconds });
      await settle();
      const r = await runHttpLoad({ ...load, seconds: HTTP_RUN.seconds });
      reportHttpFailures(rowName, r);
      phases.push(httpRow(rowName, { run: r, cpu: NO_CPU, micros: null, applied: null }, r.ok, 'req/s'));
      failures += r.non2xx + r.errors + r.timeouts + r.mismatches;
      http[wait] = r;
      server.kill('SIGTERM');
      await once(server, 'exit');
    }
    const consumeRate = run.ops / run.seconds;
    const rps = (r: HttpRun) => r.ok / r.seconds;
    return {
      phases,
      failures,
      result: {
        cluster_consume_ops_per_s: Math.round(consumeRate),
        cluster_consume_ratio: round(consumeRate / o.singleConsumeRate, 3),
        cluster_http_rps_wait0: Math.round(rps(http[0]!)),
        cluster_http_rps_wait1: Math.round(rps(http[1]!)),
        wait_replicas_rps_ratio: round(rps(http[1]!) / rps(http[0]!), 3),
        cluster_http_p99_ms_wait0: round(http[0]!.p99Ms, 2),
        cluster_http_p99_ms_wait1: round(http[1]!.p99Ms, 2),
        cluster_targets_met: {
          cluster_consume_ratio: consumeRate / o.singleConsumeRate >= TARGETS.clusterConsumeRatio,
        },
      },
    };
  } finally {
    if (server && server.exitCode === null) {
      server.kill('SIGTERM');
      await once(server, 'exit');
    }
    await cluster.stop();
  }
}

/** The bench's workspaces, on acme-style terms no run can spend. */
async function createWorkspaces(store: EngineStore, catalog: Catalog, ids: readonly string[]) {
  const now = Date.now();
  const book = priceBookFor(catalog, now);
  await Promise.all(
    ids.map((workspaceId) =>
      store.upsert({
        workspaceId,
        terms: BENCH_TERMS,
        meta: { createdAt: new Date(now).toISOString(), priceBook: book.id, currency: book.currency },
        now,
      }),
    ),
  );
}

/** Units debited so far over every workspace: all of it comes out of the included allotment. */
async function unitsDebited(store: EngineStore, ids: readonly string[]): Promise<number> {
  const snaps = await Promise.all(ids.map((id) => store.snapshot(id, Date.now())));
  return snaps.reduce((sum, snap) => sum + (snap ? snap.state.includedGranted - snap.state.included : 0), 0);
}

/**
 * One debit script call, consuming from the next workspace in turn; true when it debited. The
 * same op runs on one node and on the cluster (`--cluster`), so their rates compare.
 */
function consumeOp(store: EngineStore, ids: readonly string[]) {
  const bodyHash = createHash('sha256').update('bench').digest('base64');
  let next = 0;
  return async () => {
    const workspaceId = ids[next++ % ids.length]!;
    const id = nextId();
    const at = Date.now();
    const event = {
      units: UNITS,
      mode: 'consume' as const,
      idempotencyKey: id,
      bodyHash,
      usageId: usageIdOf(id),
      feature: '',
    };
    const reply = await store.sendDebit(
      store.debitArgs({ workspaceId, events: [event], now: at, month: monthOf(at) }),
    );
    // One tab-joined answer per event; the first field is the status.
    return reply[0]?.startsWith('ok\t') === true;
  };
}

/** The 32 hex characters of a production usage id (`use_` + a dashless UUID), so Redis stores as much. */
const usageIdOf = (id: string) => `use_${id.padStart(32, '0')}`;

/** Starts bench/server.ts as a child and waits for the port it prints. */
async function startServer(env: NodeJS.ProcessEnv): Promise<{ process: ChildProcess; port: number }> {
  note('starting the server process (bench/server.ts)');
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'server.ts')], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`bench/server.ts exited with code ${code} before listening`);
  });
  const port = (async () => {
    for await (const line of lines) {
      const m = /^\{"port":(\d+)\}$/.exec(line.trim());
      if (m) return Number(m[1]);
    }
    throw new Error('bench/server.ts closed its stdout before printing its port');
  })();
  const listening = await Promise.race([port, exited]);
  // Its logs from here on (a failing request logs an error) go to our stderr.
  child.stdout!.on('data', (chunk: Buffer) => process.stderr.write(chunk));
  return { process: child, port: listening };
}

/** One request of each kind, checked in full before any load: a run must not time refusals. */
async function verifySample(o: {
  url: string;
  headers: Record<string, string>;
  usage: () => { path: string; body: string };
  hello: () => { path: string; body: string };
  batch: () => { path: string; body: string };
}): Promise<void> {
  const post = async (req: { path: string; body: string }) => {
    const res = await fetch(`${o.url}${req.path}`, { method: 'POST', headers: o.headers, body: req.body });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const fail = (what: string, got: unknown) => {
    throw new Error(`sample ${what} failed, so the load would measure errors: ${JSON.stringify(got)}`);
  };
  const hello = await post(o.hello());
  if (hello.status !== 200) fail('hello', hello);
  const usage = await post(o.usage());
  const debited = usage.body.debited as { included?: string } | undefined;
  if (usage.status !== 200 || usage.body.ok !== true || debited?.included !== CREDITS) fail('usage', usage);
  const batch = await post(o.batch());
  const results = (batch.body.results ?? []) as { status: number }[];
  if (batch.status !== 200 || results.length !== BATCH_EVENTS || results.some((r) => r.status !== 200))
    fail('batch', { status: batch.status, results: results.filter((r) => r.status !== 200).slice(0, 3) });
  note('sample requests answered 200 and debited');
}

/** Lets requests in flight when autocannon stopped finish before Redis is read. */
const settle = () => new Promise((r) => setTimeout(r, 300));

function reportScriptFailures(name: string, run: ScriptRun, applied: number | null) {
  if (run.failed > 0) note(`${name}: ${run.failed} calls failed (first: ${run.firstFailure}); not counted`);
  if (applied !== null && applied !== run.ops)
    note(`${name}: Redis shows ${applied} debits for ${run.ops} counted ops`);
}

function reportHttpFailures(name: string, run: HttpRun) {
  const bad = run.non2xx + run.errors + run.timeouts + run.mismatches;
  if (bad === 0) return;
  note(
    `${name}: ${run.non2xx} non-2xx, ${run.errors} errors, ${run.timeouts} timeouts, ` +
      `${run.mismatches} bodies failing the check; statuses ${JSON.stringify(run.statusCounts)}; ` +
      `first rejection: ${run.firstRejection ?? '-'}. Only 2xx answers are counted.`,
  );
}

/** Redis must show at least the debits counted, and at most those plus what was in flight at the stop. */
function checkApplied(name: string, applied: number | null, counted: number, inFlight: number) {
  if (applied === null) return;
  if (applied < counted || applied > counted + inFlight)
    note(`${name}: Redis shows ${applied} debits for ${counted} counted (up to ${inFlight} more in flight)`);
}

function scriptRow(
  name: string,
  run: ScriptRun,
  cpu: CpuShare,
  micros: number | null,
  applied: number | null,
): Phase {
  return {
    name,
    rate: run.ops / run.seconds,
    unit: 'ops/s',
    p99Ms: null,
    failures: run.failed,
    cpu,
    redisMicrosPerCall: micros,
    applied,
  };
}

function httpRow(
  name: string,
  o: { run: HttpRun; cpu: CpuShare; micros: number | null; applied: number | null },
  counted: number,
  unit: string,
): Phase {
  const r = o.run;
  return {
    name,
    rate: counted / r.seconds,
    unit,
    p99Ms: r.p99Ms,
    failures: r.non2xx + r.errors + r.timeouts + r.mismatches,
    cpu: o.cpu,
    redisMicrosPerCall: o.micros,
    applied: o.applied,
  };
}

async function redisVersion(redis: ScriptClient): Promise<string> {
  const info = await redis.info('server');
  return /^redis_version:(\S+)/m.exec(info)?.[1] ?? 'unknown';
}

const round = (n: number, digits: number) => Number(n.toFixed(digits));
const roundShares = (c: CpuShare) =>
  Object.fromEntries(Object.entries(c).map(([k, v]) => [k, v === null ? null : round(v, 2)]));
const int = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const pct = (v: number | null) => (v === null ? '-' : `${Math.round(v * 100)}%`);

function printTable(
  phases: Phase[],
  r: {
    consume_ratio: number;
    http_ratio: number;
    batch_events_per_s: number;
    cluster_consume_ratio?: number;
    wait_replicas_rps_ratio?: number;
    setup: { node: string; redis: string };
  },
) {
  const head = [
    'phase',
    'rate',
    'p99 ms',
    'failed',
    'cpu load-gen',
    'cpu server',
    'server loop',
    'cpu redis',
    'cpu others',
    'aof rewrites',
    'redis µs/script',
    'debits in Redis',
  ];
  const rows = phases.map((p) => [
    p.name,
    `${int.format(p.rate)} ${p.unit}`,
    p.p99Ms === null ? '-' : p.p99Ms.toFixed(1),
    String(p.failures),
    pct(p.cpu.bench),
    pct(p.cpu.server),
    pct(p.cpu.serverLoop),
    pct(p.cpu.redis),
    pct(p.cpu.other),
    String(p.cpu.redisForks),
    p.redisMicrosPerCall === null ? '-' : p.redisMicrosPerCall.toFixed(1),
    p.applied === null ? '-' : int.format(p.applied),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const out = [
    `burnrate bench: ${WORKSPACES} workspaces, ${CONCURRENCY} in flight, Node ${r.setup.node}, ` +
      `Redis ${r.setup.redis} (AOF everysec)`,
    '',
    line(head),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
    '',
    `consume / ceiling   ${r.consume_ratio.toFixed(3)}  (target ≥ ${TARGETS.consumeRatio})`,
    `usage / baseline    ${r.http_ratio.toFixed(3)}  (target ≥ ${TARGETS.httpRatio})`,
    `batch events/s      ${int.format(r.batch_events_per_s)}  (target ≥ ${int.format(TARGETS.batchEventsPerSecond)})`,
    ...(r.cluster_consume_ratio === undefined
      ? []
      : [
          `cluster / single    ${r.cluster_consume_ratio.toFixed(3)}  (consume ops/s; target ≥ ${TARGETS.clusterConsumeRatio})`,
          `wait 1 / wait 0     ${r.wait_replicas_rps_ratio?.toFixed(3)}  (cluster POST /usage req/s, REDIS_WAIT_REPLICAS=1 ÷ 0)`,
        ]),
    '',
    'cpu: share of one core over the measured window; "server loop" is how busy its event loop was;',
    '"cpu others" includes the forks of AOF rewrites (a rewrite starts each time the AOF doubles).',
    '"debits in Redis" is read back from the balances after each run and checked against the count.',
    '',
  ];
  process.stdout.write(`${out.join('\n')}\n`);
}

await main();
