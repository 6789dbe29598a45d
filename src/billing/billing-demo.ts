/**
 * `npm start`'s link to the billing page (issue 11 §1): once the API answers, a demo workspace
 * (created on the growth plan when missing, with a little usage) and a fresh single-use link to
 * its page, printed. Through the project's typed client, with the configured keys.
 */
import { Burnrate, BurnrateApiError } from '../../client/src/index.js';
import type { Config } from '../config/env.js';
import { waitUntilReady } from '../http/wait-until-ready.js';

export const DEMO_WORKSPACE = 'demo';

export async function openBillingDemo(o: {
  config: Config;
  say(msg: string): void;
  /** How long to wait for the API to answer; default 60 s. */
  waitMs?: number;
}): Promise<string> {
  const { config } = o;
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  const base = `http://${host.includes(':') ? `[${host}]` : host}:${config.port}`;
  const keyOf = (role: 'platform' | 'operator') => config.apiKeys.find((k) => k.role === role)?.key;
  const operatorKey = keyOf('operator');
  const platformKey = keyOf('platform') ?? operatorKey;
  if (!operatorKey || !platformKey) throw new Error('no operator key configured (BURNRATE_API_KEYS)');
  const operator = new Burnrate({ baseUrl: base, apiKey: operatorKey, retries: 0 });
  const platform = new Burnrate({ baseUrl: base, apiKey: platformKey, retries: 0 });

  await waitUntilReady({ base, timeoutMs: o.waitMs ?? 60_000, everyMs: 500 });

  try {
    await platform.getWorkspace(DEMO_WORKSPACE);
  } catch (err) {
    if (!(err instanceof BurnrateApiError) || err.status !== 404) throw err;
    await operator.putWorkspace(DEMO_WORKSPACE, { planId: 'growth' });
    await platform.usage(DEMO_WORKSPACE, { feature: 'training.gpu', quantity: 30, idempotencyKey: 'demo-1' });
    await platform.usage(DEMO_WORKSPACE, {
      feature: 'data.labeling',
      quantity: 52,
      idempotencyKey: 'demo-2',
    });
    await platform.usage(DEMO_WORKSPACE, {
      feature: 'deployment.model.hosted',
      quantity: 20,
      idempotencyKey: 'demo-3',
    });
    o.say(`created the demo workspace '${DEMO_WORKSPACE}' (growth plan, some usage)`);
  }
  const link = await platform.billingSession(DEMO_WORKSPACE, { returnUrl: `${base}/billing/` });
  o.say(
    `the billing page of workspace '${DEMO_WORKSPACE}' (single use, until ${link.expiresAt}): ${link.url}`,
  );
  return link.url;
}
