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
import { scanKeys } from '../support/redis.js';
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
const put = (id: string, planId: string, overrides?: Record<string, unknown>) =>
  api.call('PUT', `/v1/workspaces/${id}`, { body: { planId, ...(overrides ? { overrides } : {}) } });
const setFlex = (id: string, body: Record<string, unknown>) =>
  api.call('PATCH', `/v1/workspaces/${id}/flex`, { key: PLATFORM, body });
const setThreshold = (id: string, thresholdCents: number | null) =>
  api.call('PUT', `/v1/workspaces/${id}/billing-threshold`, { key: OPERATOR, body: { thresholdCents } });
const spend = (id: string, credits: number, key: string) =>
  api.call('POST', `/v1/workspaces/${id}/usage`, {
    key: PLATFORM,
    body: { idempotencyKey: key, feature: 'training.gpu', quantity: credits / 2.5 },
  });

/**
 * Makes the page's calls to `glob` answer `status` with an API error of `code` and a message in
 * English the page must not show (its own words instead); page.unroute(glob) ends it.
 */
async function refuseRoute(glob: string, status: number, code: string): Promise<void> {
  await page.route(glob, (route) =>
    route.fulfill({
      status,
      contentType: 'application/json',
      body: JSON.stringify({ error: { code, message: 'server words in English' } }),
    }),
  );
}

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
      ['fail-ws', 'growth'],
      ['thr-ws', 'growth'],
      ['capban-ws', 'growth'],
      ['rec-ws', 'growth'],
      ['lang-ws', 'growth'],
      ['ended-ws', 'growth'],
    ] as const)
      expect((await put(id, plan)).status).toBe(201);
    // A paid plan whose terms leave flex out, and one whose default cap is the override's.
    expect((await put('noflex-ws', 'growth', { flexAllowed: false })).status).toBe(201);
    expect((await put('override-ws', 'growth', { defaultFlexCapCents: 25_000 })).status).toBe(201);
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
    const error = page.getByRole('alert').filter({ hasText: 'at least $1.00' });
    const writes: string[] = [];
    const onRequest = (r: { method(): string; url(): string }) => {
      if (r.method() === 'PATCH' && r.url().endsWith('/flex')) writes.push(r.url());
    };
    page.on('request', onRequest);
    for (const bad of ['0', '0.99', 'abc', '-5']) {
      // Typing clears the previous value's error: each bad value must bring its own back.
      await cap.fill(bad);
      await poll(() => error.count()).toBe(0);
      expect(await cap.getAttribute('aria-invalid')).toBe('false');
      await button('Save').click();
      await poll(() => error.isVisible()).toBe(true);
      expect(await cap.getAttribute('aria-invalid')).toBe('true');
      expect(await cap.getAttribute('aria-describedby')).toContain('flex-cap-error');
      expect((await ws('flex-ws')).flex.capCents).toBe(120_000);
    }
    page.off('request', onRequest);
    expect(writes).toEqual([]);
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

  it('R-FLX-4 the threshold says how it relates to the cap: lower, the same, or no cap', async () => {
    expect((await setThreshold('thr-ws', 10_000)).status).toBe(200); // the default cap: $100
    await openPage(page, api, 'thr-ws');
    const threshold = page.locator('.flex-card .threshold');
    await poll(() => threshold.textContent()).toContain('it is the same as your cap');
    expect(await threshold.textContent()).not.toContain('lower than your cap');
    expect((await setFlex('thr-ws', { capCents: null, confirmUnlimited: true })).status).toBe(200);
    await openPage(page, api, 'thr-ws');
    await poll(() => threshold.textContent()).toContain('there is no cap');
    expect(await threshold.textContent()).not.toContain('lower than your cap');
    expect((await setFlex('thr-ws', { capCents: 20_000 })).status).toBe(200);
    await openPage(page, api, 'thr-ws');
    await poll(() => threshold.textContent()).toContain('it is lower than your cap');
    for (const [locale, same, none] of [
      ['hi', 'आपके cap के बराबर है', 'कोई cap नहीं है'],
      ['ko', '설정한 한도와 같으므로', '설정된 한도가 없으므로'],
    ] as const) {
      expect((await setFlex('thr-ws', { capCents: 10_000 })).status).toBe(200);
      await openPage(page, api, 'thr-ws', locale);
      await poll(() => threshold.textContent()).toContain(same);
      expect((await setFlex('thr-ws', { capCents: null, confirmUnlimited: true })).status).toBe(200);
      await openPage(page, api, 'thr-ws', locale);
      await poll(() => threshold.textContent()).toContain(none);
    }
  });

  it("a refused Enable, Disable or Remove cap shows the card's alert, in every state, never as the cap field's error", async () => {
    await refuseRoute('**/billing/api/v1/workspaces/fail-ws/flex', 500, 'internal');
    try {
      await openPage(page, api, 'fail-ws');
      const cardAlert = page.locator('.flex-card').getByRole('alert');
      const cap = page.getByRole('textbox', { name: 'Flex cap (USD)' });
      for (const name of ['Remove cap', 'Disable']) {
        await button(name).click();
        await dialog().getByRole('button', { name: 'Confirm' }).click();
        await poll(() => cardAlert.textContent()).toBe('That change was not saved. Try again in a moment.');
        expect(await cap.getAttribute('aria-invalid')).toBe('false');
        expect(await page.locator('#flex-cap-error').count()).toBe(0);
        expect((await ws('fail-ws')).flex).toMatchObject({ enabled: true, capCents: 10_000 });
      }
      // Flex off (no cap field): a refused Enable still says so.
      expect((await setFlex('fail-ws', { enabled: false })).status).toBe(200);
      await openPage(page, api, 'fail-ws');
      expect(await cardAlert.count()).toBe(0);
      await button('Enable').click();
      await dialog().getByRole('button', { name: 'Confirm' }).click();
      await poll(() => cardAlert.textContent()).toBe('That change was not saved. Try again in a moment.');
      expect(await page.getByText('server words in English').count()).toBe(0);
      expect((await ws('fail-ws')).flex.enabled).toBe(false);
    } finally {
      await page.unroute('**/billing/api/v1/workspaces/fail-ws/flex');
    }
  });

  it('R-FLX-1 "Enable" states the cap it sets: an override\'s default cap ($250), not the plan\'s', async () => {
    expect((await ws('override-ws')).flex.defaultCapCents).toBe(25_000);
    expect((await setFlex('override-ws', { enabled: false })).status).toBe(200);
    await openPage(page, api, 'override-ws');
    await button('Enable').click();
    await poll(() => dialog().textContent()).toContain('$250.00 per month');
    expect(await dialog().textContent()).not.toContain('$100.00');
    await dialog().getByRole('button', { name: 'Confirm' }).click();
    await poll(async () => (await ws('override-ws')).flex).toMatchObject({ enabled: true, capCents: 25_000 });
    await poll(() => page.getByRole('textbox', { name: 'Flex cap (USD)' }).inputValue()).toBe('250.00');
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
    await poll(() =>
      page.locator('.flex-card').getByText('Flex billing is not offered on the Free plan').isVisible(),
    ).toBe(true);
    expect(await button('Enable').count()).toBe(0);
    expect(await button('Disable').count()).toBe(0);
  });

  it('R-CYC-4 a paid plan whose terms leave flex out says so, not that it is the Free plan', async () => {
    for (const [locale, text] of [
      ['en', 'Flex billing is not included in your plan.'],
      ['hi', 'आपके plan में flex billing शामिल नहीं है।'],
      ['ko', '현재 plan에는 flex billing이 포함되어 있지 않습니다.'],
    ] as const) {
      await openPage(page, api, 'noflex-ws', locale);
      await poll(() => page.locator('.flex-card').textContent()).toContain(text);
      expect(await page.locator('#meter-flex-detail').textContent()).toBe(text);
      expect(await page.getByText(/Free plan/).count()).toBe(0);
      expect(await page.locator('.flex-card button').count()).toBe(0);
    }
    await openPage(page, api, 'free-ws', 'ko');
    await poll(() => page.locator('#meter-flex-detail').textContent()).toBe(
      'Free plan에서는 flex billing을 제공하지 않습니다.',
    );
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

  it('R-ALR-1 the cap banners offer to raise the cap as well as to buy prepaid credits', async () => {
    expect((await setFlex('capban-ws', { capCents: 1000 })).status).toBe(200); // $10: 2.5 credits
    expect((await spend('capban-ws', 150, 'cb1')).status).toBe(200); // the included credits
    expect((await spend('capban-ws', 2.5, 'cb2')).status).toBe(200); // 2.5 flex credits: $10, the cap
    for (const [locale, raise, buy] of [
      ['en', 'Raise the cap', 'Buy prepaid credits'],
      ['hi', 'cap बढ़ाएँ', 'prepaid credits खरीदें'],
      ['ko', '한도 올리기', 'prepaid credits 구매'],
    ] as const) {
      await openPage(page, api, 'capban-ws', locale);
      const banner = page.locator('.banner.flex_cap_reached, .banner.flex_cap_80').first();
      await banner.waitFor();
      expect(await banner.getByRole('link', { name: buy }).getAttribute('href')).toBe('#buy-credits');
      await banner.getByRole('button', { name: raise }).click();
      await poll(() => page.evaluate('document.activeElement?.id')).toBe('flex-cap');
    }
    // The other banners (included credits used up) offer buying only.
    expect(await page.locator('.banner.included_exhausted button').count()).toBe(0);
  });

  it('R-USE-2 the ledger pages forward and back: page 2 is older entries, none of page 1', async () => {
    for (let i = 0; i < 12; i++) await spend('banner-ws', 0.5, `page-${i}`);
    await openPage(page, api, 'banner-ws');
    const caption = page.locator('.ledger caption');
    await poll(() => caption.textContent()).toContain('Page 1');
    const rows = page.locator('.ledger tbody tr');
    await poll(() => rows.count()).toBe(10);
    const entries = () =>
      rows.evaluateAll((trs) => trs.map((tr) => ({ id: tr.dataset.entryId!, at: tr.dataset.at! })));
    const first = await entries();
    const api10 = (await api.call('GET', '/v1/workspaces/banner-ws/ledger?limit=10', { key: PLATFORM })).body;
    expect(first.map((e) => e.id)).toEqual(api10.entries.map((e: { id: string }) => e.id));
    await button('Next').click();
    await poll(() => caption.textContent()).toContain('Page 2');
    await poll(async () => (await entries())[0]?.id !== first[0]!.id).toBe(true);
    const second = await entries();
    expect(second.length).toBeGreaterThan(0);
    expect(second.filter((e) => first.some((f) => f.id === e.id))).toEqual([]);
    const oldestOfFirst = Math.min(...first.map((e) => Date.parse(e.at)));
    expect(Math.max(...second.map((e) => Date.parse(e.at)))).toBeLessThanOrEqual(oldestOfFirst);
    // The entries' type and kind are words, in the page's language.
    expect(await rows.first().textContent()).toContain('Usage · training.gpu');

    // A reload of the same data (here: switching language) keeps the page.
    const language = page.getByRole('combobox', { name: 'Language' });
    await language.selectOption('ko');
    await poll(() => caption.textContent()).toContain('2페이지');
    await poll(() => rows.first().textContent()).toContain('사용 · training.gpu');
    await poll(entries).toEqual(second);
    await page.getByRole('combobox', { name: '언어' }).selectOption('hi');
    await poll(() => caption.textContent()).toContain('पृष्ठ 2');
    await poll(() => rows.first().textContent()).toContain('उपयोग · training.gpu');
    await page.getByRole('combobox', { name: 'भाषा' }).selectOption('en');
    await poll(() => caption.textContent()).toContain('Page 2');

    await button('Previous').click();
    await poll(() => caption.textContent()).toContain('Page 1');
    await poll(entries).toEqual(first);
  });

  it('R-ALR-4 a recommendation states its saving once', async () => {
    expect((await spend('rec-ws', 170, 'r1')).status).toBe(200); // 20 flex credits
    const recs = (await api.call('GET', '/v1/workspaces/rec-ws/recommendations', { key: PLATFORM })).body
      .recommendations as { type: string; savingCents?: number }[];
    const withSaving = recs.filter((r) => typeof r.savingCents === 'number' && r.savingCents > 0);
    expect(withSaving.length).toBeGreaterThan(0);
    await openPage(page, api, 'rec-ws');
    const items = page.locator('.recs li');
    await poll(() => items.count()).toBe(recs.length);
    for (const [i, r] of recs.entries()) {
      if (typeof r.savingCents !== 'number') continue;
      // US dollars from integer cents, as the page writes them in English ("$1,234.56").
      const saving = `$${Math.trunc(r.savingCents / 100).toLocaleString('en-US')}.${String(r.savingCents % 100).padStart(2, '0')}`;
      const text = (await items.nth(i).textContent()) ?? '';
      expect(text.split(saving).length - 1, text).toBe(1);
    }
  });

  it('R-PRE-1 R-PRE-2 buying credits goes through Checkout (the stand-in) and back; the credits show once paid', async () => {
    await openPage(page, api, 'buy-ws');
    // Any quantity, priced live at its tier: 260 credits reach 250+ (12% off $4.00).
    await page.getByRole('radio', { name: /Any quantity/ }).check();
    await page.getByRole('textbox', { name: 'Other quantity (credits)' }).fill('260');
    await poll(() => page.locator('#quantity-price').textContent()).toContain('$915.20');
    // A changed quantity never shows the last one's price, even for a moment.
    await page.getByRole('textbox', { name: 'Other quantity (credits)' }).fill('261');
    expect(await page.locator('#quantity-price').textContent()).not.toContain('$915.20');
    await poll(() => page.locator('#quantity-price').textContent()).toContain('$918.72');
    const hundred = page.getByRole('radio', { name: /^100 credits/ });
    await hundred.check();
    // The radio is named by its label: the bundle and its price; it, and only it, is checked.
    expect(
      await hundred.evaluate(
        (el) =>
          (el as unknown as { labels: { textContent: string | null }[] | null }).labels?.[0]?.textContent,
      ),
    ).toBe('100 credits: $360.00 10% off');
    expect(await hundred.isChecked()).toBe(true);
    expect(await page.getByRole('radio', { name: /Any quantity/ }).isChecked()).toBe(false);
    await button('Buy credits').click();
    // The stand-in's Checkout page: what is bought and for how much; the customer pays.
    await page.waitForURL(`${standin.url}/pay/*`);
    expect(await page.getByText('100 prepaid credits').isVisible()).toBe(true);
    await page.getByRole('button', { name: 'Pay $360.00' }).click();
    await page.waitForURL(`${api.base}/billing/**`);
    expect(await page.getByText('Payment received').count()).toBe(0);
    await expect
      .poll(() => page.getByText('Your prepaid credits have arrived.').isVisible(), { timeout: 20_000 })
      .toBe(true);
    expect((await ws('buy-ws')).prepaid.remaining).toBe('100');
    expect(await page.locator('#meter-prepaid-detail').textContent()).toContain('100 left');
  });

  it('R-PRE-1 back from Checkout cancelled: nothing bought, and the page says so', async () => {
    await openPage(page, api, 'buy-ws');
    const ledgerBefore = (await api.call('GET', '/v1/workspaces/buy-ws/ledger?limit=5', { key: PLATFORM }))
      .body;
    await page.getByRole('radio', { name: /^50 credits/ }).check();
    await button('Buy credits').click();
    await page.waitForURL(`${standin.url}/pay/*`);
    await page.getByRole('link', { name: 'Cancel' }).click();
    await page.waitForURL(`${api.base}/billing/**`);
    await poll(() => page.getByRole('status').filter({ hasText: 'The purchase was cancelled' }).count()).toBe(
      1,
    );
    expect(page.url()).toBe(`${api.base}/billing/`);
    await new Promise((r) => setTimeout(r, 1500));
    expect((await ws('buy-ws')).prepaid.remaining).toBe('100');
    const ledgerAfter = (await api.call('GET', '/v1/workspaces/buy-ws/ledger?limit=5', { key: PLATFORM }))
      .body;
    expect(ledgerAfter.entries[0].id).toBe(ledgerBefore.entries[0].id);
    expect(await page.getByText('Your prepaid credits have arrived.').count()).toBe(0);
  });

  it('R-PRE-1 back from Checkout with no grant yet: "being confirmed", never "arrived"', async () => {
    const fresh = await browser.newContext();
    const p = await fresh.newPage();
    await openPage(p, api, 'buy-ws');
    // A success return whose session has granted nothing (this tab never left for Checkout).
    await p.goto(`${api.base}/billing/?checkout=success&session=cs_test_not_paid_yet`);
    await poll(() => p.getByText('Your payment is being confirmed.').isVisible()).toBe(true);
    await new Promise((r) => setTimeout(r, 3000));
    expect(await p.getByText('Your prepaid credits have arrived.').count()).toBe(0);
    expect(await p.getByText('Payment received').count()).toBe(0);
    // No session id and no balance from before: it cannot know, so it does not say.
    await p.goto(`${api.base}/billing/?checkout=success`);
    await poll(() => p.getByText('Your payment is being confirmed.').isVisible()).toBe(true);
    await new Promise((r) => setTimeout(r, 2500));
    expect(await p.getByText('Your prepaid credits have arrived.').count()).toBe(0);
    await fresh.close();
  });

  it("R-PRE-1 any quantity: 1 to 1,000,000 checked on the page; quote and Checkout failures in the page's words", async () => {
    await openPage(page, api, 'buy-ws');
    await page.getByRole('radio', { name: /Any quantity/ }).check();
    const quantity = page.getByRole('textbox', { name: 'Other quantity (credits)' });
    const error = page.locator('#quantity-error');
    for (const bad of ['0', '1000001', '2.5', 'ten']) {
      await quantity.fill(bad);
      await poll(() => error.textContent()).toBe('Enter a whole number of credits, from 1 to 1,000,000.');
      expect(await quantity.getAttribute('aria-invalid')).toBe('true');
      expect(await page.locator('#quantity-price').count()).toBe(0);
    }
    await quantity.fill('300000');
    await poll(() => page.locator('#quantity-price').textContent()).toContain('300,000 credits');
    // A quantity the API takes but Checkout cannot (above Stripe's largest amount, R-PRE-1):
    // the quote is refused as Checkout would be, and the page says so, priced nowhere.
    await quantity.fill('1000000');
    await poll(() =>
      page.getByRole('alert').filter({ hasText: 'The price could not be loaded' }).count(),
    ).toBe(1);
    expect(await page.locator('#quantity-price').textContent()).toBe('');
    // Checkout refused by the server: the page's own words, not the server's.
    await refuseRoute('**/billing/api/v1/workspaces/buy-ws/checkout-sessions', 400, 'invalid_request');
    await refuseRoute('**/billing/api/v1/workspaces/buy-ws/prepaid-quote*', 400, 'invalid_request');
    try {
      await quantity.fill('75');
      await poll(() =>
        page.getByRole('alert').filter({ hasText: 'The price could not be loaded' }).count(),
      ).toBe(1);
      await button('Buy credits').click();
      await poll(() =>
        page.getByRole('alert').filter({ hasText: 'Checkout could not be started' }).count(),
      ).toBe(1);
      expect(await page.getByText('server words in English').count()).toBe(0);
      await page.getByRole('combobox', { name: 'Language' }).selectOption('ko');
      await button('크레딧 구매').click();
      await poll(() =>
        page.getByRole('alert').filter({ hasText: 'Checkout을 시작하지 못했으며' }).count(),
      ).toBe(1);
    } finally {
      await page.unroute('**/billing/api/v1/workspaces/buy-ws/checkout-sessions');
      await page.unroute('**/billing/api/v1/workspaces/buy-ws/prepaid-quote*');
      await page.evaluate("sessionStorage.removeItem('burnrate-billing-locale')");
    }
    expect((await ws('buy-ws')).prepaid.remaining).toBe('100');
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

  it('a session whose TTL ran out: the page says the session ended (401) and shows no data', async () => {
    const sessionKeys = () => scanKeys(api.redis, `${api.prefix}billing:session:*`);
    const before = new Set(await sessionKeys());
    const fresh = await browser.newContext();
    const p = await fresh.newPage();
    await openPage(p, api, 'ended-ws');
    const mine = (await sessionKeys()).filter((k) => !before.has(k));
    expect(mine).toHaveLength(1);
    // Its TTL runs out now, as it would after BILLING_SESSION_TTL_SECONDS.
    expect(await api.redis.pexpire(mine[0]!, 1)).toBe(1);
    await new Promise((r) => setTimeout(r, 50));
    expect(await p.evaluate(async () => (await fetch('/billing/api/session')).status)).toBe(401);
    await p.reload();
    await poll(() => p.getByRole('alert').textContent()).toContain('Your billing session has ended');
    expect(await p.locator('#balances-title').count()).toBe(0);
    expect(await p.content()).not.toContain('ended-ws');
    await fresh.close();
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

    for (const [locale, l] of [
      [
        'hi',
        {
          enable: 'सक्षम करें',
          enableTitle: 'Flex Billing सक्षम करें?',
          enableBody: '$100.00 प्रति माह के default cap के साथ शुरू होती है',
          removeCap: 'cap हटाएँ',
          removeTitle: 'Flex cap हटाएँ?',
          removeBody: 'Flex Usage पर खर्च की कोई सीमा नहीं रहेगी',
          cancel: 'रद्द करें',
        },
      ],
      [
        'ko',
        {
          enable: '활성화',
          enableTitle: 'Flex Billing을 활성화할까요?',
          enableBody: '기본 한도 월 US$100.00로 시작합니다',
          removeCap: '한도 제거',
          removeTitle: 'Flex 한도를 제거할까요?',
          removeBody: 'Flex Usage에 지출 한도가 없어집니다',
          cancel: '취소',
        },
      ],
    ] as const) {
      it(`the Enable and Remove cap dialogs in ${locale === 'hi' ? 'Hindi' : 'Korean'}`, async () => {
        const fresh = await browser.newContext();
        const p = await fresh.newPage();
        const d = p.getByRole('dialog');
        expect((await setFlex('lang-ws', { enabled: false })).status).toBe(200);
        await openPage(p, api, 'lang-ws', locale);
        await p.getByRole('button', { name: l.enable, exact: true }).click();
        await poll(() => d.getByRole('heading', { name: l.enableTitle }).isVisible()).toBe(true);
        expect(await d.textContent()).toContain(l.enableBody);
        await d.getByRole('button', { name: l.cancel }).click();
        await poll(() => d.count()).toBe(0);
        expect((await ws('lang-ws')).flex.enabled).toBe(false);

        expect((await setFlex('lang-ws', { enabled: true })).status).toBe(200);
        await openPage(p, api, 'lang-ws', locale);
        await p.getByRole('button', { name: l.removeCap, exact: true }).click();
        await poll(() => d.getByRole('heading', { name: l.removeTitle }).isVisible()).toBe(true);
        expect(await d.textContent()).toContain(l.removeBody);
        await d.getByRole('button', { name: l.cancel }).click();
        await poll(() => d.count()).toBe(0);
        expect((await ws('lang-ws')).flex.capCents).toBe(10_000);
        await fresh.close();
      });
    }

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

  describe('the chart by day (runs last: it moves the API clock)', () => {
    const DAY = 86_400_000;
    it('R-USE-1 days without usage are bars of zero; an annual cycle charts its last 31 days, the table every day used', async () => {
      const start = api.clock.now();
      try {
        expect((await put('chart-ws', 'growth')).status).toBe(201);
        expect((await spend('chart-ws', 5, 'c1')).status).toBe(200);
        api.clock.advance(3 * DAY);
        expect((await spend('chart-ws', 5, 'c2')).status).toBe(200);
        await openPage(page, api, 'chart-ws');
        const days = page.locator('figure.chart svg g.day');
        await poll(() => days.count()).toBe(4);
        const keys = await days.evaluateAll((gs) => gs.map((g) => g.getAttribute('data-day')));
        const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
        expect(keys).toEqual([0, 1, 2, 3].map((i) => day(start + i * DAY)));
        expect(await page.locator('table.figures tbody tr').count()).toBe(2);
        expect(await page.getByRole('img', { name: /Credits used by day, this billing cycle/ }).count()).toBe(
          1,
        );

        expect((await put('chart-annual-ws', 'growth-annual')).status).toBe(201);
        const annualStart = api.clock.now();
        expect((await spend('chart-annual-ws', 5, 'a1')).status).toBe(200);
        api.clock.advance(40 * DAY);
        expect((await spend('chart-annual-ws', 5, 'a2')).status).toBe(200);
        await openPage(page, api, 'chart-annual-ws');
        await poll(() => days.count()).toBe(31);
        const annualKeys = await days.evaluateAll((gs) => gs.map((g) => g.getAttribute('data-day')));
        expect(annualKeys.at(-1)).toBe(day(annualStart + 40 * DAY));
        expect(annualKeys[0]).toBe(day(annualStart + 10 * DAY));
        expect(await page.getByRole('img', { name: /the last 31 days of this billing cycle/ }).count()).toBe(
          1,
        );
        // The table has every day used, the first (out of the chart's window) too.
        const rows = page.locator('table.figures tbody tr');
        expect(await rows.count()).toBe(2);
      } finally {
        api.clock.set(start);
      }
    });
  });
});
