/**
 * `npm run demo`: the whole story on embedded defaults, step by step, on a test clock (issue 11
 * §3). It starts the service as `npm start` does (a private Redis, the local Stripe stand-in, the
 * API and the worker, on free ports with data in a temp folder), then plays the platform (through
 * the typed client, client/src/index.ts) and the customer (through the Stripe SDK, its customers
 * on a Stripe test clock): a workspace subscribes to growth through Stripe, spends past 80% of
 * its included credits, buys a prepaid bundle through Checkout, runs into flex and its cap,
 * changes plan to growth-annual and is refunded. Then burnrate's clock closes the month: last
 * month's usage arrives late, the month's invoicing run bills the floor of each workspace's flex
 * (an item for the monthly plan, a finalized invoice for the annual one), once. Then a year
 * passes: the runs of the months it closed bill their flex, and Stripe renews the annual plan at
 * its period's end (a new allotment, once). Finally the subscription is cancelled: its final
 * invoice, then the free plan runs out. Every alert shows as a banner in English, Hindi and
 * Korean and arrives, signed, at a webhook receiver the demo runs. It prints balances, alerts,
 * Stripe's side, the ledgers and the clock, which no ledger entry is dated after.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Stripe from 'stripe';
import {
  Burnrate,
  type InvoicingRunStatus,
  type Lang,
  type LedgerEntry,
  type UsageInput,
  type Workspace,
} from '../../client/src/index.js';
import { inheritedEnv } from '../config/env.js';
import { monthOf } from '../domain/cycle.js';
import { waitUntilReady } from '../http/wait-until-ready.js';
import { scheduledRunAt } from '../queues/clock-catch-up.js';
import { freePort } from '../redis/embedded-server.js';
import { verifyAlertSignature } from '../services/alerts.js';

const WS = 'acme';
const MONTHLY = 'globex';
const ALERT_SECRET = 'demo-alert-webhook-secret';
/**
 * The month closes with the clock this far before its run is due (00:05 on the 1st, as the
 * schedule has it): the advance queues the run with that delay, time enough for the late usage
 * to land first, as it does in the five minutes after midnight.
 */
const RUN_LEAD_MS = 6_000;

// biome-ignore lint/suspicious/noExplicitAny: the demo prints what the alert webhooks carry
type Json = Record<string, any>;

