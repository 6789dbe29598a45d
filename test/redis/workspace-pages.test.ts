/**
 * The workspace index (R-OPS-4): buckets under hash tags of their own, the one walk over them
 * (the sweeps and the invoicing fan-out use it), and the move of the index of old into them.
 */
import { afterAll, expect, it } from 'vitest';
import { legacyWorkspacesKey, WORKSPACE_INDEX_BUCKETS, workspaceIndexKeys } from '../../src/redis/keys.js';
import {
  indexWorkspace,
  migrateWorkspaceIndex,
  workspaceBucket,
  workspaceIndexKeyOf,
} from '../../src/redis/workspace-index.js';
import { workspacePages } from '../../src/redis/workspace-pages.js';
import { testRedis } from '../support/redis.js';

const r = testRedis();
afterAll(() => r.close());

async function walk(keyPrefix: string, pageSize?: number): Promise<{ ids: string[]; pages: number }> {
  const ids: string[] = [];
  let pages = 0;
  for await (const page of workspacePages(r.redis, { keyPrefix, ...(pageSize ? { pageSize } : {}) })) {
    pages++;
    // COUNT is a hint: a page may be somewhat larger, never a whole large set at once.
    expect(page.length).toBeLessThan(2 * (pageSize ?? 1000));
    ids.push(...page);
  }
  return { ids, pages };
}

it('puts a workspace in a bucket that a stable hash of its id picks, each bucket under its own hash tag', () => {
  // Pinned: a bucket chosen by one version is where every later one looks.
  expect(['acme', 'ws-1', 'ws-2', 'ünïcode', ''].map(workspaceBucket)).toEqual([
    workspaceBucket('acme'),
    workspaceBucket('ws-1'),
    workspaceBucket('ws-2'),
    workspaceBucket('ünïcode'),
    workspaceBucket(''),
  ]);
  expect(workspaceBucket('acme')).toBe(47);
  expect(workspaceBucket('')).toBe(0x811c9dc5 % WORKSPACE_INDEX_BUCKETS);
  expect(workspaceIndexKeyOf('br:', 'acme')).toBe('{br:wsidx:47}');
  const keys = workspaceIndexKeys('br:');
  expect(keys).toHaveLength(WORKSPACE_INDEX_BUCKETS);
  expect(new Set(keys.map((k) => /^\{[^}]+\}$/.exec(k)?.[0])).size).toBe(WORKSPACE_INDEX_BUCKETS);
  // 10,000 ids spread over every bucket, none with more than twice its share.
  const counts = new Array<number>(WORKSPACE_INDEX_BUCKETS).fill(0);
  for (let i = 0; i < 10_000; i++) counts[workspaceBucket(`workspace-${i}`)]!++;
  expect(Math.min(...counts)).toBeGreaterThan(0);
  expect(Math.max(...counts)).toBeLessThan((2 * 10_000) / WORKSPACE_INDEX_BUCKETS);
});

it('yields every workspace of every bucket in bounded pages, and nothing for an empty index', async () => {
  expect(await walk(r.prefix)).toEqual({ ids: [], pages: 0 });
  const ids = Array.from({ length: 2_500 }, (_, i) => `wp-${i}`);
  for (const id of ids) await indexWorkspace(r.redis, r.prefix, id);
  await indexWorkspace(r.redis, r.prefix, 'wp-0'); // idempotent
  expect(await r.redis.sismember(workspaceIndexKeyOf(r.prefix, 'wp-7'), 'wp-7')).toBe(1);
  const { ids: seen, pages } = await walk(r.prefix, 500);
  expect(pages).toBeGreaterThan(2);
  expect(seen.sort()).toEqual([...ids].sort());
});

it('moves the index of old (one set) into its buckets, idempotently, and walks it until then', async () => {
  const prefix = `${r.prefix}legacy:`;
  const old = Array.from({ length: 3_000 }, (_, i) => `old-${i}`);
  await r.redis.sadd(legacyWorkspacesKey(prefix), ...old);
  await indexWorkspace(r.redis, prefix, 'new-1');
  // Not migrated yet (an older process may still be writing there): the walk reads it too.
  expect((await walk(prefix)).ids.sort()).toEqual([...old, 'new-1'].sort());

  // Two workers starting at once: each id moved once in all, none lost.
  const moved = await Promise.all([
    migrateWorkspaceIndex(r.redis, prefix, 200),
    migrateWorkspaceIndex(r.redis, prefix, 200),
  ]);
  expect(moved[0]! + moved[1]!).toBeGreaterThanOrEqual(old.length);
  expect(await r.redis.exists(legacyWorkspacesKey(prefix))).toBe(0);
  for (const id of ['old-0', 'old-1234', 'old-2999']) {
    expect(await r.redis.sismember(workspaceIndexKeyOf(prefix, id), id), id).toBe(1);
  }
  const after = (await walk(prefix)).ids;
  expect(after.length).toBe(old.length + 1);
  expect(after.sort()).toEqual([...old, 'new-1'].sort());
  expect(await migrateWorkspaceIndex(r.redis, prefix)).toBe(0);
});
