/**
 * src/queues/worker-lock.ts on a real Redis: a job whose lock is lost twice (its worker starved of
 * the CPU past the lock, as the idle policy can be) runs again each time and completes, where
 * BullMQ's own limit of one stall fails it for good (R-WH-2: a paid event is never dropped).
 * A lost lock is made by deleting it while the processor holds the job, which is what a worker
 * that cannot run to renew it leaves in Redis.
 */
import { randomUUID } from 'node:crypto';
import { type Job, Queue, Worker } from 'bullmq';
import { afterAll, expect, it } from 'vitest';
import { workerLockOptions } from '../../src/queues/worker-lock.js';
import { bullConnection } from '../../src/redis/clients.js';
import { queuePrefix } from '../../src/redis/keys.js';
import { testRedis } from '../support/redis.js';

const r = testRedis();
afterAll(() => r.close());

const LOCK_MS = 500;

/** Runs one job whose first two runs lose their lock and hang; the answer is how it ended. */
async function twiceStalled(lock: {
  lockDuration: number;
  stalledInterval: number;
  maxStalledCount?: number;
}) {
  const name = `stall-${randomUUID().slice(0, 8)}`;
  const prefix = queuePrefix(r.prefix);
  const connection = bullConnection(r.target);
  const queue = new Queue(name, { connection, prefix });
  const workerConnection = bullConnection(r.target);
  let runs = 0;
  const hung: (() => void)[] = [];
  const worker = new Worker(
    name,
    async (job: Job) => {
      runs++;
      if (runs > 2) return 'done';
      await r.redis.del(`${prefix}:${name}:${job.id}:lock`);
      await new Promise<void>((resolve) => hung.push(resolve));
    },
    { connection: workerConnection, prefix, concurrency: 3, ...lock },
  );
  worker.on('error', () => {}); // the hung runs' lock renewals and completions fail, as they should
  worker.on('closed', () => workerConnection.disconnect());
  try {
    const job = await queue.add('paid', { n: 1 }, { jobId: 'evt_1', attempts: 10, removeOnFail: false });
    const deadline = Date.now() + 20_000;
    for (;;) {
      const state = await queue.getJobState(job.id!);
      if (state === 'completed' || state === 'failed') {
        const done = await queue.getJob(job.id!);
        return { state, runs, failedReason: done?.failedReason };
      }
      if (Date.now() > deadline) throw new Error(`job still ${state} after ${runs} runs`);
      await new Promise((res) => setTimeout(res, 50));
    }
  } finally {
    for (const resolve of hung) resolve();
    await worker.close();
    await queue.close();
    connection.disconnect();
  }
}

it('R-WH-2 a job that stalls twice runs a third time and completes', async () => {
  expect(await twiceStalled(workerLockOptions(LOCK_MS))).toEqual({
    state: 'completed',
    runs: 3,
    failedReason: undefined,
  });
}, 30_000);

it("BullMQ's default limit (one stall) fails the same job for good: what the option prevents", async () => {
  const { maxStalledCount: _ours, ...lock } = workerLockOptions(LOCK_MS);
  const ended = await twiceStalled(lock);
  expect(ended.state).toBe('failed');
  expect(ended.failedReason).toMatch(/stalled more than allowable limit/);
}, 30_000);
