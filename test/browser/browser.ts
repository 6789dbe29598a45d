/**
 * Headless Chromium for the billing page's tests (Debian's /usr/bin/chromium, driven by
 * playwright-core). Without it the browser tests skip with a message, except under CI, where
 * they must run and fail.
 */
import { existsSync } from 'node:fs';
import { type Browser, chromium, type Page } from 'playwright-core';
import { PLATFORM, type TestApi } from '../support/http.js';

export const CHROMIUM = process.env.BURNRATE_CHROMIUM ?? '/usr/bin/chromium';
export const hasChromium = existsSync(CHROMIUM);

if (!hasChromium) {
  if (process.env.CI) throw new Error(`${CHROMIUM} is missing: CI must run the billing page's browser tests`);
  process.stderr.write(
    `burnrate: skipping the billing page's browser tests: ${CHROMIUM} is missing (apt-get install chromium)\n`,
  );
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--disable-sync',
    ],
  });
}

/** A fresh single-use link to a workspace's page, made with the platform key (never the browser's). */
export async function billingLink(
  api: TestApi,
  workspaceId: string,
  o: { locale?: 'en' | 'hi' | 'ko'; returnUrl?: string } = {},
): Promise<string> {
  const res = await api.call('POST', `/v1/workspaces/${workspaceId}/billing-sessions`, {
    key: PLATFORM,
    body: {
      returnUrl: o.returnUrl ?? 'https://app.example/settings/plan',
      ...(o.locale ? { locale: o.locale } : {}),
    },
  });
  if (res.status !== 201) throw new Error(`billing-sessions answered ${res.status}`);
  return res.body.url as string;
}

/** Opens the page of a workspace in `page` (through a fresh link) and waits for its data. */
export async function openPage(page: Page, api: TestApi, workspaceId: string, locale?: 'en' | 'hi' | 'ko') {
  await page.goto(await billingLink(api, workspaceId, locale ? { locale } : {}));
  await page.locator('#balances-title').waitFor();
}
