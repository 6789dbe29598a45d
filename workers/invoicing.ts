/**
 * The processor of the invoicing queue (R-FLX-6). A run marks every workspace with flex in the
 * month pending and adds one job per workspace (job id per workspace-month, so a second run
 * adds nothing while the first's jobs exist); a workspace job bills that workspace-month.
 * Failures sorted in one place: a permanent one is recorded and fails the job at once; Stripe's
 * rate limits and outages are retried with backoff.
 */
import { type Job, type Queue, UnrecoverableError } from 'bullmq';
import Stripe from 'stripe';
import type { Logger } from '../src/observability/logger.js';
import { invoicingJobSchema, workspaceJobId } from '../src/queues/invoicing.js';
import type { Clock } from '../src/services/credit-service.js';
import { type Invoicer, PermanentInvoicingError, previousMonth } from '../src/services/invoicing.js';
import { isRetryableStripeError } from '../src/stripe/client.js';

const WORKSPACE_JOB_OPTIONS = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 2000 },
  removeOnComplete: { age: 40 * 24 * 3600 },
  removeOnFail: false,
} as const;

export function invoicingProcessor(deps: { invoicer: Invoicer; queue: Queue; clock: Clock; log: Logger }) {
  return async (job: Job) => {
    const parsed = invoicingJobSchema.safeParse(job.data);
    if (!parsed.success)
      throw new UnrecoverableError(`malformed invoicing job ${job.id}: ${parsed.error.message}`);
    const data = parsed.data;
    const now = deps.clock.now();
    if (data.kind === 'run') {
      const month = data.month ?? previousMonth(now);
      const ids = await deps.invoicer.markPending(month, now);
      for (let i = 0; i < ids.length; i += 1000) {
        await deps.queue.addBulk(
          ids.slice(i, i + 1000).map((workspaceId) => ({
            name: 'workspace',
            data: { kind: 'workspace', month, workspaceId },
            opts: { ...WORKSPACE_JOB_OPTIONS, jobId: workspaceJobId(workspaceId, month) },
          })),
        );
      }
      deps.log.info({ month, workspaces: ids.length }, 'invoicing run fanned out');
      return { month, workspaces: ids.length };
    }
    try {
      const state = await deps.invoicer.invoiceWorkspace(data.workspaceId, data.month, now);
      deps.log.info(
        { workspaceId: data.workspaceId, month: data.month, ...state },
        'workspace-month invoiced',
      );
      return state;
    } catch (err) {
      if (err instanceof PermanentInvoicingError) throw new UnrecoverableError(err.message);
      if (err instanceof Stripe.errors.StripeError && !isRetryableStripeError(err)) {
        throw new UnrecoverableError(`${data.workspaceId} ${data.month}: Stripe refused: ${err.message}`);
      }
      throw err;
    }
  };
}
