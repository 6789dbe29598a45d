/**
 * Alerts end to end on a real Redis: raised in the debit's atomic step, once per cycle
 * (R-ALR-1), shown as banners (R-ALR-2) in three languages (R-ALR-3), and delivered as signed
 * outbound webhooks that survive a receiver that is down and an API that died before queueing
 * them (R-ALR-2).
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Worker } from 'bullmq';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/observability/logger.js';
import { ALERT_WEBHOOKS_QUEUE } from '../../src/queues/alerts.js';
import { bullConnection } from '../../src/redis/clients.js';
import { queuePrefix } from '../../src/redis/keys.js';
import { verifyAlertSignature } from '../../src/services/alerts.js';
import { alertWebhookProcessor } from '../../workers/alert-webhooks.js';
import { PLATFORM, startTestApi, type TestApi } from '../support/http.js';
import { drained } from '../support/stripe-worker.js';

const SECRET = 'alert-secret-for-tests';
const START = Date.UTC(2026, 10, 21, 12);

/** A receiver that answers `failFirst` requests with 503, then 200; it records what came. */
class Receiver {
  received: { body: string; signature: string | undefined }[] = [];
  failFirst = 0;
  /** Requests answered with a redirect first (a receiver that moved). */
  redirectFirst = 0;
  /** Every request's method, in order. */
  methods: string[] = [];
  private server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      this.methods.push(req.method ?? '');
      if (this.redirectFirst > 0) {
        this.redirectFirst--;
        res.writeHead(302, { location: '/moved' }).end();
        return;
      }
      if (this.failFirst > 0) {
        this.failFirst--;
        res.writeHead(503).end();
        return;
      }
      this.received.push({
        body: Buffer.concat(chunks).toString('utf8'),
        signature: req.headers['burnrate-signature'] as string | undefined,
      });
      res.writeHead(200).end('ok');
    });
  });
  async listen(port = 0) {
    this.server.listen(port, '127.0.0.1');
    await once(this.server, 'listening');
    return (this.server.address() as AddressInfo).port;
  }
  async close() {
    this.server.close();
    this.server.closeAllConnections();
  }
  bodies() {
    // biome-ignore lint/suspicious/noExplicitAny: the test asserts on the JSON received
    return this.received.map((r) => JSON.parse(r.body) as any);
  }
}

let api: TestApi;
let receiver: Receiver;
let receiverPort: number;
let worker: Worker;
beforeAll(async () => {
  receiver = new Receiver();
  receiverPort = await receiver.listen();
  api = await startTestApi({
    now: START,
    env: {
      BURNRATE_ALERT_WEBHOOK_URLS: `http://127.0.0.1:${receiverPort}/hooks`,
      BURNRATE_ALERT_WEBHOOK_SECRET: SECRET,
    },
  });
  const connection = bullConnection(api.target);
  worker = new Worker(
    ALERT_WEBHOOKS_QUEUE,
    alertWebhookProcessor({
      secret: SECRET,
      log: createLogger({ level: 'silent', name: 't' }),
      timeoutMs: 2000,
    }),
    {
      connection,
      prefix: queuePrefix(api.prefix),
      concurrency: 4,
      // Retries in tens of milliseconds here; production doubles from 1 s (ALERT_JOB_OPTIONS).
      settings: { backoffStrategy: () => 20 },
    },
  );
  worker.on('closed', () => connection.disconnect());
});
afterAll(async () => {
  await worker.close();
  await api.close();
  await receiver.close();
});
beforeEach(() => {
  api.clock.set(START);
  receiver.received = [];
  receiver.failFirst = 0;
  receiver.redirectFirst = 0;
  receiver.methods = [];
});

let n = 0;
async function workspace(planId = 'growth') {
  const id = `al${++n}`;
  expect((await api.call('PUT', `/v1/workspaces/${id}`, { body: { planId } })).status).toBe(201);
  return id;
}
let k = 0;
const use = (id: string, credits: number, mode = 'consume') =>
  api.call('POST', `/v1/workspaces/${id}/usage`, {
    body: { idempotencyKey: `k${++k}`, credits, mode },
    key: PLATFORM,
  });
