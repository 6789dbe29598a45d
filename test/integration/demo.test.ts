/**
 * Issue 4's "done when": `npm run demo` on embedded defaults tells the whole story into the next
 * month. It starts the service as `npm start` does (private Redis, Stripe stand-in, API,
 * worker) and a webhook receiver; this test runs it and checks what it printed.
 */
import { spawn } from 'node:child_process';
import { expect, it } from 'vitest';
import { ALERT_NAMES } from '../../src/domain/alerts.js';
import { onCluster } from '../support/redis.js';

// The demo starts its own services on one private redis-server (npm start's default) whatever
// the leg: the cluster leg would repeat the single-node leg exactly, so it skips it.
it.skipIf(onCluster)(
  'runs the demo: invoicing bills the floor once, annual and final invoices finalized, every alert in three languages at the receiver',
  async () => {
    const { REDIS_URL: _r, STRIPE_SECRET_KEY: _s, STRIPE_API_BASE: _b, ...env } = process.env;
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/demo.ts'], {
      env,
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
    // The run bills the floor of each workspace's late flex (12.7 → 12, 12.5 → 12), once.
    expect(out).toMatch(/globex: 12\.7 flex credits in \d{4}-\d{2} → 12 billed/);
    expect(out).toMatch(/dry run: 2 workspaces, 24 credits to bill/);
    expect(out).toContain('"item_created":1,"invoiced":1');
    const items = out.match(/Stripe: globex: item (\S+) × 12/g) ?? [];
    expect(items).toHaveLength(3); // shown after the run, after the re-run, after the cancel
    expect(new Set(items).size).toBe(1); // the same single item every time
    // The annual workspace's month on an invoice finalized at once, not billed again by the re-run.
    expect(out.match(/acme: invoice (\S+) for \d{4}-\d{2}: finalized, \$48\.00/g) ?? []).toHaveLength(3);
    // The cancelled subscription's final month: 25 flex credits, $100, finalized.
    expect(out).toMatch(/acme: invoice \S+ for \d{4}-\d{2}: finalized, \$100\.00/);
    // Every alert, signed, at the receiver, with its three texts; banners in the three languages.
    for (const type of ALERT_NAMES) {
      expect(out).toMatch(new RegExp(`alert\\.${type} alr_\\w+ for acme \\(signature verified\\)`));
    }
    expect(out).not.toContain('signature BAD');
    expect(out).toMatch(/\[hi\] included_80: आपने इस billing cycle/);
    expect(out).toMatch(/\[ko\] credits_exhausted: workspace의 크레딧을 모두 사용했습니다/);
    expect(out).toMatch(/ko: 이번 billing cycle의 flex usage가 \$100\.00 cap의 84%에 도달했습니다/);
  },
  120_000,
);
