/** The typed client (client/src) against the real service over HTTP, through a proxy that can fail. */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Burnrate, BurnrateApiError, type LedgerEntry, MeterStopped } from '../../client/src/index.js';
import { OPERATOR, PLATFORM, startTestApi, type TestApi } from '../support/http.js';

let api: TestApi;

/**
 * A proxy in front of the API. `plan` decides each request's fate: forward it, answer 503/429
 * without forwarding, forward it and then answer 503 (the answer lost on the way back), or hang.
 */
type Fate = 'forward' | 503 | 429 | 'forward-then-503' | 'hang';
interface Proxy {
  base: string;
  seen: { method: string; path: string; body: string }[];
  plan: Fate[];
  close(): Promise<void>;
}
async function startProxy(): Promise<Proxy> {
  const seen: Proxy['seen'] = [];
  const plan: Fate[] = [];
  const readBody = async (req: IncomingMessage) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString();
  };
  const server: Server = createServer(async (req, res) => {
    const body = await readBody(req);
    seen.push({ method: req.method ?? '', path: req.url ?? '', body });
    const fate = plan.shift() ?? 'forward';
    if (fate === 'hang') return; // the client's timeout ends it
    if (fate === 503 || fate === 429) {
      res.writeHead(fate, { 'content-type': 'application/json', 'retry-after': '0' });
      res.end(
        JSON.stringify({ error: { code: fate === 503 ? 'unavailable' : 'rate_limited', message: 'x' } }),
      );
      return;
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers))
      if (typeof v === 'string' && k !== 'host') headers[k] = v;
    const up = await fetch(api.base + (req.url ?? ''), {
      method: req.method,
      headers,
      body: body === '' ? undefined : body,
    });
    const text = await up.text();
    if (fate === 'forward-then-503') {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'unavailable', message: 'lost answer' } }));
      return;
    }
    const out: Record<string, string> = {};
    up.headers.forEach((v, k) => {
      if (k !== 'content-length' && k !== 'transfer-encoding' && k !== 'connection') out[k] = v;
    });
    res.writeHead(up.status, out);
    res.end(text);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    seen,
    plan,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

let proxy: Proxy;
let operator: Burnrate;
let platform: Burnrate;
/** The platform client through the proxy, with short backoffs and timeouts. */
let flaky: Burnrate;

beforeAll(async () => {
  api = await startTestApi();
  proxy = await startProxy();
  operator = new Burnrate({ baseUrl: api.base, apiKey: OPERATOR });
  platform = new Burnrate({ baseUrl: api.base, apiKey: PLATFORM });
  flaky = new Burnrate({ baseUrl: proxy.base, apiKey: PLATFORM, backoffMs: 5, timeoutMs: 500 });
});
afterAll(async () => {
  await proxy.close();
  await api.close();
});
beforeEach(() => {
  api.clock.set(Date.UTC(2026, 10, 21, 12));
  proxy.seen.length = 0;
  proxy.plan.length = 0;
});

let n = 0;
async function workspace(planId = 'growth') {
  const id = `cl${++n}`;
  const ws = await operator.putWorkspace(id, { planId });
  expect(ws.created).toBe(true);
  return id;
}

