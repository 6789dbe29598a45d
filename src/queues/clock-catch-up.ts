/**
 * What a test clock (issue 11 §3) passed, queued as its schedules would have queued it: the
 * monthly invoicing run of each month closed between two times (R-FLX-6), when the schedule's
 * cron ('0 5 0 1 * *', UTC: 00:05 on the 1st) would have started it, and a cycle sweep
 * (R-CYC-1). The times come from the catch-up mark (src/services/test-clock.ts): an advance
 * queues from the mark to the new clock, a worker's poller from the mark to the clock when the
 * clock crosses a month's end on its own.
 *
 * The run's job id is one per month (`run_<month>_clock`), so a month is queued once however
 * the clock gets past it; the run itself bills nothing twice (per workspace-month state and
 * job ids, Stripe idempotency keys flex:{workspace}:{month}). It is not the scheduler's own id
 * (`repeat:monthly-invoicing:<millis>`): BullMQ refuses to schedule an iteration whose id a
 * job already has (SchedulerJobIdCollision), which would stop the real schedule.
 */
import type { Queue } from 'bullmq';
import { addMonths, MAX_CLOCK_SKEW_MS, monthOf } from '../domain/cycle.js';
import type { ClockCatchUpFn } from '../services/test-clock.js';
import { RUN_JOB_OPTIONS } from './invoicing.js';

const monthStart = (month: string) => Date.parse(`${month}-01T00:00:00Z`);

/** The months whose end (the 1st of the next, 00:00 UTC) is after `from` and at or before `to`. */
export function monthsClosedBetween(from: number, to: number): string[] {
  const months: string[] = [];
  for (let start = monthStart(monthOf(from)); addMonths(start, 1) <= to; start = addMonths(start, 1))
    if (addMonths(start, 1) > from) months.push(monthOf(start));
  return months;
}

/**
 * When the schedule starts the run of `month` (YYYY-MM): 00:05 UTC on the 1st of the next, once
 * every clock has left the month (MAX_CLOCK_SKEW_MS; the worker's cron says 00:05 too).
 */
export function scheduledRunAt(month: string): number {
  return addMonths(monthStart(month), 1) + MAX_CLOCK_SKEW_MS;
}

export const clockRunJobId = (month: string) => `run_${month}_clock`;

export function clockCatchUp(queues: { invoicing: Queue; maintenance: Queue }): ClockCatchUpFn {
  return async ({ from, to, sweep = true }) => {
    const months = monthsClosedBetween(from, to);
    for (const month of months) {
      // The clock runs at the system's pace from here: a run due later waits that long.
      const delay = Math.max(0, scheduledRunAt(month) - to);
      await queues.invoicing.add(
        'run',
        { kind: 'run', month },
        { ...RUN_JOB_OPTIONS, jobId: clockRunJobId(month), delay },
      );
    }
    if (!sweep) return { invoicingRuns: months, cycleSweep: false };
    await queues.maintenance.add(
      'cycle-sweep',
      { kind: 'cycle-sweep' },
      { jobId: `clock-sweep_${to}`, removeOnComplete: 100, removeOnFail: 1000 },
    );
    return { invoicingRuns: months, cycleSweep: true };
  };
}
