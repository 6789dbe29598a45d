/** R-CYC-1: the worker's sweep writes the roll of idle workspaces to their ledgers. */
import { afterAll, expect, it } from 'vitest';
import { indexWorkspace } from '../../src/redis/workspace-index.js';
import { sweepCycles } from '../../src/services/cycle-sweep.js';
import { GROWTH, T0 } from '../support/burndown-cases.js';
import { testRedis } from '../support/redis.js';

const r = testRedis();
afterAll(() => r.close());

it('R-CYC-1 rolls every workspace whose cycle ended, once, and leaves current ones alone', async () => {
  for (const id of ['idle1', 'idle2']) {
    await r.store.upsert({ workspaceId: id, terms: GROWTH, meta: {}, now: T0 });
    await indexWorkspace(r.redis, r.prefix, id);
  }
  await r.store.upsert({ workspaceId: 'fresh', terms: GROWTH, meta: {}, now: T0 + 40 * 86_400_000 });
  await indexWorkspace(r.redis, r.prefix, 'fresh');

  const now = T0 + 45 * 86_400_000;
  expect(await sweepCycles({ redis: r.redis, store: r.store, keyPrefix: r.prefix, now })).toEqual({
    workspaces: 3,
    rolled: 2,
  });
  const page = await r.store.ledgerPage({ workspaceId: 'idle1', limit: 5 });
  expect(page.entries.map((e) => e.type)).toEqual(['grant', 'expiry', 'grant']);
  expect(await sweepCycles({ redis: r.redis, store: r.store, keyPrefix: r.prefix, now })).toEqual({
    workspaces: 3,
    rolled: 0,
  });
});