describe('typed happy paths', () => {
  it('creates, spends, authorizes and reads a workspace', async () => {
    const id = await workspace('growth');
    const ws = await platform.getWorkspace(id);
    expect(ws.included).toEqual({ granted: '150', used: '0', remaining: '150' });

    const spent = await platform.usage(id, { credits: '0.37' });
    expect(spent.ok).toBe(true);
    if (!spent.ok) throw new Error('refused');
    expect(spent.debited.included).toBe('0.37');
    expect(spent.replayed).toBe(false);

    const byFeature = await platform.usage(id, {
      feature: 'data.storage',
      quantity: 10,
      idempotencyKey: 'store-1',
    });
    expect(byFeature).toMatchObject({ ok: true, debited: { included: '0.5' } });
    const again = await platform.usage(id, {
      feature: 'data.storage',
      quantity: 10,
      idempotencyKey: 'store-1',
    });
    expect(again.replayed).toBe(true);

    const auth = await platform.authorize(id, { credits: 160 });
    expect(auth.ok).toBe(true); // included, then flex
    const tooMuch = await platform.authorize(id, { credits: 1000 });
    expect(tooMuch).toMatchObject({ ok: false, reason: 'flex_cap_reached' });

    const batch = await platform.usageBatch([
      { workspaceId: id, credits: 1 },
      { workspaceId: 'nobody', credits: 1 },
    ]);
    expect(batch.map((r) => r.status)).toEqual([200, 404]);
    const [first, second] = batch;
    expect(first && 'ok' in first && first.ok).toBe(true);
    expect(second && 'error' in second && second.error.code).toBe('not_found');

    const after = await platform.getWorkspace(id);
    expect(after.included.used).toBe('1.87');

    const usage = await platform.getUsage(id, { groupBy: 'kind' });
    expect(usage).toHaveProperty('cycle');
    const alerts = await platform.alerts(id, { lang: 'ko' });
    expect(alerts).toEqual({ lang: 'ko', alerts: [] });
    const preview = await platform.invoicePreview(id);
    expect(preview.flexCredits).toBe('0');
    const catalog = await platform.catalog({ workspaceId: id });
    expect(catalog).toHaveProperty('plans');

    const flex = await platform.setFlex(id, { capCents: 500 });
    expect(flex.flex.capCents).toBe(500);
    const adjusted = await operator.adjust(id, { kind: 'prepaid', credits: 5, reason: 'goodwill' });
    expect(adjusted.prepaid.remaining).toBe('5');
    const threshold = await operator.setBillingThreshold(id, 200);
    expect(threshold.flex.thresholdCents).toBe(200);
    const dry = await operator.runInvoicing('2026-10', { dryRun: true });
    expect(dry).toBeTypeOf('object');
    expect(await operator.invoicingStatus('2026-10')).toBeTypeOf('object');
    const forbidden = await platform.setBillingThreshold(id, null).catch((e: unknown) => e);
    expect(forbidden).toMatchObject({ status: 403, code: 'forbidden' });
  });

  it('pages the ledger as an async iterator', async () => {
    const id = await workspace('growth');
    for (let i = 0; i < 5; i++) await platform.usage(id, { credits: i + 1, idempotencyKey: `l${i}` });
    const entries: LedgerEntry[] = [];
    for await (const e of platform.ledger(id, { pageSize: 2 })) entries.push(e);
    const debits = entries.filter((e) => e.type !== 'grant');
    expect(debits.map((e) => e.credits)).toEqual(['-5', '-4', '-3', '-2', '-1']);
    expect(entries.at(-1)?.type).toBe('grant');
    const page = await platform.ledgerPage(id, { limit: 2 });
    expect(page.entries).toHaveLength(2);
    expect(page.nextCursor).not.toBeNull();
  });
});

describe('retries', () => {
  it('retries a 503 with the same idempotency key: the usage is debited once', async () => {
    const id = await workspace('growth');
    proxy.plan.push('forward-then-503', 503, 'forward');
    const res = await flaky.usage(id, { credits: 7 });
    expect(res).toMatchObject({ ok: true, replayed: true, debited: { included: '7' } });
    const usageCalls = proxy.seen.filter((s) => s.path.endsWith('/usage'));
    expect(usageCalls).toHaveLength(3);
    const keys = new Set(usageCalls.map((s) => JSON.parse(s.body).idempotencyKey));
    expect(keys.size).toBe(1);
    expect((await platform.getWorkspace(id)).included.used).toBe('7');
  });

  it('retries 429 and a timed-out attempt', async () => {
    const id = await workspace('growth');
    proxy.plan.push(429, 'hang', 'forward');
    const res = await flaky.usage(id, { credits: 2, idempotencyKey: 'slow-1' });
    expect(res.ok).toBe(true);
    expect(proxy.seen).toHaveLength(3);
    expect((await platform.getWorkspace(id)).included.used).toBe('2');
  });

  it('gives up after its retries with a typed error', async () => {
    const id = await workspace('growth');
    const once = new Burnrate({ baseUrl: proxy.base, apiKey: PLATFORM, backoffMs: 1, retries: 1 });
    proxy.plan.push(503, 503);
    const err = await once.getWorkspace(id).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BurnrateApiError);
    expect(err).toMatchObject({ status: 503, code: 'unavailable' });
    expect(proxy.seen).toHaveLength(2);
  });

  it('surfaces a 409 conflict as a typed error without retrying', async () => {
    const id = await workspace('growth');
    await flaky.usage(id, { credits: 1, idempotencyKey: 'dup' });
    proxy.seen.length = 0;
    const err = await flaky.usage(id, { credits: 2, idempotencyKey: 'dup' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BurnrateApiError);
    expect(err).toMatchObject({ status: 409, code: 'idempotency_conflict' });
    expect(proxy.seen).toHaveLength(1);
  });

  it('does not retry a 400, and gives its details', async () => {
    const id = await workspace('growth');
    const err = await flaky.usage(id, { credits: '0.00001' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 400, code: 'invalid_request' });
    expect((err as BurnrateApiError).details).toEqual([expect.objectContaining({ path: 'credits' })]);
    expect(proxy.seen).toHaveLength(1);
  });

  it('a 402 is an answer, not an error', async () => {
    const id = await workspace('free');
    const res = await platform.usage(id, { credits: 31 });
    expect(res).toMatchObject({ ok: false, reason: 'plan_blocks_flex', available: '30' });
  });
});

