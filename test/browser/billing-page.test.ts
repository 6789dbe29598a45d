/**
 * The hosted billing page in a real browser (issue 11 §1): headless Chromium drives every Flex
 * card action by clicks and keys and checks each through the platform API (R-FLX-1, R-FLX-2,
 * R-FLX-3, R-FLX-4); expired, reused and tampered links; CSRF and another workspace; buying
 * credits through Checkout (the stand-in) until they show (R-PRE-1, R-PRE-2); the banners
 * (R-ALR-1); the ledger paged (R-USE-2); Hindi and Korean; and axe-core on each locale.
 */
import { AxeBuilder } from '@axe-core/playwright';
import type { Worker } from 'bullmq';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../src/redis/embedded-server.js';
import { startStandin } from '../../src/stripe/standin/server.js';
import { OPERATOR, PLATFORM, startTestApi, type TestApi } from '../support/http.js';
import { FIXTURES_PATH, WEBHOOK_SECRET } from '../support/stripe.js';
import { startStripeWorker } from '../support/stripe-worker.js';
import { billingLink, hasChromium, launchChromium, openPage } from './browser.js';

/** Links live 2 s here, so the expired link's test waits little; every other opens at once. */
const LINK_TTL_SECONDS = 2;

let api: TestApi;
let standin: Awaited<ReturnType<typeof startStandin>>;
let worker: Worker;
let browser: Browser;
let context: BrowserContext;
let page: Page;

/** Polls up to 5 s: the page saves, then reads the workspace again, on a shared machine. */
const poll = <T>(fn: () => T | Promise<T>) => expect.poll(fn, { timeout: 5000, interval: 50 });
const ws = async (id: string) => (await api.call('GET', `/v1/workspaces/${id}`, { key: PLATFORM })).body;
const put = (id: string, planId: string) => api.call('PUT', `/v1/workspaces/${id}`, { body: { planId } });
const spend = (id: string, credits: number, key: string) =>
  api.call('POST', `/v1/workspaces/${id}/usage`, {
    key: PLATFORM,
    body: { idempotencyKey: key, feature: 'training.gpu', quantity: credits / 2.5 },
  });