function say(text: string) {
  process.stdout.write(`\n━━ ${text}\n`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Asks `probe` every 50 ms until it answers something; throws after `tries`. */
async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, tries = 400): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
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

const money = (cents: number) => `$${(cents / 100).toFixed(2)}`;
const day = (iso: string) => iso.slice(0, 10);
/** The first day of the month after the one `at` (ms) is in, 00:00 UTC. */
const nextMonthStart = (at: number) => {
  const d = new Date(at);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
};

async function main() {
  const port = await freePort();
  const standinPort = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'burnrate-demo-'));
  const receiver = await startAlertReceiver();
  const base = `http://127.0.0.1:${port}`;
  const standin = `http://127.0.0.1:${standinPort}`;
  // Embedded defaults whatever this shell has set: no Redis URL or cluster nodes, no Stripe, the dev
  // keys. REDIS_CLUSTER stays: npm start's private Redis Cluster is embedded too.
  const env = inheritedEnv();
  for (const k of [
    'REDIS_URL',
    'REDIS_CLUSTER_NODES',
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
  // The platform's services hold the platform key; its operators the operator key.
  const platform = new Burnrate({ baseUrl: base, apiKey: 'dev-platform-key' });
  const operator = new Burnrate({ baseUrl: base, apiKey: 'dev-operator-key' });
  const helper = async (path: string, body: unknown = {}) =>
    (
      await fetch(standin + path, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
    ).json() as Promise<Json>;
  const until = (what: string, ok: (w: Workspace) => boolean, ws = WS) =>
    waitFor(what, async () => {
      const w = await platform.getWorkspace(ws);
      return ok(w) ? w : undefined;
    });
  const show = (w: Workspace) =>
    process.stdout.write(
      `   plan ${w.planId}, cycle ${day(w.cycle.start)} → ${day(w.cycle.end)} (${w.cycle.interval})\n` +
        `   included ${w.included.remaining} of ${w.included.granted} left · prepaid ${w.prepaid.remaining} · ` +
        `flex ${w.flex.usedCredits} credits = ${money(w.flex.usedCents)} of cap ${w.flex.capCents === null ? 'none' : `$${w.flex.capCents / 100}`}` +
        `${w.blocked ? ` · blocked: ${w.blocked}` : ''}\n`,
    );
  /** Every alert id a usage answer named: the receiver must get each of them. */
  const raised = new Set<string>();
  const spend = async (credits: number, key: string, extra: Partial<UsageInput> = {}, ws = WS) => {
    const r = await platform.usage(ws, { idempotencyKey: key, credits, ...extra });
    for (const a of r.alerts ?? []) raised.add(a.id);
    const how = extra.mode === 'record' ? 'record' : 'spend';
    process.stdout.write(
      `   ${how} ${credits}${extra.occurredAt ? ` (occurred ${extra.occurredAt})` : ''}: ${
        r.ok
          ? `debited ${JSON.stringify(r.debited)}${r.shortfall ? `, shortfall ${r.shortfall}` : ''}`
          : `refused: ${r.reason}`
      }\n`,
    );
    return r;
  };
  const banners = async (langs: Lang[] = ['en']) => {
    for (const lang of langs) {
      const { alerts } = await platform.alerts(WS, { lang });
      for (const a of alerts) process.stdout.write(`   [${lang}] ${a.type}: ${a.message}\n`);
    }
  };
  const clockNow = async () => Date.parse((await operator.testClock()).now);
  /** A month's invoicing once `runs` runs have queued all its workspace-months and none is pending. */
  const runDone = (month: string, runs: number) =>
    waitFor(
      `the invoicing run of ${month}`,
      async () => {
        const st = await operator.invoicingStatus(month);
        return st.runs >= runs && st.counts.pending === 0 ? st : undefined;
      },
      600,
    );
  const billed = (st: InvoicingRunStatus) =>
    `${JSON.stringify(st.counts)} · ${st.billedCredits} credits, ${money(st.amountCents)} billed`;

  try {
    await waitUntilReady({ base, timeoutMs: 30_000, everyMs: 100 });
    const stripe = new Stripe('sk_test_demo', { host: '127.0.0.1', port: standinPort, protocol: 'http' });
    // The customers live on a Stripe test clock that starts at burnrate's clock: every advance of
    // burnrate's clock moves it to the same time, and Stripe renews their subscriptions on the way.
    const stripeClock = await stripe.testHelpers.testClocks.create({
      frozen_time: Math.floor((await clockNow()) / 1000),
      name: 'burnrate demo',
    });
    /** Moves burnrate's clock (and so Stripe's) to `to`; answers once Stripe's clock is there. */
    const advance = async (to: number) => {
      const a = await operator.advanceTestClock(new Date(to));
      const stripeClocks = a.stripeTestClocks;
      process.stdout.write(
        `   POST /v1/admin/test-clock: ${a.previous} → ${a.now}\n` +
          `   invoicing runs queued: ${a.invoicingRuns.length > 0 ? a.invoicingRuns.join(', ') : 'none'} · ` +
          `Stripe test clocks advanced: ${stripeClocks && 'advanced' in stripeClocks ? stripeClocks.advanced.join(', ') : JSON.stringify(stripeClocks)}\n`,
      );
      // Stripe answers the advance at once and renews on the way; the clock is ready at the end.
      await waitFor(
        "Stripe's test clock",
        async () => {
          const c = await stripe.testHelpers.testClocks.retrieve(stripeClock.id);
          return c.status === 'ready' && c.frozen_time >= Math.floor(to / 1000) ? c : undefined;
        },
        1200,
      );
      return a;
    };

    say(`1. The platform creates workspace ${WS} on the free plan`);
    show(await operator.putWorkspace(WS, { planId: 'free' }));
    process.stdout.write(
      `   burnrate's clock: ${(await operator.testClock()).now} (GET /v1/admin/test-clock)\n`,
    );

    say(
      `2. It subscribes to growth in Stripe (its customer on test clock ${stripeClock.id}):\n` +
        '   customer.subscription.created → 150 included credits',
    );
    const customer = await stripe.customers.create({
      email: 'ops@acme.example',
      metadata: { workspace_id: WS },
      test_clock: stripeClock.id,
    });
    const sub = await stripe.subscriptions.create({
      customer: customer.id,
      items: [{ price: 'price_growth_monthly' }],
      metadata: { workspace_id: WS },
    });
    show(await until('the growth plan', (w) => w.planId === 'growth'));

    say('3. It spends 125 credits: past 80% of its included credits');
    await spend(125, 'job-1');
    show(await platform.getWorkspace(WS));

    say('   The banner, in the three languages (R-ALR-3)');
    await banners(['en', 'hi', 'ko']);

    say('4. It buys the 100-credit bundle through Stripe Checkout; the customer pays');
    const checkout = await platform.createCheckout(WS, {
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
    show(await platform.getWorkspace(WS));
    await banners();

    say(
      '6. It changes plan to growth-annual in Stripe: a new cycle, 1,800 credits, the old remainder expires',
    );
    await stripe.subscriptions.update(sub.id, {
      items: [{ price: 'price_growth_annual' }],
    } as Stripe.SubscriptionUpdateParams);
    const annual = await until('the annual plan', (w) => w.planId === 'growth-annual');
    show(annual);

    say('7. Half the bundle is refunded: its credits are spent, so the refunded share is a shortfall');
    const pi = (paid.data as Json).object.payment_intent as string;
    await helper(`/_standin/payment_intents/${pi}/refund`, { amount: checkout.amountCents / 2 });
    await waitFor('the refund', async () => {
      const page = await platform.ledgerPage(WS, { limit: 5 });
      return page.entries.some((e) => e.ref.startsWith('charge.refunded:')) ? true : undefined;
    });
    show(await platform.getWorkspace(WS));

    say(`8. A second workspace, ${MONTHLY}, subscribes to growth monthly in Stripe (the same test clock)`);
    await operator.putWorkspace(MONTHLY, { planId: 'free' });
    const globex = await stripe.customers.create({
      email: 'ops@globex.example',
      metadata: { workspace_id: MONTHLY },
      test_clock: stripeClock.id,
    });
    await stripe.subscriptions.create({
      customer: globex.id,
      items: [{ price: 'price_growth_monthly' }],
      metadata: { workspace_id: MONTHLY },
    });
    show(await until(`${MONTHLY}'s growth plan`, (w) => w.planId === 'growth', MONTHLY));

    const closed = monthOf(await clockNow());
    const runAt = scheduledRunAt(closed);
    say(
      `9. The month ${closed} closes: the operator moves burnrate's clock to ${RUN_LEAD_MS / 1000} s before\n` +
        `   its invoicing run is due (${new Date(runAt).toISOString()}, as the schedule has it)`,
    );
    await advance(runAt - RUN_LEAD_MS);
    // The last hour of the closed month: well within the 35 days late usage may go back.
    const lateAt = new Date(nextMonthStart(Date.parse(`${closed}-01T00:00:00Z`)) - 3_600_000).toISOString();
    say(`   The platform's collector delivers usage from ${closed} late (occurredAt; up to 35 days back)`);
    await spend(162.7, 'late-globex', { mode: 'record', occurredAt: lateAt }, MONTHLY);
    await spend(1812.5, 'late-acme', { mode: 'record', occurredAt: lateAt });
    if ((await operator.invoicingStatus(closed)).runs > 0)
      throw new Error(`the run of ${closed} started before the late usage landed: this machine is too slow`);
    for (const ws of [MONTHLY, WS]) {
      const p = await platform.invoicePreview(ws, { month: closed });
      process.stdout.write(
        `   ${ws}: ${p.flexCredits} flex credits in ${closed} → ${p.billedCredits} billed (rounded down), ${money(p.amountCents)}\n`,
      );
    }
    const dry = await operator.runInvoicing(closed, { dryRun: true });
    if ('workspaces' in dry)
      process.stdout.write(
        `   dry run: ${dry.workspaces} workspaces, ${dry.billedCredits} credits to bill\n`,
      );

    say(
      `10. The monthly invoicing run for ${closed}: the advance queued it (job run_${closed}_clock) for the\n` +
        `    schedule's 00:05; it bills the floor of each workspace's flex, once`,
    );
    process.stdout.write(`   ${billed(await runDone(closed, 1))}\n`);
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
    say(
      '    Run again (the re-run API): nothing is billed twice (idempotency keys flex:{workspace}:{month})',
    );
    await operator.runInvoicing(closed);
    process.stdout.write(`   ${billed(await runDone(closed, 2))}\n`);
    await stripeSide('Stripe:');

    const december = monthOf(await clockNow());
    say(`11. In ${december} ${WS} spends 10 credits more: its year's included credits are used, so flex`);
    await spend(10, 'job-5');
    show(await platform.getWorkspace(WS));

    const renewal = Date.parse(annual.cycle.end);
    say(
      `12. A year passes: the clock moves to an hour after the annual period ends (${annual.cycle.end}).\n` +
        '    Stripe renews the subscriptions on the way (invoice.paid, customer.subscription.updated),\n' +
        '    and each month the advance closed gets its invoicing run',
    );
    const year = await advance(renewal + 3_600_000);
    // The worker runs them side by side; reading them one after the other costs no time.
    const runs: InvoicingRunStatus[] = [];
    for (const m of year.invoicingRuns) runs.push(await runDone(m, 1));
    for (const st of runs.filter((s) => s.workspaces > 0))
      process.stdout.write(`   run of ${st.month}: ${billed(st)}\n`);
    const idle = runs.filter((s) => s.workspaces === 0).map((s) => s.month);
    if (idle.length > 0)
      process.stdout.write(
        `   runs of ${idle[0]} … ${idle.at(-1)} (${idle.length}): no flex, nothing billed\n`,
      );
    const renewed = await until('the renewal', (w) => Date.parse(w.cycle.start) === renewal);
    process.stdout.write('   The new year, its allotment granted once:\n');
    show(renewed);

    say(
      `13. In its new year ${WS} spends 1,825 credits: its 1,800, then 25 of flex. Then the subscription\n` +
        '    is cancelled: included credits forfeited, back to free, and the flex of this final month is\n' +
        '    invoiced at once (R-CYC-3)',
    );
    await spend(1825, 'job-6');
    await stripe.subscriptions.cancel(sub.id);
    show(await until('the free plan', (w) => w.planId === 'free'));
    await waitFor('the final invoice', async () => {
      const flexInvoices = (await stripe.invoices.list({ customer: customer.id })).data.filter(
        (v) => v.metadata?.month,
      );
      // Finalized, not just created: the invoice, its item and the finalization are three paced calls.
      return flexInvoices.length >= 3 && flexInvoices.every((v) => v.status === 'open') ? true : undefined;
    });
    await stripeSide('Stripe:');

    say('14. On the free plan it uses its 30 credits: credits exhausted');
    await spend(30, 'job-7');
    await spend(1, 'job-8');
    await banners(['en', 'hi', 'ko']);

    say(`15. What the platform's webhook receiver got (signed; each alert id at least once)`);
    const arrived = () => new Set(receiver.received.map((r) => r.body.id as string));
    for (let i = 0; i < 400 && [...raised].some((id) => !arrived().has(id)); i++) await sleep(50);
    const missing = [...raised].filter((id) => !arrived().has(id));
    if (missing.length > 0) throw new Error(`alerts not delivered: ${missing.join(', ')}`);
    for (const r of receiver.received) {
      const b = r.body;
      process.stdout.write(
        `   ${b.type} ${b.id} for ${b.workspaceId} (signature ${r.verified ? 'verified' : 'BAD'})\n` +
          `      en: ${b.data.messages.en}\n      hi: ${b.data.messages.hi}\n      ko: ${b.data.messages.ko}\n`,
      );
    }

    say('16. The ledgers, newest first, and the clock');
    const ledgers: [string, LedgerEntry[]][] = [];
    for (const ws of [WS, MONTHLY]) {
      const entries: LedgerEntry[] = [];
      for await (const e of platform.ledger(ws, { pageSize: 100 })) entries.push(e);
      ledgers.push([ws, entries]);
    }
    // Read after the ledgers: an entry dated after this clock was dated ahead of the story's time.
    const clock = await operator.testClock();
    for (const [ws, entries] of ledgers) {
      process.stdout.write(`   ${ws} (${entries.length} entries):\n`);
      for (const e of entries)
        process.stdout.write(
          `   ${e.at.slice(0, 19)}  ${e.type.padEnd(10)} ${(e.kind ?? '-').padEnd(9)} ${e.credits.padStart(9)}  → ${e.balanceAfter.padStart(8)}  ${e.ref}${e.month ? ` (flex of ${e.month})` : ''}\n`,
        );
    }
    const ahead = ledgers.flatMap(([, es]) => es).filter((e) => Date.parse(e.at) > Date.parse(clock.now));
    if (ahead.length > 0) throw new Error(`ledger entries dated after the clock: ${JSON.stringify(ahead)}`);
    process.stdout.write(
      `   The clock: ${clock.now} (GET /v1/admin/test-clock, ${Math.round(clock.offsetMs / 86_400_000)} days ahead of the system's); no entry is dated after it\n`,
    );
    process.stdout.write('\nDone.\n');
  } finally {
    service.kill('SIGTERM');
    await new Promise((r) => service.once('exit', r));
    receiver.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
