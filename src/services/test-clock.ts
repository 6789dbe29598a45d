/**
 * Test clocks (issue 11 §3): outside production an operator moves burnrate's clock forward, for
 * every process at once. The clock is the system time plus an offset kept in one Redis key
 * (src/redis/lua/test-clock-advance-1.lua): the process that advances it takes the new offset at
 * once, the others read it every `pollMs`, and a worker reads it again before each job
 * (`syncedProcessor`), so a job queued after an advance never runs on the clock before it.
 * In production none of this is built: the services read the system clock, untouched.
 *
 * The monthly runs of the months the clock passes are queued from a second key, the catch-up
 * mark (test-clock-caught-up-1.lua): the clock time up to which they are queued. An advance
 * catches up from the mark, not from the clock it found, so a month the clock crossed on its own
 * between two advances is not skipped, and a catch-up that failed after the clock moved is done
 * by the next advance (or its retry) or by a worker's `ClockCatchUpPoller`: nothing is lost, and
 * each month's run has one job id (src/queues/clock-catch-up.ts), so nothing is billed twice.
 */
import { BurnrateError } from '../domain/errors.js';
import type { Logger } from '../observability/logger.js';
import { monthsClosedBetween } from '../queues/clock-catch-up.js';
import { testClockCaughtUpKey, testClockKey } from '../redis/keys.js';
import type { ScriptClient } from '../redis/scripts.js';
import type { StripeClient } from '../stripe/client.js';
import { type Clock, systemClock } from './clock.js';

/** How often a process reads the shared offset: another process's advance reaches it within this. */
export const TEST_CLOCK_POLL_MS = 500;

/** How far one advance may go: cycles roll one by one, so years beyond this are work for nothing. */
export const TEST_CLOCK_MAX_ADVANCE_MS = 20 * 366 * 86_400_000;

export interface ClockReading {
  /** The clock, ms. */
  now: number;
  /** Its offset from the system time, ms. */
  offsetMs: number;
}

export class TestClock implements Clock {
  private offset = 0;
  /** Bumped by each advance: a read that was in flight across one is stale and dropped. */
  private generation = 0;
  private timer: NodeJS.Timeout | undefined;
  private failing = false;
  private readonly key: string;
  private readonly caughtUpKey: string;
  private readonly base: Clock;

  constructor(
    private readonly deps: {
      redis: ScriptClient;
      /** The deployment's key prefix (REDIS_PREFIX). */
      keyPrefix: string;
      /** The time the offset is added to; default the system clock (a test's own otherwise). */
      base?: Clock;
      pollMs?: number;
      log?: Logger;
    },
  ) {
    this.key = testClockKey(deps.keyPrefix);
    this.caughtUpKey = testClockCaughtUpKey(deps.keyPrefix);
    this.base = deps.base ?? systemClock;
  }

  now(): number {
    return this.base.now() + this.offset;
  }

  get offsetMs(): number {
    return this.offset;
  }

  reading(): ClockReading {
    return { now: this.now(), offsetMs: this.offset };
  }

  /** Takes the shared offset from Redis (a missing key: 0). */
  async refresh(): Promise<void> {
    const generation = this.generation;
    const raw = await this.deps.redis.get(this.key);
    const offset = raw === null ? 0 : Number(raw);
    if (!Number.isSafeInteger(offset)) throw new Error(`test clock: ${this.key} holds no integer`);
    if (generation === this.generation) this.offset = offset;
  }

  /**
   * Moves the shared clock to `target` (ms) if that is later than the clock. The answer says
   * whether it moved (`moved`), was there already (`at`: nothing changed) or is later than
   * `target` (`before`: nothing changed), and the clock before and after.
   */
  async advanceTo(target: number): Promise<{ outcome: AdvanceOutcome; before: number; after: ClockReading }> {
    const system = this.base.now();
    this.generation++;
    const reply = await this.deps.redis.testClockAdvance(this.key, system, target);
    const [status, before, after] = reply.map(Number) as [number, number, number];
    this.offset = after;
    return {
      outcome: status === 1 ? 'moved' : status === 0 ? 'at' : 'before',
      before: system + before,
      after: { now: system + after, offsetMs: after },
    };
  }

  /** The catch-up mark: the clock time up to which the months' runs are queued; undefined: none yet. */
  async caughtUp(): Promise<number | undefined> {
    const raw = await this.deps.redis.get(this.caughtUpKey);
    if (raw === null) return undefined;
    const at = Number(raw);
    if (!Number.isSafeInteger(at)) throw new Error(`test clock: ${this.caughtUpKey} holds no integer`);
    return at;
  }

