/**
 * Delivers outbound alert webhooks (R-ALR-2, API.md): POST the body fixed at enqueue time,
 * signed now (`Burnrate-Signature: t=…,v1=…`). Anything but a 2xx (a redirect too), a timeout
 * or a refused connection fails the attempt, and BullMQ retries with backoff (ALERT_JOB_OPTIONS): a
 * receiver that is down delays delivery and loses nothing. The secret is never logged. Failures
 * follow the workers' one policy (failure-policy.ts): only a malformed job is never retried.
 */
import type { Job } from 'bullmq';
import { BurnrateError } from '../src/domain/errors.js';
import type { Logger } from '../src/observability/logger.js';
import { type AlertWebhookJob, alertWebhookJobSchema } from '../src/queues/alerts.js';
import { signAlertBody } from '../src/services/alerts.js';
import { parseJob, withFailurePolicy } from './failure-policy.js';

export function alertWebhookProcessor(deps: { secret: string | undefined; log: Logger; timeoutMs?: number }) {
  return withFailurePolicy(async (job: Job<AlertWebhookJob>) => {
    const { url, body, alertId } = parseJob(alertWebhookJobSchema, job);
    // Retried: the alert waits for the secret to be configured rather than being dropped.
    if (!deps.secret)
      throw new BurnrateError(
        'unavailable',
        'BURNRATE_ALERT_WEBHOOK_SECRET is not set: cannot sign alert webhooks',
      );
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
  });
}
