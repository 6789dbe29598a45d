/**
 * Late usage (R-FLX-5, issue 4): `occurredAt` up to 35 days back. Its flex counts toward the
 * month it occurred in while the invoicer has not read that month, else toward the current
 * month; the balances it debits are today's.
 */
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { LedgerArchive } from '../../src/db/ledger-archive.js';
import { checkLedger } from '../../src/services/ledger-check.js';
import { type TestDatabase, testDatabase } from '../support/db.js';
import { PLATFORM, startTestApi, type TestApi } from '../support/http.js';

const OCT_20 = Date.UTC(2026, 9, 20, 12);
const NOV_2 = Date.UTC(2026, 10, 2, 9);

let api: TestApi;
let tdb: TestDatabase;
beforeAll(async () => {
  tdb = await testDatabase();
  api = await startTestApi({ now: OCT_20, env: tdb.env });
});
afterAll(async () => {
  await api.close();
  await tdb.close();
});

/** One archiver pass (the worker's): late usage's first answers go to PostgreSQL (R-FLX-5). */
const archive = () =>
  new LedgerArchive({
    redis: api.redis,
    db: tdb.db,
    keyPrefix: api.prefix,
    redisRetentionMs: 7 * 86_400_000,
  }).runPass();
beforeEach(() => api.clock.set(OCT_20));

let n = 0;
/** A growth workspace (cycle from Oct 20) whose 150 included credits are used up, plus 10 flex. */
async function inFlex() {
  const id = `late${++n}`;
  expect((await api.call('PUT', `/v1/workspaces/${id}`, { body: { planId: 'growth' } })).status).toBe(201);
  expect((await use(id, { idempotencyKey: 'setup', credits: 160 })).status).toBe(200);
  api.clock.set(NOV_2);
  return id;
}
const use = (id: string, body: Record<string, unknown>) =>
  api.call('POST', `/v1/workspaces/${id}/usage`, { body: { mode: 'record', ...body }, key: PLATFORM });
const preview = async (id: string, month: string) =>
  (await api.call('GET', `/v1/workspaces/${id}/invoice-preview?month=${month}`, { key: PLATFORM })).body;

it('counts late flex toward the month it occurred in while that month is open', async () => {
  const id = await inFlex();
  const res = await use(id, { idempotencyKey: 'late-oct', credits: 5, occurredAt: '2026-10-30T23:00:00Z' });
  expect(res.status).toBe(200);
  expect(res.body.debited).toEqual({ included: '0', prepaid: '0', flex: '5' });
  // Today's cycle balance: the cap counts it whatever month it is billed in.
  expect(res.body.workspace.flex.usedCredits).toBe('15');
  expect((await preview(id, '2026-10')).flexCredits).toBe('15');
  expect((await preview(id, '2026-11')).flexCredits).toBe('0');
  const ledger = await api.call('GET', `/v1/workspaces/${id}/ledger?limit=1`, { key: PLATFORM });
  expect(ledger.body.entries[0]).toMatchObject({
    kind: 'flex',
    credits: '-5',
    month: '2026-10',
    occurredAt: '2026-10-30T23:00:00.000Z',
  });
  expect((await checkLedger(api.store, id, NOV_2)).problems).toEqual([]);
});

it('counts it toward the current month once the invoicer has read the month', async () => {
  const id = await inFlex();
  // A dry run reads without closing: late usage still counts toward October.
  for await (const _ of api.invoicer.candidatePages('2026-10')) void _;
  await use(id, { idempotencyKey: 'before-run', credits: 2, occurredAt: '2026-10-31T09:00:00Z' });
  expect((await preview(id, '2026-10')).flexCredits).toBe('12');
  // The run's scan reads each workspace's October and closes it in the same MULTI.
  for await (const _ of api.invoicer.candidatePages('2026-10', { close: true })) void _;
  expect(await api.redis.sismember(api.store.keys(id).flexClosed, '2026-10')).toBe(1);
  const res = await use(id, { idempotencyKey: 'late-oct', credits: 3, occurredAt: '2026-10-31T10:00:00Z' });
  expect(res.status).toBe(200);
  expect((await preview(id, '2026-10')).flexCredits).toBe('12');
  expect((await preview(id, '2026-11')).flexCredits).toBe('3');
  expect((await checkLedger(api.store, id, NOV_2)).problems).toEqual([]);
});

it('bills flex in the next month when the current month is closed (R-FLX-5)', async () => {
  const id = await inFlex();
  // What final invoices of ended subscriptions did to the current month before they took
  // stretches (R-CYC-3): data written then still reads this way.
  await api.redis.sadd(api.store.keys(id).flexClosed, '2026-11');
  const res = await use(id, { idempotencyKey: 'after-final', credits: 4 });
  expect(res.body.debited.flex).toBe('4');
  expect((await preview(id, '2026-11')).flexCredits).toBe('0');
  expect((await preview(id, '2026-12')).flexCredits).toBe('4');
  const ledger = await api.call('GET', `/v1/workspaces/${id}/ledger?limit=1`, { key: PLATFORM });
  expect(ledger.body.entries[0]).toMatchObject({ kind: 'flex', month: '2026-12' });
  expect((await checkLedger(api.store, id, NOV_2)).problems).toEqual([]);
});

