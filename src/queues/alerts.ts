/** The outbound alert webhooks (R-ALR-2): one job per alert and receiver URL. */
import { createHash } from 'node:crypto';
import { z } from 'zod';

export const ALERT_WEBHOOKS_QUEUE = 'alert-webhooks';

/** The body is fixed when the job is made, so every retry sends the same bytes. */
export const alertWebhookJobSchema = z.object({
  url: z.url(),
  alertId: z.string().min(1),
  body: z.string().min(2),
});
export type AlertWebhookJob = z.infer<typeof alertWebhookJobSchema>;

/** One job per alert and receiver: a second enqueue while it exists adds nothing. */
export function alertJobId(alertId: string, url: string): string {
  return `${alertId}_${createHash('sha1').update(url).digest('hex').slice(0, 12)}`;
}

/**
 * Retries until a 2xx (API.md): doubling from 1 s, then hourly; 10,000 attempts is more than a
 * year, so a receiver that is down only delays delivery. Kept in the failed set after that.
 */
export const ALERT_JOB_OPTIONS = {
  attempts: 10_000,
  backoff: { type: 'capped-exponential' },
  removeOnComplete: { age: 7 * 24 * 3600 },
  removeOnFail: false,
} as const;

export function alertBackoffMs(attemptsMade: number): number {
  return Math.min(1000 * 2 ** Math.max(0, attemptsMade - 1), 3_600_000);
}
