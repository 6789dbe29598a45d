/**
 * Scale-out on real processes (issue 9 §3, R-OPS-4): two API processes (webhooks/main.ts, what
 * `npm run start:http` runs) and three worker processes (workers/main.ts with its Node flags, what
 * `npm run start:worker` runs) on this leg's Redis: one redis-server, or in the cluster leg a
 * 3-master, 3-replica Redis Cluster. They share nothing but Redis and the Stripe stand-in, which
 * runs in the test process and records every request it is sent. What it proves:
 *
 * 1. Debits (R-CON-2, R-CON-5, R-CON-7, R-FLX-2, R-FLX-5). Hundreds of usage events, single
 *    (`POST …/usage`) and batched (`POST /v1/usage/batch`), over several workspaces, more than
 *    their included credits and flex cap allow, spread over both APIs at once; some sent again
 *    with the same idempotency key to the *other* API, at the same moment or after the answer.
 *    Every key has one answer whichever API gave it; the balances are what the accepted answers
 *    add up to; the ledger has each accepted usage once, with the kinds its answer named, and no
 *    refused one; flex stays within the cap; late usage's flex counts toward its month; and the
 *    ledger check (src/services/ledger-check.ts, which no route or CLI exposes) finds nothing.
 * 2. Webhooks (R-WH-2, R-PRE-2). Paid Checkout events, each delivered to both APIs (at once, one
 *    after the other, twice to each, or again once processed), delayed payments (an unpaid
 *    completion, then the async success, in either order), and for some paid sessions a second
 *    event of the same session: each session's credits are granted exactly once (one grant on
 *    the ledger, one "granted" in the logs of all three workers together), whichever worker
 *    took the job.
 * 3. Invoicing (R-FLX-5, R-FLX-6). The processes run on the real clock, and a run may only bill a
 *    closed month, so the flex to bill is late usage (`occurredAt` in the month just closed,
 *    which the debit books in that month while it is open). The month's run is requested four
 *    times at once through both APIs while more late usage arrives, then once more when it is
 *    done; three workers bill. At the stand-in every workspace-month with a whole credit of flex
 *    has exactly one invoice item (and an annual workspace one finalized invoice), each sent
 *    once under its idempotency key, at the floor of the flex its closing read found, which is
 *    all the month ever got: late usage after the close went to the current month, none was lost
 *    (the months' flex adds up to the accepted answers). The three workers registered one
 *    monthly schedule, with one next run.
 * A double debit, a second grant or a month billed by two workers fails an assertion here even
 * when Stripe's idempotency keys would have absorbed it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { createInterface } from 'node:readline';
import { type Job, Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WORKER_NODE_FLAGS } from '../../src/config/worker-flags.js';
import { monthOf } from '../../src/domain/cycle.js';
import { floorToWholeCredits, formatUnits, parseDecimal4, UNITS_PER_CREDIT } from '../../src/domain/units.js';
import { INVOICING_QUEUE } from '../../src/queues/invoicing.js';
import { STRIPE_EVENTS_QUEUE } from '../../src/queues/stripe-events.js';
import { bullConnection } from '../../src/redis/clients.js';
import { queuePrefix } from '../../src/redis/keys.js';
import { previousMonth } from '../../src/services/invoicing.js';
import { checkLedger } from '../../src/services/ledger-check.js';
import { Standin } from '../../src/stripe/standin/server.js';
import { SCHED, threadPriorities } from '../support/cpu.js';
import { targetEnv, testRedis } from '../support/redis.js';
import { event, FIXTURES_PATH, paidCheckoutSession, sign, WEBHOOK_SECRET } from '../support/stripe.js';

const PLATFORM = 'scale-platform-key';
const OPERATOR = 'scale-operator-key';
/** The catalog's growth plans: included credits, and the flex price (cents per credit). */
const GROWTH_INCLUDED = 150;
const ANNUAL_INCLUDED = 1800;
const FLEX_CENTS = 400;
/** growth's default cap, $100 a cycle at $4.00: 25 credits (R-FLX-1). */
const GROWTH_CAP_UNITS = 25 * UNITS_PER_CREDIT;

const r = testRedis();
const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));
const units = (credits: string | number) => {
  const u = parseDecimal4(credits);
  if (u === null) throw new Error(`not a credit amount: ${credits}`);
  return u;
};

/** A seeded generator, so a failure can be replayed (its seed is in every assertion message). */
const SEED = Number(process.env.SCALE_OUT_SEED ?? Date.now() % 1_000_000);
let rngState = SEED;
function rand(): number {
  rngState = (rngState + 0x6d2b79f5) | 0;
  let t = Math.imul(rngState ^ (rngState >>> 15), 1 | rngState);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
}
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
const seed = `seed ${SEED}`;

// ---------------------------------------------------------------------------------------------
// The processes

interface Proc {
  name: string;
  child: ChildProcess;
  /** Its JSON log lines (pino), parsed. */
  logs: Record<string, unknown>[];
  /** Its last lines of output, for a failure's message. */
  tail: string[];
  exited: Promise<unknown>;
}