const banners = async (id: string, lang = 'en') => {
  const res = await api.call('GET', `/v1/workspaces/${id}/alerts?lang=${lang}`, { key: PLATFORM });
  expect(res.status).toBe(200);
  return res.body.alerts as { id: string; type: string; message: string; data: Record<string, unknown> }[];
};
const types = async (id: string) => (await banners(id)).map((a) => a.type);
/** Every alert stored for a workspace, by name: how many times each was raised. */
async function raisedCounts(id: string) {
  const all = await api.redis.hvals(api.store.keys(id).alerts);
  const counts: Record<string, number> = {};
  for (const raw of all) {
    const name = JSON.parse(raw).name as string;
    counts[name] = (counts[name] ?? 0) + 1;
  }
  return counts;
}

describe('raising (R-ALR-1)', () => {
  it('walks a growth workspace through every alert of a cycle, each once, with its figures', async () => {
    const id = await workspace('growth');
    await use(id, 100);
    expect(await types(id)).toEqual([]);
    await use(id, 20); // 120 of 150: 80%
    const [eighty] = await banners(id);
    expect(eighty).toMatchObject({
      type: 'included_80',
      data: { usedCredits: '120', grantedCredits: '150', percentUsed: 80 },
    });
    expect(eighty!.message).toBe(
      'You have used 120 of your 150 included credits (80%) this billing cycle. Prepaid credits cost less per credit than flex usage.',
    );
    await use(id, 5);
    expect(await raisedCounts(id)).toEqual({ included_80: 1 });

    await use(id, 25); // 150: included used up; it replaces the 80% banner
    expect(await types(id)).toEqual(['included_exhausted']);

    await use(id, 2); // flex starts: $4 a credit; the 50-credit bundle saves $16 (8% off)
    const flex = (await banners(id)).find((a) => a.type === 'flex_started')!;
    expect(flex.data).toMatchObject({
      flexUnitAmountCents: '400',
      recommendation: { bundleId: 'bundle-50', credits: 50, amountCents: 18_400, savingCents: 1600 },
    });
    expect(flex.message).toContain(
      'The 50-credit prepaid bundle costs $184.00 and saves $16.00 against flex.',
    );

    await use(id, 18); // 20 flex credits = $80 of the $100 cap
    const cap80 = (await banners(id)).find((a) => a.type === 'flex_cap_80')!;
    expect(cap80.data).toMatchObject({ limit: 'cap', usedCents: 8000, limitCents: 10_000, percentUsed: 80 });

    const last = await use(id, 10, 'record'); // 5 fit under the cap, 5 are a shortfall
    expect(last.body.shortfall).toBe('5');
    expect(await types(id)).toEqual(['included_exhausted', 'flex_started', 'flex_cap_reached']);
    const reached = (await banners(id)).find((a) => a.type === 'flex_cap_reached')!;
    expect(reached.data).toMatchObject({ limit: 'cap', limitCents: 10_000, usedCents: 10_000 });

    // Refusals after that raise nothing again (once per cycle).
    const refused = await use(id, 1);
    expect(refused.status).toBe(402);
    expect(refused.body.alerts).toBeUndefined();
    expect(await raisedCounts(id)).toEqual({
      included_80: 1,
      included_exhausted: 1,
      flex_started: 1,
      flex_cap_80: 1,
      flex_cap_reached: 1,
    });

    // Raising the cap lifts the block and the banner; the alert stays on record.
    await api.call('PATCH', `/v1/workspaces/${id}/flex`, { body: { capCents: 20_000 }, key: PLATFORM });
    expect(await types(id)).not.toContain('flex_cap_reached');

    // GET /v1/workspaces/{id} carries the same banners (English).
    const ws = await api.call('GET', `/v1/workspaces/${id}`, { key: PLATFORM });
    expect(ws.body.alerts.map((a: { type: string }) => a.type)).toEqual(await types(id));

    // A new cycle starts clean: the same crossing raises again, with new ids.
    const before = new Set((await banners(id)).map((a) => a.id));
    api.clock.set(Date.UTC(2026, 11, 21, 12, 1));
    expect(await types(id)).toEqual([]);
    await use(id, 130);
    const again = await banners(id);
    expect(again.map((a) => a.type)).toEqual(['included_80']);
    expect(before.has(again[0]!.id)).toBe(false);
  });

  it('raises credits exhausted on the free plan, and on a paid plan with flex switched off', async () => {
    const free = await workspace('free');
    await use(free, 30);
    expect(await types(free)).toEqual(['included_exhausted', 'credits_exhausted']);
    const [, exhausted] = await banners(free);
    expect(exhausted!.data).toMatchObject({ cause: 'plan_without_flex', grantedCredits: '30' });
    expect(exhausted!.message).toContain('upgrade your plan');

    const paid = await workspace('growth');
    await api.call('PATCH', `/v1/workspaces/${paid}/flex`, { body: { enabled: false }, key: PLATFORM });
    expect((await use(paid, 151)).status).toBe(402);
    expect(await types(paid)).toEqual([]); // refused: nothing was used
    await use(paid, 150);
    expect(await types(paid)).toContain('credits_exhausted');
    expect((await banners(paid)).find((a) => a.type === 'credits_exhausted')!.data).toMatchObject({
      cause: 'flex_disabled',
    });
  });

  it('names the billing threshold when it is the limit that was reached (R-FLX-4)', async () => {
    const id = await workspace('growth');
    await api.call('PUT', `/v1/workspaces/${id}/billing-threshold`, { body: { thresholdCents: 2000 } });
    await use(id, 160, 'record'); // 150 included, 5 flex ($20), 5 short
    const reached = (await banners(id)).find((a) => a.type === 'flex_cap_reached')!;
    expect(reached.data).toMatchObject({ limit: 'threshold', limitCents: 2000 });
    expect(reached.message).toContain('billing threshold of $20.00');
  });

  it('raises each alert exactly once when 8 connections race across the thresholds', async () => {
    const id = await workspace('growth');
    // Every answer names the alerts its event raised: across all of them, each exactly once.
    const raised: string[] = [];
    await Promise.all(
      Array.from({ length: 8 }, async (_, j) => {
        for (let i = 0; i < 25; i++) {
          const res = await fetch(`${api.base}/v1/workspaces/${id}/usage`, {
            method: 'POST',
            headers: { authorization: `Bearer ${PLATFORM}`, 'content-type': 'application/json' },
            body: JSON.stringify({ idempotencyKey: `race-${j}-${i}`, credits: 1 }),
          });
          expect([200, 402]).toContain(res.status);
          const body = (await res.json()) as { alerts?: { type: string }[] };
          for (const a of body.alerts ?? []) raised.push(a.type);
        }
      }),
    );
    // 200 credits asked: 150 included, 25 flex up to the $100 cap (reached), 25 refused.
    expect(raised.sort()).toEqual([
      'flex_cap_80',
      'flex_cap_reached',
      'flex_started',
      'included_80',
      'included_exhausted',
    ]);
    expect(await raisedCounts(id)).toEqual({
      included_80: 1,
      included_exhausted: 1,
      flex_started: 1,
      flex_cap_80: 1,
      flex_cap_reached: 1,
    });
  });

  it('warns at 80% of the billing threshold when it is below the cap (R-FLX-4)', async () => {
    const id = await workspace('growth');
    await api.call('PUT', `/v1/workspaces/${id}/billing-threshold`, { body: { thresholdCents: 4000 } });
    await use(id, 150);
    const res = await use(id, 8); // 8 flex credits = $32 of the $40 threshold (the cap is $100)
    expect(res.body.alerts.map((a: { type: string }) => a.type)).toEqual(['flex_started', 'flex_cap_80']);
    const warning = (await banners(id)).find((a) => a.type === 'flex_cap_80')!;
    expect(warning.data).toMatchObject({
      limit: 'threshold',
      limitCents: 4000,
      usedCents: 3200,
      percentUsed: 80,
    });
    expect(warning.message).toBe(
      'Flex usage has reached 80% of the billing threshold of $40.00 this billing cycle ($32.00 used).',
    );
  });

  it('raises alerts from a batch, per workspace, and queues them', async () => {
    // The tests before queue alerts too: delivered only once this one had begun, they landed
    // in its list (a cluster run of .ci/run saw them).
    await drained(api.alertQueue);
    receiver.received = [];
    const a = await workspace('free');
    const b = await workspace('free');
    const res = await api.call('POST', '/v1/usage/batch', {
      key: PLATFORM,
      body: {
        events: [
          { workspaceId: a, idempotencyKey: 'b1', credits: 24 },
          { workspaceId: b, idempotencyKey: 'b1', credits: 10 },
          { workspaceId: a, idempotencyKey: 'b2', credits: 6 },
        ],
      },
    });
    const types = res.body.results.map((r: { alerts?: { type: string }[] }) =>
      (r.alerts ?? []).map((x) => x.type),
    );
    expect(types).toEqual([['included_80'], [], ['included_exhausted', 'credits_exhausted']]);
    await drained(api.alertQueue);
    expect(
      receiver
        .bodies()
        .map((x) => `${x.workspaceId}:${x.type}`)
        .sort(),
    ).toEqual([`${a}:alert.credits_exhausted`, `${a}:alert.included_80`, `${a}:alert.included_exhausted`]);
  });
});

