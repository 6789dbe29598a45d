/**
 * `npm run demo`: the whole story on embedded defaults, step by step. It starts the service as
 * `npm start` does (a private Redis, the local Stripe stand-in, the API and the worker, on
 * free ports with data in a temp folder), then plays the platform and the customer: a
 * workspace subscribes to growth through Stripe, spends past 80% of its included credits, buys
 * a prepaid bundle through Checkout, runs into flex and its cap, changes plan, is refunded and
 * renews; then the month closes: last month's usage arrives late, the monthly invoicing run
 * bills the floor of each workspace's flex (an item for the monthly plan, a finalized invoice
 * for the annual one), and a cancelled subscription gets its final invoice. Every alert shows
 * as a banner in English, Hindi and Korean and arrives, signed, at a webhook receiver the demo
 * runs. It prints balances, alerts, Stripe's side and the ledger along the way.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Stripe from 'stripe';
import { inheritedEnv } from '../config/env.js';
import { monthOf } from '../domain/cycle.js';
import { freePort } from '../redis/embedded-server.js';
import { verifyAlertSignature } from '../services/alerts.js';

const OP = { authorization: 'Bearer dev-operator-key', 'content-type': 'application/json' };
const PL = { authorization: 'Bearer dev-platform-key', 'content-type': 'application/json' };
const WS = 'acme';
const MONTHLY = 'globex';
const ALERT_SECRET = 'demo-alert-webhook-secret';

// biome-ignore lint/suspicious/noExplicitAny: the demo prints what the API answers
type Json = Record<string, any>;

function say(text: string) {
  process.stdout.write(`\n━━ ${text}\n`);
}

/** The platform's side of the alert webhooks: checks each signature, keeps what arrived. */
async function startAlertReceiver() {
  const received: { verified: boolean; body: Json }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const verified = verifyAlertSignature(ALERT_SECRET, raw, req.headers['burnrate-signature'] as string);
      received.push({ verified, body: JSON.parse(raw) as Json });
      res.writeHead(verified ? 200 : 400).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/burnrate-alerts`;
  return { url, received, close: () => server.close() };
}

async function main() {
  const port = await freePort();
  const standinPort = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'burnrate-demo-'));
  const receiver = await startAlertReceiver();
  const base = `http://127.0.0.1:${port}`;
  const standin = `http://127.0.0.1:${standinPort}`;
  // Embedded defaults whatever this shell has set: no Redis URL or cluster, no Stripe, the dev keys.
  const env = inheritedEnv();
  for (const k of [
    'REDIS_URL',
    'REDIS_CLUSTER_NODES',
    'REDIS_CLUSTER',
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
      BURNRATE_ALERT_WEBHOOK_URLS: receiver.url,
      BURNRATE_ALERT_WEBHOOK_SECRET: ALERT_SECRET,
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
  /** Every alert id a usage answer named: the receiver must get each of them. */
  const raised = new Set<string>();
  const spend = async (credits: number, key: string, extra: Json = {}, ws = WS) => {
    const r = await api('POST', `/v1/workspaces/${ws}/usage`, { idempotencyKey: key, credits, ...extra });
    for (const a of (r.alerts ?? []) as Json[]) raised.add(a.id as string);
    const how = extra.mode === 'record' ? 'record' : 'spend';
    process.stdout.write(
      `   ${how} ${credits}${extra.occurredAt ? ` (occurred ${extra.occurredAt})` : ''}: ${r.status} ${
        r.ok
          ? `debited ${JSON.stringify(r.debited)}${r.shortfall ? `, shortfall ${r.shortfall}` : ''}`
          : `refused: ${r.reason}`
      }\n`,
    );
    return r;
  };
  const banners = async (langs: string[] = ['en']) => {
    for (const lang of langs) {
      const { alerts } = await api('GET', `/v1/workspaces/${WS}/alerts?lang=${lang}`);
      for (const a of alerts as Json[]) process.stdout.write(`   [${lang}] ${a.type}: ${a.message}\n`);
    }
  };
  const money = (cents: number) => `$${(cents / 100).toFixed(2)}`;

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

    say('   The banner, in the three languages (R-ALR-3)');
    await banners(['en', 'hi', 'ko']);

    say('4. It buys the 100-credit bundle through Stripe Checkout; the customer pays');
    const checkout = await api('POST', `/v1/workspaces/${WS}/checkout-sessions`, {
      bundleId: 'bundle-100',
      successUrl: 'https://app.acme.example/billing/ok',
      cancelUrl: 'https://app.acme.example/billing',
    });
    process.stdout.write(
      `   Checkout Session ${checkout.id}: ${checkout.credits} credits for ${money(checkout.amountCents)}\n`,
    );
    const paid = await helper(`/_standin/checkout/sessions/${checkout.id}/complete`);
    await helper(`/_standin/events/${paid.id}/deliver`, { times: 3 }); // Stripe delivers at least once
    show(await until('the prepaid credits', (w) => w.prepaid.remaining === '100'));

    say('5. It spends on: included, then prepaid, then flex up to its $100 cap');
    await spend(140, 'job-2');
    await spend(6, 'job-3');
    await spend(10, 'job-4', { mode: 'record' });
    show(await api('GET', `/v1/workspaces/${WS}`));
    await banners();

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

    const now = new Date();
    const closed = monthOf(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - 1, 1));
    // The last hour of the closed month: always within the 35 days late usage may go back.
    const lateAt = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1) - 3_600_000).toISOString();
    say(`9. The month ${closed} has closed. A second workspace, ${MONTHLY}, is on growth monthly in Stripe`);
    await api('PUT', `/v1/workspaces/${MONTHLY}`, { planId: 'free' }, OP);
    const globex = await stripe.customers.create({
      email: 'ops@globex.example',
      metadata: { workspace_id: MONTHLY },
    });
    await stripe.subscriptions.create({
      customer: globex.id,
      items: [{ price: 'price_growth_monthly' }],
      metadata: { workspace_id: MONTHLY },
    });
    for (let i = 0; i < 200; i++) {
      if ((await api('GET', `/v1/workspaces/${MONTHLY}`)).planId === 'growth') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    say(`   The platform's collector delivers usage from ${closed} late (occurredAt; up to 35 days back)`);
    await spend(162.7, 'late-globex', { mode: 'record', occurredAt: lateAt }, MONTHLY);
    await spend(1812.5, 'late-acme', { mode: 'record', occurredAt: lateAt });
    for (const ws of [MONTHLY, WS]) {
      const p = await api('GET', `/v1/workspaces/${ws}/invoice-preview?month=${closed}`);
      process.stdout.write(
        `   ${ws}: ${p.flexCredits} flex credits in ${closed} → ${p.billedCredits} billed (rounded down), ${money(p.amountCents)}\n`,
      );
    }

    say(
      `10. The monthly invoicing run for ${closed} (the scheduler starts it on the 1st; this is the re-run API)`,
    );
    const dry = await api('POST', '/v1/admin/invoicing/runs', { month: closed, dryRun: true }, OP);
    process.stdout.write(`   dry run: ${dry.workspaces} workspaces, ${dry.billedCredits} credits to bill\n`);
    const runStatus = async () => {
      for (let i = 0; i < 400; i++) {
        const st = await api('GET', `/v1/admin/invoicing/runs/${closed}`, undefined, OP);
        if (st.workspaces >= 2 && st.counts.pending === 0) return st;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error('timed out waiting for the invoicing run');
    };
    await api('POST', '/v1/admin/invoicing/runs', { month: closed }, OP);
    const st = await runStatus();
    process.stdout.write(
      `   ${JSON.stringify(st.counts)} · ${st.billedCredits} credits, ${money(st.amountCents)} billed\n`,
    );
    const stripeSide = async (label: string) => {
      const items = await stripe.invoiceItems.list({ customer: globex.id });
      for (const it of items.data)
        process.stdout.write(
          `   ${label} ${MONTHLY}: item ${it.id} × ${it.quantity}, "${it.description}" (waits for the next subscription invoice)\n`,
        );
      const invoices = await stripe.invoices.list({ customer: customer.id });
      // Flex invoices carry the month in their metadata; a finalized one is "open" (to be paid).
      for (const inv of invoices.data.filter((v) => v.metadata?.month))
        process.stdout.write(
          `   ${label} ${WS}: invoice ${inv.id} for ${inv.metadata?.month}: ${inv.status === 'open' ? 'finalized' : inv.status}, ${money(inv.total)}\n`,
        );
    };
    await stripeSide('Stripe:');
    await api('POST', '/v1/admin/invoicing/runs', { month: closed }, OP);
    await new Promise((r) => setTimeout(r, 500));
    say('    Run again: nothing is billed twice (idempotency keys flex:{workspace}:{month})');
    await stripeSide('Stripe:');

    say(
      '11. The subscription is cancelled: included credits forfeited, back to free, and the flex of\n' +
        '    this final month is invoiced at once (R-CYC-3)',
    );
    await stripe.subscriptions.cancel(sub.id);
    show(await until('the free plan', (w) => w.planId === 'free'));
    for (let i = 0; i < 200; i++) {
      const flexInvoices = (await stripe.invoices.list({ customer: customer.id })).data.filter(
        (v) => v.metadata?.month,
      );
      // Finalized, not just created: the invoice, its item and the finalization are three paced calls.
      if (flexInvoices.length >= 2 && flexInvoices.every((v) => v.status === 'open')) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await stripeSide('Stripe:');

    say('12. On the free plan it uses its 30 credits: credits exhausted');
    await spend(30, 'job-5');
    await spend(1, 'job-6');
    await banners(['en', 'hi', 'ko']);

    say(`13. What the platform's webhook receiver got (signed; each alert id at least once)`);
    const arrived = () => new Set(receiver.received.map((r) => r.body.id as string));
    for (let i = 0; i < 400 && [...raised].some((id) => !arrived().has(id)); i++)
      await new Promise((r) => setTimeout(r, 50));
    const missing = [...raised].filter((id) => !arrived().has(id));
    if (missing.length > 0) throw new Error(`alerts not delivered: ${missing.join(', ')}`);
    for (const r of receiver.received) {
      const b = r.body;
      process.stdout.write(
        `   ${b.type} ${b.id} for ${b.workspaceId} (signature ${r.verified ? 'verified' : 'BAD'})\n` +
          `      en: ${b.data.messages.en}\n      hi: ${b.data.messages.hi}\n      ko: ${b.data.messages.ko}\n`,
      );
    }

    say('14. The ledger, newest first');
    const ledger = await api('GET', `/v1/workspaces/${WS}/ledger?limit=40`);
    for (const e of ledger.entries as Json[]) {
      process.stdout.write(
        `   ${e.at.slice(0, 19)}  ${e.type.padEnd(10)} ${(e.kind ?? '-').padEnd(9)} ${e.credits.padStart(9)}  → ${e.balanceAfter.padStart(8)}  ${e.ref}${e.month ? ` (flex of ${e.month})` : ''}\n`,
      );
    }
    process.stdout.write('\nDone.\n');
  } finally {
    service.kill('SIGTERM');
    await new Promise((r) => service.once('exit', r));
    receiver.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
