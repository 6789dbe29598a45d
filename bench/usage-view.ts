/**
 * `npm run bench:usage`: the reading side (R-USE-1, R-USE-2) for a workspace with a million
 * ledger entries, against the same requests for a workspace with about three thousand, in one run.
 *
 * Both workspaces get a year of usage through the real debit script (the eight rate-card
 * features every day, one event a ledger entry), spread over 365 days. Then autocannon runs, against the real API
 * in this process: the usage view of the whole year grouped by feature, the first ledger page,
 * and a ledger page from the middle of the stream (a cursor). A request should cost the same
 * for both: the view reads one small hash per day, the ledger page an XREVRANGE with COUNT.
 * Prints a table and, last, one JSON line.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import { loadCatalog } from '../src/config/catalog.js';
import { loadConfig } from '../src/config/env.js';
import { monthOf } from '../src/domain/cycle.js';
import { startHttp } from '../src/http/server.js';
import { createLogger } from '../src/observability/logger.js';
import { connectApiRedis } from '../src/redis/clients.js';
import { startEmbeddedRedis } from '../src/redis/embedded-server.js';
import type { DebitEvent } from '../src/redis/engine-store.js';
import { buildService } from '../src/runtime.js';

const BIG = 1_000_000;
const DAYS = 365;
const DAY = 86_400_000;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = 16;
const KEY = 'bench-platform-key';
const note = (s: string) => process.stdout.write(`${s}\n`);

const dir = mkdtempSync(join(tmpdir(), 'burnrate-bench-usage-'));
const server = await startEmbeddedRedis({ dir, appendOnly: false });
try {
  const config = loadConfig({
    NODE_ENV: 'test',
    REDIS_PREFIX: 'bu:',
    BURNRATE_API_KEYS: `platform:${KEY}`,
    LOG_LEVEL: 'silent',
  });
  const runtime = { config, catalog: loadCatalog(config.catalogPath) };
  const redis = await connectApiRedis({ url: server.url });
  const start = Date.UTC(2025, 10, 1);
  const end = start + (DAYS - 1) * DAY;
  let now = start;
  const clock = { now: () => now };
  const { service, store } = buildService({ runtime, redis, clock });
  const features = runtime.catalog.rateCard.features.map((f) => f.id);
  // Every feature every day in both, so their day totals are the same size: only the ledger differs.
  const SMALL = DAYS * features.length;

  /** `count` events of one unit each, spread over the year, through the debit script. */
  const fill = async (workspaceId: string, count: number) => {
    now = start;
    await service.workspaces.putWorkspace(workspaceId, { planId: 'growth' });
    let made = 0;
    for (let d = 0; d < DAYS; d++) {
      const today = Math.floor(((d + 1) * count) / DAYS) - Math.floor((d * count) / DAYS);
      for (let i = 0; i < today; i += 1000) {
        const events: DebitEvent[] = [];
        for (let j = i; j < Math.min(today, i + 1000); j++, made++) {
          events.push({
            units: 1,
            mode: 'record',
            idempotencyKey: `e${made}`,
            bodyHash: 'h',
            usageId: `use_${made}`,
            feature: features[made % features.length]!,
          });
        }
        now = start + d * DAY + 1000;
        await store.debitMany({ workspaceId, events, now, month: monthOf(now) });
      }
    }
    return made;
  };
  note(`filling: ${SMALL.toLocaleString()} and ${BIG.toLocaleString()} usage events over ${DAYS} days`);
  const t0 = performance.now();
  await fill('small', SMALL);
  await fill('big', BIG);
  const ledgerLen = {
    small: await redis.xlen(store.keys('small').ledger),
    big: await redis.xlen(store.keys('big').ledger),
  };
  note(
    `  done in ${((performance.now() - t0) / 1000).toFixed(1)} s: ledgers of ${ledgerLen.small} and ${ledgerLen.big} entries`,
  );

  /** The id of the entry in the middle of a ledger: a cursor into its middle. */
  const middleCursor = async (workspaceId: string) => {
    const key = store.keys(workspaceId).ledger;
    const [first] = await redis.xrange(key, '-', '+', 'COUNT', 1);
    const [last] = await redis.xrevrange(key, '+', '-', 'COUNT', 1);
    const ms = (id: string) => Number(id.split('-')[0]);
    return `${Math.floor((ms(first![0]) + ms(last![0])) / 2)}-0`;
  };

  now = end + DAY / 2;
  const http = await startHttp({
    runtime,
    redis,
    log: createLogger({ level: 'silent', name: 'bench' }),
    port: 0,
    clock,
  });
  const base = `http://127.0.0.1:${http.port}`;
  const from = new Date(start).toISOString().slice(0, 10);
  const to = new Date(end).toISOString().slice(0, 10);
  const paths = async (ws: string) => ({
    usage: `/v1/workspaces/${ws}/usage?from=${from}&to=${to}&groupBy=feature`,
    ledger: `/v1/workspaces/${ws}/ledger?limit=50`,
    ledgerMiddle: `/v1/workspaces/${ws}/ledger?limit=50&cursor=${await middleCursor(ws)}`,
  });
  const p = { small: await paths('small'), big: await paths('big') };

  // The big workspace's year adds up to its million one-unit events.
  const res = await fetch(base + p.big.usage, { headers: { authorization: `Bearer ${KEY}` } });
  const check = (await res.json()) as { total: { credits: string } };
  if (check.total.credits !== String(BIG / 10_000)) throw new Error(`usage total ${check.total.credits}`);

  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 100);
  const run = async (path: string) => {
    const r = await autocannon({
      url: base + path,
      connections: CONNECTIONS,
      duration: SECONDS,
      headers: { authorization: `Bearer ${KEY}` },
    });
    if (r.non2xx > 0 || r.errors > 0) throw new Error(`${path}: ${r.non2xx} non-2xx, ${r.errors} errors`);
    return { rps: Math.round(r.requests.average), p99: r.latency.p99 };
  };
  // Warm-up (JIT, connections), so the first measured run is not the slowest by order alone.
  for (const path of [p.small.usage, p.small.ledger]) {
    await autocannon({
      url: base + path,
      connections: CONNECTIONS,
      duration: 2,
      headers: { authorization: `Bearer ${KEY}` },
    });
  }
  const results: Record<string, { rps: number; p99: number }> = {};
  for (const [what, path] of [
    ['usage small', p.small.usage],
    ['usage 1M', p.big.usage],
    ['ledger small', p.small.ledger],
    ['ledger 1M', p.big.ledger],
    ['ledger 1M middle page', p.big.ledgerMiddle],
  ] as const) {
    note(`${what}: ${SECONDS} s, ${CONNECTIONS} connections`);
    results[what] = await run(path);
  }
  clearInterval(sampler);
  await http.close();
  await redis.quit();

  note('');
  note(`${'request'.padEnd(44)} ${'req/s'.padStart(8)} ${'p99 ms'.padStart(8)}`);
  for (const [what, r] of Object.entries(results))
    note(`${what.padEnd(44)} ${String(r.rps).padStart(8)} ${String(r.p99).padStart(8)}`);
  const ratio = (a: string, b: string) => Math.round((results[a]!.rps / results[b]!.rps) * 100) / 100;
  const out = {
    ledger_entries_small: ledgerLen.small,
    ledger_entries_big: ledgerLen.big,
    usage_rps_small: results['usage small']!.rps,
    usage_rps_1m: results['usage 1M']!.rps,
    usage_ratio: ratio('usage 1M', 'usage small'),
    ledger_rps_small: results['ledger small']!.rps,
    ledger_rps_1m: results['ledger 1M']!.rps,
    ledger_middle_rps_1m: results['ledger 1M middle page']!.rps,
    ledger_ratio: ratio('ledger 1M', 'ledger small'),
    ledger_middle_ratio: ratio('ledger 1M middle page', 'ledger small'),
    peak_rss_mb: Math.round(peakRss / 2 ** 20),
    days: DAYS,
    seconds: SECONDS,
    connections: CONNECTIONS,
  };
  note('');
  note(
    `usage view, 1M vs ~3k ledger entries: ${out.usage_ratio} · ledger page: ${out.ledger_ratio} (middle ${out.ledger_middle_ratio})`,
  );
  note(JSON.stringify(out));
} finally {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
