/**
 * `npm run bench:invoicing`: how fast a month of flex is invoiced, on this machine, in one run.
 *
 * For 10,000 and then 100,000 workspaces with flex in the month just closed (one in ten on the
 * annual plan: an invoice created, the item attached, the invoice finalized), the month's run
 * is queued and timed until every workspace job has completed, with Stripe's throttle lifted
 * (STRIPE_REQUESTS_PER_SECOND=0) against the local Stripe stand-in. The worker processes are
 * the real ones (workers/main.ts); the stand-in runs in this process. Every workspace-month is
 * checked afterwards: one invoice item each, one finalized invoice per annual workspace.
 *
 * Baseline, measured in the same run: the same Stripe calls for 10,000 workspaces sent straight
 * from one process through the same SDK, as many in flight as the workers keep, with no queue,
 * no Redis and no state (bench/invoicing-stripe-calls.ts): what the stand-in and the SDK alone
 * allow on this machine.
 *
 * The workspaces are written before the clock starts (upsert and one debit each, through the
 * store's scripts). Private Redis with AOF, as `npm start` runs it. A table, then one JSON line.
 *
 * `-- --stripe-rate N`: instead, invoicing at Stripe's rate limit (see rateMain below).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { loadCatalog } from '../src/config/catalog.js';
import { WORKER_NODE_FLAGS } from '../src/config/worker-flags.js';
import type { PlanChange } from '../src/domain/burndown.js';
import { monthOf } from '../src/domain/cycle.js';
import { floorToWholeCredits, UNITS_PER_CREDIT } from '../src/domain/units.js';
import { INVOICING_CONCURRENCY, INVOICING_QUEUE, type InvoicingJob } from '../src/queues/invoicing.js';
import { connectApiRedis } from '../src/redis/clients.js';
import { startEmbeddedRedis } from '../src/redis/embedded-server.js';
import { EngineStore } from '../src/redis/engine-store.js';
import { queuePrefix, stripeRateKey } from '../src/redis/keys.js';
import type { ScriptCommands } from '../src/redis/scripts.js';
import { indexWorkspace } from '../src/redis/workspace-index.js';
import { Invoicer, previousMonth } from '../src/services/invoicing.js';
import { STANDIN_FIXTURES, type Standin, startStandin } from '../src/stripe/standin/server.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SIZES = [10_000, 100_000] as const;
const BASELINE_SIZE = 10_000;
const ANNUAL_EVERY = 10;
/**
 * One worker process: with two, the run went no faster (1,191 against 1,148 workspaces/s at
 * 10k): the machine's two cores were already busy with the worker, the stand-in and Redis.
 */
const WORKERS = 1;
/** What the workers keep in flight, and so the baseline too. */
const IN_FLIGHT = INVOICING_CONCURRENCY * WORKERS;
const TARGETS = { workspacesPerSecond: 2000, peakRssMb: 300, scaleRatio: 12 };
const note = (msg: string) => process.stderr.write(`bench: ${msg}\n`);

const MONTHLY: PlanChange = {
  planId: 'growth',
  intervalMonths: 1,
  allotment: 150 * UNITS_PER_CREDIT,
  flexAllowed: true,
  flexPriceE4: 4_000_000,
  defaultCapCents: 10_000,
};
const ANNUAL: PlanChange = {
  ...MONTHLY,
  planId: 'growth-annual',
  intervalMonths: 12,
  allotment: 1800 * UNITS_PER_CREDIT,
  defaultCapCents: 120_000,
};

/** CPU seconds a process has used (user + system), from /proc. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // utime and stime are fields 14 and 15 of the line, 12 and 13 after "pid (comm) ".
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** CPU seconds the whole machine has been busy, from /proc/stat. */
function machineBusySeconds(): number {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  // All but idle and iowait.
  return (cpu.reduce((a, b) => a + b, 0) - cpu[3]! - cpu[4]!) / 100;
}

/** A process's peak resident set (VmHWM), in MB. */
function peakRssMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

async function redisCpu(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const num = (k: string) => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)?.[1] ?? 0);
  return num('used_cpu_user') + num('used_cpu_sys');
}

