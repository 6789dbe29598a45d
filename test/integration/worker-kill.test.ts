/**
 * A worker process killed with SIGKILL in the middle of its jobs: another worker takes the
 * stalled jobs back, and every effect is applied exactly once (R-WH-2, R-PRE-2).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { afterAll, expect, it } from 'vitest';
import { formatUnits } from '../../src/domain/units.js';
import { STRIPE_EVENTS_QUEUE, STRIPE_JOB_OPTIONS } from '../../src/queues/stripe-events.js';
import { bullConnection } from '../../src/redis/clients.js';
import { queuePrefix } from '../../src/redis/keys.js';
import { checkLedger } from '../../src/services/ledger-check.js';
import { GROWTH } from '../support/burndown-cases.js';
import { targetEnv, testRedis } from '../support/redis.js';
import { event, paidCheckoutSession } from '../support/stripe.js';

const r = testRedis();
const children: ChildProcess[] = [];
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await r.close();
});

function startWorker(): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'workers/main.ts'], {
    env: {
      ...process.env,
      ...targetEnv(r.target),
      REDIS_PREFIX: r.prefix,
      WORKER_LOCK_MS: '1000',
      LOG_LEVEL: 'silent',
    },
    stdio: 'ignore',
  });
  children.push(child);
  return child;
}

async function until(what: string, done: () => Promise<boolean>, ms = 40_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await done()) return;
    await new Promise((res) => setTimeout(res, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

it('R-WH-2 a worker killed mid-run leaves every purchase granted exactly once after the retry', async () => {
  const workspaces = Array.from({ length: 20 }, (_, i) => `kill${i}`);
  const now = Date.now();
  for (const id of workspaces) await r.store.upsert({ workspaceId: id, terms: GROWTH, meta: {}, now });
  const queue = new Queue(STRIPE_EVENTS_QUEUE, {
    connection: bullConnection(r.target),
    prefix: queuePrefix(r.prefix),
  });
  const JOBS = 400;
  const expected = new Map<string, number>();
  await queue.addBulk(
    Array.from({ length: JOBS }, (_, i) => {
      const ws = workspaces[i % workspaces.length]!;
      const credits = (i % 7) + 1;
      expected.set(ws, (expected.get(ws) ?? 0) + credits);
      const e = event(
        'checkout.session.completed',
        paidCheckoutSession({
          workspaceId: ws,
          credits: String(credits),
          id: `cs_kill_${randomUUID().replaceAll('-', '')}`,
        }),
      );
      return { name: e.type as string, data: e, opts: { ...STRIPE_JOB_OPTIONS, jobId: e.id as string } };
    }),
  );

  const first = startWorker();
  await until('the first worker to be mid-run', async () => (await queue.getCompletedCount()) >= 40);
  first.kill('SIGKILL');
  await new Promise((res) => first.once('exit', res));
  const doneByFirst = await queue.getCompletedCount();
  // Jobs it had taken and not finished: their locks expire and the next worker runs them again.
  expect(await queue.getActiveCount()).toBeGreaterThan(0);
  expect(doneByFirst).toBeLessThan(JOBS);

  const second = startWorker();
  await until('all jobs to complete', async () => (await queue.getCompletedCount()) === JOBS);
  second.kill('SIGTERM');
  await new Promise((res) => second.once('exit', res));
  expect(await queue.getFailedCount()).toBe(0);

  for (const ws of workspaces) {
    const snap = await r.store.snapshot(ws, Date.now());
    expect(formatUnits(snap!.state.prepaid), ws).toBe(String(expected.get(ws)));
    const check = await checkLedger(r.store, ws, Date.now());
    expect(check.problems, ws).toEqual([]);
  }
  await queue.close();
}, 90_000);
