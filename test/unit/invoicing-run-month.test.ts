/** R-FLX-5: which month a run bills: the one before the run was scheduled, even if it runs late. */
import type { Job, Queue } from 'bullmq';
import { expect, it } from 'vitest';
import { createLogger } from '../../src/observability/logger.js';
import type { Invoicer } from '../../src/services/invoicing.js';
import { invoicingProcessor } from '../../workers/invoicing.js';

it('bills the month before the scheduled time (prevMillis), else before now, else the month named', async () => {
  const months: string[] = [];
  const invoicer = {
    async *markPending(month: string) {
      months.push(month);
      yield* []; // no workspace has flex: nothing to queue
    },
    async *unfinishedFinalBills() {
      yield* []; // no final invoice to bill again
    },
    async recordRun() {},
  } as unknown as Invoicer;
  const run = invoicingProcessor({
    invoicer,
    queue: {} as Queue,
    clock: { now: () => Date.UTC(2027, 0, 2, 3) }, // the worker was down over New Year
    log: createLogger({ level: 'silent', name: 't' }),
  });
  const job = (data: unknown, opts: Record<string, unknown>) => ({ id: 'r', data, opts }) as unknown as Job;
  await run(job({ kind: 'run' }, { prevMillis: Date.UTC(2026, 11, 1, 0, 5) }));
  await run(job({ kind: 'run' }, {}));
  await run(job({ kind: 'run', month: '2026-10' }, { prevMillis: Date.UTC(2026, 11, 1, 0, 5) }));
  expect(months).toEqual(['2026-11', '2026-12', '2026-10']);
});
