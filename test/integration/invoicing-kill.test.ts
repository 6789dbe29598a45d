/**
 * R-FLX-6 on real processes: a worker process SIGKILLed while its jobs wait on Stripe, and two
 * worker processes running at once with more runs of the same month queued, still leave exactly
 * one invoice item per workspace-month in Stripe (the stand-in), one finalized invoice per annual
 * workspace, and every workspace-month's state at item_created or invoiced.
 */
import { expect, it } from 'vitest';
import { floorToWholeCredits } from '../../src/domain/units.js';
import { workspaceJobId } from '../../src/queues/invoicing.js';
import { invoicingWorld, type SeededWorkspace, until } from '../support/invoicing-world.js';

type World = Awaited<ReturnType<typeof invoicingWorld>>;
const UNTHROTTLED = { STRIPE_REQUESTS_PER_SECOND: '0' };

/** What Stripe and burnrate hold afterwards: one item per workspace-month, each billed once. */
async function expectBilledOnce(world: World, seeded: SeededWorkspace[]) {
  const items = world.standin.objectsOf('invoiceitem');
  const invoices = world.standin.objectsOf('invoice');
  const itemsOf = new Map<string, typeof items>();
  for (const i of items) {
    const m = i.metadata as Record<string, string>;
    const key = `${m.workspace_id} ${m.month}`;
    itemsOf.set(key, [...(itemsOf.get(key) ?? []), i]);
  }
  expect(items).toHaveLength(seeded.length);
  for (const w of seeded) {
    const mine = itemsOf.get(`${w.id} ${world.month}`) ?? [];
    expect(mine, w.id).toHaveLength(1);
    expect(mine[0], w.id).toMatchObject({ customer: w.customer, quantity: floorToWholeCredits(w.units) });
    const theirs = invoices.filter((i) => i.customer === w.customer);
    if (w.annual) {
      expect(theirs, w.id).toHaveLength(1);
      expect(theirs[0], w.id).toMatchObject({ status: 'open', id: mine[0]!.invoice });
    } else {
      expect(theirs, w.id).toHaveLength(0);
      expect(mine[0]!.invoice, w.id).toBeNull();
    }
    const state = await world.invoicer.state({ month: world.month, workspaceId: w.id });
    expect(state, w.id).toMatchObject({
      status: w.annual ? 'invoiced' : 'item_created',
      itemId: mine[0]!.id,
      billedCredits: floorToWholeCredits(w.units),
    });
  }
  const annual = seeded.filter((w) => w.annual).length;
  expect((await world.invoicer.status(world.month)).counts).toEqual({
    pending: 0,
    item_created: seeded.length - annual,
    invoiced: annual,
    skipped: 0,
    failed: 0,
  });
}

it('R-FLX-6 a worker SIGKILLed while its jobs wait on Stripe: the next worker bills every workspace-month exactly once', async () => {
  // After the first 150 Stripe requests, every request is held until the worker is dead, so
  // it dies with jobs in flight; the held requests are then carried out, as Stripe would.
  let seen = 0;
  let release!: () => void;
  const gate = new Promise<void>((res) => {
    release = res;
  });
  const held: string[] = [];
  const world = await invoicingWorld({
    onRequest: (req) => {
      if (++seen <= 150) return;
      held.push(`${req.method} ${req.path}`);
      return gate;
    },
  });
  try {
    const seeded = await world.seed(300, { prefix: 'kill', annualEvery: 5 });
    const first = world.startWorker(UNTHROTTLED);
    await world.queue.add('run', { kind: 'run', month: world.month }, { jobId: 'run-kill' });
    await until('the first worker to have jobs waiting on Stripe', async () => held.length >= 8);
    expect(await world.queue.getActiveCount()).toBeGreaterThan(0);
    await world.stop(first, 'SIGKILL');
    release();
    const doneByFirst = await world.queue.getCompletedCount();
    expect(doneByFirst).toBeLessThan(seeded.length);
    // Creates and finalizations alike were cut off.
    expect(held.some((h) => h.startsWith('POST /v1/invoiceitems'))).toBe(true);

    const second = world.startWorker(UNTHROTTLED);
    await until(
      'every job to complete',
      async () => (await world.queue.getCompletedCount()) === seeded.length + 1,
    );
    expect(await world.queue.getFailedCount()).toBe(0);
    const jobs = await world.queue.getJobs(['completed']);
    expect(jobs.some((j) => j.processedBy === `pid-${second.pid}`)).toBe(true);
    await expectBilledOnce(world, seeded);
    await world.stop(second, 'SIGTERM');
  } finally {
    release();
    await world.close();
  }
}, 90_000);

it('R-FLX-6 two worker processes at once, the month queued three times and some workspace-months billed by two jobs at once: still one item each', async () => {
  // Each Stripe request takes a few ms, so the two processes' jobs overlap.
  const world = await invoicingWorld({ onRequest: () => new Promise((res) => setTimeout(res, 3)) });
  try {
    const seeded = await world.seed(300, { prefix: 'two', annualEvery: 5 });
    const workers = [world.startWorker(UNTHROTTLED), world.startWorker(UNTHROTTLED)];
    await until('both workers to listen', async () => (await world.queue.getWorkers()).length >= 2);
    // Every tenth workspace-month first as two jobs side by side (the run's own job id and
    // another): both start at once and bill the same workspace-month concurrently.
    await world.queue.addBulk(
      seeded
        .filter((_, i) => i % 10 === 0)
        .flatMap((w) =>
          [workspaceJobId({ workspaceId: w.id, month: world.month }), `dup_${w.id}`].map((jobId) => ({
            name: 'workspace',
            data: { kind: 'workspace', month: world.month, workspaceId: w.id },
            opts: { jobId },
          })),
        ),
    );
    const run = (id: string) => world.queue.add('run', { kind: 'run', month: world.month }, { jobId: id });
    await Promise.all([run('run-a'), run('run-b')]);
    await until(
      'a hundred workspace-months billed',
      async () => (await world.queue.getCompletedCount()) >= 100,
    );
    // A re-run once the finished jobs are gone adds those workspace-months again.
    await world.queue.clean(0, 0, 'completed');
    await run('run-c');
    await until('the queue to drain', async () => {
      const c = await world.queue.getJobCounts('waiting', 'active', 'prioritized');
      // The monthly scheduler's next run waits as a delayed job; a retry would wait there too.
      const retries = (await world.queue.getDelayed()).filter((j) => !j.repeatJobKey);
      return retries.length === 0 && Object.values(c).every((n) => n === 0);
    });
    expect(await world.queue.getFailedCount()).toBe(0);
    const byProcess = new Set((await world.queue.getJobs(['completed'])).map((j) => j.processedBy));
    expect(byProcess.size).toBe(2);
    await expectBilledOnce(world, seeded);
    for (const w of workers) await world.stop(w, 'SIGTERM');
  } finally {
    await world.close();
  }
}, 90_000);
