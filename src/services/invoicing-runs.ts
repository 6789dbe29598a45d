/** The operator's side of the monthly flex invoicing (R-FLX-6): queue a run, read its progress. */
import { MAX_CLOCK_SKEW_MS, monthOf } from '../domain/cycle.js';
import { BurnrateError } from '../domain/errors.js';
import { floorToWholeCredits } from '../domain/units.js';
import type { Clock } from './clock.js';
import type { Invoicer } from './invoicing.js';

export class InvoicingRuns {
  constructor(
    private readonly deps: {
      clock: Clock;
      invoicer: Invoicer;
      /** Queues a run; only the API process has the producer. */
      enqueueRun?: ((month: string) => Promise<void>) | undefined;
    },
  ) {}

  /**
   * Queues the flex invoicing of a closed month, or with `dryRun` answers what it would bill
   * without queueing anything: the workspace-months, and the final invoices (R-CYC-3) left
   * failed or pending, whose credits `billedCredits` counts too. Re-running a month bills
   * nothing twice.
   */
  async run(month: string, dryRun: boolean) {
    const now = this.deps.clock.now();
    if (month >= monthOf(now)) throw new BurnrateError('invalid_request', `${month} is not closed yet`);
    // A run closes the month, so only once every process's clock has left it: one up to
    // MAX_CLOCK_SKEW_MS behind still books usage into it (R-FLX-5), which a run begun earlier
    // would push to the next month. A dry run closes nothing.
    if (!dryRun && month >= monthOf(now - MAX_CLOCK_SKEW_MS))
      throw new BurnrateError(
        'invalid_request',
        `${month} is not closed yet (a month can be run ${MAX_CLOCK_SKEW_MS / 60_000} minutes after it ends)`,
      );
    if (dryRun) {
      let workspaces = 0;
      let billedCredits = 0;
      for await (const c of this.deps.invoicer.candidates(month)) {
        workspaces++;
        billedCredits += floorToWholeCredits(c.units);
      }
      let finalInvoices = 0;
      for await (const page of this.deps.invoicer.unfinishedFinalBills(month))
        for (const { state } of page) {
          finalInvoices++;
          billedCredits += state.billedCredits;
        }
      return { month, dryRun: true, workspaces, finalInvoices, billedCredits };
    }
    if (!this.deps.enqueueRun)
      throw new BurnrateError('unavailable', 'invoicing runs cannot be queued from this process');
    await this.deps.enqueueRun(month);
    return { month, dryRun: false, queued: true };
  }

  async status(month: string) {
    return this.deps.invoicer.status(month);
  }
}
