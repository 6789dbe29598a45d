/**
 * The processor of the maintenance queue: the cycle sweep (R-CYC-1) and the alert outbox sweep
 * (R-ALR-2). Both are safe to repeat, so failures follow the workers' one policy
 * (failure-policy.ts) and a Redis blink is retried.
 */
import type { Job } from 'bullmq';
import type { ArchivePass, LedgerArchive } from '../src/db/ledger-archive.js';
import type { Logger } from '../src/observability/logger.js';
import { type MaintenanceJob, maintenanceJobSchema } from '../src/queues/maintenance.js';
import type { EngineStore } from '../src/redis/engine-store.js';
import type { ScriptClient } from '../src/redis/scripts.js';
import type { AlertService } from '../src/services/alerts.js';
import type { Clock } from '../src/services/clock.js';
import { sweepCycles } from '../src/services/cycle-sweep.js';
import { parseJob, withFailurePolicy } from './failure-policy.js';

/** Past `mark` from when the lag passes it until it is back to half of it (hysteresis). */
const pastMark = (was: boolean, lagSeconds: number, mark: number) =>
  lagSeconds > mark ? true : lagSeconds <= mark / 2 ? false : was;

export function maintenanceProcessor(deps: {
  redis: ScriptClient;
  store: EngineStore;
  alerts: AlertService;
  keyPrefix: string;
  clock: Clock;
  log: Logger;
  /** The ledger archive (DATABASE_URL); undefined: the ledger stays in Redis. */
  archive?:
    | {
        archive: LedgerArchive;
        lagAlertSeconds: number;
        /**
         * Told after every pass whether the lag is past its mark: true from when it passes a
         * tenth of the alert's limit (30 s by default; at least 10 s, a few passes' worth, or the
         * limit when that is shorter) until it is back to half the mark. The worker's CPU policy
         * follows it (cpu-policy.ts), and tries again at a pass after a failed move.
         */
        onLagging?: ((lagging: boolean) => void) | undefined;
      }
    | undefined;
}) {
  let lagging = false;
  let behind = false;
  let failing = false;
  /**
   * One error line when the lag passes ARCHIVE_LAG_ALERT_SECONDS, one info line when it is back
   * to half of it or less: a lag that hovers at the limit does not flood the log. The same
   * between onLagging's mark (a tenth of the limit) and half of it: a policy that does not flip.
   */
  const watchLag = (pass: ArchivePass, limit: number) => {
    const was = lagging;
    lagging = pastMark(lagging, pass.lagSeconds, limit);
    if (lagging && !was)
      deps.log.error(
        { lagSeconds: pass.lagSeconds, limitSeconds: limit, reason: pass.error },
        'ledger archive lag passed ARCHIVE_LAG_ALERT_SECONDS: entries wait in Redis until PostgreSQL has them',
      );
    else if (was && !lagging) deps.log.info({ lagSeconds: pass.lagSeconds }, 'ledger archive caught up');
    behind = pastMark(behind, pass.lagSeconds, Math.min(limit, Math.max(limit / 10, 10)));
    deps.archive?.onLagging?.(behind);
  };
  return withFailurePolicy(async (job: Job<MaintenanceJob>) => {
    const data = parseJob(maintenanceJobSchema, job);
    if (data.kind === 'ledger-archive') {
      if (!deps.archive) return { skipped: 'no DATABASE_URL' };
      const pass = await deps.archive.archive.runPass();
      watchLag(pass, deps.archive.lagAlertSeconds);
      if (pass.rewound.length > 0)
        deps.log.error(
          { workspaces: pass.rewound.length, first: pass.rewound.slice(0, 10) },
          'ledger archive: PostgreSQL lacks entries it had taken (restored from an older backup?); copying again what Redis still holds',
        );
      if (pass.error && !failing)
        deps.log.warn(
          { reason: pass.error },
          'ledger archive: copying to PostgreSQL fails; retrying each pass',
        );
      else if (!pass.error && failing) deps.log.info('ledger archive: copying to PostgreSQL again');
      failing = pass.error !== undefined;
      const { failure: _logged, ...result } = pass;
      return result;
    }
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
