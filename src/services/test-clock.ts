/**
 * Test clocks (issue 11 §3): outside production an operator moves burnrate's clock forward, for
 * every process at once. The clock is the system time plus an offset kept in one Redis key
 * (src/redis/lua/test-clock-advance-1.lua): the process that advances it takes the new offset at
 * once, the others read it every `pollMs`, and a worker reads it again before each job
 * (`syncedProcessor`), so a job queued after an advance never runs on the clock before it.
 * In production none of this is built: the services read the system clock, untouched.
 */
import { BurnrateError } from '../domain/errors.js';
import type { Logger } from '../observability/logger.js';
import { testClockKey } from '../redis/keys.js';
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
   * Moves the shared clock to `target` (ms) if that is later than the clock: the answer says
   * whether it moved, and the clock before and after.
   */
  async advanceTo(target: number): Promise<{ advanced: boolean; before: number; after: ClockReading }> {
    const system = this.base.now();
    this.generation++;
    const reply = await this.deps.redis.testClockAdvance(this.key, system, target);
    const [advanced, before, after] = reply.map(Number) as [number, number, number];
    this.offset = after;
    return {
      advanced: advanced === 1,
      before: system + before,
      after: { now: system + after, offsetMs: after },
    };
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
  /** The months the advance closed, each with its invoicing run queued. */
  invoicingRuns: string[];
  /** Whether a cycle sweep was queued. */
  cycleSweep: boolean;
}

/** The operator's routes over the test clock: read it, move it forward. */
export class TestClockService {
  constructor(
    private readonly deps: {
      /** Undefined in production, or in a process built without one: both refuse. */
      clock: TestClock | undefined;
      production: boolean;
      /** Queues the invoicing runs and the cycle sweep the advance passed (the API process). */
      catchUp?: ((o: { from: number; to: number }) => Promise<ClockCatchUp>) | undefined;
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
   * Moves the clock forward to `target` (ms), then queues what that time passed: the monthly
   * invoicing run of each month it closed, a cycle sweep, and Stripe's test clocks to the same
   * time (their subscriptions renew on the way). A time at or before the clock changes nothing.
   */
  async advance(target: number) {
    const clock = this.clock();
    const current = clock.now();
    if (target > current + TEST_CLOCK_MAX_ADVANCE_MS)
      throw new BurnrateError('invalid_request', 'advanceTo may be at most 20 years after the clock', {
        now: new Date(current).toISOString(),
      });
    const r = await clock.advanceTo(target);
    if (!r.advanced)
      throw new BurnrateError(
        'invalid_request',
        'advanceTo must be later than the clock: it only moves forward',
        {
          now: new Date(r.after.now).toISOString(),
        },
      );
    const catchUp = (await this.deps.catchUp?.({ from: r.before, to: r.after.now })) ?? {
      invoicingRuns: [],
      cycleSweep: false,
    };
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

const view = (r: ClockReading) => ({ now: new Date(r.now).toISOString(), offsetMs: r.offsetMs });