const procs: Proc[] = [];
const alive = (p: Proc) => p.child.exitCode === null && p.child.signalCode === null;
// If the test process itself dies, its children do not outlive it.
const killAllNow = () => {
  for (const p of procs) if (alive(p)) p.child.kill('SIGKILL');
};
process.on('exit', killAllNow);

/** The environment of a burnrate process: nothing of the caller's decides where it goes. */
function childEnv(stripeBase: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(REDIS_|STRIPE_|BURNRATE_|WORKER_|ALERT_|CYCLE_|IDEMPOTENCY_)/.test(k)) continue;
    if (['PORT', 'HOST', 'LOG_LEVEL', 'NODE_ENV', 'DATA_DIR', 'CATALOG_PATH'].includes(k)) continue;
    env[k] = v;
  }
  return {
    ...env,
    ...targetEnv(r.target),
    REDIS_PREFIX: r.prefix,
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    HOST: '127.0.0.1',
    // The API picks a free port and logs it: no window in which another process takes it.
    PORT: '0',
    BURNRATE_API_KEYS: `platform:${PLATFORM},operator:${OPERATOR}`,
    STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
    STRIPE_API_BASE: stripeBase,
    STRIPE_SECRET_KEY: 'sk_test_standin',
    // The test run's CPU priority for workers (vitest.config.ts), not the production default:
    // three workers under the idle policy barely run while the run's other files keep the cores
    // busy, and this file's waits on them time out.
    WORKER_CPU_POLICY: process.env.WORKER_CPU_POLICY,
  };
}

function spawnProc(name: string, args: string[], env: NodeJS.ProcessEnv): Proc {
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const p: Proc = { name, child, logs: [], tail: [], exited: once(child, 'exit') };
  child.on('error', (err) => p.tail.push(`spawn error: ${err.message}`));
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on('line', (line) => {
      p.tail.push(line);
      if (p.tail.length > 40) p.tail.shift();
      try {
        const parsed: unknown = JSON.parse(line);
        if (parsed && typeof parsed === 'object') p.logs.push(parsed as Record<string, unknown>);
      } catch {
        // not a log line
      }
    });
  }
  procs.push(p);
  return p;
}

async function waitForLog(p: Proc, msg: string, ms = 90_000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + ms;
  for (;;) {
    const hit = p.logs.find((l) => l.msg === msg);
    if (hit) return hit;
    if (!alive(p)) {
      throw new Error(
        `${p.name} exited (${p.child.exitCode ?? p.child.signalCode}) before '${msg}':\n${p.tail.join('\n')}`,
      );
    }
    if (Date.now() > deadline)
      throw new Error(`${p.name} did not log '${msg}' in time:\n${p.tail.join('\n')}`);
    await sleep(25);
  }
}

