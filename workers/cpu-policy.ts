/**
 * The worker's CPU policy following the archive's lag (WORKER_CPU_POLICY=idle; issue 10). Under
 * the idle policy the worker runs only where nothing else wants a core, so a host the debits
 * keep busy leaves the archive behind. Past the lag's mark (maintenance.ts) the worker takes the
 * batch policy, a share at WORKER_NICE, until the lag is back, where the system lets a thread
 * leave idle (sched(7)). Whatever holds the archive back (PostgreSQL down too), a backlog is
 * copied sooner with a share of the CPU.
 *
 * Told on every archive pass whether the lag is past its mark, it moves only when the answer
 * differs from the policy the worker is under, one move at a time. A move that fails for a
 * passing reason (chrt timed out: under idle on a saturated host it waits for a core too) is
 * tried again at the next pass, and leaves the policy unknown, so that either answer moves it
 * again. A refusal (no CAP_SYS_NICE, no RLIMIT_NICE) is logged once and not tried again: the
 * operator is told what to set.
 */
import type { Logger } from '../src/observability/logger.js';
import type { CpuPolicy } from '../src/runtime.js';

export function followArchiveLag(deps: {
  setCpuPolicy: (policy: CpuPolicy) => Promise<true | string | null>;
  log: Logger;
}): { onLagging: (lagging: boolean) => void; settled: () => Promise<void> } {
  /** The policy the worker is under: idle at start; null after a move that failed midway. */
  let under: CpuPolicy | null = 'idle';
  let refused = false;
  let moving: Promise<void> = Promise.resolve();
  let busy = false;
  const onLagging = (lagging: boolean) => {
    const want: CpuPolicy = lagging ? 'batch' : 'idle';
    if (busy || want === under || (want === 'batch' && refused)) return;
    busy = true;
    moving = deps
      .setCpuPolicy(want)
      // A chrt that could not even be started is a passing failure like a timeout.
      .catch((err: unknown) => String(err))
      .then((set) => {
        // Not Linux: there is no policy to follow.
        if (set === null) return;
        if (set === true) {
          under = want;
          if (lagging)
            deps.log.warn(
              'the archive lags: the worker runs under the batch CPU policy until it has caught up',
            );
          else deps.log.info('the archive has caught up: the worker is back under the idle CPU policy');
        } else if (lagging && /not permitted|permission/i.test(set)) {
          // Refused before any thread moved: the worker stays as it was.
          refused = true;
          deps.log.error(
            { reason: set },
            'the archive lags and the worker may not leave the idle CPU policy (that needs CAP_SYS_NICE or RLIMIT_NICE of at least 20 - WORKER_NICE): set WORKER_CPU_POLICY=batch',
          );
        } else {
          under = null;
          deps.log.warn(
            { reason: set, policy: want },
            'the worker could not change its CPU policy; trying again at the next archive pass',
          );
        }
      })
      .finally(() => {
        busy = false;
      });
  };
  return { onLagging, settled: () => moving };
}