describe('meter (R-CON-6)', () => {
  it('debits a tick at a time and aborts the work on the first refusal', async () => {
    const id = await workspace('free'); // 30 credits, no flex
    const meter = platform.meter(id, { credits: 10 }, { every: 20 });
    const work = new Promise<unknown>((resolve) => {
      meter.signal.addEventListener('abort', () => resolve(meter.signal.reason), { once: true });
    });
    const why = await work;
    expect(why).toBeInstanceOf(MeterStopped);
    const end = await meter.done;
    expect(end).toMatchObject({ reason: 'plan_blocks_flex', available: '0' });
    expect(meter.ticks).toBe(3);
    const ws = await platform.getWorkspace(id);
    expect(ws.included.remaining).toBe('0');
    const entries: LedgerEntry[] = [];
    for await (const e of platform.ledger(id)) entries.push(e);
    expect(entries.filter((e) => e.type !== 'grant').map((e) => e.credits)).toEqual(['-10', '-10', '-10']);
  });

  it('a retried tick keeps its key and debits once; stop() ends it', async () => {
    const id = await workspace('growth');
    const meter = flaky.meter(
      id,
      { feature: 'data.storage', quantityPerTick: 20 },
      { every: 10, meterId: 'job-9' },
    );
    proxy.plan.push('forward', 'forward-then-503'); // tick 1's answer is lost once
    while (meter.ticks < 4) await new Promise((r) => setTimeout(r, 5));
    const end = await meter.stop();
    expect(end).toEqual({ reason: 'stopped' });
    expect(meter.signal.aborted).toBe(false);
    const ticks = meter.ticks;
    const ws = await platform.getWorkspace(id);
    expect(ws.included.used).toBe(String(ticks)); // 1 credit a tick
    const keys = proxy.seen.map((s) => JSON.parse(s.body).idempotencyKey);
    expect(keys.slice(0, 3)).toEqual(['job-9:0', 'job-9:1', 'job-9:1']);
  });

  it('stop() cancels a tick in flight at once, not after its timeout and retries', async () => {
    const id = await workspace('growth');
    // Long timeouts and backoffs: a stop that waited for them would take seconds.
    const patient = new Burnrate({
      baseUrl: proxy.base,
      apiKey: PLATFORM,
      timeoutMs: 5_000,
      backoffMs: 2_000,
    });
    proxy.plan.push('forward', 'hang'); // tick 1 gets no answer
    const meter = patient.meter(id, { credits: '1' }, { every: 10, meterId: 'job-hang' });
    while (proxy.seen.length < 2) await new Promise((r) => setTimeout(r, 5));
    const started = Date.now();
    expect(await meter.stop()).toEqual({ reason: 'stopped' });
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(meter.ticks).toBe(1);
    expect(meter.signal.aborted).toBe(false);
    await new Promise((r) => setTimeout(r, 50));
    expect(proxy.seen).toHaveLength(2); // no retry after the stop
  });

  it('amounts: decimal strings as given, numbers as their exact decimal; more than 4 decimals refused before any call', async () => {
    const id = await workspace('growth');
    for (const [amount, message] of [
      [{ credits: 0.1 + 0.2 }, /meter credits: 0\.30000000000000004 has more than 4 decimal places/],
      [{ credits: '0.12345' }, /more than 4 decimal places/],
      [{ credits: 0.00001 }, /meter credits: 0\.00001 has more than 4 decimal places/],
      [{ credits: 1e-7 }, /1e-7 is not a positive decimal with at most 4 decimal places/],
      [{ credits: 0 }, /greater than zero/],
      [{ credits: '-1' }, /not a positive decimal/],
      [{ credits: Number.NaN }, /not a positive decimal/],
      // What the API's own parser refuses (parseDecimal4: at most 12 whole digits), refused here.
      [{ credits: '1234567890123' }, /not a positive decimal/],
      [
        { feature: 'data.storage', quantityPerTick: 2.00001 },
        /meter quantityPerTick: 2\.00001 has more than 4/,
      ],
    ] as const) {
      expect(() => flaky.meter(id, amount, { every: 10 }), JSON.stringify(amount)).toThrow(RangeError);
      expect(() => flaky.meter(id, amount, { every: 10 })).toThrow(message);
    }
    expect(() => flaky.meter(id, { credits: '1', every: 0 })).toThrow(/every must be a positive number/);
    expect(proxy.seen).toHaveLength(0);

    // 0.1 three times is 0.30000000000000004 in JS; three ticks of '0.1' are 0.3 on the ledger.
    const meter = flaky.meter(id, { credits: 0.1 }, { every: 5 });
    while (meter.ticks < 3) await new Promise((r) => setTimeout(r, 2));
    await meter.stop();
    expect(JSON.parse(proxy.seen[0]!.body)).toMatchObject({ credits: '0.1' });
    expect((await platform.getWorkspace(id)).included.used).toBe(
      String(Math.round(meter.ticks * 1000) / 10_000), // 0.1 a tick, exactly
    );
    const q = flaky.meter(id, { feature: 'data.storage', quantityPerTick: 0.25 }, { every: 10_000 });
    while (q.ticks < 1) await new Promise((r) => setTimeout(r, 2));
    await q.stop();
    expect(JSON.parse(proxy.seen.at(-1)!.body)).toMatchObject({ feature: 'data.storage', quantity: '0.25' });
  });

  it("the issue's shape: meter(workspaceId, {credits | feature, every})", async () => {
    const id = await workspace('free'); // 30 credits, no flex
    const byCredits = platform.meter(id, { credits: '12.5', every: 10 });
    expect(await byCredits.done).toMatchObject({ reason: 'plan_blocks_flex', available: '5' });
    expect(byCredits.ticks).toBe(2);
    expect(byCredits.signal.aborted).toBe(true);
    // A feature alone: one unit of it a tick (data.storage: 0.05 credits).
    const ctl = new AbortController();
    const byFeature = flaky.meter(id, {
      feature: 'data.storage',
      every: 10,
      signal: ctl.signal,
      meterId: 'f1',
    });
    while (byFeature.ticks < 2) await new Promise((r) => setTimeout(r, 5));
    ctl.abort();
    expect(await byFeature.done).toEqual({ reason: 'stopped' });
    const sent = proxy.seen.map((s) => JSON.parse(s.body));
    expect(sent[0]).toEqual({ feature: 'data.storage', quantity: '1', idempotencyKey: 'f1:0' });
    expect((await platform.getWorkspace(id)).included.used).toBe(
      String(25 + Math.round(byFeature.ticks * 500) / 10_000),
    );
    expect(() =>
      // @ts-expect-error both kinds of amount
      platform.meter(id, { credits: '1', feature: 'data.storage', every: 10 }),
    ).toThrow(/either credits, or a feature/);
  });

  it("stops on the caller's signal", async () => {
    const id = await workspace('growth');
    const ctl = new AbortController();
    const meter = platform.meter(id, { credits: 1 }, { every: 10, signal: ctl.signal });
    while (meter.ticks < 2) await new Promise((r) => setTimeout(r, 5));
    ctl.abort();
    expect(await meter.done).toEqual({ reason: 'stopped' });
  });
});
