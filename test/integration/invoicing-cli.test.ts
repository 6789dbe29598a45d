/**
 * The operator CLI (`npm run invoicing`): its arguments, its exit statuses and messages, and
 * one real run as a separate process against the API, an invoicing worker and the Stripe
 * stand-in.
 */
import { spawn } from 'node:child_process';
import { Worker } from 'bullmq';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliError, parseCliArgs } from '../../src/cli/invoicing.js';
import { loadCatalog } from '../../src/config/catalog.js';
import { loadCliConfig } from '../../src/config/cli.js';
import { loadConfig } from '../../src/config/env.js';
import { createLogger } from '../../src/observability/logger.js';
import { INVOICING_QUEUE } from '../../src/queues/invoicing.js';
import { bullConnection } from '../../src/redis/clients.js';
import { freePort } from '../../src/redis/embedded-server.js';
import { queuePrefix } from '../../src/redis/keys.js';
import { defineScripts } from '../../src/redis/scripts.js';
import { buildService } from '../../src/runtime.js';
import { startStandin } from '../../src/stripe/standin/server.js';
import { invoicingProcessor } from '../../workers/invoicing.js';
import { OPERATOR, PLATFORM, startTestApi, type TestApi } from '../support/http.js';
import { testClient } from '../support/redis.js';
import { FIXTURES_PATH, WEBHOOK_SECRET } from '../support/stripe.js';

