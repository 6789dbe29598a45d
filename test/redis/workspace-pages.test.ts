/** The one walk over every workspace (the sweeps and the invoicing fan-out use it). */
import { afterAll, expect, it } from 'vitest';
import { workspacePages } from '../../src/redis/workspace-pages.js';
import { testRedis } from '../support/redis.js';

const r = testRedis();
afterAll(() => r.close());

it('yields every workspace in bounded pages, and nothing for an empty set', async () => {
  const workspacesKey = `${r.prefix}workspaces`;
  for await (const _ of workspacePages(r.redis, { workspacesKey })) throw new Error('a page of nothing');
  const ids = Array.from({ length: 2_500 }, (_, i) => `wp-${i}`);
  await r.redis.sadd(workspacesKey, ...ids);
  const seen = new Set<string>();
  let pages = 0;
  for await (const page of workspacePages(r.redis, { workspacesKey, pageSize: 500 })) {
    pages++;
    // COUNT is a hint: a page may be somewhat larger, never the whole set at once.
    expect(page.length).toBeLessThan(1_000);
    for (const id of page) seen.add(id);
  }
  expect(pages).toBeGreaterThan(2);
  expect([...seen].sort()).toEqual([...ids].sort());
});
