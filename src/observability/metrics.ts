/** Prometheus metrics (prom-client): debits by outcome and their latency, plus process defaults. */
import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';
import type { DebitMetrics } from '../services/usage-service.js';

export class Metrics implements DebitMetrics {
  readonly registry = new Registry();
  private readonly debits = new Counter({
    name: 'burnrate_debits_total',
    help: 'Usage debits by outcome (ok, refused, shortfall, replayed) and mode (consume, record)',
    labelNames: ['outcome', 'mode'] as const,
    registers: [this.registry],
  });
  private readonly latency = new Histogram({
    name: 'burnrate_debit_duration_seconds',
    help: 'Time of one debit, from the script call to its parsed reply',
    labelNames: ['mode'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });

  constructor(opts: { defaults: boolean }) {
    if (opts.defaults) collectDefaultMetrics({ register: this.registry, prefix: 'burnrate_' });
  }

  debit(outcome: 'ok' | 'refused' | 'shortfall' | 'replayed', mode: string, seconds: number): void {
    this.debits.inc({ outcome, mode });
    this.latency.observe({ mode }, seconds);
  }
}
