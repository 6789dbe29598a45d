/**
 * `npm run demo`: the whole story on embedded defaults, step by step. It starts the service as
 * `npm start` does (a private Redis, the local Stripe stand-in, the API and the worker, on
 * free ports with data in a temp folder), then plays the platform and the customer: a
 * workspace subscribes to growth through Stripe, spends past 80% of its included credits, buys
 * a prepaid bundle through Checkout, runs into flex, changes plan, is refunded, renews and
 * cancels — printing its balances and ledger along the way.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Stripe from 'stripe';
import { inheritedEnv } from '../config/env.js';
import { freePort } from '../redis/embedded-server.js';

const OP = { authorization: 'Bearer dev-operator-key', 'content-type': 'application/json' };
const PL = { authorization: 'Bearer dev-platform-key', 'content-type': 'application/json' };
const WS = 'acme';

// biome-ignore lint/suspicious/noExplicitAny: the demo prints what the API answers
type Json = Record<string, any>;

function say(text: string) {
  process.stdout.write(`\n━━ ${text}\n`);
}

async function main() {
  const port = await freePort();
  const standinPort = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'burnrate-demo-'));
  const base = `http://127.0.0.1:${port}`;
  const standin = `http://127.0.0.1:${standinPort}`;
  // Embedded defaults whatever this shell has set: no Redis URL, no Stripe, the dev keys.
  const env = inheritedEnv();
  for (const k of [
    'REDIS_URL',
    'STRIPE_SECRET_KEY',
    'STRIPE_API_BASE',
    'STRIPE_WEBHOOK_SECRET',
    'BURNRATE_API_KEYS',
  ])
    delete env[k];
  const service: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'src/cli/start.ts'], {
    env: {
      ...env,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      STRIPE_STANDIN_PORT: String(standinPort),
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const api = async (method: string, path: string, body?: unknown, headers = PL): Promise<Json> => {
    const res = await fetch(base + path, {
      method,
      headers,
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, ...((await res.json()) as Json) };
  };
  const helper = async (path: string, body: unknown = {}) =>
    (
      await fetch(standin + path, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
    ).json() as Promise<Json>;
  const until = async (what: string, ok: (w: Json) => boolean) => {
    for (let i = 0; i < 200; i++) {
      const w = await api('GET', `/v1/workspaces/${WS}`);
      if (w.status === 200 && ok(w)) return w;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`timed out waiting for ${what}`);
  };
  const show = (w: Json) =>
    process.stdout.write(
      `   plan ${w.planId}, cycle ${w.cycle.start.slice(0, 10)} → ${w.cycle.end.slice(0, 10)} (${w.cycle.interval})\n` +
        `   included ${w.included.remaining} of ${w.included.granted} left · prepaid ${w.prepaid.remaining} · ` +
        `flex ${w.flex.usedCredits} credits = $${(w.flex.usedCents / 100).toFixed(2)} of cap ${w.flex.capCents === null ? 'none' : `$${w.flex.capCents / 100}`}` +
        `${w.blocked ? ` · blocked: ${w.blocked}` : ''}\n`,
    );
  const spend = async (credits: number, key: string) => {
    const r = await api('POST', `/v1/workspaces/${WS}/usage`, { idempotencyKey: key, credits });
    process.stdout.write(
      `   spend ${credits}: ${r.status} ${r.ok ? `debited ${JSON.stringify(r.debited)}` : `refused: ${r.reason}`}\n`,
    );
    return r;
  };

  try {
    for (let i = 0; i < 300; i++) {
      if (
        await fetch(`${base}/readyz`).then(
          (r) => r.ok,
          () => false,
        )
      )
        break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const stripe = new Stripe('sk_test_demo', { host: '127.0.0.1', port: standinPort, protocol: 'http' });

    say(`1. The platform creates workspace ${WS} on the free plan`);
    show(await api('PUT', `/v1/workspaces/${WS}`, { planId: 'free' }, OP));

    say('2. It subscribes to growth in Stripe: customer.subscription.created → 150 included credits');
    const customer = await stripe.customers.create({
      email: 'ops@acme.example',
      metadata: { workspace_id: WS },
    });
    const sub = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: 'price_growth_monthly' }],
      metadata: { workspace_id: WS },
    });
    show(await until('the growth plan', (w) => w.planId === 'growth'));

    say('3. It spends 125 credits: past 80% of its included credits');
    await spend(125, 'job-1');
    show(await api('GET', `/v1/workspaces/${WS}`));

    say('4. It buys the 100-credit bundle through Stripe Checkout; the customer pays');
    const checkout = await api('POST', `/v1/workspaces/${WS}/checkout-sessions`, {
      bundleId: 'bundle-100',
      successUrl: 'https://app.acme.example/billing/ok',
      cancelUrl: 'https://app.acme.example/billing',
    });
    process.stdout.write(
      `   Checkout Session ${checkout.id}: ${checkout.credits} credits for $${(checkout.amountCents / 100).toFixed(2)}\n`,
    );
    const paid = await helper(`/_standin/checkout/sessions/${checkout.id}/complete`);
    await helper(`/_standin/events/${paid.id}/deliver`, { times: 3 }); // Stripe delivers at least once
    show(await until('the prepaid credits', (w) => w.prepaid.remaining === '100'));

    say('5. It spends 140 more: included, then prepaid, then flex');
    await spend(140, 'job-2');
    await spend(20, 'job-3');
    show(await api('GET', `/v1/workspaces/${WS}`));

    say(
      '6. It changes plan to growth-annual in Stripe: a new cycle, 1,800 credits, the old remainder expires',
    );
    await stripe.subscriptions.update(sub.id, {
      items: [{ price: 'price_growth_annual' }],
    } as Stripe.SubscriptionUpdateParams);
    show(await until('the annual plan', (w) => w.planId === 'growth-annual'));

    say('7. Half the bundle is refunded: its credits are spent, so the refunded share is a shortfall');
    const pi = (paid.data as Json).object.payment_intent as string;
    await helper(`/_standin/payment_intents/${pi}/refund`, { amount: checkout.amountCents / 2 });
    await new Promise((r) => setTimeout(r, 500));
    show(await api('GET', `/v1/workspaces/${WS}`));

    say('8. The year ends and Stripe renews it: invoice.paid → a fresh allotment, once');
    await helper(`/_standin/subscriptions/${sub.id}/renew`);
    show(
      await until('the renewal', (w) => w.cycle.start.slice(0, 4) !== new Date().toISOString().slice(0, 4)),
    );

    say('9. The subscription is cancelled: included credits forfeited, back to free');
    await stripe.subscriptions.cancel(sub.id);
    show(await until('the free plan', (w) => w.planId === 'free'));

    say('10. The ledger, newest first');
    const ledger = await api('GET', `/v1/workspaces/${WS}/ledger?limit=30`);
    for (const e of ledger.entries as Json[]) {
      process.stdout.write(
        `   ${e.at.slice(0, 19)}  ${e.type.padEnd(10)} ${(e.kind ?? '-').padEnd(9)} ${e.credits.padStart(9)}  → ${e.balanceAfter.padStart(8)}  ${e.ref}\n`,
      );
    }
    process.stdout.write('\nDone.\n');
  } finally {
    service.kill('SIGTERM');
    await new Promise((r) => service.once('exit', r));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
