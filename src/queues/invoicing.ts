/** The invoicing queue: a monthly run fans out one job per workspace with flex (R-FLX-6). */
import { z } from 'zod';

export const INVOICING_QUEUE = 'invoicing';
export const MONTHLY_INVOICING_SCHEDULER = 'monthly-invoicing';

const month = z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/);

export const invoicingJobSchema = z.discriminatedUnion('kind', [
  /** A run: the month (default: the month just closed) and whether to only count. */
  z.object({ kind: z.literal('run'), month: month.optional() }),
  z.object({ kind: z.literal('workspace'), month, workspaceId: z.string().min(1) }),
]);
export type InvoicingJob = z.infer<typeof invoicingJobSchema>;

/** One job per workspace-month: a second run of the same month adds nothing while it exists. */
export const workspaceJobId = (workspaceId: string, m: string) => `flex_${m}_${workspaceId}`;