it('shows late usage in the usage view under the day it occurred', async () => {
  const id = await inFlex();
  await use(id, {
    idempotencyKey: 'late-day',
    feature: 'training.gpu',
    quantity: 2,
    occurredAt: '2026-10-30T08:00:00Z',
  });
  const res = await api.call(
    'GET',
    `/v1/workspaces/${id}/usage?from=2026-10-30&to=2026-10-30&groupBy=feature`,
    {
      key: PLATFORM,
    },
  );
  expect(res.body.groups).toEqual([
    { key: 'training.gpu', credits: '5', included: '0', prepaid: '0', flex: '5', shortfall: '0' },
  ]);
});

it('refuses occurredAt more than 35 days back or in the future, and changes nothing', async () => {
  const id = await inFlex();
  const before = await api.call('GET', `/v1/workspaces/${id}`, { key: PLATFORM });
  const old = await use(id, { idempotencyKey: 'old', credits: 1, occurredAt: '2026-09-27T09:00:00Z' });
  expect(old.status).toBe(400);
  expect(old.body.error.message).toContain('35 days');
  const future = await use(id, { idempotencyKey: 'future', credits: 1, occurredAt: '2026-11-02T10:00:00Z' });
  expect(future.status).toBe(400);
  expect(future.body.error.message).toContain('future');
  const notDate = await use(id, { idempotencyKey: 'nd', credits: 1, occurredAt: 'yesterday' });
  expect(notDate.status).toBe(400);
  // Exactly 35 days back is still accepted.
  const edge = await use(id, { idempotencyKey: 'edge', credits: 1, occurredAt: '2026-09-28T09:00:00Z' });
  expect(edge.status).toBe(200);
  const after = await api.call('GET', `/v1/workspaces/${id}`, { key: PLATFORM });
  expect(after.body.flex.usedCredits).toBe(String(Number(before.body.flex.usedCredits) + 1));
  // Its flex counts toward September: still open, as nothing invoiced it.
  expect((await preview(id, '2026-09')).flexCredits).toBe('1');
});

it('replays an accepted late event retried after it aged past 35 days (R-CON-5)', async () => {
  const id = await inFlex();
  const body = { idempotencyKey: 'aging', credits: 1, occurredAt: '2026-09-29T09:00:00Z' };
  const first = await use(id, body);
  expect(first.status).toBe(200);
  await archive();
  // now 37 days after it occurred, and past the idempotency window (24 h): Redis has no record
  // any more, PostgreSQL answers (issue 10 §2)
  api.clock.set(NOV_2 + 3 * 86_400_000);
  const retry = await use(id, body);
  expect(retry.status).toBe(200);
  expect(retry.headers.get('idempotent-replayed')).toBe('true');
  expect(retry.body.usageId).toBe(first.body.usageId);
  expect(retry.body).toEqual(first.body);
  // A new key that old is still refused.
  expect((await use(id, { ...body, idempotencyKey: 'aging-2' })).status).toBe(400);
  const batch = await api.call('POST', '/v1/usage/batch', {
    key: PLATFORM,
    body: { events: [{ workspaceId: id, mode: 'record', ...body }] },
  });
  expect(batch.body.results[0]).toMatchObject({ status: 200, replayed: true });
  const stale = await api.call('POST', '/v1/usage/batch', {
    key: PLATFORM,
    body: { events: [{ workspaceId: id, mode: 'record', ...body, idempotencyKey: 'aging-3' }] },
  });
  expect(stale.status).toBe(400);
  expect(stale.body.error.message).toContain('events[0]: occurredAt is more than 35 days ago');
});

it('treats occurredAt as part of the request: the same key with another time is a conflict', async () => {
  const id = await inFlex();
  const body = { idempotencyKey: 'k', credits: 1, occurredAt: '2026-10-25T00:00:00Z' };
  expect((await use(id, body)).status).toBe(200);
  const replay = await use(id, body);
  expect(replay.status).toBe(200);
  expect(replay.headers.get('idempotent-replayed')).toBe('true');
  expect((await use(id, { ...body, occurredAt: '2026-10-26T00:00:00Z' })).status).toBe(409);
  expect((await preview(id, '2026-10')).flexCredits).toBe('11');
});

it('takes late usage in a batch too', async () => {
  const id = await inFlex();
  const res = await api.call('POST', '/v1/usage/batch', {
    key: PLATFORM,
    body: {
      events: [
        {
          workspaceId: id,
          idempotencyKey: 'b1',
          credits: 2,
          mode: 'record',
          occurredAt: '2026-10-29T00:00:00Z',
        },
        { workspaceId: id, idempotencyKey: 'b2', credits: 1, mode: 'record' },
      ],
    },
  });
  expect(res.body.results.map((r: { status: number }) => r.status)).toEqual([200, 200]);
  expect((await preview(id, '2026-10')).flexCredits).toBe('12');
  expect((await preview(id, '2026-11')).flexCredits).toBe('1');
});
