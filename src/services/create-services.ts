/** The platform's use cases, one service per job, built over one store and catalog. */

import { type BillingOptions, BillingService } from '../billing/billing-service.js';
import type { LedgerHistory } from '../db/ledger-history.js';
import type { UsageKeyArchive } from '../db/usage-keys.js';
import type { UsageDayRetention } from '../db/usage-retention.js';
import type { Catalog } from '../domain/catalog.js';
import type { EngineStore } from '../redis/engine-store.js';
import type { ScriptClient } from '../redis/scripts.js';
import type { StripeClient } from '../stripe/client.js';
import { StripeRecords } from '../stripe/stripe-records.js';
import type { AlertService } from './alerts.js';
import { CheckoutService } from './checkout-service.js';
import type { Clock } from './clock.js';
import type { Invoicer } from './invoicing.js';
import { InvoicingRuns } from './invoicing-runs.js';
import { LedgerReader } from './ledger-reader.js';
import { ReadViews } from './read-views.js';
import type { TestClockService } from './test-clock.js';
import { type DebitMetrics, UsageService } from './usage-service.js';
import { WorkspaceService } from './workspace-service.js';

export interface Services {
  ledger: LedgerReader;
  usage: UsageService;
  workspaces: WorkspaceService;
  checkout: CheckoutService;
  views: ReadViews;
  invoicingRuns: InvoicingRuns;
  stripeRecords: StripeRecords;
  alerts: AlertService;
  /** The operator's test clock (issue 11 §3): refuses in production. */
  testClock: TestClockService;
  /** The hosted billing page's links, sessions and prepaid quotes (issue 11 §1). */
  billing: BillingService;
}

export function createServices(deps: {
  redis: ScriptClient;
  store: EngineStore;
  catalog: Catalog;
  clock: Clock;
  metrics?: DebitMetrics | undefined;
  /** The deployment's key prefix (REDIS_PREFIX). */
  keyPrefix: string;
  /** Stripe (or its stand-in); undefined when not configured. */
  stripe?: StripeClient | undefined;
  invoicer: Invoicer;
  /** Queues a monthly invoicing run (the API process has the producer). */
  enqueueInvoicingRun?: ((month: string) => Promise<void>) | undefined;
  alerts: AlertService;
  /** Replicas a debit must reach before it is answered (REDIS_WAIT_REPLICAS). */
  waitReplicas?: number | undefined;
  /** PostgreSQL's part of the ledger (DATABASE_URL); undefined: all of it is in Redis. */
  history?: LedgerHistory | undefined;
  /** The day totals' retention in Redis; with `history`, older usage days come from PostgreSQL. */
  usageDays?: UsageDayRetention | undefined;
  /** Late usage's keys in PostgreSQL (R-FLX-5): retries past the idempotency window replay. */
  archivedKeys?: UsageKeyArchive | undefined;
  testClock: TestClockService;
  /** The billing page's settings (config.billing). */
  billing: BillingOptions;
}): Services {
  const { redis, store, catalog, clock, alerts } = deps;
  const stripeRecords = new StripeRecords({ redis, keyPrefix: deps.keyPrefix, stripe: deps.stripe });
  const ledger = new LedgerReader({ store, history: deps.history });
  const usageArchive =
    deps.history && deps.usageDays ? { history: deps.history, usageDays: deps.usageDays } : undefined;
  const views = new ReadViews({ store, catalog, clock, alerts, ledger, usageArchive });
  return {
    ledger,
    usage: new UsageService({
      redis,
      store,
      catalog,
      clock,
      metrics: deps.metrics,
      alerts,
      waitReplicas: deps.waitReplicas,
      archivedKeys: deps.archivedKeys,
    }),
    workspaces: new WorkspaceService({
      redis,
      store,
      catalog,
      clock,
      keyPrefix: deps.keyPrefix,
      stripeRecords,
      alerts,
      views,
    }),
    checkout: new CheckoutService({ store, catalog, clock, stripe: deps.stripe }),
    views,
    invoicingRuns: new InvoicingRuns({
      clock,
      invoicer: deps.invoicer,
      enqueueRun: deps.enqueueInvoicingRun,
    }),
    stripeRecords,
    alerts,
    testClock: deps.testClock,
    billing: new BillingService({
      redis,
      store,
      clock,
      keyPrefix: deps.keyPrefix,
      options: deps.billing,
    }),
  };
}