describe('raised by the other movements in the step that crosses (R-ALR-1)', () => {
  it("an operator's manual debit of the last prepaid credits", async () => {
    const id = await workspace('free');
    const adjust = (key: string, credits: number) =>
      api.call('POST', `/v1/workspaces/${id}/adjustments`, {
        body: { idempotencyKey: key, kind: 'prepaid', credits, reason: 'correction' },
      });
    expect((await adjust('grant', 10)).status).toBe(200);
    await use(id, 30);
    expect(await raisedCounts(id)).toEqual({ included_80: 1, included_exhausted: 1 });
    expect((await adjust('take', -10)).status).toBe(200);
    expect(await types(id)).toContain('credits_exhausted');
    // The next attempt does not raise it again.
    const refused = await use(id, 1);
    expect(refused.status).toBe(402);
    expect(refused.body.alerts).toBeUndefined();
    // A manual debit of included credits corrects the grant (granted and left both drop): no
    // crossing of "80% used".
    const growth = await workspace('growth');
    await api.call('POST', `/v1/workspaces/${growth}/adjustments`, {
      body: { idempotencyKey: 'fix', kind: 'included', credits: -125, reason: 'correction' },
    });
    expect(await types(growth)).toEqual([]);
  });

  it('a cap lowered under what flex already used', async () => {
    const id = await workspace('growth');
    await use(id, 170); // 20 flex credits: $80 of the $100 cap
    expect(await types(id)).toEqual(['included_exhausted', 'flex_started', 'flex_cap_80']);
    const res = await api.call('PATCH', `/v1/workspaces/${id}/flex`, {
      body: { capCents: 5000 },
      key: PLATFORM,
    });
    expect(res.body.alerts.map((a: { type: string }) => a.type)).toContain('flex_cap_reached');
    expect(await raisedCounts(id)).toMatchObject({ flex_cap_reached: 1 });
  });

  it('a refund that takes back the last prepaid credits of a free workspace', async () => {
    const id = await workspace('free');
    await api.store.adjust({
      workspaceId: id,
      kind: 'prepaid',
      units: 100_000,
      ref: 'lot-1',
      type: 'grant',
      reason: '',
      idempotencyKey: 'lot-1',
      bodyHash: 'h',
      now: START,
    });
    await use(id, 30);
    expect(await raisedCounts(id)).toEqual({ included_80: 1, included_exhausted: 1 });
    const r = await api.store.clawback({
      workspaceId: id,
      lot: 'lot-1',
      target: 100_000,
      ref: 'refund',
      now: START,
    });
    expect(r.alerts.map((a) => a.name)).toEqual(['credits_exhausted']);
    expect(await types(id)).toContain('credits_exhausted');
  });
});

