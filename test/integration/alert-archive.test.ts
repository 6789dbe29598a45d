/**
 * R-ALR-1 (issue 10 §3): alerts have a retention in Redis. Past ALERT_CYCLES_IN_REDIS cycles
 * the archiver moves them to PostgreSQL and deletes them from Redis, once; an alert still in
 * the outbox (not yet delivered) stays; the current cycles' alerts stay for banners and
 * recommendations.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ALERT_CYCLES_IN_REDIS, AlertArchive } from '../../src/db/alert-archive.js';
import { ALERT_NAMES } from '../../src/domain/alerts.js';
import { workspaceKeys } from '../../src/redis/keys.js';
import { type TestDatabase, testDatabase } from '../support/db.js';
import { PLATFORM, startTestApi, type TestApi } from '../support/http.js';

let tdb: TestDatabase;
let api: TestApi;
beforeAll(async () => {
  tdb = await testDatabase();
  api = await startTestApi({ now: Date.now(), env: tdb.env });
});
afterAll(async () => {
  await api.close();
  await tdb.close();
});

it('moves the alerts of cycles past the retention to PostgreSQL, once, and keeps the rest', async () => {
  expect((await api.call('PUT', '/v1/workspaces/al', { body: { planId: 'growth' } })).status).toBe(201);
  // A real alert: 80% of the included credits used (R-ALR-1).
  const res = await api.call('POST', '/v1/workspaces/al/usage', {
    key: PLATFORM,
    body: { idempotencyKey: 'a1', credits: 121 },
  });
  expect(res.body.alerts?.map((a: { type: string }) => a.type)).toEqual(['included_80']);
  const k = workspaceKeys(api.prefix, 'al');
  const real = JSON.parse((await api.redis.hget(k.alerts, res.body.alerts[0].id))!) as Record<string, string>;
  const current = Number(real.cycleSeq);
  // Twenty earlier cycles of alerts, every kind, shaped as the real one.
  const CYCLES = 20;
  for (let c = current - CYCLES; c < current; c++)
    for (const name of ALERT_NAMES)
      await api.redis.hset(
        k.alerts,
        `alr_${c}_${name}`,
        JSON.stringify({ ...real, id: `alr_${c}_${name}`, name, cycleSeq: String(c) }),
      );
  // One old alert never delivered: it waits in the outbox.
  const undelivered = `alr_${current - CYCLES}_${ALERT_NAMES[0]}`;
  await api.redis.zadd(k.alertQueue, 1, undelivered);

  const archive = new AlertArchive({ redis: api.redis, db: tdb.db, keyPrefix: api.prefix });
  const moved = await archive.trim('al');
  const oldCycles = CYCLES - ALERT_CYCLES_IN_REDIS + 1; // cycleSeq ≤ current - 13
  expect(moved).toBe(oldCycles * ALERT_NAMES.length - 1);
  expect(await archive.trim('al')).toBe(0);

  const left = Object.values(await api.redis.hgetall(k.alerts)).map(
    (j) => JSON.parse(j) as Record<string, string>,
  );
  const oldest = Math.min(...left.filter((a) => a.id !== undelivered).map((a) => Number(a.cycleSeq)));
  expect(oldest).toBe(current - ALERT_CYCLES_IN_REDIS + 1);
  expect(left.some((a) => a.id === undelivered)).toBe(true);
  expect(left.some((a) => a.id === real.id)).toBe(true);
  const rows = await tdb.db
    .selectFrom('alerts')
    .select(['alert_id', 'name', 'cycle_seq', sql<string>`record->>'includedGranted'`.as('granted')])
    .where('workspace_id', '=', 'al')
    .execute();
  expect(rows).toHaveLength(moved);
  expect(rows.every((r) => Number(r.cycle_seq) <= current - ALERT_CYCLES_IN_REDIS)).toBe(true);
  expect(rows.every((r) => r.granted === real.includedGranted)).toBe(true);
  // The banners of the current cycle are untouched.
  const banners = await api.call('GET', '/v1/workspaces/al/alerts', { key: PLATFORM });
  expect(banners.body.alerts.map((a: { type: string }) => a.type)).toContain('included_80');
});
