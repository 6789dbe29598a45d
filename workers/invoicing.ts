/**
 * The processor of the invoicing queue (R-FLX-6). A run marks every workspace with flex in the
 * month pending and adds one job per workspace (job id per workspace-month, so a second run
 * adds nothing while the first's jobs exist, and retries the ones that failed); a workspace job
 * bills that workspace-month. A run also adds one job per final invoice (R-CYC-3) of the month
 * its Stripe event left failed or pending, which bills it with the keys of the event's attempt.
 * Failures follow the workers' one policy (failure-policy.ts): Stripe's rate limits and outages
 * are retried with backoff; a workspace job that gives up (a fault no retry fixes, or its last
 * attempt) records its month failed first.
 */
import { Job, type Queue } from 'bullmq';
import type { Bill } from '../src/domain/invoicing.js';
import type { Logger } from '../src/observability/logger.js';
import {
  finalJobId,
  type InvoicingJob,
  invoicingJobSchema,
  workspaceJobId,
} from '../src/queues/invoicing.js';
import type { Clock } from '../src/services/clock.js';
import { type Invoicer, previousMonth } from '../src/services/invoicing.js';
import { parseJob, withFailurePolicy } from './failure-policy.js';

const WORKSPACE_JOB_OPTIONS = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 2000 },
  removeOnComplete: { age: 40 * 24 * 3600 },
  removeOnFail: false,
} as const;

/** What a workspace or final invoice job bills. */
const billOf = (data: Exclude<InvoicingJob, { kind: 'run' }>): Bill => ({
  workspaceId: data.workspaceId,
  month: data.month,
  ...(data.kind === 'final' ? { subscriptionId: data.subscriptionId } : {}),
});

export function invoicingProcessor(deps: {
  invoicer: Invoicer;
  queue: Queue<InvoicingJob>;
  clock: Clock;
  log: Logger;
}) {
  // A failed job keeps its id (removeOnFail: false), so adding it again adds nothing: retry it.
  const retryFailed = async (jobId: string) => {
    const failed = await Job.fromId(deps.queue, jobId);
    if (!failed || !(await failed.isFailed())) return false;
    await failed.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
    return true;
  };
  const process = async (job: Job<InvoicingJob>) => {
    const data = parseJob(invoicingJobSchema, job);
    const now = deps.clock.now();
    if (data.kind === 'run') {
      // The scheduler's run bills the month before the one it was scheduled in (prevMillis),
      // even when it runs late; a run from the API names its month.
      const scheduledAt = typeof job.opts.prevMillis === 'number' ? job.opts.prevMillis : now;
      const month = data.month ?? previousMonth(scheduledAt);
      let workspaces = 0;
      let retried = 0;
      // Page by page: the first jobs run while the rest of the month is still being read.
      for await (const page of deps.invoicer.markPending(month)) {
        await deps.queue.addBulk(
          page.ids.map((workspaceId) => ({
            name: 'workspace',
            data: { kind: 'workspace', month, workspaceId },
            opts: { ...WORKSPACE_JOB_OPTIONS, jobId: workspaceJobId({ workspaceId, month }) },
          })),
        );
        for (const workspaceId of page.failed)
          if (await retryFailed(workspaceJobId({ workspaceId, month }))) retried++;
        workspaces += page.ids.length;
      }
      let finalInvoices = 0;
      for await (const page of deps.invoicer.unfinishedFinalBills(month)) {
        await deps.queue.addBulk(
          page.map(({ bill }) => ({
            name: 'final',
            data: { kind: 'final', ...bill },
            opts: { ...WORKSPACE_JOB_OPTIONS, jobId: finalJobId(bill) },
          })),
        );
        // A final invoice's job may have failed in an earlier run, whatever its state says now.
        for (const { bill } of page) if (await retryFailed(finalJobId(bill))) retried++;
        finalInvoices += page.length;
      }
      await deps.invoicer.recordRun(month);
      deps.log.info({ month, workspaces, finalInvoices, retried }, 'invoicing run fanned out');
      return { month, workspaces, finalInvoices, retried };
    }
    const bill = billOf(data);
    const state = await deps.invoicer.invoiceWorkspace({ ...bill, now });
    deps.log.info({ ...bill, ...state }, 'workspace-month invoiced');
    return state;
  };
  // The bill shows as failed (not pending for ever), and a re-run, which retries failed bills,
  // picks it up from the ids it has. A run that gives up has no state of its own.
  return withFailurePolicy(process, async (job, err) => {
    const data = invoicingJobSchema.safeParse(job.data).data;
    if (data && data.kind !== 'run') await deps.invoicer.markFailed(billOf(data), err.message);
  });
}
