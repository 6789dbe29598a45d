/**
 * Billing-cycle arithmetic (R-CYC-1, R-CYC-2). A cycle is `intervalMonths` calendar months
 * long, counted from an anchor instant; a day past the end of a shorter month is clamped to
 * its last day (an anchor on Jan 31 renews on Feb 28/29, then Mar 31), the way Stripe does.
 * The Lua scripts carry the same arithmetic (src/redis/lua/includes/core.lua); the unit
 * tests hold both to one table.
 */
const DAY_MS = 86_400_000;

export function addMonths(anchorMs: number, months: number): number {
  const days = Math.floor(anchorMs / DAY_MS);
  const timeOfDay = anchorMs - days * DAY_MS;
  const d = new Date(days * DAY_MS);
  const total = d.getUTCFullYear() * 12 + d.getUTCMonth() + months;
  const year = Math.floor(total / 12);
  const month = total - year * 12;
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  const day = Math.min(d.getUTCDate(), lastDay);
  return Date.UTC(year, month, day) + timeOfDay;
}

export interface CyclePosition {
  index: number;
  start: number;
  end: number;
}

/** The cycle that contains `now`, searching forward from a known cycle index. */
export function cycleAt(opts: {
  anchor: number;
  intervalMonths: number;
  fromIndex: number;
  now: number;
}): CyclePosition {
  const { anchor, intervalMonths, now } = opts;
  let index = opts.fromIndex;
  let end = addMonths(anchor, (index + 1) * intervalMonths);
  while (end <= now) {
    index += 1;
    end = addMonths(anchor, (index + 1) * intervalMonths);
  }
  return { index, start: addMonths(anchor, index * intervalMonths), end };
}

/** How far back late usage may be (R-FLX-5), as Stripe's meters accept: a day's usage can change this long after it. */
export const LATE_USAGE_MAX_MS = 35 * DAY_MS;

/** The UTC day of an instant, "YYYY-MM-DD" (R-USE-1's days). */
export function dayOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** Calendar month (UTC) of an instant, as "YYYY-MM" (R-FLX-5). */
export function monthOf(ms: number): string {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
}

/**
 * How far the clocks of a deployment's processes may differ (R-OPS-4): a usage key's record is
 * looked up this far past both ends of the window's days (engine-store.ts recordDays), and a
 * month can be run this long after it ends (invoicing-runs.ts), once every clock has left it.
 */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;