describe('texts (R-ALR-3)', () => {
  it('reads every banner in English, Hindi and Korean with the figures filled in', async () => {
    const id = await workspace('growth');
    await use(id, 120);
    const [en] = await banners(id, 'en');
    const [hi] = await banners(id, 'hi');
    const [ko] = await banners(id, 'ko');
    expect(hi!.message).toBe(
      'आपने इस billing cycle में अपने 150 included credits में से 120 (80%) उपयोग कर लिए हैं। Prepaid credits की प्रति credit कीमत flex usage से कम है।',
    );
    expect(ko!.message).toBe(
      '이번 billing cycle에 included credits 150개 중 120개(80%)를 사용했습니다. Prepaid credits는 flex usage보다 크레딧당 가격이 낮습니다.',
    );
    expect(en!.id).toBe(hi!.id);
    expect(ko!.data).toEqual(en!.data);
    const bad = await api.call('GET', `/v1/workspaces/${id}/alerts?lang=fr`, { key: PLATFORM });
    expect(bad.status).toBe(400);
    expect((await api.call('GET', '/v1/workspaces/nope/alerts', { key: PLATFORM })).status).toBe(404);
  });
});

describe('banners show the figures of now, the raised record those of its raising (R-ALR-2)', () => {
  // Regression: banners used to repeat the figures stored when the alert was raised.
  const get = (path: string) => api.call('GET', path, { key: PLATFORM });

  it('included 80%: 120 then 15 more of 150 reads 135 (90%) in every banner; the webhook keeps 120', async () => {
    const id = await workspace('growth');
    await use(id, 120);
    await use(id, 15);
    const [en] = await banners(id, 'en');
    expect(en).toMatchObject({
      type: 'included_80',
      raisedAt: new Date(START).toISOString(),
      data: { usedCredits: '135', grantedCredits: '150', percentUsed: 90 },
    });
    expect(en!.message).toBe(
      'You have used 135 of your 150 included credits (90%) this billing cycle. Prepaid credits cost less per credit than flex usage.',
    );
    const [hi] = await banners(id, 'hi');
    expect(hi!.message).toBe(
      'आपने इस billing cycle में अपने 150 included credits में से 135 (90%) उपयोग कर लिए हैं। Prepaid credits की प्रति credit कीमत flex usage से कम है।',
    );
    // The workspace view and the usage view's summary carry the same banner.
    expect((await get(`/v1/workspaces/${id}`)).body.alerts).toEqual([en]);
    expect((await get(`/v1/workspaces/${id}/usage`)).body.cycle.alerts).toEqual([en]);

    // The outbound webhook is the alert as raised: 120 used, 80%.
    await drained(api.alertQueue);
    const hook = receiver.bodies().find((b) => b.workspaceId === id && b.type === 'alert.included_80');
    expect(hook.data).toMatchObject({ usedCredits: '120', percentUsed: 80 });
    expect(hook.data.messages.en).toContain('You have used 120 of your 150 included credits (80%)');
  });

  it('cap reached: raised at the $100 cap, reached again after a raise to $200, names the $200 cap', async () => {
    const id = await workspace('growth');
    await use(id, 175, 'record'); // 150 included, 25 flex: the $100 cap
    expect(await types(id)).toContain('flex_cap_reached');
    await api.call('PATCH', `/v1/workspaces/${id}/flex`, { body: { capCents: 20_000 }, key: PLATFORM });
    await use(id, 25, 'record'); // 50 flex credits: the $200 cap
    const reached = (await banners(id, 'en')).find((a) => a.type === 'flex_cap_reached')!;
    expect(reached.data).toMatchObject({ limit: 'cap', limitCents: 20_000, usedCents: 20_000 });
    expect(reached.message).toBe(
      'Flex usage has reached your $200.00 cap: usage that consumes credits is blocked until the cap is raised or the billing cycle resets.',
    );
    const ko = (await banners(id, 'ko')).find((a) => a.type === 'flex_cap_reached')!;
    expect(ko.message).toBe(
      'flex usage가 $200.00 cap에 도달했습니다. cap을 올리거나 billing cycle이 재설정될 때까지 크레딧을 사용하는 작업이 차단됩니다.',
    );
  });

  it('cap 80%: raised at $80, reads $88 used (88%) after 2 more flex credits', async () => {
    const id = await workspace('growth');
    await use(id, 170); // 20 flex credits: $80 of the $100 cap
    await use(id, 2); // $88
    const en = (await banners(id, 'en')).find((a) => a.type === 'flex_cap_80')!;
    expect(en.data).toMatchObject({ limit: 'cap', limitCents: 10_000, usedCents: 8800, percentUsed: 88 });
    expect(en.message).toBe(
      'Flex usage has reached 88% of your $100.00 cap this billing cycle ($88.00 used).',
    );
    const hi = (await banners(id, 'hi')).find((a) => a.type === 'flex_cap_80')!;
    expect(hi.message).toBe(
      'इस billing cycle में flex usage आपकी $100.00 की cap के 88% तक पहुँच गया है ($88.00 उपयोग हुआ)।',
    );
    const started = (await banners(id, 'en')).find((a) => a.type === 'flex_started')!;
    expect(started.data).toMatchObject({ flexUsedCredits: '22' });
  });
});

