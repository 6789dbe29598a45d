/**
 * `npm run bench:memory [-- --debits N]`: what a debit costs in Redis memory, and what the
 * archive gives back (issue 10). Default 1,000,000 debits over 1,000 workspaces.
 *
 * 1. A private Redis (embedded-server.ts), the real API as a child (bench/server.ts), a private
 *    PostgreSQL: the machine's 127.0.0.1:5432 `test` database in a fresh schema when it answers,
 *    else an embedded PGlite (startEmbeddedPostgres).
 * 2. The debits go through POST /v1/usage/batch, 1,000 events a request (20 events of 50
 *    workspaces each, as bench/engine.ts), 4 requests in flight, in eight segments A B B A A B
 *    B A: A with the worker process running but no DATABASE_URL (it archives nothing), B with
 *    it archiving to PostgreSQL as production runs it (workers/main.ts with WORKER_NODE_FLAGS,
 *    WORKER_NICE and WORKER_CPU_POLICY, taken from the environment like any other setting: set
 *    WORKER_CPU_POLICY=batch to compare), once it has copied what the A before left.
 *    `consume_ratio_with_archiver` is B's mean debit rate over A's; `archive_lag_p99_s` the
 *    99th percentile of the lag sampled once a second in B: how long the oldest entry not yet
 *    in PostgreSQL (past its workspace's watermark) has waited, over all workspaces.
 * 3. `bytes_per_debit`: Redis `used_memory` after the load less before it (the workspaces
 *    created), over the debits; everything inside the idempotency window counts (records, ledger
 *    entries, day totals).
 * 4. Past the window: the archiver runs with its clock 8 days ahead (past LEDGER_REDIS_RETENTION,
 *    7 days), which copies what is left and trims the ledger streams; the idempotency records'
 *    TTLs are cut to 1 ms (Redis cannot be moved in time: this is what their expiry at the end of
 *    the window does). `redis_mb_after_archive` against the peak, and `ledger_rows` in PostgreSQL.
 *
 * Progress on stderr; stdout is a table, then one JSON line, last.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import pg from 'pg';
import { loadConfig } from '../src/config/env.js';
import { WORKER_NODE_FLAGS } from '../src/config/worker-flags.js';
import { type Db, migrateToLatest, openDatabase } from '../src/db/database.js';
import { startEmbeddedPostgres } from '../src/db/embedded-postgres.js';
import { LedgerArchive } from '../src/db/ledger-archive.js';
import { connectApiRedis } from '../src/redis/clients.js';
import { startEmbeddedRedis } from '../src/redis/embedded-server.js';
import { EngineStore } from '../src/redis/engine-store.js';
import { archiveStatusKey, workspaceKeys } from '../src/redis/keys.js';
import { indexWorkspace } from '../src/redis/workspace-index.js';
import { ARCHIVE_BENCH_TERMS } from './terms.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const note = (msg: string) => process.stderr.write(`bench:memory: ${msg}\n`);
const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const DEBITS = Number(arg('--debits') ?? 1_000_000);
const WORKSPACES = Number(arg('--workspaces') ?? 1000);
const BATCH_EVENTS = 1000;
const BATCH_WORKSPACES = 50;
const CONNECTIONS = 4;
const PLATFORM_KEY = 'bench-platform-key';
const MACHINE_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';
const TARGETS = { bytesPerDebit: 100, afterArchiveShare: 0.1, lagP99: 5, consumeRatio: 0.9 };

async function machineDatabase(): Promise<boolean> {
  const c = new pg.Client({ connectionString: MACHINE_DATABASE_URL, connectionTimeoutMillis: 1500 });
  try {
    await c.connect();
    await c.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => {});
  }
}

async function usedMemory(redis: { info(section: string): Promise<string> }): Promise<number> {
  const info = await redis.info('memory');
  return Number(/^used_memory:(\d+)/m.exec(info)![1]);
}

async function startServer(env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'server.ts')], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout! });
  for await (const line of lines) {
    const m = /"port":(\d+)/.exec(line);
    if (m) return { child, port: Number(m[1]) };
  }
  throw new Error('bench/server.ts closed its stdout before printing its port');
}

/** workers/main.ts as a child, with the flags it runs with everywhere; resolves once it says it runs. */
async function startWorker(env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  note(
    `starting the worker process (workers/main.ts)${env.DATABASE_URL ? ' with DATABASE_URL: it archives' : ''}`,
  );
  const child = spawn(
    process.execPath,
    [...WORKER_NODE_FLAGS, '--import', 'tsx', join(ROOT, 'workers', 'main.ts')],
    {
      cwd: ROOT,
      env: { ...env, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  await new Promise<void>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      if (line.includes('burnrate worker running')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`the worker exited (${code}) before it ran`)));
  });
  return child;
}

