/**
 * Delivers outbound alert webhooks (R-ALR-2, API.md): POST the body fixed at enqueue time,
 * signed now (`Burnrate-Signature: t=…,v1=…`). Anything but a 2xx (a redirect too), a timeout
 * or a refused connection fails the attempt, and BullMQ retries with backoff (ALERT_JOB_OPTIONS): a
 * receiver that is down delays delivery and loses nothing. The secret is never logged.
 */
import { type Job, UnrecoverableError } from 'bullmq';
import type { Logger } from '../src/observability/logger.js';
import { alertWebhookJobSchema } from '../src/queues/alerts.js';
import { signAlertBody } from '../src/services/alerts.js';

export function alertWebhookProcessor(deps: { secret: string | undefined; log: Logger; timeoutMs?: number }) {
  return async (job: Job) => {
    const parsed = alertWebhookJobSchema.safeParse(job.data);
    if (!parsed.success)
      throw new UnrecoverableError(`malformed alert job ${job.id}: ${parsed.error.message}`);
    if (!deps.secret) throw new Error('BURNRATE_ALERT_WEBHOOK_SECRET is not set: cannot sign alert webhooks');
    const { url, body, alertId } = parsed.data;
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'burnrate-alerts/1',
        'burnrate-signature': signAlertBody(deps.secret, body),
      },
      body,
      // A redirect is not a delivery (following one would turn the POST into a GET).
      redirect: 'manual',
      signal: AbortSignal.timeout(deps.timeoutMs ?? 10_000),
    });
    // Read the body, so the connection goes back to the pool.
    await res.arrayBuffer().catch(() => undefined);
    if (!res.ok) throw new Error(`alert receiver answered ${res.status}`);
    deps.log.info({ alertId, host: new URL(url).host, attempts: job.attemptsMade + 1 }, 'alert delivered');
    return { status: res.status };
  };
}
