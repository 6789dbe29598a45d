/**
 * The processor of the invoicing queue (R-FLX-6). A run marks every workspace with flex in the
 * month pending and adds one job per workspace (job id per workspace-month, so a second run
 * adds nothing while the first's jobs exist, and retries the ones that failed); a workspace job
 * bills that workspace-month.
 * Failures follow the workers' one policy (failure-policy.ts): Stripe's rate limits and outages
 * are retried with backoff; a workspace job that gives up (a fault no retry fixes, or its last
 * attempt) records its month failed first.
 */
import { Job, type Queue } from 'bullmq';
import type { Logger } from '../src/observability/logger.js';
import { type InvoicingJob, invoicingJobSchema, workspaceJobId } from '../src/queues/invoicing.js';
import type { Clock } from '../src/services/clock.js';
import { type Invoicer, previousMonth } from '../src/services/invoicing.js';
import { parseJob, withFailurePolicy } from './failure-policy.js';

const WORKSPACE_JOB_OPTIONS = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 2000 },
  removeOnComplete: { age: 40 * 24 * 3600 },
  removeOnFail: false,
} as const;

export function invoicingProcessor(deps: {
  invoicer: Invoicer;
  queue: Queue<InvoicingJob>;
  clock: Clock;
  log: Logger;
}) {
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
        // A failed job keeps its id (removeOnFail: false), so adding it again adds nothing.
        for (const workspaceId of page.failed) {
          const failed = await Job.fromId(deps.queue, workspaceJobId({ workspaceId, month }));
          if (failed && (await failed.isFailed())) {
            await failed.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
            retried++;
          }
        }
        workspaces += page.ids.length;
      }
      await deps.invoicer.recordRun(month);
      deps.log.info({ month, workspaces, retried }, 'invoicing run fanned out');
      return { month, workspaces, retried };
    }
    const state = await deps.invoicer.invoiceWorkspace({
      workspaceId: data.workspaceId,
      month: data.month,
      now,
    });
    deps.log.info({ workspaceId: data.workspaceId, month: data.month, ...state }, 'workspace-month invoiced');
    return state;
  };
  // The month shows as failed (not pending for ever), and a re-run, which retries failed
  // months, picks it up from the ids it has. A run that gives up has no month state of its own.
  return withFailurePolicy(process, async (job, err) => {
    const data = invoicingJobSchema.safeParse(job.data).data;
    if (data?.kind === 'workspace')
      await deps.invoicer.markFailed({ workspaceId: data.workspaceId, month: data.month }, err.message);
  });
}