function cli(args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    // Nothing of the caller's shell decides where the CLI goes or with which key.
    const { BURNRATE_API_KEYS, BURNRATE_OPERATOR_KEY, BURNRATE_URL, PORT, ...base } = process.env;
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/invoicing.ts', ...args], {
      env: { ...base, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('arguments', () => {
  it.each([
    [['run', '--month', '2026-10'], { command: 'run', month: '2026-10', dryRun: false }],
    [['run', '--dry-run', '--month=2026-01'], { command: 'run', month: '2026-01', dryRun: true }],
    [['status', '--month', '2026-12'], { command: 'status', month: '2026-12' }],
    [['--help'], { command: 'help' }],
  ])('%j → %j', (argv, expected) => {
    expect(parseCliArgs(argv)).toEqual(expected);
  });

  it.each([
    [[], /name a command/],
    [['bill', '--month', '2026-10'], /unknown command 'bill'/],
    [['run'], /--month YYYY-MM is required/],
    [['run', '--month', '2026-13'], /--month must be YYYY-MM/],
    [['run', '--month', '10-2026'], /--month must be YYYY-MM/],
    [['run', '--month'], /--month/],
    [['status', '--month', '2026-10', '--dry-run'], /--dry-run goes with run/],
    [['run', '--month', '2026-10', '--force'], /--force/],
    [['run', 'now', '--month', '2026-10'], /unexpected argument 'now'/],
  ])('%j is refused: %s', (argv, message) => {
    let err: unknown;
    try {
      parseCliArgs(argv);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(2);
    expect((err as CliError).message).toMatch(message);
  });

  it('finds the API and the operator key in the environment', () => {
    expect(loadCliConfig({})).toEqual({
      url: 'http://127.0.0.1:3000',
      operatorKey: 'dev-operator-key',
      devKey: true,
    });
    expect(
      loadCliConfig({ PORT: '4000', BURNRATE_API_KEYS: 'platform:plat-key-1,operator:oper-key-1' }),
    ).toEqual({ url: 'http://127.0.0.1:4000', operatorKey: 'oper-key-1', devKey: false });
    expect(
      loadCliConfig({ BURNRATE_URL: 'https://billing.example/', BURNRATE_OPERATOR_KEY: 'k-12345678' }),
    ).toEqual({
      url: 'https://billing.example',
      operatorKey: 'k-12345678',
      devKey: false,
    });
    expect(() => loadCliConfig({ BURNRATE_API_KEYS: 'platform:plat-key-1' })).toThrow(
      /BURNRATE_OPERATOR_KEY/,
    );
    expect(() => loadCliConfig({ BURNRATE_URL: 'ftp://x' })).toThrow(/BURNRATE_URL/);
  });

  it('bad usage exits 2 with the usage; an API it cannot reach exits 3', async () => {
    const bad = await cli(['run']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--month YYYY-MM is required/);
    expect(bad.stderr).toMatch(/usage: npm run invoicing -- run --month YYYY-MM/);
    const down = await cli(['status', '--month', '2026-10'], {
      BURNRATE_URL: `http://127.0.0.1:${await freePort()}`,
    });
    expect(down.code).toBe(3);
    expect(down.stderr).toMatch(
      /cannot reach the burnrate API at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/,
    );
  });
});

describe('against the API', () => {
  const OCT = Date.UTC(2026, 9, 10, 12);
  const NOV = Date.UTC(2026, 10, 2, 12);
  let api: TestApi;
  let worker: Worker;
  let standin: Awaited<ReturnType<typeof startStandin>>;
  let stripe: Stripe;
  let env: Record<string, string>;
  beforeAll(async () => {
    const port = await freePort();
    const stripeEnv = { STRIPE_API_BASE: `http://127.0.0.1:${port}`, STRIPE_SECRET_KEY: 'sk_test_standin' };
    api = await startTestApi({ now: OCT, env: stripeEnv });
    standin = await startStandin({ port, fixturesPath: FIXTURES_PATH, webhookSecret: WEBHOOK_SECRET });
    stripe = new Stripe('sk_test_standin', { host: '127.0.0.1', port, protocol: 'http' });
    const runtime = {
      config: loadConfig({ NODE_ENV: 'test', REDIS_PREFIX: api.prefix, ...stripeEnv }),
      catalog: loadCatalog('catalog/catalog.example.json'),
    };
    const { invoicer } = buildService({
      runtime,
      redis: defineScripts(testClient({}, api.target)),
      clock: api.clock,
    });
    worker = new Worker(
      INVOICING_QUEUE,
      invoicingProcessor({
        invoicer,
        queue: api.invoicingQueue,
        clock: api.clock,
        log: createLogger({ level: 'silent', name: 't' }),
      }),
      { connection: bullConnection(api.target), prefix: queuePrefix(api.prefix) },
    );
    env = { BURNRATE_URL: api.base, BURNRATE_OPERATOR_KEY: OPERATOR };

    for (const [id, planId, flex, withCustomer] of [
      ['cli-monthly', 'growth', '77.7', true],
      ['cli-annual', 'growth-annual', '10.5', true],
      ['cli-nocustomer', 'growth', '5', false],
    ] as const) {
      const customer = withCustomer
        ? (await stripe.customers.create({ metadata: { workspace_id: id } })).id
        : null;
      await api.call('PUT', `/v1/workspaces/${id}`, {
        body: { planId, ...(customer ? { stripeCustomerId: customer } : {}) },
      });
      await api.call('PATCH', `/v1/workspaces/${id}/flex`, {
        body: { capCents: null, confirmUnlimited: true },
      });
      const included = planId === 'growth-annual' ? 1800 : 150;
      await api.call('POST', `/v1/workspaces/${id}/usage`, {
        key: PLATFORM,
        body: {
          idempotencyKey: 'oct',
          credits: String((included * 10_000 + Number(flex) * 10_000) / 10_000),
        },
      });
    }
    api.clock.set(NOV);
  });
  afterAll(async () => {
    await worker.close();
    await standin.close();
    await api.close();
  });

  it('refuses a wrong key and a month that is not closed, saying why', async () => {
    const wrongKey = await cli(['status', '--month', '2026-10'], { ...env, BURNRATE_OPERATOR_KEY: PLATFORM });
    expect(wrongKey.code).toBe(3);
    expect(wrongKey.stderr).toMatch(/refused the operator key \(403 forbidden/);
    const open = await cli(['run', '--month', '2026-11'], env);
    expect(open.code).toBe(2);
    expect(open.stderr).toMatch(/2026-11 is not closed yet/);
  });

  it('R-FLX-6 a dry run, then a run followed to the end: totals and failures, exit 1 for the failure', async () => {
    const dry = await cli(['run', '--month', '2026-10', '--dry-run'], env);
    expect(dry).toMatchObject({ code: 0 });
    expect(dry.stdout).toBe('2026-10: 3 workspace-months to bill, 92 credits (dry run: nothing queued)\n');
    expect(await api.invoicingQueue.count()).toBe(0);

    const run = await cli(['run', '--month', '2026-10'], env);
    expect(run.stderr).toMatch(/2026-10: 3 workspace-months to bill, 92 credits; run queued/);
    expect(run.stdout).toBe(
      [
        '2026-10: 3 workspace-months — 1 item created, 1 invoiced, 0 skipped, 1 failed, 0 pending',
        'billed 87 credits, 34,800 cents',
        'failed:',
        '  cli-nocustomer  the workspace has no Stripe customer',
        '',
      ].join('\n'),
    );
    expect(run.code).toBe(1);
    expect((await api.call('GET', '/v1/admin/invoicing/runs/2026-10')).body.counts.pending).toBe(0);

    const status = await cli(['status', '--month', '2026-10'], env);
    expect(status.code).toBe(1);
    expect(status.stdout).toBe(run.stdout);

    // Fixed, and run again: the failure is billed, nothing else twice.
    const customer = (await stripe.customers.create({ metadata: { workspace_id: 'cli-nocustomer' } })).id;
    await api.call('PUT', '/v1/workspaces/cli-nocustomer', {
      body: { planId: 'growth', stripeCustomerId: customer },
    });
    const again = await cli(['run', '--month', '2026-10'], env);
    expect(again.stdout).toBe(
      [
        '2026-10: 3 workspace-months — 2 item created, 1 invoiced, 0 skipped, 0 failed, 0 pending',
        'billed 92 credits, 36,800 cents',
        '',
      ].join('\n'),
    );
    expect(again.code).toBe(0);
    expect(standin.standin.objectsOf('invoiceitem')).toHaveLength(3);
  });
});
