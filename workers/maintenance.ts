/**
 * The processor of the maintenance queue: the cycle sweep (R-CYC-1) and the alert outbox sweep
 * (R-ALR-2). Both are safe to repeat, so failures follow the workers' one policy
 * (failure-policy.ts) and a Redis blink is retried.
 */
import type { Job } from 'bullmq';
import type { Logger } from '../src/observability/logger.js';
import { type MaintenanceJob, maintenanceJobSchema } from '../src/queues/maintenance.js';
import type { EngineStore } from '../src/redis/engine-store.js';
import type { ScriptClient } from '../src/redis/scripts.js';
import type { AlertService } from '../src/services/alerts.js';
import type { Clock } from '../src/services/clock.js';
import { sweepCycles } from '../src/services/cycle-sweep.js';
import { parseJob, withFailurePolicy } from './failure-policy.js';

export function maintenanceProcessor(deps: {
  redis: ScriptClient;
  store: EngineStore;
  alerts: AlertService;
  keyPrefix: string;
  clock: Clock;
  log: Logger;
}) {
  return withFailurePolicy(async (job: Job<MaintenanceJob>) => {
    const data = parseJob(maintenanceJobSchema, job);
    if (data.kind === 'alert-sweep') {
      const swept = await deps.alerts.sweep(deps.clock.now());
      if (swept.queued > 0) deps.log.warn(swept, 'alert sweep queued alerts the API had not');
      return swept;
    }
    const result = await sweepCycles({
      redis: deps.redis,
      store: deps.store,
      keyPrefix: deps.keyPrefix,
      now: deps.clock.now(),
    });
    deps.log.info(result, 'cycle sweep done');
    return result;
  });
}
