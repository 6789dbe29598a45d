/**
 * `npm run screenshots`: a full-page PNG of the billing page in each language
 * (docs/screenshots/billing-{en,hi,ko}.png), of a demo workspace with some usage over the
 * cycle, a banner (80% of its included credits used) and flex on. It runs the real API on a
 * private Redis, with no Stripe (the page only reads here), and Debian's chromium.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { Burnrate } from '../client/src/index.js';
import { loadCatalog } from '../src/config/catalog.js';
import { loadConfig } from '../src/config/env.js';
import { startHttp } from '../src/http/server.js';
import { createLogger } from '../src/observability/logger.js';
import { connectApiRedis } from '../src/redis/clients.js';
import { startEmbeddedRedis } from '../src/redis/embedded-server.js';
import { ensureBillingBuilt } from './build-billing.js';

const OUT = resolve('docs/screenshots');
const PLATFORM = 'screenshots-platform-key';
const OPERATOR = 'screenshots-operator-key';
const DAY = 86_400_000;

await ensureBillingBuilt();
const dir = mkdtempSync(join(tmpdir(), 'burnrate-screenshots-'));
const redisServer = await startEmbeddedRedis({ dir, appendOnly: false });
const config = loadConfig({
  NODE_ENV: 'development',
  REDIS_URL: redisServer.url,
  BURNRATE_API_KEYS: `platform:${PLATFORM},operator:${OPERATOR}`,
  LOG_LEVEL: 'silent',
});
const runtime = { config, catalog: loadCatalog(config.catalogPath) };
// The workspace's cycle started twelve days ago: its usage spreads over the days since.
const start = Date.now() - 12 * DAY;
let now = start;
const clock = { now: () => now };
const redis = await connectApiRedis({ url: redisServer.url });
const http = await startHttp({
  runtime,
  redis,
  log: createLogger({ level: 'silent', name: 'screenshots' }),
  port: 0,
  clock,
});
const base = `http://127.0.0.1:${http.port}`;
const operator = new Burnrate({ baseUrl: base, apiKey: OPERATOR });
const platform = new Burnrate({ baseUrl: base, apiKey: PLATFORM });
const ws = 'acme-vision';
await operator.putWorkspace(ws, { planId: 'growth', createdAt: new Date(start).toISOString() });
await operator.adjust(ws, { kind: 'prepaid', credits: 40, reason: 'a prepaid bundle bought earlier' });
const features = ['training.gpu', 'data.labeling', 'deployment.model.hosted', 'data.augmentation'];
for (let d = 0; d < 12; d++) {
  now = start + d * DAY + 3_600_000;
  for (const [i, feature] of features.entries()) {
    const quantity = [2 + (d % 3), 3 + (d % 4), 5 + (d % 5), 4][i]!;
    await platform.usage(ws, { feature, quantity, idempotencyKey: `shot-${d}-${i}` });
  }
}
now = Date.now();
await platform.setFlex(ws, { enabled: true, capCents: 25_000 });

mkdirSync(OUT, { recursive: true });
const browser = await chromium.launch({
  executablePath: process.env.BURNRATE_CHROMIUM ?? '/usr/bin/chromium',
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--no-first-run',
    '--disable-sync',
  ],
});
try {
  for (const locale of ['en', 'hi', 'ko'] as const) {
    const context = await browser.newContext({
      viewport: { width: 1200, height: 900 },
      deviceScaleFactor: 1,
    });
    const page = await context.newPage();
    const link = await platform.billingSession(ws, {
      returnUrl: 'https://app.example/settings/plan',
      locale,
    });
    await page.goto(link.url);
    await page.locator('.ledger tbody tr').first().waitFor();
    await page.locator('#balances-title').waitFor();
    await page.evaluate('document.fonts.ready');
    const file = join(OUT, `billing-${locale}.png`);
    await page.screenshot({ path: file, fullPage: true });
    process.stdout.write(`saved ${file}\n`);
    await context.close();
  }
} finally {
  await browser.close();
  await http.close();
  await redis.quit();
  await redisServer.stop();
  rmSync(dir, { recursive: true, force: true });
}
