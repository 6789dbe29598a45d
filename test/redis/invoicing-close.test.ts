/**
 * The invoicing side of late usage (R-FLX-5): whenever the invoicer reads a workspace-month's
 * flex to bill, it closes that month for the workspace in the same MULTI as the read, so the
 * debit script sends later late usage to the current month; a dry run closes nothing.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadCatalog } from '../../src/config/catalog.js';
import { Invoicer } from '../../src/services/invoicing.js';
import { GROWTH } from '../support/burndown-cases.js';
import { testRedis } from '../support/redis.js';

const r = testRedis();
const NOW = Date.UTC(2026, 10, 2, 12);
const MONTH = '2026-10';
const workspacesKey = `${r.prefix}workspaces`;
const invoicer = new Invoicer({
  redis: r.redis,
  store: r.store,
  catalog: loadCatalog('catalog/catalog.example.json'),
  stripe: undefined,
  keyPrefix: r.prefix,
  workspacesKey,
});
/** Flex units in October: two to bill, one under a credit, one with none. */
const FLEX: Record<string, number> = {
  'close-a': 777_000,
  'close-b': 50_000,
  'close-c': 9_000,
  'close-d': 0,
};

beforeAll(async () => {
  for (const [id, units] of Object.entries(FLEX)) {
    await r.store.upsert({ workspaceId: id, terms: GROWTH, meta: {}, now: Date.UTC(2026, 9, 1) });
    await r.redis.sadd(workspacesKey, id);
    if (units > 0) await r.redis.hset(r.store.keys(id).flexMonths, MONTH, units);
  }
});
afterAll(() => r.close());

const closed = (id: string) => r.redis.smembers(r.store.keys(id).flexClosed);

it('R-FLX-5 a dry run (the plain candidate scan) closes no month', async () => {
  const seen = [];
  for await (const c of invoicer.candidates(MONTH)) seen.push(c);
  expect(seen.sort((a, b) => a.workspaceId.localeCompare(b.workspaceId))).toEqual([
    { workspaceId: 'close-a', units: 777_000 },
    { workspaceId: 'close-b', units: 50_000 },
  ]);
  for (const id of Object.keys(FLEX)) expect(await closed(id), id).toEqual([]);
});

it("R-FLX-5 a run's candidate scan closes the month for every workspace it reads, billed or not, in the MULTI of the read", async () => {
  // Watch this client's commands only (other test files share the Redis).
  const addr = /addr=(\S+)/.exec(String(await r.redis.client('INFO')))![1]!;
  const monitor = await new Redis(r.url).monitor();
  const commands: string[][] = [];
  monitor.on('monitor', (_time: string, args: string[], source: string) => {
    if (source === addr) commands.push([args[0]!.toLowerCase(), ...args.slice(1)]);
  });

  const pending: string[] = [];
  for await (const page of invoicer.markPending(MONTH)) pending.push(...page.ids);
  expect(pending.sort()).toEqual(['close-a', 'close-b']);
  for (const id of Object.keys(FLEX)) expect(await closed(id), id).toEqual([MONTH]);

  await r.redis.ping(); // the last command: all before it have been seen
  for (let i = 0; i < 100 && !commands.some((c) => c[0] === 'ping'); i++)
    await new Promise((res) => setTimeout(res, 10));
  monitor.disconnect();
  for (const id of Object.keys(FLEX)) {
    const k = r.store.keys(id);
    const at = commands.findIndex((c) => c[0] === 'sadd' && c[1] === k.flexClosed);
    expect(at, id).toBeGreaterThan(0);
    // MULTI, SADD, HGET, EXEC: nothing of this client's in between.
    expect(commands.slice(at - 1, at + 3), id).toEqual([
      ['multi'],
      ['sadd', k.flexClosed, MONTH],
      ['hget', k.flexMonths, MONTH],
      ['exec'],
    ]);
  }
});

it('R-FLX-5 billing one workspace-month (the R-CYC-3 final invoice included) closes it even where the run did not', async () => {
  await r.store.upsert({ workspaceId: 'close-final', terms: GROWTH, meta: {}, now: NOW });
  await r.redis.hset(r.store.keys('close-final').flexMonths, '2026-11', 5_000);
  const state = await invoicer.invoiceWorkspace('close-final', '2026-11', NOW, { final: true });
  expect(state).toMatchObject({ status: 'skipped', flexCredits: '0.5', billedCredits: 0 });
  expect(await closed('close-final')).toEqual(['2026-11']);
});