/** Polls until `done`; a generous deadline only turns a hang into a clear failure. */
async function until(what: string, done: () => Promise<boolean>, ms = 45_000) {
  const deadline = Date.now() + ms;
  while (!(await done())) {
    if (Date.now() > deadline) {
      const down = procs.filter((p) => !alive(p)).map((p) => `${p.name}:\n${p.tail.join('\n')}`);
      throw new Error(
        `timed out waiting for ${what} (${seed})${down.length ? `\nexited: ${down.join('\n')}` : ''}`,
      );
    }
    await sleep(50);
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP

interface Api {
  name: string;
  base: string;
}
let apis: [Api, Api];
const other = (api: Api) => (api === apis[0] ? apis[1] : apis[0]);
const someApi = () => pick(apis);

interface Answer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: the test reads whatever JSON came back and asserts on it
  body: any;
  headers: Headers;
}

/** A 503 is retried with the same request, as the platform and Stripe do (R-CON-5, R-WH-2). */
async function call(
  api: Api,
  method: string,
  path: string,
  o: { body?: unknown; raw?: string; key?: string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { authorization: `Bearer ${o.key ?? OPERATOR}`, ...o.headers };
  const body = o.raw ?? (o.body === undefined ? undefined : JSON.stringify(o.body));
  if (body !== undefined) headers['content-type'] = 'application/json';
  for (let attempt = 1; ; attempt++) {
    const res = await fetch(api.base + path, { method, headers, body });
    const text = await res.text();
    if (res.status === 503 && attempt < 40) {
      await sleep(25 * attempt);
      continue;
    }
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON
    }
    return { status: res.status, body: parsed, headers: res.headers };
  }
}

async function ok(api: Api, method: string, path: string, o: Parameters<typeof call>[3] = {}) {
  const res = await call(api, method, path, o);
  if (res.status >= 300)
    throw new Error(`${method} ${path} at ${api.name}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/** Runs `tasks` with at most `limit` in flight. */
async function inPool(tasks: (() => Promise<unknown>)[], limit: number) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, tasks.length) }, async () => {
      while (next < tasks.length) await tasks[next++]!();
    }),
  );
}

function shuffled<T>(xs: T[]): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

interface LedgerEntry {
  id: string;
  type: string;
  kind: 'included' | 'prepaid' | 'flex' | null;
  credits: string;
  ref: string;
  lot?: string;
  month?: string;
}

async function ledgerOf(workspaceId: string): Promise<LedgerEntry[]> {
  const entries: LedgerEntry[] = [];
  let cursor: string | null = null;
  do {
    const q: string = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
    const page = await ok(someApi(), 'GET', `/v1/workspaces/${workspaceId}/ledger?limit=500${q}`, {
      key: PLATFORM,
    });
    entries.push(...page.entries);
    cursor = page.nextCursor;
  } while (cursor);
  return entries;
}

const flexOfMonth = async (workspaceId: string, month: string) =>
  units(
    (
      await ok(someApi(), 'GET', `/v1/workspaces/${workspaceId}/invoice-preview?month=${month}`, {
        key: PLATFORM,
      })
    ).flexCredits,
  );

// ---------------------------------------------------------------------------------------------
// The world

/** Every request the stand-in was sent to Stripe's API: method, path, Idempotency-Key. */
const stripeRequests: { method: string; path: string; key: string | undefined }[] = [];
let standin: Standin;
let standinServer: Server;
let workers: Proc[] = [];
let stripeQueue: Queue;
let invoicingQueue: Queue;
const bull = bullConnection(r.target);

beforeAll(async () => {
  standin = new Standin({ fixturesPath: FIXTURES_PATH, webhookSecret: WEBHOOK_SECRET });
  standinServer = createServer((req, res) => {
    if (req.url?.startsWith('/v1/')) {
      const key = req.headers['idempotency-key'];
      stripeRequests.push({
        method: req.method ?? '',
        path: req.url.split('?')[0]!,
        key: typeof key === 'string' ? key : undefined,
      });
    }
    standin.app(req, res);
  });
  // Longer than any pause between a worker's Stripe calls: no kept-alive socket closes under a
  // request (the SDK would send it again, and a write would show as sent twice).
  standinServer.keepAliveTimeout = 120_000;
  standinServer.listen(0, '127.0.0.1');
  await once(standinServer, 'listening');
  const addr = standinServer.address();
  const env = childEnv(`http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`);

  const apiProcs = ['api-a', 'api-b'].map((name) =>
    spawnProc(name, ['--import', 'tsx', 'webhooks/main.ts'], env),
  );
  workers = ['worker-1', 'worker-2', 'worker-3'].map((name) =>
    spawnProc(name, [...WORKER_NODE_FLAGS, '--import', 'tsx', 'workers/main.ts'], env),
  );
  const listening = await Promise.all(apiProcs.map((p) => waitForLog(p, 'burnrate API listening')));
  apis = listening.map((l, i) => ({ name: apiProcs[i]!.name, base: `http://127.0.0.1:${l.port}` })) as [
    Api,
    Api,
  ];
  for (const api of apis) {
    await until(`${api.name} to be ready`, async () =>
      fetch(`${api.base}/readyz`).then(
        (res) => res.ok,
        () => false,
      ),
    );
  }
  await Promise.all(workers.map((w) => waitForLog(w, 'burnrate worker running')));
  // Not the idle policy (childEnv): a clear failure here rather than a timeout further on.
  if (process.platform === 'linux') {
    for (const w of workers) expect(threadPriorities(w.child.pid!).policies).not.toContain(SCHED.idle);
  }
  // The months are read once: a test that began in a month's last two minutes waits for the next,
  // so no month ends while it runs.
  const startOfNextMonth = (t: number) =>
    Date.UTC(new Date(t).getUTCFullYear(), new Date(t).getUTCMonth() + 1, 1);
  if (startOfNextMonth(Date.now()) - Date.now() < 120_000)
    await sleep(startOfNextMonth(Date.now()) - Date.now() + 1000);
  const now = Date.now();
  PREV = previousMonth(now);
  CURRENT = monthOf(now);
  const monthStart = Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth(), 1);
  LATE = [60_000, 3_600_000, 86_400_000].map((msBefore) => new Date(monthStart - msBefore).toISOString());
  stripeQueue = new Queue(STRIPE_EVENTS_QUEUE, { connection: bull, prefix: queuePrefix(r.prefix) });
  invoicingQueue = new Queue(INVOICING_QUEUE, { connection: bull, prefix: queuePrefix(r.prefix) });
}, 240_000);

afterAll(async () => {
  // SIGTERM (graceful shutdown), SIGKILL whatever has not gone 5 s later.
  await Promise.all(
    procs.map(async (p) => {
      if (!alive(p)) return;
      p.child.kill('SIGTERM');
      const timer = setTimeout(() => p.child.kill('SIGKILL'), 5000);
      await p.exited;
      clearTimeout(timer);
    }),
  );
  process.off('exit', killAllNow);
  await stripeQueue?.close();
  await invoicingQueue?.close();
  bull.disconnect();
  if (standinServer) {
    standinServer.closeAllConnections();
    await new Promise((res) => standinServer.close(res));
  }
  await r.close();
}, 30_000);

