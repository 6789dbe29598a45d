/** Counting over time in tests of rates. */

/** The most entries of sorted `times` within any span of `ms`. */
export function busiest(times: number[], ms: number): number {
  let most = 0;
  for (let i = 0, j = 0; j < times.length; j++) {
    while (times[j]! - times[i]! >= ms) i++;
    most = Math.max(most, j - i + 1);
  }
  return most;
}
