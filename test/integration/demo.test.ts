/**
 * Issue 4's "done when" and issue 11 §3's: `npm run demo` on embedded defaults tells the whole
 * story on a test clock. It starts the service as `npm start` does (private Redis, Stripe
 * stand-in, API, worker) and a webhook receiver, closes a month and then a year with burnrate's
 * clock; this test runs it and checks what it printed.
 */
import { spawn } from 'node:child_process';
import { expect, it } from 'vitest';
import { ALERT_NAMES } from '../../src/domain/alerts.js';
import { onCluster } from '../support/redis.js';

/** The ledger lines the demo printed under each workspace's heading in its last step. */
function ledgers(
  out: string,
): Map<string, { at: string; type: string; kind: string; credits: string; ref: string }[]> {
  const section = out.slice(out.indexOf('━━ 16. The ledgers'));
  const byWorkspace = new Map<
    string,
    { at: string; type: string; kind: string; credits: string; ref: string }[]
  >();
  let current: string | undefined;
  for (const line of section.split('\n')) {
    const heading = /^ {3}(\w+) \(\d+ entries\):$/.exec(line);
    if (heading) {
      current = heading[1] as string;
      byWorkspace.set(current, []);
      continue;
    }
    const e = /^ {3}(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}) {2}(\S+)\s+(\S+)\s+(\S+) {2}→\s+\S+ {2}(\S+)/.exec(
      line,
    );
    if (e && current)
      byWorkspace.get(current)?.push({
        at: `${e[1]}Z`,
        type: e[2] as string,
        kind: e[3] as string,
        credits: e[4] as string,
        ref: e[5] as string,
      });
  }
  return byWorkspace;
}

const matches = (out: string, re: RegExp) => [...out.matchAll(re)].map((m) => m[1] as string);