/** Creates a workspace through one API or the other, with a Stripe customer at the stand-in. */
async function createWorkspace(id: string, planId: 'growth' | 'growth-annual') {
  const customer = standin.createCustomer({ metadata: { workspace_id: id } }).id;
  const res = await call(someApi(), 'PUT', `/v1/workspaces/${id}`, {
    body: { planId, stripeCustomerId: customer },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
}

/** The month just closed (the one to bill) and the current one, by the real clock the processes run on. */
let PREV: string;
let CURRENT: string;
/**
 * Instants of PREV shortly before its end: late usage (R-FLX-5), at most 35 days back whatever
 * today is (PREV's last day at the earliest: 31 days and a day before now).
 */
let LATE: string[];

/** What the debits of a workspace's accepted answers add up to, kind by kind (units). */
interface Sums {
  included: number;
  prepaid: number;
  flex: number;
  /** Flex of late usage (occurredAt in PREV). */
  lateFlex: number;
}
const debitedFlex = new Map<string, number>();

// ---------------------------------------------------------------------------------------------

describe.sequential('two APIs and three workers on one Redis (R-OPS-4)', () => {
  const DEBIT_WS = Array.from({ length: 6 }, (_, i) => `debit${i}`);

  it('1. every debit is exact: one answer per key whichever API, balances and ledger agree (R-CON-2, R-CON-5, R-CON-7)', async () => {
    await Promise.all(DEBIT_WS.map((id) => createWorkspace(id, 'growth')));

    interface UsageEvent {
      workspaceId: string;
      idempotencyKey: string;
      credits: string;
      occurredAt?: string;
    }
    const AMOUNTS = ['0.37', '1', '1.25', '2.5', '3.33', '4.0001', '5', '6.75', '7.7', '9.99'];
    const events: UsageEvent[] = [];
    for (const workspaceId of DEBIT_WS) {
      // 240 credits asked of each, or a little more, where 150 included and 25 of flex can be
      // spent: all or nothing, so some must be refused.
      for (let i = 0, asked = 0; asked < 240 * UNITS_PER_CREDIT; i++) {
        const credits = pick(AMOUNTS);
        asked += units(credits);
        const late = rand() < 0.35;
        events.push({
          workspaceId,
          idempotencyKey: `${workspaceId}-u${i}`,
          credits,
          ...(late ? { occurredAt: pick(LATE) } : {}),
        });
      }
    }
    const bodyOf = ({ workspaceId: _, ...body }: UsageEvent) => body;

    /** Every answer each key was given, from either API, single or in a batch. */
    const answers = new Map<
      string,
      { via: string; status: number; replayed: boolean; body: Record<string, unknown> }[]
    >();
    const record = (
      e: UsageEvent,
      via: string,
      status: number,
      replayed: boolean,
      body: Record<string, unknown>,
    ) => {
      const list = answers.get(e.idempotencyKey) ?? [];
      list.push({ via, status, replayed, body });
      answers.set(e.idempotencyKey, list);
    };
    const single = async (e: UsageEvent, api: Api) => {
      const res = await call(api, 'POST', `/v1/workspaces/${e.workspaceId}/usage`, {
        key: PLATFORM,
        body: bodyOf(e),
      });
      record(
        e,
        `${api.name} single`,
        res.status,
        res.headers.get('idempotent-replayed') === 'true',
        res.body,
      );
    };
    const batch = async (es: UsageEvent[], api: Api) => {
      const res = await call(api, 'POST', '/v1/usage/batch', { key: PLATFORM, body: { events: es } });
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      es.forEach((e, i) => {
        const { status, replayed, ...body } = res.body.results[i];
        record(e, `${api.name} batch`, status, replayed === true, body);
      });
    };
    /** The same request again at the other API: at the same moment, or once answered. */
    const withRetry = async (send: (api: Api) => Promise<void>) => {
      const api = someApi();
      const retry = rand();
      if (retry < 0.15) await Promise.all([send(api), send(other(api))]);
      else if (retry < 0.3) {
        await send(api);
        await send(other(api));
      } else await send(api);
    };

    const tasks: (() => Promise<unknown>)[] = [];
    const queued = shuffled(events);
    while (queued.length > 0) {
      if (rand() < 0.3) {
        // A batch of several workspaces' events; now and then one of them retried on its own.
        const es = queued.splice(0, 4 + Math.floor(rand() * 10));
        tasks.push(async () => {
          await withRetry((api) => batch(es, api));
          if (rand() < 0.4) await single(pick(es), someApi());
        });
      } else {
        const e = queued.shift()!;
        tasks.push(() => withRetry((api) => single(e, api)));
      }
    }
    await inPool(tasks, 24);

    // One answer per key, whichever API and path gave it; at most one of them is not a replay.
    const final = new Map<string, Record<string, unknown>>();
    for (const e of events) {
      const given = answers.get(e.idempotencyKey) ?? [];
      expect(given.length, `${e.idempotencyKey} (${seed})`).toBeGreaterThan(0);
      const firsts = given.filter((a) => !a.replayed);
      expect(firsts.length, `${e.idempotencyKey}: ${JSON.stringify(given)} (${seed})`).toBeLessThanOrEqual(1);
      for (const a of given) {
        expect([200, 402], `${e.idempotencyKey} via ${a.via}: ${JSON.stringify(a.body)}`).toContain(a.status);
        const same = (x: Record<string, unknown>) => ({
          ok: x.ok,
          usageId: x.usageId,
          debited: x.debited,
          reason: x.reason,
        });
        expect(same(a.body), `${e.idempotencyKey} via ${a.via} (${seed})`).toEqual(same(given[0]!.body));
      }
      final.set(e.idempotencyKey, given[0]!.body);
    }

    // Where late flex went holds while nothing closed PREV: no run but the next month's
    // scheduled one (a run at 00:05 on the 1st would close it; the test may not tell which first).
    const ran = await invoicingQueue.getJobs(['waiting', 'active', 'prioritized', 'completed', 'failed']);
    const monthChanged = ran.length > 0 || monthOf(Date.now()) !== CURRENT;
    for (const ws of DEBIT_WS) {
      const mine = events.filter((e) => e.workspaceId === ws);
      const sums: Sums = { included: 0, prepaid: 0, flex: 0, lateFlex: 0 };
      const accepted = new Map<string, { e: UsageEvent; debited: Record<string, string> }>();
      let refused = 0;
      for (const e of mine) {
        const a = final.get(e.idempotencyKey)!;
        if (!a.ok) {
          refused++;
          expect(['flex_cap_reached', 'insufficient_credits']).toContain(a.reason);
          continue;
        }
        const debited = a.debited as Record<string, string>;
        accepted.set(a.usageId as string, { e, debited });
        sums.included += units(debited.included!);
        sums.prepaid += units(debited.prepaid!);
        sums.flex += units(debited.flex!);
        if (e.occurredAt) sums.lateFlex += units(debited.flex!);
        // All or nothing (R-CON-2): what was debited is what was asked.
        expect(units(debited.included!) + units(debited.prepaid!) + units(debited.flex!)).toBe(
          units(e.credits),
        );
      }
      debitedFlex.set(ws, sums.flex);
      // More was asked than can be spent: the cap held, and refusals prove it was reached.
      expect(refused, `${ws} (${seed})`).toBeGreaterThan(0);
      expect(sums.flex, `${ws} (${seed})`).toBeLessThanOrEqual(GROWTH_CAP_UNITS);

      // The balances are what the accepted answers add up to.
      const w = await ok(someApi(), 'GET', `/v1/workspaces/${ws}`, { key: PLATFORM });
      expect(
        {
          remaining: w.included.remaining,
          used: w.included.used,
          prepaid: w.prepaid.remaining,
          flex: w.flex.usedCredits,
        },
        `${ws} (${seed})`,
      ).toEqual({
        remaining: formatUnits(GROWTH_INCLUDED * UNITS_PER_CREDIT - sums.included),
        used: formatUnits(sums.included),
        prepaid: '0',
        flex: formatUnits(sums.flex),
      });

      // Each accepted usage is on the ledger once, as its answer said; nothing refused is.
      const byRef = new Map<string, LedgerEntry[]>();
      for (const entry of await ledgerOf(ws)) {
        if (entry.type === 'grant') continue; // the cycle's included credits
        expect(entry.type, JSON.stringify(entry)).toBe('consume');
        byRef.set(entry.ref, [...(byRef.get(entry.ref) ?? []), entry]);
      }
      expect([...byRef.keys()].sort(), `${ws} (${seed})`).toEqual([...accepted.keys()].sort());
      for (const [usageId, { e, debited }] of accepted) {
        const entries = byRef.get(usageId)!;
        const kinds = entries.map((x) => x.kind).sort();
        expect(new Set(kinds).size, `${usageId}: one entry per kind`).toBe(kinds.length);
        for (const kind of ['included', 'prepaid', 'flex'] as const) {
          const booked = entries.filter((x) => x.kind === kind).reduce((s, x) => s - units(x.credits), 0);
          expect(booked, `${e.idempotencyKey} ${kind} (${seed})`).toBe(units(debited[kind]!));
        }
        // R-FLX-5: late usage's flex counts toward the month it occurred in (still open).
        const flexEntry = entries.find((x) => x.kind === 'flex');
        if (flexEntry && !monthChanged) expect(flexEntry.month).toBe(e.occurredAt ? PREV : CURRENT);
      }
      if (!monthChanged) {
        expect(await flexOfMonth(ws, PREV), `${ws} (${seed})`).toBe(sums.lateFlex);
        expect(await flexOfMonth(ws, CURRENT), `${ws} (${seed})`).toBe(sums.flex - sums.lateFlex);
      }

      // R-CON-7: the balances are the sum of the ledger.
      expect((await checkLedger(r.store, ws, Date.now())).problems, ws).toEqual([]);
    }
  }, 60_000);

  it('2. each paid Checkout session is granted exactly once, delivered to both APIs, by whichever worker (R-WH-2, R-PRE-2)', async () => {
    const PURCHASE_WS = Array.from({ length: 4 }, (_, i) => `buyer${i}`);
    await Promise.all(PURCHASE_WS.map((id) => createWorkspace(id, 'growth')));

    interface Purchase {
      session: string;
      workspaceId: string;
      credits: number;
      /** The events Stripe sends about it, each signed and delivered as its plan says. */
      events: { id: string; payload: string }[];
    }
    const purchases: Purchase[] = [];
    const deliveries: (() => Promise<void>)[] = [];
    const later: (() => Promise<void>)[] = [];
    const expected = new Map<string, number>(PURCHASE_WS.map((id) => [id, 0]));
    const acks: { api: string; status: number; body: Record<string, unknown> }[] = [];

    const deliver = async (api: Api, payload: string) => {
      // Signed at each delivery, as Stripe does; a 503 is delivered again (call retries it).
      const res = await call(api, 'POST', '/webhooks/stripe', {
        raw: payload,
        headers: { 'stripe-signature': sign(payload) },
      });
      acks.push({ api: api.name, status: res.status, body: res.body });
    };
    const both = (payload: string) => Promise.all(apis.map((api) => deliver(api, payload))).then(() => {});

    for (let i = 0; i < 36; i++) {
      const workspaceId = PURCHASE_WS[i % PURCHASE_WS.length]!;
      const credits = 1 + Math.floor(rand() * 120);
      expected.set(workspaceId, expected.get(workspaceId)! + credits);
      const delayed = i % 6 === 5;
      const session = paidCheckoutSession({ workspaceId, credits: String(credits), paid: !delayed });
      const p: Purchase = { session: session.id as string, workspaceId, credits, events: [] };
      const add = (type: string, object: Record<string, unknown>) => {
        const e = event(type, object);
        p.events.push({ id: e.id as string, payload: JSON.stringify(e) });
        return p.events.at(-1)!.payload;
      };
      if (delayed) {
        // A delayed payment: the completion (unpaid, grants nothing) and the success, in either order.
        const completed = add('checkout.session.completed', session);
        const succeeded = add('checkout.session.async_payment_succeeded', {
          ...session,
          payment_status: 'paid',
        });
        const [first, second] = rand() < 0.5 ? [completed, succeeded] : [succeeded, completed];
        deliveries.push(() => Promise.all([both(first), both(second)]).then(() => {}));
      } else {
        const completed = add('checkout.session.completed', session);
        const a = someApi();
        switch (i % 5) {
          case 0: // both APIs at the same moment
            deliveries.push(() => both(completed));
            break;
          case 1: // one API, then the other once answered
            deliveries.push(async () => {
              await deliver(a, completed);
              await deliver(other(a), completed);
            });
            break;
          case 2: // twice to each, all at once
            deliveries.push(() => Promise.all([both(completed), both(completed)]).then(() => {}));
            break;
          case 3: // once, and again to the other API after the workers are done with it
            deliveries.push(() => deliver(a, completed));
            later.push(() => deliver(other(a), completed));
            break;
          case 4: {
            // Another event of the same paid session, to the other API: still one grant per session.
            const again = add('checkout.session.async_payment_succeeded', session);
            deliveries.push(() =>
              Promise.all([deliver(a, completed), deliver(other(a), again)]).then(() => {}),
            );
            break;
          }
        }
      }
      purchases.push(p);
    }

    await inPool(shuffled(deliveries), 16);
    const drained = async () => {
      const c = await stripeQueue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
      return Object.values(c).every((n) => n === 0);
    };
    await until('the workers to apply every event', drained);
    await inPool(later, 8);
    await until('the redeliveries to settle', drained);

    // Stripe is acknowledged every time (2xx), at either API (R-WH-2).
    for (const a of acks) expect(a.status, `${a.api}: ${JSON.stringify(a.body)}`).toBe(200);
    expect(await stripeQueue.getFailedCount()).toBe(0);

    for (const ws of PURCHASE_WS) {
      const w = await ok(someApi(), 'GET', `/v1/workspaces/${ws}`, { key: PLATFORM });
      expect(w.prepaid.remaining, `${ws} (${seed})`).toBe(String(expected.get(ws)));
      const grants = (await ledgerOf(ws)).filter((x) => x.kind === 'prepaid');
      const mine = purchases.filter((p) => p.workspaceId === ws);
      // One grant per session, its lot named by the session, of its credits (R-PRE-2).
      expect(grants.map((g) => g.ref).sort(), `${ws} (${seed})`).toEqual(
        mine.map((p) => `checkout:${p.session}`).sort(),
      );
      for (const p of mine) {
        const g = grants.find((x) => x.ref === `checkout:${p.session}`)!;
        expect(g.credits).toBe(String(p.credits));
      }
      expect((await checkLedger(r.store, ws, Date.now())).problems, ws).toEqual([]);
    }

    // The workers' own account (their structured logs): each event applied, and each session
    // "granted" exactly once over the three processes together.
    const applied = () =>
      workers.flatMap((w) =>
        w.logs
          .filter((l) => l.msg === 'stripe event applied')
          .map((l) => ({
            worker: w.name,
            eventId: l.eventId as string,
            action: l.action as string | undefined,
          })),
      );
    const allEvents = purchases.flatMap((p) => p.events.map((e) => e.id));
    await until(
      'every event in the workers’ logs',
      async () => {
        const seen = new Set(applied().map((a) => a.eventId));
        return allEvents.every((id) => seen.has(id));
      },
      20_000,
    );
    const log = applied();
    for (const p of purchases) {
      const ids = new Set(p.events.map((e) => e.id));
      const granted = log.filter((a) => ids.has(a.eventId) && a.action === 'granted');
      expect(granted.length, `${p.session}: ${JSON.stringify(log.filter((a) => ids.has(a.eventId)))}`).toBe(
        1,
      );
    }
  }, 60_000);

  it('3. a month is billed once per workspace with three workers and four runs at once (R-FLX-5, R-FLX-6)', async () => {
    // Workspaces whose only flex is late usage of the month just closed: monthly and annual plans,
    // amounts with fractions (never billed), and two under a whole credit (nothing to bill).
    const MONTHLY = ['0.5', '1', '3.7', '7.25', '12.9999', '24.5', '2.01', '9', '0.9999', '18.3'];
    const ANNUAL = ['40.5', '1.2', '299.9'];
    const lateWs = [
      ...MONTHLY.map((flex, i) => ({
        id: `monthly${i}`,
        plan: 'growth' as const,
        included: GROWTH_INCLUDED,
        flex,
      })),
      ...ANNUAL.map((flex, i) => ({
        id: `annual${i}`,
        plan: 'growth-annual' as const,
        included: ANNUAL_INCLUDED,
        flex,
      })),
    ];
    await Promise.all(
      lateWs.map(async (w) => {
        await createWorkspace(w.id, w.plan);
        const credits = formatUnits(w.included * UNITS_PER_CREDIT + units(w.flex));
        const res = await call(someApi(), 'POST', `/v1/workspaces/${w.id}/usage`, {
          key: PLATFORM,
          body: { idempotencyKey: 'late-1', credits, occurredAt: pick(LATE) },
        });
        expect(res.status, JSON.stringify(res.body)).toBe(200);
        expect(res.body.debited.flex).toBe(formatUnits(units(w.flex)));
        debitedFlex.set(w.id, units(w.flex));
      }),
    );
    // Room for more flex on the debit workspaces, whose late usage goes on during the runs.
    await Promise.all(
      DEBIT_WS.map((ws) =>
        ok(someApi(), 'PATCH', `/v1/workspaces/${ws}/flex`, { key: PLATFORM, body: { capCents: 100_000 } }),
      ),
    );

    // Four runs of the month at once through both APIs, while late usage keeps arriving.
    const runs: Promise<Answer>[] = [];
    const lateDuringRuns: (() => Promise<void>)[] = [];
    for (let i = 0; i < 60; i++) {
      const ws = DEBIT_WS[i % DEBIT_WS.length]!;
      lateDuringRuns.push(async () => {
        const credits = pick(['0.25', '0.5', '1.3333', '2']);
        const res = await call(someApi(), 'POST', `/v1/workspaces/${ws}/usage`, {
          key: PLATFORM,
          body: { idempotencyKey: `during-run-${i}`, credits, occurredAt: pick(LATE) },
        });
        expect(res.status, JSON.stringify(res.body)).toBe(200);
        debitedFlex.set(ws, debitedFlex.get(ws)! + units(res.body.debited.flex));
      });
    }
    const usage = inPool(lateDuringRuns, 6);
    for (let i = 0; i < 4; i++) {
      runs.push(call(apis[i % 2]!, 'POST', '/v1/admin/invoicing/runs', { body: { month: PREV } }));
      await sleep(rand() * 30);
    }
    await usage;
    for (const res of await Promise.all(runs)) expect(res.status, JSON.stringify(res.body)).toBe(202);

    /** Nothing queued or running but the monthly schedule's next run. */
    const idle = async () => {
      const c = await invoicingQueue.getJobCounts('waiting', 'active', 'prioritized', 'waiting-children');
      if (Object.values(c).some((n) => n > 0)) return false;
      const delayed = await invoicingQueue.getJobs(['delayed']);
      return delayed.every((j) => j.repeatJobKey !== undefined);
    };
    const status = () => ok(someApi(), 'GET', `/v1/admin/invoicing/runs/${PREV}`);
    await until(
      'the runs to bill the month',
      async () => (await idle()) && (await status()).counts.pending === 0,
    );
    const before = await status();
    expect(before.runs).toBeGreaterThanOrEqual(1);

    // A re-run once it is done bills nothing again.
    await ok(someApi(), 'POST', '/v1/admin/invoicing/runs', { body: { month: PREV } });
    await until('the re-run', async () => (await idle()) && (await status()).runs > before.runs);
    expect(await invoicingQueue.getFailedCount()).toBe(0);

    // What the month must bill: every workspace's flex in it, as it stands now.
    const billed = new Map<string, { flex: number; annual: boolean }>();
    for (const w of [
      ...DEBIT_WS.map((id) => ({ id, plan: 'growth' })),
      ...lateWs.map((w) => ({ id: w.id, plan: w.plan })),
    ]) {
      const flex = await flexOfMonth(w.id, PREV);
      // Nothing lost, nothing counted twice: the months' flex is the flex the answers debited.
      expect(flex + (await flexOfMonth(w.id, CURRENT)), `${w.id} (${seed})`).toBe(debitedFlex.get(w.id));
      if (flex >= UNITS_PER_CREDIT) billed.set(w.id, { flex, annual: w.plan === 'growth-annual' });
    }
    expect(billed.size).toBeGreaterThanOrEqual(11);

    // At Stripe: one item per workspace-month, of any month (R-FLX-6) ...
    const items = standin.objectsOf('invoiceitem');
    const meta = (o: Record<string, unknown>) => o.metadata as Record<string, string>;
    const perMonth = new Map<string, number>();
    for (const item of items) {
      const k = `${meta(item).workspace_id} ${meta(item).month}`;
      perMonth.set(k, (perMonth.get(k) ?? 0) + 1);
    }
    for (const [k, n] of perMonth) expect(n, `items for ${k} (${seed})`).toBe(1);
    // ... each Stripe write sent once under its key: no two workers billed the same month, not
    // even with Stripe's idempotency absorbing the second ...
    const sent = new Map<string, number>();
    for (const q of stripeRequests) {
      if (q.method !== 'POST') continue;
      expect(q.key, `${q.path} without an idempotency key`).toBeDefined();
      const k = `${q.path.replace(/in_[A-Za-z0-9_]+/, '{id}')} ${q.key}`;
      sent.set(k, (sent.get(k) ?? 0) + 1);
    }
    for (const [k, n] of sent) expect(n, `${k} (${seed})`).toBe(1);

    // ... and for this month, exactly the workspaces with a whole credit of flex, each at the floor
    // of the flex its closing read found, which is all the month has (R-FLX-5).
    const ofMonth = items.filter((i) => meta(i).month === PREV);
    expect(ofMonth.map((i) => meta(i).workspace_id).sort(), seed).toEqual([...billed.keys()].sort());
    let totalCredits = 0;
    for (const item of ofMonth) {
      const ws = meta(item).workspace_id!;
      const { flex, annual } = billed.get(ws)!;
      expect(
        { flexCredits: meta(item).flex_credits, quantity: item.quantity, amount: item.amount },
        ws,
      ).toEqual({
        flexCredits: formatUnits(flex),
        quantity: floorToWholeCredits(flex),
        amount: floorToWholeCredits(flex) * FLEX_CENTS,
      });
      totalCredits += floorToWholeCredits(flex);
      const invoices = standin
        .objectsOf('invoice')
        .filter((i) => meta(i).workspace_id === ws && meta(i).month === PREV);
      if (annual) {
        // An annual plan's item is on an invoice of its own, finalized (R-FLX-6).
        expect(
          invoices.map((i) => i.status),
          ws,
        ).toEqual(['open']);
        expect(item.invoice).toBe(invoices[0]!.id);
      } else {
        expect(invoices, ws).toEqual([]);
        expect(item.invoice).toBeNull();
      }
    }

    const annualBilled = [...billed.values()].filter((b) => b.annual).length;
    const done = await status();
    expect(done, seed).toMatchObject({
      workspaces: billed.size,
      counts: {
        pending: 0,
        item_created: billed.size - annualBilled,
        invoiced: annualBilled,
        skipped: 0,
        failed: 0,
      },
      billedCredits: totalCredits,
      amountCents: totalCredits * FLEX_CENTS,
    });

    // One job per workspace-month, each run by one of the three worker processes.
    const jobs = (await invoicingQueue.getJobs(['completed'])) as Job[];
    const workspaceJobs = jobs.filter((j) => j.name === 'workspace' && j.data.month === PREV);
    expect(workspaceJobs.map((j) => j.data.workspaceId).sort()).toEqual([...billed.keys()].sort());
    const pids = new Set(workers.map((w) => `pid-${w.child.pid}`));
    for (const j of jobs) expect(pids.has(j.processedBy ?? ''), `${j.id} by ${j.processedBy}`).toBe(true);

    // Three workers upserted the monthly schedule: one scheduler, one next run (00:05 UTC on the 1st).
    const schedulers = await invoicingQueue.getJobSchedulers();
    expect(schedulers.map((s) => s.key)).toEqual(['monthly-invoicing']);
    const next = new Date(schedulers[0]!.next!);
    expect([next.getUTCDate(), next.getUTCHours(), next.getUTCMinutes()]).toEqual([1, 0, 5]);
    const scheduled = (await invoicingQueue.getJobs(['delayed'])).filter((j) => j.repeatJobKey !== undefined);
    expect(scheduled.map((j) => j.timestamp + j.delay)).toEqual([schedulers[0]!.next]);

    for (const w of [...DEBIT_WS, ...lateWs.map((x) => x.id)]) {
      expect((await checkLedger(r.store, w, Date.now())).problems, w).toEqual([]);
    }
  }, 60_000);
});
