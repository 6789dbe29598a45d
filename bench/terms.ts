/**
 * The plan the archive's benchmarks (bench:memory, bench:copy) put their workspaces on: a
 * growth-like plan with 100,000 credits a month and flex, which no run spends.
 */
import type { PlanChange } from '../src/domain/burndown.js';
import { UNITS_PER_CREDIT } from '../src/domain/units.js';

export const ARCHIVE_BENCH_TERMS: PlanChange = {
  planId: 'growth',
  intervalMonths: 1,
  allotment: 100_000 * UNITS_PER_CREDIT,
  flexAllowed: true,
  flexPriceE4: 4_000_000,
  defaultCapCents: 10_000,
};