function worker(env: Record<string, string>): ChildProcess {
  const entry = 'workers/main.ts';
  // With the worker's own Node flags, as every way of starting it uses.
  return spawn(process.execPath, [...WORKER_NODE_FLAGS, '--import', 'tsx', entry], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

/** 1 to 24 credits and a fraction: under the $100 cap at $4 a credit. */
const flexUnits = (i: number) => (1 + (i % 24)) * UNITS_PER_CREDIT + (i % 10) * 1000;

/**
 * Workspaces `ids` with flex in the month of `inMonth` (each a Stripe customer of the stand-in,
 * a plan, and one debit past its allotment booked in that month), in the workspace index.
 */
async function seed(o: {
  redis: Redis & ScriptCommands;
  store: EngineStore;
  standin: Standin;
  prefix: string;
  ids: string[];
  annual: (i: number) => boolean;
  inMonth: number;
}) {
  const { store, ids, annual, inMonth } = o;
  // Now, so no cycle ends between the setup and the run (the hourly sweep would roll it).
  const setupAt = Date.now();
  for (let start = 0; start < ids.length; start += 2000) {
    const chunk = ids.slice(start, start + 2000);
    await Promise.all(
      chunk.map(async (workspaceId, j) => {
        const i = start + j;
        const terms = annual(i) ? ANNUAL : MONTHLY;
        const customer = o.standin.createCustomer({ metadata: { workspace_id: workspaceId } }).id;
        await store.upsert({
          workspaceId,
          terms,
          meta: { stripeCustomerId: customer, currency: 'usd' },
          now: setupAt,
        });
        const out = await store.debit({
          workspaceId,
          units: terms.allotment + flexUnits(i),
          mode: 'consume',
          idempotencyKey: 'bench',
          bodyHash: 'bench',
          usageId: `use_${i}`,
          feature: '',
          // Booked as late usage of the month: its flex counts there (the month is open).
          occurredAt: inMonth,
          now: setupAt,
          month: monthOf(setupAt),
        });
        if (out.debited.flex !== flexUnits(i)) throw new Error(`${workspaceId}: flex ${out.debited.flex}`);
      }),
    );
    await Promise.all(chunk.map((id) => indexWorkspace(o.redis, o.prefix, id)));
  }
}

interface SizeResult {
  workspaces: number;
  seconds: number;
  perSecond: number;
  peakRssMb: number;
  /** CPU seconds over the timed run: the run's processes, and everything else on the machine. */
  cpu: { workers: number; standin: number; redis: number; others: number };
}

/** Waits until `jobs` jobs of the queue completed (the run and its workspace-months); a failed one throws. */
/** Kills the child processes still running and waits for their exit. */
async function killAll(children: ChildProcess[]): Promise<void> {
  const running = children.filter((c) => c.exitCode === null && c.signalCode === null);
  for (const c of running) c.kill('SIGKILL');
  await Promise.all(running.map((c) => once(c, 'exit')));
}

async function completed(queue: Queue, jobs: number): Promise<void> {
  for (;;) {
    if ((await queue.getCompletedCount()) === jobs) return;
    if ((await queue.getFailedCount()) > 0) {
      const [job] = await queue.getFailed(0, 0);
      throw new Error(`job ${job?.id} failed: ${job?.failedReason}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'burnrate-bench-inv-'));
  const redisServer = await startEmbeddedRedis({ dir, appendOnly: true });
  const standin = await startStandin({
    port: 0,
    fixturesPath: STANDIN_FIXTURES,
    webhookSecret: 'whsec_bench',
  });
  const children: ChildProcess[] = [];
  // One node: the bench reads that redis-server's CPU.
  const redis = (await connectApiRedis({ url: redisServer.url })) as Redis & ScriptCommands;
  const catalog = loadCatalog(join(ROOT, 'catalog/catalog.example.json'));
  const month = previousMonth(Date.now());
  const [y, m] = month.split('-').map(Number) as [number, number];
  const inMonth = Date.UTC(y, m - 1, 15, 12);
  try {
    // Baseline: the Stripe calls alone.
    const baselineStandin = await startStandin({
      port: 0,
      fixturesPath: STANDIN_FIXTURES,
      webhookSecret: 'whsec_bench',
    });
    const customersFile = join(dir, 'customers.json');
    writeFileSync(
      customersFile,
      JSON.stringify(
        Array.from({ length: BASELINE_SIZE }, (_, i) => ({
          customer: baselineStandin.standin.createCustomer({}).id,
          annual: i % ANNUAL_EVERY === 0,
        })),
      ),
    );
    note(`baseline: the Stripe calls of ${BASELINE_SIZE} workspaces alone, ${IN_FLIGHT} in flight`);
    const base = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'bench/invoicing-stripe-calls.ts',
        baselineStandin.url,
        customersFile,
        String(IN_FLIGHT),
        month,
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const standinCpu0 = process.cpuUsage();
    let baseOut = '';
    base.stdout!.on('data', (d) => {
      baseOut += d;
    });
    await once(base, 'exit');
    const baselineStandinCpu = process.cpuUsage(standinCpu0);
    const baseline = JSON.parse(baseOut) as { seconds: number; calls: number; cpuSeconds: number };
    const baselinePerSecond = BASELINE_SIZE / baseline.seconds;
    /** CPU ms a workspace costs in the baseline: the SDK's side and the stand-in's. */
    const baselineMs = {
      client: (baseline.cpuSeconds * 1000) / BASELINE_SIZE,
      standin: (baselineStandinCpu.user + baselineStandinCpu.system) / 1000 / BASELINE_SIZE,
    };
    if (baselineStandin.standin.objectsOf('invoiceitem').length !== BASELINE_SIZE)
      throw new Error('the baseline did not create one item per workspace');
    await baselineStandin.close();

    const results: SizeResult[] = [];
    for (const size of SIZES) {
      const prefix = `b${size}:`;
      const store = new EngineStore(redis, { prefix, idempotencyTtlSeconds: 3600 });
      note(`${size}: writing ${size} workspaces with flex in ${month} (not timed)`);
      // Unique across sizes: they share the stand-in, which keeps idempotency keys as Stripe does.
      const ids = Array.from({ length: size }, (_, i) => `ws${size}-${i}`);
      const annual = (i: number) => i % ANNUAL_EVERY === 0;
      await seed({ redis, store, standin: standin.standin, prefix, ids, annual, inMonth });

      const connection = new Redis(redisServer.url, { maxRetriesPerRequest: null });
      const queue = new Queue<InvoicingJob>(INVOICING_QUEUE, { connection, prefix: queuePrefix(prefix) });
      const workers = Array.from({ length: WORKERS }, () =>
        worker({
          REDIS_URL: redisServer.url,
          REDIS_PREFIX: prefix,
          STRIPE_API_BASE: standin.url,
          STRIPE_SECRET_KEY: 'sk_test_bench',
          STRIPE_REQUESTS_PER_SECOND: '0',
        }),
      );
      children.push(...workers);
      while ((await queue.getWorkers()).length < WORKERS) await new Promise((r) => setTimeout(r, 50));
      const itemsBefore = standin.standin.objectsOf('invoiceitem').length;

      note(`${size}: run queued, timing until every workspace job has completed`);
      const cpu0 = {
        workers: workers.reduce((s, w) => s + cpuSeconds(w.pid!), 0),
        standin: process.cpuUsage(),
        redis: await redisCpu(redis),
      };
      const machine0 = machineBusySeconds();
      const t0 = performance.now();
      await queue.add('run', { kind: 'run', month }, { jobId: `run-${size}` });
      await completed(queue, size + 1);
      const seconds = (performance.now() - t0) / 1000;
      const standinCpu = process.cpuUsage(cpu0.standin);
      const cpu = {
        workers: workers.reduce((s, w) => s + cpuSeconds(w.pid!), 0) - cpu0.workers,
        standin: (standinCpu.user + standinCpu.system) / 1e6,
        redis: (await redisCpu(redis)) - cpu0.redis,
        others: 0,
      };
      cpu.others = Math.max(0, machineBusySeconds() - machine0 - cpu.workers - cpu.standin - cpu.redis);
      const rss = Math.max(...workers.map((w) => peakRssMb(w.pid!)));

      // Every workspace-month billed once, at the floor of its flex.
      const items = standin.standin.objectsOf('invoiceitem').slice(itemsBefore);
      const byWorkspace = new Map(items.map((i) => [(i.metadata as Record<string, string>).workspace_id, i]));
      if (items.length !== size || byWorkspace.size !== size)
        throw new Error(`${items.length} items for ${size} workspaces`);
      for (const [i, id] of ids.entries()) {
        const item = byWorkspace.get(id);
        if (item?.quantity !== floorToWholeCredits(flexUnits(i))) throw new Error(`${id}: wrong item`);
        if (annual(i) !== (item.invoice !== null)) throw new Error(`${id}: wrong invoice`);
      }
      const invoicer = new Invoicer({
        redis,
        store,
        catalog,
        stripe: undefined,
        keyPrefix: prefix,
      });
      const status = await invoicer.status(month);
      const annualCount = Math.ceil(size / ANNUAL_EVERY);
      if (status.counts.invoiced !== annualCount || status.counts.item_created !== size - annualCount)
        throw new Error(`states: ${JSON.stringify(status.counts)}`);

      for (const w of workers) w.kill('SIGTERM');
      await Promise.all(workers.map((w) => (w.exitCode === null ? once(w, 'exit') : null)));
      await queue.close();
      connection.disconnect();
      results.push({ workspaces: size, seconds, perSecond: size / seconds, peakRssMb: rss, cpu });
      note(
        `${size}: ${seconds.toFixed(1)} s, ${Math.round(size / seconds)} workspaces/s, peak RSS ${rss.toFixed(0)} MB`,
      );
    }

    const [small, large] = results as [SizeResult, SizeResult];
    const scaleRatio = large.seconds / small.seconds;
    const perSecond = Math.min(small.perSecond, large.perSecond);
    const peakRss = Math.max(small.peakRssMb, large.peakRssMb);
    const fmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
    const perWorkspace = (r: SizeResult) =>
      `cpu ms a workspace: worker ${((r.cpu.workers * 1000) / r.workspaces).toFixed(2)}, stand-in ${((r.cpu.standin * 1000) / r.workspaces).toFixed(2)}, redis ${((r.cpu.redis * 1000) / r.workspaces).toFixed(2)}; others ${r.cpu.others.toFixed(1)} s`;
    const row = (r: SizeResult) =>
      [
        `${fmt.format(r.workspaces).padStart(7)} workspaces`,
        `${r.seconds.toFixed(1).padStart(6)} s`,
        `${fmt.format(r.perSecond).padStart(6)} workspaces/s`,
        `peak RSS ${r.peakRssMb.toFixed(0).padStart(4)} MB`,
        perWorkspace(r),
      ].join('  ');
    process.stdout.write(
      [
        `burnrate bench:invoicing: ${WORKERS} worker process × ${INVOICING_CONCURRENCY} jobs in flight, throttle lifted, Stripe stand-in, one in ${ANNUAL_EVERY} annual, Redis AOF everysec`,
        '',
        `baseline: Stripe calls alone (${fmt.format(BASELINE_SIZE)} workspaces, ${baseline.calls} calls, ${IN_FLIGHT} in flight)  ${fmt.format(baselinePerSecond)} workspaces/s  cpu ms a workspace: SDK ${baselineMs.client.toFixed(2)}, stand-in ${baselineMs.standin.toFixed(2)}`,
        row(small),
        row(large),
        '',
        `workspaces/s      ${fmt.format(perSecond)}  (the slower size; target ≥ ${fmt.format(TARGETS.workspacesPerSecond)}; ${(small.perSecond / baselinePerSecond).toFixed(2)} of the baseline at 10k)`,
        `peak RSS          ${peakRss.toFixed(0)} MB  (a worker process; target ≤ ${TARGETS.peakRssMb})`,
        `scale ratio       ${scaleRatio.toFixed(2)}  (100k time / 10k time; target ≤ ${TARGETS.scaleRatio})`,
        '',
      ].join('\n'),
    );
    process.stdout.write(
      `${JSON.stringify({
        workspaces_per_s: Math.round(perSecond),
        peak_rss_mb: Math.round(peakRss),
        scale_ratio: Number(scaleRatio.toFixed(2)),
        baseline_workspaces_per_s: Math.round(baselinePerSecond),
        seconds_10k: Number(small.seconds.toFixed(2)),
        seconds_100k: Number(large.seconds.toFixed(2)),
      })}\n`,
    );
  } finally {
    await killAll(children);
    redis.disconnect();
    await standin.close();
    await redisServer.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `--stripe-rate N`: a month of monthly plans against a stand-in that allows N requests a second. */
const RATE_SIZE = 10_000;
/** Two worker processes: the budget they share is the bucket in Redis, not a per-process throttle. */
const RATE_WORKERS = 2;
const RATE_TARGET = 0.9;

/**
 * `npm run bench:invoicing -- --stripe-rate 100` (issue 9 §4): 10,000 monthly-plan workspaces
 * (one Stripe call each) billed by two worker processes configured at STRIPE_REQUESTS_PER_SECOND=N
 * against the stand-in limited to N requests a second (STRIPE_STANDIN_RATE_LIMIT), which answers
 * 429 above it as Stripe does. rate_utilization: the calls Stripe accepted ÷ (N × run seconds),
 * the run timed from queueing it to its last job's completion. Every workspace-month is checked
 * billed once (one item each, at the floor of its flex), and every 429 retried (no job failed, an
 * accepted call for every workspace).
 */
async function rateMain(rate: number) {
  const dir = mkdtempSync(join(tmpdir(), 'burnrate-bench-rate-'));
  const redisServer = await startEmbeddedRedis({ dir, appendOnly: true });
  const standin = await startStandin({
    port: 0,
    fixturesPath: STANDIN_FIXTURES,
    webhookSecret: 'whsec_bench',
    rateLimit: rate,
  });
  const children: ChildProcess[] = [];
  const redis = (await connectApiRedis({ url: redisServer.url })) as Redis & ScriptCommands;
  const month = previousMonth(Date.now());
  const [y, m] = month.split('-').map(Number) as [number, number];
  const inMonth = Date.UTC(y, m - 1, 15, 12);
  const prefix = 'rate:';
  let progress: NodeJS.Timeout | undefined;
  try {
    const store = new EngineStore(redis, { prefix, idempotencyTtlSeconds: 3600 });
    const ids = Array.from({ length: RATE_SIZE }, (_, i) => `wsr-${i}`);
    note(`writing ${RATE_SIZE} monthly-plan workspaces with flex in ${month} (not timed)`);
    await seed({ redis, store, standin: standin.standin, prefix, ids, annual: () => false, inMonth });

    const connection = new Redis(redisServer.url, { maxRetriesPerRequest: null });
    const queue = new Queue<InvoicingJob>(INVOICING_QUEUE, { connection, prefix: queuePrefix(prefix) });
    const workers = Array.from({ length: RATE_WORKERS }, () =>
      worker({
        REDIS_URL: redisServer.url,
        REDIS_PREFIX: prefix,
        STRIPE_API_BASE: standin.url,
        STRIPE_SECRET_KEY: 'sk_test_bench',
        STRIPE_REQUESTS_PER_SECOND: String(rate),
      }),
    );
    children.push(...workers);
    while ((await queue.getWorkers()).length < RATE_WORKERS) await new Promise((r) => setTimeout(r, 50));
    const traffic = standin.standin.traffic;
    const before = { ...traffic };
    note(`run queued: ${RATE_WORKERS} workers at ${rate} requests/s, the stand-in limited to ${rate}/s`);
    const t0 = performance.now();
    progress = setInterval(() => {
      void redis
        .hget(stripeRateKey(prefix), 'rate')
        .then((now) =>
          note(
            `${((performance.now() - t0) / 1000).toFixed(0)} s: ${traffic.accepted - before.accepted} calls, ${traffic.rateLimited - before.rateLimited} 429s, bucket at ${Number(now ?? rate).toFixed(1)}/s`,
          ),
        );
    }, 10_000);
    await queue.add('run', { kind: 'run', month }, { jobId: 'run-rate' });
    await completed(queue, RATE_SIZE + 1);
    const seconds = (performance.now() - t0) / 1000;
    clearInterval(progress);
    const calls = traffic.accepted - before.accepted;
    const refused = traffic.rateLimited - before.rateLimited;

    // Every workspace-month billed once, at the floor of its flex; every 429 sent again until accepted.
    const items = standin.standin.objectsOf('invoiceitem');
    const byWorkspace = new Map(items.map((i) => [(i.metadata as Record<string, string>).workspace_id, i]));
    if (items.length !== RATE_SIZE || byWorkspace.size !== RATE_SIZE)
      throw new Error(`${items.length} items for ${RATE_SIZE} workspaces`);
    for (const [i, id] of ids.entries()) {
      if (byWorkspace.get(id)?.quantity !== floorToWholeCredits(flexUnits(i)))
        throw new Error(`${id}: wrong item`);
    }
    if (calls !== RATE_SIZE) throw new Error(`${calls} calls accepted for ${RATE_SIZE} workspaces`);
    const failed = await queue.getFailedCount();
    const status = await new Invoicer({
      redis,
      store,
      catalog: loadCatalog(join(ROOT, 'catalog/catalog.example.json')),
      stripe: undefined,
      keyPrefix: prefix,
    }).status(month);
    if (status.counts.item_created !== RATE_SIZE) throw new Error(`states: ${JSON.stringify(status.counts)}`);

    for (const w of workers) w.kill('SIGTERM');
    await Promise.all(workers.map((w) => (w.exitCode === null ? once(w, 'exit') : null)));
    await queue.close();
    connection.disconnect();

    const utilization = calls / (rate * seconds);
    const fmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
    process.stdout.write(
      [
        `burnrate bench:invoicing --stripe-rate ${rate}: ${fmt.format(RATE_SIZE)} monthly-plan workspaces, ${RATE_WORKERS} worker processes × ${INVOICING_CONCURRENCY} jobs in flight at STRIPE_REQUESTS_PER_SECOND=${rate}, the Stripe stand-in limited to ${rate} requests/s (429 above), Redis AOF everysec`,
        '',
        `run               ${seconds.toFixed(1)} s  (ideal at ${rate}/s: ${(RATE_SIZE / rate).toFixed(0)} s)`,
        `stripe calls      ${fmt.format(calls)} accepted, ${fmt.format(refused)} answered 429 (every one sent again until accepted)`,
        `calls/s           ${(calls / seconds).toFixed(1)}`,
        `rate_utilization  ${utilization.toFixed(3)}  (accepted calls ÷ (${rate} × run seconds); target ≥ ${RATE_TARGET})`,
        `billed once       ${fmt.format(RATE_SIZE)} of ${fmt.format(RATE_SIZE)} workspace-months, one item each; ${failed} jobs failed`,
        '',
      ].join('\n'),
    );
    process.stdout.write(
      `${JSON.stringify({
        stripe_rate: rate,
        workspaces: RATE_SIZE,
        seconds: Number(seconds.toFixed(2)),
        stripe_calls: calls,
        rate_limited_429: refused,
        calls_per_s: Number((calls / seconds).toFixed(1)),
        rate_utilization: Number(utilization.toFixed(3)),
        failed_jobs: failed,
        billed_once: true,
      })}\n`,
    );
  } finally {
    clearInterval(progress);
    await killAll(children);
    redis.disconnect();
    await standin.close();
    await redisServer.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const { values: args } = parseArgs({ options: { 'stripe-rate': { type: 'string' } } });
if (args['stripe-rate'] === undefined) {
  await main();
} else {
  const rate = Number(args['stripe-rate']);
  if (!Number.isInteger(rate) || rate < 1)
    throw new Error('--stripe-rate takes a whole number of requests a second');
  await rateMain(rate);
}
