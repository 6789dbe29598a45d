/**
 * An outage is logged once, not once per request (R-OPS-3): the first request that finds Redis
 * unreachable logs a warning without a stack, the rest of the outage is counted, and a probe logs
 * the recovery with how long it took and how many requests were answered 503 meanwhile.
 */
import type { Logger } from './logger.js';

/** How often the probe asks whether the dependency answers again. */
const PROBE_EVERY_MS = 500;

export class OutageLog {
  private since: number | null = null;
  private refused = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly o: {
      log: Logger;
      /** What is out, for the log lines: "Redis". */
      what: string;
      /** Resolves when the dependency answers again. */
      probe(): Promise<unknown>;
      /**
       * Called when a command timed out (a stall, not a refused connection): drops the
       * connection, so that until the dependency answers again every request fails at once
       * instead of each waiting out its own timeout, one command after another.
       */
      onStall?(): void;
    },
  ) {}

  /** A request could not reach the dependency: warn at the first, count the others. */
  refuse(err: unknown, where: { method: string; path: string }): void {
    this.refused++;
    if (err instanceof Error && err.message === 'Command timed out') this.o.onStall?.();
    if (this.since !== null) return;
    this.since = Date.now();
    const reason = err instanceof Error ? err.message : String(err);
    this.o.log.warn({ ...where, reason }, `${this.o.what} is unreachable: answering 503 until it is back`);
    this.timer = setInterval(() => void this.check(), PROBE_EVERY_MS);
    this.timer.unref();
  }

  private async check(): Promise<void> {
    try {
      await this.o.probe();
    } catch {
      return;
    }
    if (this.since === null) return;
    this.o.log.info(
      { downMs: Date.now() - this.since, refused: this.refused },
      `${this.o.what} is reachable again`,
    );
    this.stop();
  }

  /** Stops the probe (shutdown). */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.since = null;
    this.refused = 0;
  }
}