// The demo starts its own services on a Redis of npm start's (never the run's): one private
// redis-server, or in the cluster leg a private Redis Cluster of 3 masters (REDIS_CLUSTER=3), so
// the test clock's key and its queued runs are played on a cluster too (R-OPS-4).
it('runs the demo on a test clock: the month closed and invoiced once, the year renewed once, no ledger entry after the clock, every alert in three languages at the receiver', async () => {
  const {
    REDIS_URL: _r,
    REDIS_CLUSTER: _c,
    STRIPE_SECRET_KEY: _s,
    STRIPE_API_BASE: _b,
    ...env
  } = process.env;
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/demo.ts'], {
    env: { ...env, ...(onCluster ? { REDIS_CLUSTER: '3' } : {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (b) => {
    out += b;
  });
  child.stderr.on('data', (b) => {
    out += b;
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  expect(code, out).toBe(0);
  expect(out).toContain('Done.');

  // The month closes on the clock: the advance queues its run, the late usage lands before it.
  const closed = /━━ 9\. The month (\d{4}-\d{2}) closes/.exec(out)?.[1] as string;
  expect(closed, out).toBeDefined();
  const queued = matches(out, /invoicing runs queued: ([^·]*) ·/g).map((l) => l.trim().split(', '));
  expect(queued).toHaveLength(2);
  expect(queued[0]).toEqual([closed]);
  // The year's advance closed eleven more months (twelve when the demo starts in a month's last
  // hour), not that one again: its run was queued once (R-FLX-6).
  const yearRuns = queued[1] ?? [];
  expect([11, 12]).toContain(yearRuns.length);
  expect(yearRuns).not.toContain(closed);
  // The run bills the floor of each workspace's flex (12.7 → 12; 25 + 12.5 → 37), once.
  expect(out).toContain(`globex: 12.7 flex credits in ${closed} → 12 billed (rounded down), $48.00`);
  expect(out).toContain(`acme: 37.5 flex credits in ${closed} → 37 billed (rounded down), $148.00`);
  expect(out).toContain('dry run: 2 workspaces, 49 credits to bill');
  // The same totals after the clock's run and after the re-run: nothing billed twice.
  expect(
    out.match(
      /\{"pending":0,"item_created":1,"invoiced":1,"skipped":0,"failed":0\} · 49 credits, \$196\.00/g,
    ),
  ).toHaveLength(2);
  const items = matches(out, /Stripe: globex: item (\S+) × 12, "Flex credits (?:\d{4}-\d{2})/g);
  expect(items).toHaveLength(3); // shown after the run, after the re-run, after the cancel
  expect(new Set(items).size).toBe(1); // the same single item every time
  // The annual workspace's month on one invoice, finalized at once, not billed again.
  const closedInvoices = matches(
    out,
    new RegExp(`acme: invoice (\\S+) for ${closed}: finalized, \\$148\\.00`, 'g'),
  );
  expect(closedInvoices).toHaveLength(3);
  expect(new Set(closedInvoices).size).toBe(1);
  expect(out).not.toMatch(new RegExp(`acme: invoice \\S+ for ${closed}: (?!finalized, \\$148\\.00)`));
  // The year's first run bills the month after: 10 credits of flex, $40, on a finalized invoice.
  const next = yearRuns[0] as string;
  expect(out).toContain(
    `run of ${next}: {"pending":0,"item_created":0,"invoiced":1,"skipped":0,"failed":0} · 10 credits, $40.00 billed`,
  );
  expect(out).toMatch(new RegExp(`acme: invoice \\S+ for ${next}: finalized, \\$40\\.00`));
  expect(out).toContain(
    `runs of ${yearRuns[1]} … ${yearRuns.at(-1)} (${yearRuns.length - 1}): no flex, nothing billed`,
  );
  // The cancelled subscription's final month: 25 flex credits, $100, finalized (R-CYC-3).
  expect(out).toMatch(/acme: invoice \S+ for \d{4}-\d{2}: finalized, \$100\.00/);

  // The renewal, at the annual period's end: a new year's cycle and its allotment, granted once.
  const renewed =
    /The new year, its allotment granted once:\n {3}plan growth-annual, cycle (\d{4}-\d{2}-\d{2}) → \S+ \(year\)\n {3}included 1800 of 1800 left/.exec(
      out,
    );
  expect(renewed, out).not.toBeNull();
  const renewedOn = renewed?.[1] as string;
  const books = ledgers(out);
  const acme = books.get('acme') ?? [];
  const annualGrants = acme.filter(
    (e) => e.type === 'grant' && e.kind === 'included' && e.credits === '1800',
  );
  expect(annualGrants.filter((e) => e.at.slice(0, 10) >= renewedOn)).toHaveLength(1);
  expect(annualGrants.filter((e) => e.at.slice(0, 10) < renewedOn)).toHaveLength(1); // the plan change's
  // No ledger entry of either workspace is dated after the clock (GET /v1/admin/test-clock).
  const clock = /The clock: (\S+) \(GET \/v1\/admin\/test-clock/.exec(out)?.[1] as string;
  expect(Date.parse(clock)).toBeGreaterThan(Date.parse(`${renewedOn}T00:00:00Z`));
  expect(acme.length).toBeGreaterThan(15);
  expect(books.get('globex')?.length).toBeGreaterThan(3);
  for (const [ws, entries] of books)
    for (const e of entries)
      expect(Date.parse(e.at), `${ws} ${e.at} ${e.ref}`).toBeLessThanOrEqual(Date.parse(clock));

  // Every alert, signed, at the receiver, with its three texts; banners in the three languages.
  for (const type of ALERT_NAMES) {
    expect(out).toMatch(new RegExp(`alert\\.${type} alr_\\w+ for acme \\(signature verified\\)`));
  }
  expect(out).not.toContain('signature BAD');
  expect(out).toMatch(/\[hi\] included_80: आपने इस billing cycle/);
  expect(out).toMatch(/\[ko\] credits_exhausted: workspace의 크레딧을 모두 사용했습니다/);
  expect(out).toMatch(/ko: 이번 billing cycle의 flex usage가 \$100\.00 cap의 84%에 도달했습니다/);
}, 180_000);