describe.skipIf(!hasChromium)('the billing page in Chromium', () => {
  beforeAll(async () => {
    const stripePort = await freePort();
    api = await startTestApi({
      now: Date.now(),
      env: {
        STRIPE_API_BASE: `http://127.0.0.1:${stripePort}`,
        STRIPE_SECRET_KEY: 'sk_test_standin',
        BILLING_LINK_TTL_SECONDS: String(LINK_TTL_SECONDS),
      },
    });
    standin = await startStandin({
      port: stripePort,
      fixturesPath: FIXTURES_PATH,
      webhookSecret: WEBHOOK_SECRET,
      webhookUrl: `${api.base}/webhooks/stripe`,
    });
    worker = startStripeWorker(api);
    for (const [id, plan] of [
      ['flex-ws', 'growth'],
      ['annual-ws', 'growth-annual'],
      ['free-ws', 'free'],
      ['buy-ws', 'growth'],
      ['banner-ws', 'growth'],
      ['other-ws', 'growth'],
    ] as const)
      expect((await put(id, plan)).status).toBe(201);
    browser = await launchChromium();
    context = await browser.newContext({ bypassCSP: false });
    page = await context.newPage();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await worker?.close();
    await standin?.close();
    await api?.close();
  });

  const dialog = () => page.getByRole('dialog');
  const button = (name: string) => page.getByRole('button', { name, exact: true });

  it('R-FLX-3 "Disable" asks first: Cancel and Escape leave flex on, Confirm turns it off (keys)', async () => {
    await openPage(page, api, 'flex-ws');
    expect((await ws('flex-ws')).flex.enabled).toBe(true);

    await button('Disable').click();
    await poll(() => dialog().isVisible()).toBe(true);
    expect(await dialog().getAttribute('aria-labelledby')).toBeTruthy();
    await poll(() => dialog().textContent()).toContain(
      'training jobs and deployments will stop once credits run out',
    );
    // Focus starts on Cancel, the safe choice.
    await poll(() => page.evaluate('document.activeElement?.textContent')).toBe('Cancel');
    await dialog().getByRole('button', { name: 'Cancel' }).click();
    await poll(() => dialog().count()).toBe(0);
    // Focus is back on the button that opened it.
    await poll(() => page.evaluate('document.activeElement?.textContent')).toBe('Disable');

    await page.keyboard.press('Enter'); // the focused Disable button
    await poll(() => dialog().isVisible()).toBe(true);
    await page.keyboard.press('Escape');
    await poll(() => dialog().count()).toBe(0);
    expect((await ws('flex-ws')).flex.enabled).toBe(true);

    await button('Disable').focus();
    await page.keyboard.press('Enter');
    await poll(() => dialog().isVisible()).toBe(true);
    await page.keyboard.press('Tab'); // Cancel → Confirm
    expect(await page.evaluate('document.activeElement?.textContent')).toBe('Confirm');
    await page.keyboard.press('Enter');
    await poll(async () => (await ws('flex-ws')).flex.enabled).toBe(false);
    await poll(() => button('Enable').isVisible()).toBe(true);
  });

  it('R-FLX-1 "Enable" asks first: Cancel leaves it off; Confirm turns it on with the $100 default cap', async () => {
    await button('Enable').click();
    await poll(() => dialog().textContent()).toContain('$100.00 per month');
    await dialog().getByRole('button', { name: 'Cancel' }).click();
    await poll(() => dialog().count()).toBe(0);
    expect((await ws('flex-ws')).flex.enabled).toBe(false);

    await button('Enable').click();
    await dialog().getByRole('button', { name: 'Confirm' }).click();
    await poll(async () => (await ws('flex-ws')).flex).toMatchObject({ enabled: true, capCents: 10_000 });
    await poll(() => page.getByRole('textbox', { name: 'Flex cap (USD)' }).inputValue()).toBe('100.00');
  });

  it('R-FLX-2 the cap is saved by Save, by Enter and by leaving the field', async () => {
    const cap = page.getByRole('textbox', { name: 'Flex cap (USD)' });
    await cap.fill('250');
    await button('Save').click();
    await poll(async () => (await ws('flex-ws')).flex.capCents).toBe(25_000);
    await poll(() => page.getByRole('status').filter({ hasText: 'Flex cap saved' }).count()).toBe(1);

    const saved = (amount: string) =>
      poll(() =>
        page
          .getByRole('status')
          .filter({ hasText: `Flex cap saved: ${amount}` })
          .count(),
      ).toBe(1);
    await saved('$250.00');
    await cap.fill('300');
    await cap.press('Enter');
    await poll(async () => (await ws('flex-ws')).flex.capCents).toBe(30_000);
    await saved('$300.00');

    await cap.fill('42.50');
    // Tab lands on Save (the blur's relatedTarget): the save is the button's, by Enter here.
    await cap.press('Tab');
    await page.keyboard.press('Enter');
    await poll(async () => (await ws('flex-ws')).flex.capCents).toBe(4250);
    await saved('$42.50');

    await cap.fill('1,200');
    await page.getByRole('heading', { name: 'Flex Billing' }).click(); // clicking outside the field
    await poll(async () => (await ws('flex-ws')).flex.capCents).toBe(120_000);
    await saved('$1,200.00');
  });

  it('R-FLX-2 a cap under $1 shows the error under the field and saves nothing', async () => {
    const cap = page.getByRole('textbox', { name: 'Flex cap (USD)' });
    for (const bad of ['0.99', '0', 'abc', '-5']) {
      await cap.fill(bad);
      await button('Save').click();
      const error = page.getByRole('alert').filter({ hasText: 'at least $1.00' });
      await poll(() => error.isVisible()).toBe(true);
      expect(await cap.getAttribute('aria-invalid')).toBe('true');
      expect(await cap.getAttribute('aria-describedby')).toContain('flex-cap-error');
      expect((await ws('flex-ws')).flex.capCents).toBe(120_000);
    }
    // By blur too.
    await cap.fill('0.5');
    await page.getByRole('heading', { name: 'Flex Billing' }).click();
    await poll(() => page.getByRole('alert').filter({ hasText: 'at least $1.00' }).isVisible()).toBe(true);
    expect((await ws('flex-ws')).flex.capCents).toBe(120_000);
    // A good amount clears it.
    await cap.fill('150');
    await cap.press('Enter');
    await poll(async () => (await ws('flex-ws')).flex.capCents).toBe(15_000);
    expect(await page.getByRole('alert').filter({ hasText: 'at least $1.00' }).count()).toBe(0);
  });

  it('R-FLX-4 the operator threshold shows when it binds', async () => {
    const res = await api.call('PUT', '/v1/workspaces/flex-ws/billing-threshold', {
      key: OPERATOR,
      body: { thresholdCents: 5000 },
    });
    expect(res.status).toBe(200);
    await openPage(page, api, 'flex-ws');
    await poll(() => page.getByText('Billing threshold: $50.00').isVisible()).toBe(true);
    await api.call('PUT', '/v1/workspaces/flex-ws/billing-threshold', {
      key: OPERATOR,
      body: { thresholdCents: null },
    });
  });

  it('R-FLX-2 "Remove cap" warns there will be no spending limit; Confirm removes it', async () => {
    await openPage(page, api, 'flex-ws');
    await button('Remove cap').click();
    await poll(() => dialog().textContent()).toContain('no spending limit on Flex Usage');
    await dialog().getByRole('button', { name: 'Cancel' }).click();
    expect((await ws('flex-ws')).flex.capCents).toBe(15_000);
    await button('Remove cap').click();
    await dialog().getByRole('button', { name: 'Confirm' }).click();
    await poll(async () => (await ws('flex-ws')).flex.capCents).toBeNull();
    await poll(() => button('Remove cap').count()).toBe(0);
    expect(await page.getByRole('textbox', { name: 'Flex cap (USD)' }).inputValue()).toBe('');
  });

  it('R-FLX-1 on an annual plan "Enable" sets $1,200 a year', async () => {
    await api.call('PATCH', '/v1/workspaces/annual-ws/flex', { key: PLATFORM, body: { enabled: false } });
    await openPage(page, api, 'annual-ws');
    await button('Enable').click();
    await poll(() => dialog().textContent()).toContain('$1,200.00 per year');
    await dialog().getByRole('button', { name: 'Confirm' }).click();
    await poll(async () => (await ws('annual-ws')).flex).toMatchObject({ enabled: true, capCents: 120_000 });
  });

  it('R-CYC-4 the free plan says why flex is not offered, and offers no switch', async () => {
    await openPage(page, api, 'free-ws');
    await poll(() => page.getByText('Flex billing is not offered on the Free plan').isVisible()).toBe(true);
    expect(await button('Enable').count()).toBe(0);
    expect(await button('Disable').count()).toBe(0);
  });

  it('R-ALR-1 the banner of the moment, with a link to buy credits; R-USE-1 usage by day and category', async () => {
    expect((await spend('banner-ws', 125, 'b1')).status).toBe(200); // 125 of 150 included: 80%
    await openPage(page, api, 'banner-ws');
    const banners = page.getByRole('region', { name: 'Alerts' });
    await poll(() => banners.textContent()).toContain('125');
    expect(await banners.getByRole('link', { name: 'Buy prepaid credits' }).getAttribute('href')).toBe(
      '#buy-credits',
    );
    expect(await page.getByRole('img', { name: /Credits used by day/ }).count()).toBe(1);
    const training = page.getByRole('row', { name: /Training/ });
    expect(await training.textContent()).toContain('125');
    const included = page.getByRole('meter', { name: 'Included credits' });
    expect(
      await included.evaluate((m) => [
        Number(m.getAttribute('aria-valuenow') ?? (m as unknown as { value: number }).value),
        Number((m as unknown as { max: number }).max),
      ]),
    ).toEqual([125 * 10_000, 150 * 10_000]);
  });

  it('R-USE-2 the ledger pages forward and back', async () => {
    for (let i = 0; i < 12; i++) await spend('banner-ws', 0.5, `page-${i}`);
    await openPage(page, api, 'banner-ws');
    const caption = page.locator('.ledger caption');
    await poll(() => caption.textContent()).toContain('Page 1');
    const rows = page.locator('.ledger tbody tr');
    await poll(() => rows.count()).toBe(10);
    await button('Next').click();
    await poll(() => caption.textContent()).toContain('Page 2');
    await poll(() => rows.count()).toBeGreaterThan(0);
    await button('Previous').click();
    await poll(() => caption.textContent()).toContain('Page 1');
  });

  it('R-PRE-1 R-PRE-2 buying credits goes through Checkout (the stand-in) and back; the credits show once paid', async () => {
    await openPage(page, api, 'buy-ws');
    // Any quantity, priced live at its tier: 260 credits reach 250+ (12% off $4.00).
    await page.getByRole('radio', { name: /Any quantity/ }).check();
    await page.getByRole('textbox', { name: 'Other quantity (credits)' }).fill('260');
    await poll(() => page.locator('#quantity-price').textContent()).toContain('$915.20');
    await page.getByRole('radio', { name: /^100 credits/ }).check();
    expect(await page.getByRole('radio', { name: /^100 credits/ }).textContent()).toBe('');
    await button('Buy credits').click();
    // The stand-in's Checkout page: what is bought and for how much; the customer pays.
    await page.waitForURL(`${standin.url}/pay/*`);
    expect(await page.getByText('100 prepaid credits').isVisible()).toBe(true);
    await page.getByRole('button', { name: 'Pay $360.00' }).click();
    await page.waitForURL(`${api.base}/billing/**`);
    await expect
      .poll(() => page.getByText('Your prepaid credits have arrived.').isVisible(), { timeout: 20_000 })
      .toBe(true);
    expect((await ws('buy-ws')).prepaid.remaining).toBe('100');
    expect(await page.locator('#meter-prepaid-detail').textContent()).toContain('100 left');
  });

  it('a write without the CSRF token is 403; a session cannot read another workspace', async () => {
    await openPage(page, api, 'buy-ws');
    const status = await page.evaluate(async () => {
      const noCsrf = await fetch('/billing/api/v1/workspaces/buy-ws/flex', {
        method: 'PATCH',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ enabled: false }),
      });
      const other = await fetch('/billing/api/v1/workspaces/other-ws');
      const otherLedger = await fetch('/billing/api/v1/workspaces/other-ws/ledger');
      return [noCsrf.status, other.status, otherLedger.status];
    });
    expect(status).toEqual([403, 404, 404]);
    expect((await ws('buy-ws')).flex.enabled).toBe(true);
    // The cookie is not readable by the page's scripts.
    expect(await page.evaluate('document.cookie')).toBe('');
  });

  describe('links that open nothing', () => {
    const refused = async (p: Page) => {
      await poll(() =>
        p.getByRole('heading', { name: 'This billing link cannot be opened' }).isVisible(),
      ).toBe(true);
      const html = await p.content();
      expect(html).not.toContain('flex-ws');
      expect(html).not.toContain('Flex Billing');
      expect(await p.getByRole('link', { name: 'Back to your workspace' }).getAttribute('href')).toBe(
        'https://app.example/settings/plan',
      );
    };

    it('an expired link shows the clear page and no data', async () => {
      const link = await billingLink(api, 'flex-ws');
      await new Promise((r) => setTimeout(r, LINK_TTL_SECONDS * 1000 + 200));
      const fresh = await browser.newContext();
      const p = await fresh.newPage();
      const res = await p.goto(link);
      expect(res?.status()).toBe(410);
      await refused(p);
      expect(await p.getByText('has expired').isVisible()).toBe(true);
      await fresh.close();
    });

    it('a reused link shows the clear page and no data', async () => {
      const link = await billingLink(api, 'flex-ws');
      const first = await browser.newContext();
      await (await first.newPage()).goto(link);
      await first.close();
      const second = await browser.newContext();
      const p = await second.newPage();
      expect((await p.goto(link))?.status()).toBe(410);
      await refused(p);
      expect(await p.getByText('already used').isVisible()).toBe(true);
      expect((await second.cookies()).length).toBe(0);
      await second.close();
    });

    it('a tampered link shows the clear page and no data', async () => {
      const link = await billingLink(api, 'flex-ws');
      const tampered = link.replace(/token=(.)/, (_m, c: string) => `token=${c === 'A' ? 'B' : 'A'}`);
      const fresh = await browser.newContext({ locale: 'en-US' });
      const p = await fresh.newPage();
      expect((await p.goto(tampered))?.status()).toBe(400);
      await poll(() => p.getByText('This link is not valid.').isVisible()).toBe(true);
      expect(await p.content()).not.toContain('flex-ws');
      expect((await fresh.cookies()).length).toBe(0);
      await fresh.close();
    });
  });

  describe('Hindi and Korean', () => {
    it('switches language on the page, names translated', async () => {
      const fresh = await browser.newContext();
      const p = await fresh.newPage();
      await openPage(p, api, 'buy-ws', 'en');
      await p.getByRole('combobox', { name: 'Language' }).selectOption('hi');
      await poll(() => p.getByRole('heading', { name: 'Plan और Billing', level: 1 }).isVisible()).toBe(true);
      expect(await p.evaluate('document.documentElement.lang')).toBe('hi');
      expect(await p.getByRole('button', { name: 'अक्षम करें' }).count()).toBe(1);
      expect(await p.getByRole('textbox', { name: 'Flex cap (USD में)' }).count()).toBe(1);
      expect(await p.getByRole('button', { name: 'credits खरीदें' }).count()).toBe(1);

      await p.getByRole('combobox', { name: 'भाषा' }).selectOption('ko');
      await poll(() => p.getByRole('heading', { name: 'Plan 및 Billing', level: 1 }).isVisible()).toBe(true);
      expect(await p.evaluate('document.documentElement.lang')).toBe('ko');
      await p.getByRole('button', { name: '비활성화' }).click();
      const d = p.getByRole('dialog');
      await poll(() => d.textContent()).toContain('진행 중인 training 작업과 deployments가 중지됩니다');
      await d.getByRole('button', { name: '취소' }).click();
      await poll(() => d.count()).toBe(0);
      await fresh.close();
    });

    it("opens in the link's locale, else the browser's language", async () => {
      const viaLink = await browser.newContext({ locale: 'en-US' });
      const p1 = await viaLink.newPage();
      await openPage(p1, api, 'buy-ws', 'ko');
      expect(await p1.getByRole('button', { name: '크레딧 구매' }).count()).toBe(1);
      await viaLink.close();
      const viaBrowser = await browser.newContext({ locale: 'hi-IN' });
      const p2 = await viaBrowser.newPage();
      await openPage(p2, api, 'buy-ws');
      expect(
        (await p2.getByRole('button', { name: 'सक्षम करें' }).count()) +
          (await p2.getByRole('button', { name: 'अक्षम करें' }).count()),
      ).toBe(1);
      await viaBrowser.close();
    });

    for (const locale of ['en', 'hi', 'ko'] as const) {
      it(`axe-core finds no serious or critical violation (${locale})`, async () => {
        const fresh = await browser.newContext({ bypassCSP: true });
        const p = await fresh.newPage();
        await openPage(p, api, 'banner-ws', locale);
        await p.locator('.ledger tbody tr').first().waitFor();
        const results = await new AxeBuilder({ page: p }).analyze();
        const bad = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
        expect(bad.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)).toEqual([]);
        // And with a confirmation dialog open.
        await p.locator('.flex-card .button.danger').click();
        await p.getByRole('dialog').waitFor();
        const withDialog = await new AxeBuilder({ page: p }).analyze();
        expect(
          withDialog.violations
            .filter((v) => v.impact === 'serious' || v.impact === 'critical')
            .map((v) => v.id),
        ).toEqual([]);
        await fresh.close();
      });
    }
  });
});
