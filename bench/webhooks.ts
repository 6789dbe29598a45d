/**
 * `npm run bench:webhooks`: how fast Stripe's events are acknowledged and applied, on this
 * machine, in one run.
 *
 * 1. Acknowledged: signed checkout.session.completed events (each a new purchase) POSTed to
 *    the real HTTP process (webhooks/main.ts: verify, queue keyed by the event id, 200) by
 *    autocannon with 64 connections, against a baseline Express process answering 200 with no
 *    verification.
 * 2. Processed: the queued events applied by two worker processes (workers/main.ts), from the
 *    first completion to the last; every purchase is checked against the balances afterwards.
 * Private Redis with AOF (as `npm start`); the load generator and each server are separate
 * processes. A table, then one JSON line, last.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import Stripe from 'stripe';
import { UNITS_PER_CREDIT } from '../src/domain/units.js';
import { STRIPE_EVENTS_QUEUE } from '../src/queues/stripe-events.js';
import { freePort, startEmbeddedRedis } from '../src/redis/embedded-server.js';
import { EngineStore } from '../src/redis/engine-store.js';
import { queuePrefix } from '../src/redis/keys.js';
import { defineScripts } from '../src/redis/scripts.js';
import { runHttpLoad } from './load.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SECRET = 'whsec_bench_webhooks';
const PREFIX = 'br:';
const WORKSPACES = 200;
const EVENTS = 60_000;
const CONNECTIONS = 64;
const SECONDS = 8;
const TARGETS = { ackRatio: 0.5, processedPerSecond: 2000 };
const note = (msg: string) => process.stderr.write(`bench: ${msg}\n`);

function child(entry: string, env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
}

async function portOf(c: ChildProcess): Promise<number> {
  const rl = createInterface({ input: c.stdout! });
  for await (const line of rl) {
    const m = /"port":\s*(\d+)/.exec(line);
    if (m) return Number(m[1]);
  }
  throw new Error('the server printed no port');
}

async function waitReady(url: string) {
  for (let i = 0; i < 200; i++) {
    if (
      await fetch(url).then(
        (r) => r.ok,
        () => false,
      )
    )
      return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${url} never became ready`);
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'burnrate-bench-wh-'));
  const redisServer = await startEmbeddedRedis({ dir, appendOnly: true });
  const children: ChildProcess[] = [];
  try {
    const redis = defineScripts(new Redis(redisServer.url));
    const store = new EngineStore(redis, { prefix: PREFIX, idempotencyTtlSeconds: 3600 });
    const ids = Array.from({ length: WORKSPACES }, (_, i) => `wh-${i}`);
    const now = Date.now();
    await Promise.all(
      ids.map((workspaceId) =>
        store.upsert({
          workspaceId,
          terms: {
            planId: 'growth',
            intervalMonths: 1,
            allotment: 150 * UNITS_PER_CREDIT,
            flexAllowed: true,
            flexPriceE4: 4_000_000,
            defaultCapCents: 10_000,
          },
          meta: {},
          now,
        }),
      ),
    );

    note(`signing ${EVENTS} checkout.session.completed events from Stripe's fixtures`);
    const fixtures = JSON.parse(readFileSync(join(ROOT, 'vendor/stripe-fixtures3.json'), 'utf8')).resources;
    const signer = new Stripe('sk_bench_signer');
    const events = Array.from({ length: EVENTS }, (_, i) => {
      const session = {
        ...fixtures['checkout.session'],
        id: `cs_bench_${randomBytes(10).toString('hex')}`,
        status: 'complete',
        payment_status: 'paid',
        metadata: { workspace_id: ids[i % WORKSPACES], credits: '1' },
      };
      const event = {
        ...fixtures.event,
        id: `evt_bench_${randomBytes(10).toString('hex')}`,
        type: 'checkout.session.completed',
        created: Math.floor(Date.now() / 1000),
        data: { object: session },
      };
      const payload = JSON.stringify(event);
      return { payload, signature: signer.webhooks.generateTestHeaderString({ payload, secret: SECRET }) };
    });

    const httpPort = await freePort();
    const api = child('webhooks/main.ts', {
      REDIS_URL: redisServer.url,
      REDIS_PREFIX: PREFIX,
      PORT: String(httpPort),
      HOST: '127.0.0.1',
      STRIPE_WEBHOOK_SECRET: SECRET,
    });
    const baseline = child('bench/baseline-server.ts', {});
    children.push(api, baseline);
    const baselinePort = await portOf(baseline);
    await waitReady(`http://127.0.0.1:${httpPort}/readyz`);

    let next = 0;
    const signed = () => {
      const e = events[next++ % EVENTS]!;
      return {
        path: '/webhooks/stripe',
        body: e.payload,
        headers: { 'content-type': 'application/json', 'stripe-signature': e.signature },
      };
    };
    note(`baseline (Express, no verification): ${SECONDS} s`);
    const base = await runHttpLoad({
      url: `http://127.0.0.1:${baselinePort}`,
      connections: CONNECTIONS,
      seconds: SECONDS,
      headers: {},
      next: signed,
    });
    next = 0;
    note(`receiver (verify, queue keyed by event id): ${SECONDS} s`);
    const ack = await runHttpLoad({
      url: `http://127.0.0.1:${httpPort}`,
      connections: CONNECTIONS,
      seconds: SECONDS,
      headers: {},
      next: signed,
    });
    if (next > EVENTS) note(`warning: ${next - EVENTS} requests reused an event (answered as duplicates)`);
    const queueConnection = new Redis(redisServer.url, { maxRetriesPerRequest: null });
    const queue = new Queue(STRIPE_EVENTS_QUEUE, {
      connection: queueConnection,
      prefix: queuePrefix(PREFIX),
    });
    // Requests still in flight when the load stopped may queue their events after it: count the
    // jobs once the receiver is idle (the count holds still), so the check below can only fail
    // on a real double or lost grant.
    let queued = -1;
    for (;;) {
      await new Promise((r) => setTimeout(r, 300));
      const jobs = await queue.getJobCountByTypes('waiting', 'active', 'completed', 'failed', 'delayed');
      if (jobs === queued) break;
      queued = jobs;
    }
    if (queued < ack.ok)
      throw new Error(`${ack.ok} events acknowledged but only ${queued} queued: events lost`);

    note(`processing ${queued} queued events with 2 worker processes`);
    for (let i = 0; i < 2; i++)
      children.push(child('workers/main.ts', { REDIS_URL: redisServer.url, REDIS_PREFIX: PREFIX }));
    let first: { t: number; done: number } | null = null;
    let doneAt = 0;
    for (;;) {
      const done = await queue.getCompletedCount();
      if (done > 0 && first === null) first = { t: performance.now(), done };
      if (done >= queued) {
        doneAt = performance.now();
        break;
      }
      if ((await queue.getFailedCount()) > 0) throw new Error('a job failed');
      await new Promise((r) => setTimeout(r, 50));
    }
    const processedPerSecond =
      first && doneAt > first.t ? (queued - first.done) / ((doneAt - first.t) / 1000) : 0;

    // Every acknowledged purchase granted exactly one credit.
    let granted = 0;
    for (const id of ids) granted += (await store.snapshot(id, Date.now()))!.state.prepaid / UNITS_PER_CREDIT;
    if (granted > queued) throw new Error(`double grant: ${granted} credits granted for ${queued} purchases`);
    if (granted < queued) throw new Error(`lost grants: ${granted} credits granted for ${queued} purchases`);
    await queue.close();
    queueConnection.disconnect(); // a connection handed to BullMQ is the caller's to close
    redis.disconnect();

    const ackRate = ack.ok / ack.seconds;
    const baseRate = base.ok / base.seconds;
    const fmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
    process.stdout.write(
      [
        `burnrate bench:webhooks: ${CONNECTIONS} connections, ${WORKSPACES} workspaces, 2 worker processes, Redis AOF everysec`,
        '',
        `baseline Express 200 (no verification)   ${fmt.format(baseRate)} req/s   p99 ${base.p99Ms} ms   non-2xx ${base.non2xx}`,
        `receiver: verify + queue                  ${fmt.format(ackRate)} events/s   p99 ${ack.p99Ms} ms   non-2xx ${ack.non2xx}`,
        `workers: applied                          ${fmt.format(processedPerSecond)} events/s   (${queued} events, all granted once)`,
        '',
        `ack ratio            ${(ackRate / baseRate).toFixed(3)}  (target ≥ ${TARGETS.ackRatio})`,
        `processed events/s   ${fmt.format(processedPerSecond)}  (target ≥ ${fmt.format(TARGETS.processedPerSecond)})`,
        '',
      ].join('\n'),
    );
    process.stdout.write(
      `${JSON.stringify({
        ack_events_per_s: Math.round(ackRate),
        ack_ratio: Number((ackRate / baseRate).toFixed(3)),
        processed_events_per_s: Math.round(processedPerSecond),
        baseline_rps: Math.round(baseRate),
        ack_p99_ms: ack.p99Ms,
        events_processed: queued,
        ack_non2xx: ack.non2xx,
      })}\n`,
    );
    if (ack.non2xx > 0 || base.non2xx > 0) process.exitCode = 1;
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    await Promise.all(children.map((c) => (c.exitCode === null ? once(c, 'exit') : null)));
    await redisServer.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
