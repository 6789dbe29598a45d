/**
 * The processor of the stripe-events queue: validates the job, applies the event, and sorts
 * failures in one place — a permanent one (malformed object, unknown workspace) fails the job
 * at once and leaves it visible in the failed set; anything else is retried with backoff.
 */
import { type Job, UnrecoverableError } from 'bullmq';
import type { Logger } from '../src/observability/logger.js';
import { stripeEventJobSchema } from '../src/queues/stripe-events.js';
import type { EngineStore } from '../src/redis/engine-store.js';
import type { Clock } from '../src/services/clock.js';
import type { Services } from '../src/services/create-services.js';
import type { Invoicer } from '../src/services/invoicing.js';
import { handleStripeEvent, PermanentEventError } from '../src/services/stripe-event-handler.js';

export function stripeEventsProcessor(deps: {
  invoicer?: Invoicer;
  store: EngineStore;
  service: Services;
  clock: Clock;
  log: Logger;
}) {
  return async (job: Job) => {
    const parsed = stripeEventJobSchema.safeParse(job.data);
    if (!parsed.success)
      throw new UnrecoverableError(`malformed stripe-events job ${job.id}: ${parsed.error.message}`);
    try {
      const outcome = await handleStripeEvent(parsed.data, {
        store: deps.store,
        service: deps.service,
        now: deps.clock.now(),
        invoicer: deps.invoicer,
      });
      deps.log.info({ eventId: parsed.data.id, type: parsed.data.type, ...outcome }, 'stripe event applied');
      return outcome;
    } catch (err) {
      if (err instanceof PermanentEventError) throw new UnrecoverableError(err.message);
      throw err;
    }
  };
}