describe('outbound webhooks (R-ALR-2)', () => {
  it('delivers each alert signed, with a stable id, after the receiver failed twice', async () => {
    receiver.failFirst = 2;
    const id = await workspace('free');
    await use(id, 30);
    await drained(api.alertQueue);
    const got = receiver.bodies();
    expect(got.map((b) => b.type).sort()).toEqual([
      'alert.credits_exhausted',
      'alert.included_80',
      'alert.included_exhausted',
    ]);
    for (const r of receiver.received) expect(verifyAlertSignature(SECRET, r.body, r.signature)).toBe(true);
    expect(
      verifyAlertSignature(
        'another-secret-entirely',
        receiver.received[0]!.body,
        receiver.received[0]!.signature,
      ),
    ).toBe(false);
    const exhausted = got.find((b) => b.type === 'alert.included_exhausted');
    const [banner] = await banners(id);
    expect(exhausted).toMatchObject({
      id: banner!.id,
      workspaceId: id,
      createdAt: new Date(START).toISOString(),
    });
    expect(Object.keys(exhausted.data.messages)).toEqual(['en', 'hi', 'ko']);
    expect(await api.redis.zcard(api.store.keys(id).alertQueue)).toBe(0);
  });

  it('queues from the outbox what an API left behind, and delivers it once', async () => {
    const id = await workspace('free');
    // A debit whose process died before queueing: the alerts sit in the outbox.
    const out = await api.store.debit({
      workspaceId: id,
      units: 300_000,
      mode: 'consume',
      idempotencyKey: 'crashed',
      bodyHash: 'h',
      usageId: 'use_crashed',
      feature: '',
      now: START,
      month: '2026-11',
      outbound: true,
    });
    expect(out.alerts.map((x) => x.name)).toEqual(['included_80', 'included_exhausted', 'credits_exhausted']);
    const ids = out.alerts.map((x) => x.id);
    expect(await api.redis.zcard(api.store.keys(id).alertQueue)).toBe(3);
    expect(await api.alerts.sweep(START + 10_000)).toMatchObject({ queued: 0 }); // within the grace
    const swept = await api.alerts.sweep(START + 60_000);
    expect(swept.queued).toBe(3);
    expect(await api.alerts.sweep(START + 60_000)).toMatchObject({ queued: 0 });
    await drained(api.alertQueue);
    expect(
      receiver
        .bodies()
        .map((b) => b.id)
        .sort(),
    ).toEqual([...ids].sort());
    // Queueing again while the jobs exist delivers nothing twice.
    await api.alerts.dispatch(id, ids);
    await drained(api.alertQueue);
    expect(receiver.received).toHaveLength(3);
  });

  it('does not take a redirect for a delivery: it retries the POST', async () => {
    receiver.redirectFirst = 3;
    const id = await workspace('free');
    await use(id, 30);
    await drained(api.alertQueue);
    expect(receiver.methods.every((m) => m === 'POST')).toBe(true);
    expect(receiver.methods).toHaveLength(6); // 3 redirected attempts, then the 3 alerts
    expect(receiver.received).toHaveLength(3);
  });

  it('keeps retrying while the receiver is down and delivers when it is back', async () => {
    receiver.failFirst = 25;
    const id = await workspace('free');
    await use(id, 30);
    for (let i = 0; i < 200 && receiver.failFirst > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(receiver.failFirst).toBe(0);
    await drained(api.alertQueue);
    expect(
      receiver
        .bodies()
        .map((b) => b.type)
        .sort(),
    ).toEqual(['alert.credits_exhausted', 'alert.included_80', 'alert.included_exhausted']);
  });
});
