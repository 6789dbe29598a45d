/**
 * The processor of the stripe-events queue: validates the job and applies the event. Failures
 * follow the workers' one policy (failure-policy.ts): one no retry fixes (a malformed object,
 * an unknown workspace or price, a final invoice that cannot be billed) fails the job at once
 * and leaves it visible in the failed set; anything else is retried with backoff. A job that
 * gives up on a subscription's end records its final invoice (R-CYC-3) failed, so the next
 * monthly run bills it: its Stripe redeliveries are duplicates of the failed job.
 */
import type { Job } from 'bullmq';
import { BurnrateError } from '../src/domain/errors.js';
import type { Logger } from '../src/observability/logger.js';
import { type StripeEventJob, stripeEventJobSchema } from '../src/queues/stripe-events.js';
import type { EngineStore } from '../src/redis/engine-store.js';
import type { Clock } from '../src/services/clock.js';
import type { Services } from '../src/services/create-services.js';
import type { Invoicer } from '../src/services/invoicing.js';
import { finalBillOf, handleStripeEvent } from '../src/services/stripe-event-handler.js';
import { parseJob, withFailurePolicy } from './failure-policy.js';

/** How long a job waits for its writes to reach the replicas before it is retried. */
const REPLICA_WAIT_MS = 1000;

export function stripeEventsProcessor(deps: {
  invoicer?: Invoicer;
  store: EngineStore;
  service: Services;
  clock: Clock;
  log: Logger;
  /** Replicas the event's writes must reach before the job completes (0: none asked). */
  grantReplicas?: number;
}) {
  const replicas = deps.grantReplicas ?? 0;
  return withFailurePolicy(
    async (job: Job<StripeEventJob>) => {
      const event = parseJob(stripeEventJobSchema, job);
      const outcome = await handleStripeEvent(event, {
        store: deps.store,
        service: deps.service,
        now: deps.clock.now(),
        invoicer: deps.invoicer,
      });
      // R-PRE-2, R-WH-2: a grant the master acknowledged can still vanish with it in a failover.
      // The job completes only once a replica has it; until then it is retried, and the retry
      // (idempotent: the grant's own key) applies it again only if the failover lost it.
      if (replicas > 0 && 'workspaceId' in outcome) {
        const have = await deps.store.replicasHaving(outcome.workspaceId, {
          replicas,
          timeoutMs: REPLICA_WAIT_MS,
        });
        if (have < replicas)
          throw new BurnrateError(
            'unavailable',
            `${event.id}: applied, but on ${have} of ${replicas} replicas yet; retrying until it is`,
          );
      }
      deps.log.info({ eventId: event.id, type: event.type, ...outcome }, 'stripe event applied');
      return outcome;
    },
    async (job, err) => {
      const event = stripeEventJobSchema.safeParse(job.data).data;
      if (!event || !deps.invoicer) return;
      const bill = await finalBillOf(event, { service: deps.service, now: deps.clock.now() });
      // Only a final invoice that got as far as its state: one without had nothing to bill.
      if (bill) await deps.invoicer.markFailed(bill, err.message, { onlyIfRecorded: true });
    },
  );
}
