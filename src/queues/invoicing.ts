/** The invoicing queue: a monthly run fans out one job per workspace with flex (R-FLX-6). */
import { z } from 'zod';

export const INVOICING_QUEUE = 'invoicing';
export const MONTHLY_INVOICING_SCHEDULER = 'monthly-invoicing';

const month = z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/);

export const invoicingJobSchema = z.discriminatedUnion('kind', [
  /** A run: the month (default: the month just closed) and whether to only count. */
  z.object({ kind: z.literal('run'), month: month.optional() }),
  z.object({ kind: z.literal('workspace'), month, workspaceId: z.string().min(1) }),
  /**
   * A final invoice (R-CYC-3) its Stripe event left failed or pending: a run bills it again,
   * with the same state and Stripe idempotency keys as the event's attempt.
   */
  z.object({
    kind: z.literal('final'),
    month,
    workspaceId: z.string().min(1),
    subscriptionId: z.string().min(1),
  }),
]);
export type InvoicingJob = z.infer<typeof invoicingJobSchema>;

/** One job per workspace-month: a second run of the same month adds nothing while it exists. */
export const workspaceJobId = (o: { workspaceId: string; month: string }) =>
  `flex_${o.month}_${o.workspaceId}`;

/** One job per final invoice: a second run adds nothing while it exists. */
export const finalJobId = (o: { workspaceId: string; month: string; subscriptionId: string }) =>
  `final_${o.month}_${o.workspaceId}_${o.subscriptionId}`;

/**
 * Workspace jobs in flight in one worker process. They wait on Stripe most of the time, so
 * unthrottled (a benchmark on the stand-in) it takes this many to keep the process busy:
 * 16 measured 630 workspaces/s, 64 about 1,100; more gained nothing. Throttled, the Stripe rate
 * bucket decides the pace whatever this is: jobs beyond it wait for their calls' slots.
 */
export const INVOICING_CONCURRENCY = 64;

/**
 * A run is safe to repeat (pending marks are HSETNX, job ids per workspace-month), so a Redis
 * error in the middle of its fan-out is retried rather than leaving the month half queued.
 */
export const RUN_JOB_OPTIONS = {
  attempts: 10,
  backoff: { type: 'exponential', delay: 5000 },
  removeOnComplete: 24,
  removeOnFail: false,
} as const;
