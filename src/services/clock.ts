/** Where the services read the time: the system clock, or a test's. */
export interface Clock {
  now(): number;
}
export const systemClock: Clock = { now: () => Date.now() };
