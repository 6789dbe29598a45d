/**
 * How the worker's Stripe-event, invoicing and alert workers (BullMQ) hold their jobs: the lock,
 * how often jobs whose lock has gone are taken back (stalled), and how often a job may stall
 * before BullMQ fails it for good. The maintenance worker keeps BullMQ's lock and takes only
 * MAX_STALLED_COUNT: its scheduled jobs are never failed for stalling, but the test clock's
 * catch-up sweep (src/queues/clock-catch-up.ts) is a plain job.
 *
 * A job stalls when its lock is not renewed within the lock's time: its worker died, or was
 * starved of the CPU. The idle policy (WORKER_CPU_POLICY, the default) starves it whenever other
 * threads keep every core busy: in a child beside 6 busy loops on 2 cores, a step of a few
 * milliseconds took 79 s. BullMQ's default fails a job at its second stall, whatever attempts it
 * has left, and a Stripe event failed so stays failed (Stripe's redelivery is the same job id, a
 * duplicate): a paid bundle would wait for an operator. Every job's steps are idempotent (R-WH-2,
 * R-FLX-6), so a stalled job runs again instead, up to MAX_STALLED_COUNT times; a job that kills
 * its worker each time still ends in the failed set.
 */
export const MAX_STALLED_COUNT = 10;

export function workerLockOptions(lockMs: number) {
  return { lockDuration: lockMs, stalledInterval: lockMs, maxStalledCount: MAX_STALLED_COUNT };
}