  /**
   * Sets the catch-up mark to `at` if it has none (before the clock first moves: from there on
   * the months the clock passes are pending until a catch-up raises the mark); the mark after.
   */
  async initCaughtUp(at: number): Promise<number> {
    return Number(await this.deps.redis.testClockCaughtUp(this.caughtUpKey, 'init', at));
  }

  /** Raises the catch-up mark to `at` (never lowers it): the runs up to `at` are queued. */
  async raiseCaughtUp(at: number): Promise<number> {
    return Number(await this.deps.redis.testClockCaughtUp(this.caughtUpKey, 'raise', at));
  }

  /**
   * Reads the shared offset now and every `pollMs` (the timer keeps no process alive). A Redis
   * that does not answer is logged once and read again at the next poll: the process starts.
   */
  async start(): Promise<void> {
    const poll = () =>
      this.refresh().then(
        () => {
          if (this.failing) this.deps.log?.info('test clock: reading the shared offset again');
          this.failing = false;
        },
        (err: Error) => {
          if (!this.failing)
            this.deps.log?.warn({ reason: err.message }, 'test clock: cannot read the shared offset');
          this.failing = true;
        },
      );
    await poll();
    this.timer = setInterval(() => void poll(), this.deps.pollMs ?? TEST_CLOCK_POLL_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

/**
 * A worker's processor that reads the shared offset before each job: a job queued after an
 * advance (the catch-up's runs and sweep, a webhook of the stand-in's renewal) sees that clock.
 * Without a test clock (production) it is the processor itself.
 */
export function syncedProcessor<A extends unknown[], R>(
  clock: TestClock | undefined,
  processor: (...args: A) => Promise<R>,
): (...args: A) => Promise<R> {
  if (!clock) return processor;
  return async (...args: A) => {
    await clock.refresh();
    return processor(...args);
  };
}

/** What an advance queued so that the work its time passed happens (src/queues/clock-catch-up.ts). */
export interface ClockCatchUp {
  /** The months closed since the catch-up mark, each with its invoicing run queued. */
  invoicingRuns: string[];
  /** Whether a cycle sweep was queued. */
  cycleSweep: boolean;
}

/**
 * Queues the invoicing runs of the months closed after `from` and at or before `to`, and a
 * cycle sweep unless `sweep` is false (src/queues/clock-catch-up.ts).
 */
export type ClockCatchUpFn = (o: { from: number; to: number; sweep?: boolean }) => Promise<ClockCatchUp>;

/**
 * Queues the runs of the months closed between the catch-up mark (`mark`, as the caller read it)
 * and `to`, then raises the mark to `to`. A failure leaves the mark where it was: the next
 * catch-up queues those months again (one job id a month, so a month queued twice is one job,
 * and its run bills nothing twice).
 */
async function catchUpFromMark(
  clock: TestClock,
  catchUp: ClockCatchUpFn,
  o: { mark: number; to: number; sweep: boolean },
): Promise<ClockCatchUp> {
  const done = await catchUp({ from: Math.min(o.mark, o.to), to: o.to, sweep: o.sweep });
  await clock.raiseCaughtUp(o.to);
  return done;
}

/**
 * A worker's watch over the months the test clock crosses on its own: between two advances it
 * runs at the system's pace, and when it passes a month's end the month's run is queued (for
 * 00:05 UTC on the 1st, as the schedule would), from the catch-up mark, as an advance queues
 * it. Before the first advance (no mark) it queues nothing: the real schedule bills the real
 * months. Once it has read a mark, it reads Redis again only when a month's end lies between
 * that mark and the clock (the mark only rises): most polls cost nothing; before the first
 * advance each poll is one GET.
 */
export class ClockCatchUpPoller {
  private timer: NodeJS.Timeout | undefined;
  /** The mark as last read or raised here: the months up to it are queued. */
  private known: number | undefined;
  private running = false;
  private failing = false;

  constructor(
    private readonly deps: { clock: TestClock; catchUp: ClockCatchUpFn; everyMs?: number; log?: Logger },
  ) {}

  /** One look: the months whose runs it queued. */
  async tick(): Promise<string[]> {
    const { clock } = this.deps;
    const now = clock.now();
    if (this.known !== undefined && monthsClosedBetween(this.known, now).length === 0) return [];
    const mark = await clock.caughtUp();
    if (mark === undefined) return [];
    this.known = mark;
    if (monthsClosedBetween(mark, now).length === 0) return [];
    const done = await catchUpFromMark(clock, this.deps.catchUp, { mark, to: now, sweep: false });
    this.known = now;
    this.deps.log?.info(
      { invoicingRuns: done.invoicingRuns, now: new Date(now).toISOString() },
      'test clock: queued the runs of the months it passed',
    );
    return done.invoicingRuns;
  }

  start(): void {
    const poll = async () => {
      if (this.running) return;
      this.running = true;
      try {
        await this.tick();
        if (this.failing) this.deps.log?.info('test clock: catching up again');
        this.failing = false;
      } catch (err) {
        if (!this.failing)
          this.deps.log?.warn(
            { reason: (err as Error).message },
            'test clock: cannot queue the runs of the months it passed; retrying each poll',
          );
        this.failing = true;
      } finally {
        this.running = false;
      }
    };
    this.timer = setInterval(() => void poll(), this.deps.everyMs ?? TEST_CLOCK_POLL_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

/** The operator's routes over the test clock: read it, move it forward. */
export class TestClockService {
  constructor(
    private readonly deps: {
      /** Undefined in production, or in a process built without one: both refuse. */
      clock: TestClock | undefined;
      production: boolean;
      /** Queues the invoicing runs and the cycle sweep the advance passed (the API process). */
      catchUp?: ClockCatchUpFn | undefined;
      /** Stripe in test mode (or the stand-in): its test clocks are moved to the same time. */
      stripe?: StripeClient | undefined;
      log?: Logger | undefined;
    },
  ) {}

  private clock(): TestClock {
    if (this.deps.production)
      throw new BurnrateError('forbidden', 'test clocks are refused with NODE_ENV=production');
    if (!this.deps.clock) throw new BurnrateError('forbidden', 'this process runs without a test clock');
    return this.deps.clock;
  }

  read() {
    return view(this.clock().reading());
  }

  /**
   * Moves the clock forward to `target` (ms), then queues what the time since the catch-up mark
   * passed: the monthly invoicing run of each month closed since (the months the clock crossed
   * on its own, and those of an advance whose catch-up failed, too), a cycle sweep, and Stripe's
   * test clocks to the same time (their subscriptions renew on the way). A time before the clock
   * changes nothing (400); the clock's own time moves nothing and catches up all the same, so a
   * retry of an advance that failed after the clock moved (a 503) completes it.
   */
  async advance(target: number) {
    const clock = this.clock();
    const current = clock.now();
    if (target > current + TEST_CLOCK_MAX_ADVANCE_MS)
      throw new BurnrateError('invalid_request', 'advanceTo may be at most 20 years after the clock', {
        now: new Date(current).toISOString(),
      });
    // This process's clock is never ahead of the shared one: earlier than it is earlier than both.
    if (target < current) throw onlyForward(current);
    // The months from here on are pending until a catch-up queues their runs: the mark is set
    // before the clock first moves, so a catch-up that fails after it is done again later.
    const mark = await clock.initCaughtUp(current);
    const r = await clock.advanceTo(target);
    if (r.outcome === 'before') throw onlyForward(r.after.now);
    const catchUp = this.deps.catchUp
      ? await catchUpFromMark(clock, this.deps.catchUp, { mark, to: r.after.now, sweep: true })
      : { invoicingRuns: [], cycleSweep: false };
    const stripeTestClocks = await this.advanceStripe(r.after.now);
    return { ...view(r.after), previous: new Date(r.before).toISOString(), ...catchUp, stripeTestClocks };
  }

  /**
   * Stripe's test clocks that are behind `to`, advanced to it (Stripe renews their customers'
   * subscriptions and sends the events, asynchronously). A failure does not undo the advance:
   * the answer says what happened, and the next advance moves those clocks too.
   */
  private async advanceStripe(to: number): Promise<{ advanced: string[] } | { error: string } | null> {
    const stripe = this.deps.stripe;
    if (!stripe) return null;
    const frozenTime = Math.floor(to / 1000);
    try {
      const advanced: string[] = [];
      await stripe.call(async (sdk) => {
        for await (const c of sdk.testHelpers.testClocks.list({ limit: 100 })) {
          if (c.frozen_time >= frozenTime || c.status !== 'ready') continue;
          await sdk.testHelpers.testClocks.advance(
            c.id,
            { frozen_time: frozenTime },
            { idempotencyKey: `test-clock:${c.id}:${frozenTime}` },
          );
          advanced.push(c.id);
        }
      });
      return { advanced };
    } catch (err) {
      this.deps.log?.warn({ reason: (err as Error).message }, 'test clock: Stripe test clocks not advanced');
      return { error: (err as Error).message };
    }
  }
}

export type AdvanceOutcome = 'moved' | 'at' | 'before';

const onlyForward = (now: number) =>
  new BurnrateError('invalid_request', 'advanceTo must not be before the clock: it only moves forward', {
    now: new Date(now).toISOString(),
  });

const view = (r: ClockReading) => ({ now: new Date(r.now).toISOString(), offsetMs: r.offsetMs });