/** SIGTERM, then SIGKILL after 10 s: shutting down is not what is measured. */
async function stopWorker(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

const p99 = (xs: number[]) => {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(s.length * 0.99) - 1)]!;
};

async function main() {
  const dataDir = mkdtempSync(join(tmpdir(), 'burnrate-bench-memory-'));
  const redisServer = await startEmbeddedRedis({ dir: dataDir, appendOnly: false });
  let server: ChildProcess | undefined;
  let db: Db | undefined;
  let stopPg: (() => Promise<void>) | undefined;
  const schema = `bench_memory_${process.pid}`;
  let dropSchema = false;
  try {
    let url = MACHINE_DATABASE_URL;
    let pgKind = 'machine 127.0.0.1:5432/test';
    if (!(await machineDatabase())) {
      const embedded = await startEmbeddedPostgres();
      url = embedded.url;
      stopPg = () => embedded.stop();
      pgKind = 'embedded PGlite';
    } else dropSchema = true;
    note(`PostgreSQL: ${pgKind}, schema ${schema}`);
    db = openDatabase({ url, schema, max: 4 });
    await migrateToLatest(db, schema);

    const env: NodeJS.ProcessEnv = {
      ...process.env,
      REDIS_URL: redisServer.url,
      REDIS_PREFIX: 'br:',
      BURNRATE_API_KEYS: `platform:${PLATFORM_KEY}`,
    };
    delete env.DATABASE_URL;
    const config = loadConfig(env);
    const redis = await connectApiRedis({ url: redisServer.url });
    const store = new EngineStore(redis, {
      prefix: config.redisPrefix,
      idempotencyTtlSeconds: config.idempotencyTtlSeconds,
    });
    const ids = Array.from({ length: WORKSPACES }, (_, i) => `mem-${String(i).padStart(4, '0')}`);
    note(`creating ${WORKSPACES} workspaces`);
    const now0 = Date.now();
    await Promise.all(
      ids.map(async (workspaceId) => {
        await store.upsert({
          workspaceId,
          terms: ARCHIVE_BENCH_TERMS,
          meta: { createdAt: new Date(now0).toISOString() },
          now: now0,
        });
        await indexWorkspace(redis, config.redisPrefix, workspaceId);
      }),
    );
    const started = await startServer(env);
    server = started.child;
    const base = `http://127.0.0.1:${started.port}`;

    const archive = new LedgerArchive({
      redis,
      db,
      keyPrefix: config.redisPrefix,
      redisRetentionMs: config.archive.redisRetentionMs,
    });
    // Copy the grants first, so the load's passes start from a caught-up archive.
    await archive.runPass();
    const before = await usedMemory(redis);
    note(`used_memory before the load: ${(before / 1e6).toFixed(1)} MB`);

    let seq = 0;
    let batchNo = 0;
    const batchBody = () => {
      const first = (batchNo++ * BATCH_WORKSPACES) % WORKSPACES;
      const events = Array.from({ length: BATCH_EVENTS }, (_, i) => ({
        workspaceId: ids[(first + (i % BATCH_WORKSPACES)) % WORKSPACES],
        idempotencyKey: `mem-${(++seq).toString(36)}`,
        credits: '0.01',
      }));
      return JSON.stringify({ events });
    };
    let ok = 0;
    let failed = 0;
    const runDebits = async (count: number) => {
      let left = Math.ceil(count / BATCH_EVENTS);
      const t0 = performance.now();
      let done = 0;
      await Promise.all(
        Array.from({ length: CONNECTIONS }, async () => {
          while (left > 0) {
            left--;
            const res = await fetch(`${base}/v1/usage/batch`, {
              method: 'POST',
              headers: { authorization: `Bearer ${PLATFORM_KEY}`, 'content-type': 'application/json' },
              body: batchBody(),
            });
            const body = (await res.json()) as { results?: { ok?: boolean }[] };
            if (res.status !== 200 || !body.results) {
              failed += BATCH_EVENTS;
              continue;
            }
            for (const r of body.results) r.ok ? ok++ : failed++;
            done += body.results.length;
            if (done % 50_000 < BATCH_EVENTS) note(`${done} of ${count} debits`);
          }
        }),
      );
      return done / ((performance.now() - t0) / 1000);
    };

    /** How long the oldest entry not yet in PostgreSQL has waited (s), over every workspace. */
    const lagNow = async () => {
      const t = Date.now();
      const marks = await Promise.all(
        ids.map((id) => redis.get(workspaceKeys(config.redisPrefix, id).archived)),
      );
      const firsts = await Promise.all(
        ids.map((id, i) =>
          redis.xrange(
            workspaceKeys(config.redisPrefix, id).ledger,
            marks[i] ? `(${marks[i]}` : '-',
            '+',
            'COUNT',
            1,
          ),
        ),
      );
      let oldest = t;
      for (const f of firsts) if (f[0]) oldest = Math.min(oldest, Number(f[0][0].split('-')[0]));
      return (t - oldest) / 1000;
    };
    // The lag as it is, not as a pass reports it: sampled once a second in every segment (the
    // same work for the load generator in both modes), kept where the archiver runs.
    const lags: number[] = [];
    let passes = 0;
    let archiving = false;
    let loading = true;
    const sampler = (async () => {
      let lastAt = '';
      while (loading) {
        const t = Date.now();
        const lag = await lagNow();
        if (archiving) lags.push(lag);
        const h = await redis.hgetall(archiveStatusKey(config.redisPrefix));
        if (h.at && h.at !== lastAt) {
          lastAt = h.at;
          if (archiving) passes++;
          if (h.error) note(`archive pass error: ${h.error}`);
        }
        await new Promise((r) => setTimeout(r, Math.max(0, 1000 - (Date.now() - t))));
      }
    })();

    // Eight segments, A B B A A B B A: A with the worker process but no DATABASE_URL (it
    // archives nothing), B with the worker archiving as production runs it (workers/main.ts, a
    // pass every ARCHIVE_EVERY_MS, 2 s). Both run the same worker and the same sampler, so the
    // ratio is the archive's cost alone; the order puts both modes at the same average point of
    // the run (a run slows a little as Redis fills), and eight segments of about 5 s each, not
    // four, halve what one slow moment of a shared machine weighs. Before each B, the worker
    // copies the backlog the A before it left, untimed: B measures the archiver keeping up with
    // the load, not catching up.
    const pattern = ['A', 'B', 'B', 'A', 'A', 'B', 'B', 'A'] as const;
    const segment = Math.floor(DEBITS / pattern.length / BATCH_EVENTS) * BATCH_EVENTS;
    const plain = { ...env };
    const archivingEnv = { ...env, DATABASE_URL: url, DATABASE_SCHEMA: schema };
    const rates: { alone: number[]; archiving: number[] } = { alone: [], archiving: [] };
    const bySegment: number[] = [];
    let worker: ChildProcess | undefined;
    for (const [n, mode] of pattern.entries()) {
      const debits = n === pattern.length - 1 ? DEBITS - segment * (pattern.length - 1) : segment;
      if (n === 0 || pattern[n - 1] !== mode) {
        if (worker) await stopWorker(worker);
        worker = await startWorker(mode === 'B' ? archivingEnv : plain);
        if (mode === 'B') {
          const caughtUp = performance.now();
          while ((await lagNow()) > 0) await new Promise((r) => setTimeout(r, 250));
          note(`the worker copied the backlog in ${((performance.now() - caughtUp) / 1000).toFixed(1)} s`);
        }
      }
      archiving = mode === 'B';
      note(
        `segment ${n + 1} of ${pattern.length} (${mode}): ${debits} debits, the worker ${archiving ? 'archiving' : 'not archiving'}`,
      );
      const rate = await runDebits(debits);
      bySegment.push(Math.round(rate));
      (archiving ? rates.archiving : rates.alone).push(rate);
      archiving = false;
    }
    loading = false;
    await sampler;
    if (worker) await stopWorker(worker);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const rateAlone = mean(rates.alone);
    const rateWithArchiver = mean(rates.archiving);
    const peak = await usedMemory(redis);
    const debits = ok;
    const bytesPerDebit = (peak - before) / debits;
    note(
      `used_memory after the load: ${(peak / 1e6).toFixed(1)} MB; ${bytesPerDebit.toFixed(1)} bytes a debit`,
    );

    note('past the window: idempotency records expire, the archiver runs 8 days ahead');
    let cursor = '0';
    let expired = 0;
    do {
      const [next, keys] = await redis.scan(
        cursor,
        'MATCH',
        `${config.redisPrefix}{ws:*}:ik:*`,
        'COUNT',
        1000,
      );
      cursor = next;
      for (const k of keys) {
        await redis.pexpire(k, 1);
        expired++;
      }
    } while (cursor !== '0');
    await new Promise((r) => setTimeout(r, 200));
    await redis.dbsize(); // lets active expiry run; then touch what is left
    const ahead = new LedgerArchive({
      redis,
      db,
      keyPrefix: config.redisPrefix,
      redisRetentionMs: config.archive.redisRetentionMs,
      now: () => Date.now() + 8 * 24 * 3600 * 1000,
    });
    const last = await ahead.runPass();
    // Expired keys leave on access or by the active cycle: read them all once.
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${config.redisPrefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.exists(...keys);
    } while (cursor !== '0');
    const afterArchive = await usedMemory(redis);
    const rows = await sql<{
      n: string;
    }>`select count(*)::text as n from ${sql.id(schema, 'ledger_entries')}`.execute(db);
    const ledgerRows = Number(rows.rows[0]!.n);
    const grants = await sql<{
      n: string;
    }>`select count(*)::text as n from ${sql.id(schema, 'ledger_entries')} where type <> 'consume'`.execute(
      db,
    );
    const grantRows = Number(grants.rows[0]!.n);

    const result = {
      debits,
      failed_debits: failed,
      workspaces: WORKSPACES,
      bytes_per_debit: Math.round(bytesPerDebit * 10) / 10,
      redis_mb_before: Math.round(before / 1e5) / 10,
      redis_mb_peak: Math.round(peak / 1e5) / 10,
      redis_mb_after_archive: Math.round(afterArchive / 1e5) / 10,
      after_archive_share_of_peak: Math.round((afterArchive / peak) * 1000) / 1000,
      ledger_rows: ledgerRows,
      ledger_rows_expected: debits + grantRows,
      archive_lag_p99_s: Math.round(p99(lags) * 10) / 10,
      archive_lag_max_s: Math.round(Math.max(0, ...lags) * 10) / 10,
      archive_lag_samples: lags.length,
      archive_passes_during_load: passes,
      consume_ops_per_s_alone: Math.round(rateAlone),
      consume_ops_per_s_with_archiver: Math.round(rateWithArchiver),
      consume_ratio_with_archiver: Math.round((rateWithArchiver / rateAlone) * 1000) / 1000,
      consume_ops_per_s_by_segment: bySegment,
      segments: pattern.join(''),
      record_keys_expired_by_hand: expired,
      final_pass: { copied: last.copied, trimmed: last.trimmed, lagSeconds: last.lagSeconds },
      targets_met: {
        bytes_per_debit: bytesPerDebit <= TARGETS.bytesPerDebit,
        redis_after_archive: afterArchive <= peak * TARGETS.afterArchiveShare,
        ledger_rows: ledgerRows === debits + grantRows,
        archive_lag_p99_s: p99(lags) <= TARGETS.lagP99,
        consume_ratio_with_archiver: rateWithArchiver / rateAlone >= TARGETS.consumeRatio,
      },
      setup: {
        postgres: pgKind,
        redis_aof: 'off',
        batch_events: BATCH_EVENTS,
        connections: CONNECTIONS,
        idempotency_window_s: config.idempotencyTtlSeconds,
        // The worker reads the same environment (src/config/env.ts).
        worker_cpu_policy: config.workerCpuPolicy,
        worker_nice: config.workerNice,
      },
    };
    const rowsOut: [string, string, string][] = [
      ['debits (ok / failed)', `${debits} / ${failed}`, ''],
      ['bytes_per_debit', String(result.bytes_per_debit), `≤ ${TARGETS.bytesPerDebit}`],
      [
        'redis MB before / peak / after archive',
        `${result.redis_mb_before} / ${result.redis_mb_peak} / ${result.redis_mb_after_archive}`,
        `after ≤ 10% of peak`,
      ],
      ['ledger_rows (expected)', `${ledgerRows} (${debits + grantRows})`, '= debits + grants'],
      ['archive_lag_p99_s', `${result.archive_lag_p99_s} (${passes} passes)`, `≤ ${TARGETS.lagP99}`],
      [
        'consume ops/s alone / with archiver',
        `${result.consume_ops_per_s_alone} / ${result.consume_ops_per_s_with_archiver}`,
        '',
      ],
      [
        'consume_ratio_with_archiver',
        String(result.consume_ratio_with_archiver),
        `≥ ${TARGETS.consumeRatio}`,
      ],
    ];
    for (const [a, b, c] of rowsOut) process.stdout.write(`${a.padEnd(42)} ${b.padEnd(28)} ${c}\n`);
    process.stdout.write(`${JSON.stringify(result)}\n`);
    await redis.quit();
  } finally {
    if (server) {
      server.kill('SIGTERM');
      await once(server, 'exit').catch(() => {});
    }
    if (db) {
      if (dropSchema) await sql`drop schema if exists ${sql.id(schema)} cascade`.execute(db).catch(() => {});
      await db.destroy();
    }
    await stopPg?.();
    await redisServer.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
