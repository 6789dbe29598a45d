/**
 * The invoicing side of late usage (R-FLX-5): whenever the invoicer reads a workspace-month's
 * flex to bill, it closes that month for the workspace in the same MULTI as the read, so the
 * debit script sends later late usage to the current month; a dry run closes nothing.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadCatalog } from '../../src/config/catalog.js';
import { indexWorkspace } from '../../src/redis/workspace-index.js';
import { Invoicer } from '../../src/services/invoicing.js';
import { GROWTH } from '../support/burndown-cases.js';
import { masterNodes, testRedis } from '../support/redis.js';

const r = testRedis();
const NOW = Date.UTC(2026, 10, 2, 12);
const MONTH = '2026-10';
const invoicer = new Invoicer({
  redis: r.redis,
  store: r.store,
  catalog: loadCatalog('catalog/catalog.example.json'),
  stripe: undefined,
  keyPrefix: r.prefix,
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
    await indexWorkspace(r.redis, r.prefix, id);
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
  // Watch this client's commands only (other test files share the Redis), on every master: a
  // cluster client has a connection per node, and a workspace's MULTI goes to its slot's.
  const watched = await Promise.all(
    (await masterNodes(r.redis)).map(async (node) => {
      const addr = /addr=(\S+)/.exec(String(await node.client('INFO')))![1]!;
      const monitor = await new Redis({ host: node.options.host, port: node.options.port }).monitor();
      const commands: string[][] = [];
      monitor.on('monitor', (_time: string, args: string[], source: string) => {
        if (source === addr) commands.push([args[0]!.toLowerCase(), ...args.slice(1)]);
      });
      return { node, monitor, commands };
    }),
  );

  const pending: string[] = [];
  for await (const page of invoicer.markPending(MONTH)) pending.push(...page.ids);
  expect(pending.sort()).toEqual(['close-a', 'close-b']);
  for (const id of Object.keys(FLEX)) expect(await closed(id), id).toEqual([MONTH]);

  // The last command on each node: all before it have been seen.
  await Promise.all(watched.map((w) => w.node.ping()));
  const seen = () => watched.every((w) => w.commands.some((c) => c[0] === 'ping'));
  for (let i = 0; i < 100 && !seen(); i++) await new Promise((res) => setTimeout(res, 10));
  for (const w of watched) w.monitor.disconnect();
  for (const id of Object.keys(FLEX)) {
    const k = r.store.keys(id);
    const isClose = (c: string[]) => c[0] === 'sadd' && c[1] === k.flexClosed;
    const commands = watched.find((w) => w.commands.some(isClose))?.commands ?? [];
    const at = commands.findIndex(isClose);
    expect(at, id).toBeGreaterThan(0);
    // MULTI, SADD, HGET, HGET (what final invoices took, R-CYC-3), EXEC: nothing of this
    // client's in between.
    expect(commands.slice(at - 1, at + 4), id).toEqual([
      ['multi'],
      ['sadd', k.flexClosed, MONTH],
      ['hget', k.flexMonths, MONTH],
      ['hget', k.flexFinal, MONTH],
      ['exec'],
    ]);
  }
});

it('R-FLX-5 billing one workspace-month closes it even where the run did not', async () => {
  await r.store.upsert({ workspaceId: 'close-one', terms: GROWTH, meta: {}, now: NOW });
  await r.redis.hset(r.store.keys('close-one').flexMonths, MONTH, 5_000);
  const state = await invoicer.invoiceWorkspace({ workspaceId: 'close-one', month: MONTH, now: NOW });
  expect(state).toMatchObject({ status: 'skipped', flexCredits: '0.5', billedCredits: 0 });
  expect(await closed('close-one')).toEqual([MONTH]);
});

it('R-CYC-3 a final invoice takes its stretch once per subscription and leaves the month open; the run bills the rest', async () => {
  const id = 'close-final';
  const k = r.store.keys(id);
  await r.store.upsert({ workspaceId: id, terms: GROWTH, meta: {}, now: NOW });
  await indexWorkspace(r.redis, r.prefix, id);
  const take = (subscriptionId: string) =>
    r.store.takeFinalFlex({ workspaceId: id, month: '2026-11', subscriptionId });
  await r.redis.hset(k.flexMonths, '2026-11', 25_000);
  expect(await take('sub_a')).toBe(25_000);
  await r.redis.hincrby(k.flexMonths, '2026-11', 33_000);
  expect(await take('sub_b')).toBe(33_000);
  // A retry (a redelivered event) answers the same stretch; a stretch with no flex takes none.
  expect(await take('sub_a')).toBe(25_000);
  expect(await take('sub_c')).toBe(0);
  expect(await closed(id)).toEqual([]);
  await r.redis.hincrby(k.flexMonths, '2026-11', 12_000);
  const seen = [];
  for await (const c of invoicer.candidates('2026-11')) if (c.workspaceId === id) seen.push(c);
  expect(seen).toEqual([{ workspaceId: id, units: 12_000 }]);
  for await (const _ of invoicer.candidatePages('2026-11', { close: true })) void _;
  // Closed by the run: a final invoice after it takes nothing (the run bills the month).
  expect(await take('sub_d')).toBe(0);
});
