/**
 * Every Redis key name burnrate uses. All keys of one workspace carry the hash tag
 * {ws:<id>}, so every script's keys live in one Redis Cluster slot (R-OPS-4).
 */
export interface WorkspaceKeys {
  /** The engine's state: a MessagePack map written only by the scripts. */
  engine: string;
  /** Descriptive fields (createdAt, price book, currency, Stripe customer, overrides). */
  meta: string;
  lots: string;
  lotbal: string;
  ledger: string;
  flexMonths: string;
  /**
   * Months whose flex invoicing has read this workspace's amount (R-FLX-5): late usage
   * (`occurredAt`) no longer counts toward them but toward the current month. The invoicer adds
   * a month here in the same MULTI that reads `flexMonths[month]`.
   */
  flexClosed: string;
  /**
   * The flex already on final invoices of ended subscriptions (R-CYC-3): "<month>" -> units of
   * the month taken so far, "<month>|<subscription id>" -> units of that subscription's final
   * stretch. A final invoice bills what its month gained since the last one took its share.
   */
  flexFinal: string;
  /** Per prepaid lot, the units already taken back by refunds (R-PRE-3). */
  lotClawback: string;
  /** Alert id -> the alert with the figures behind it, as JSON (R-ALR-1). */
  alerts: string;
  /** The outbox: alert ids not yet queued for the outbound webhooks, scored by when (R-ALR-2). */
  alertQueue: string;
  /** One day's usage totals (R-USE-1): "<feature>|<kind>" -> units; `day` is "YYYY-MM-DD" (UTC). */
  usageDay(day: string): string;
  /**
   * A usage key's idempotency record as written before issue 10 (one string per key); still read,
   * so a retry of a key answered before the upgrade replays. New records: `usageRecords`.
   */
  usageIdem(key: string): string;
  /** The prefix of the usage idempotency records: `<prefix><day>:<bucket>` (core.lua idemStore). */
  usageRecords: string;
  /** First answers of late usage with their keys, until archived to PostgreSQL (R-FLX-5). */
  usageKeyLog: string;
  adjustmentIdem(key: string): string;
  /** Written before WAIT, so a replica having it has every earlier write of the slot (replicas.ts). */
  replicaFence: string;
  /** The id of the last ledger entry copied to PostgreSQL (src/db/ledger-archive.ts). */
  archived: string;
  /** The first day whose usage totals Redis may hold; earlier ones are PostgreSQL's (usage-retention.ts). */
  usageDaysFrom: string;
}

export function workspaceKeys(prefix: string, workspaceId: string): WorkspaceKeys {
  const base = `${prefix}{ws:${workspaceId}}`;
  return {
    engine: `${base}:engine`,
    meta: `${base}:meta`,
    lots: `${base}:lots`,
    lotbal: `${base}:lotbal`,
    ledger: `${base}:ledger`,
    flexMonths: `${base}:flexm`,
    flexClosed: `${base}:flexclosed`,
    flexFinal: `${base}:flexfinal`,
    lotClawback: `${base}:lotclaw`,
    alerts: `${base}:alerts`,
    alertQueue: `${base}:alertq`,
    usageDay: (day) => `${base}:ud:${day}`,
    usageIdem: (key) => `${base}:idem:usage:${key}`,
    usageRecords: `${base}:ik:`,
    usageKeyLog: `${base}:keylog`,
    adjustmentIdem: (key) => `${base}:idem:adj:${key}`,
    replicaFence: `${base}:fence`,
    archived: `${base}:archived`,
    usageDaysFrom: `${base}:udfrom`,
  };
}

/**
 * How many sets the workspace index is split into. One set of every workspace id was one key
 * that every new workspace and every sweep touched, all on one master of a Redis Cluster
 * (R-OPS-4); 64 buckets, each under a hash tag of its own, spread over the masters (a cluster
 * of up to dozens of masters gets several each) while a sweep's fixed cost stays 64 SSCANs.
 * A workspace's bucket is a hash of its id modulo this number: changing it moves most ids to
 * another bucket, so it takes a migration like migrateWorkspaceIndex's.
 */
export const WORKSPACE_INDEX_BUCKETS = 64;

/** One bucket of the workspace index: a set of workspace ids under its own hash tag. */
export function workspaceIndexKey(prefix: string, bucket: number): string {
  return `{${prefix}wsidx:${bucket}}`;
}

/** Every bucket of the workspace index, in order. */
export function workspaceIndexKeys(prefix: string): string[] {
  return Array.from({ length: WORKSPACE_INDEX_BUCKETS }, (_, b) => workspaceIndexKey(prefix, b));
}

/**
 * The set of every workspace id of burnrate before the index had buckets: read while it still
 * has members (an older process may still be adding to it), emptied into the buckets at worker
 * start (migrateWorkspaceIndex).
 */
export function legacyWorkspacesKey(prefix: string): string {
  return `${prefix}workspaces`;
}

/** BullMQ's prefix: a hash tag of its own, as BullMQ asks for on Redis Cluster. */
export function queuePrefix(prefix: string): string {
  return `{${prefix}bull}`;
}

/** The workspace of a Stripe customer, recorded when burnrate learns it. */
export function stripeCustomerKey(prefix: string, customerId: string): string {
  return `${prefix}stripe:customer:${customerId}`;
}

/** The purchase a Stripe PaymentIntent paid for: workspace, lot, credits and amount (R-PRE-3). */
export function stripePaymentKey(prefix: string, paymentIntentId: string): string {
  return `${prefix}stripe:payment:${paymentIntentId}`;
}

/** The invoicing state of a month: workspace id -> its state as JSON (R-FLX-6). */
export function invoicingKey(prefix: string, month: string): string {
  return `${prefix}invoicing:${month}`;
}

/** How many runs of a month have queued all their workspace-months (a counter). */
export function invoicingRunsKey(prefix: string, month: string): string {
  return `${prefix}invoicing:${month}:runs`;
}

/**
 * The Stripe rate bucket shared by every process and caller (R-FLX-6): one hash, under a hash
 * tag of its own so its script touches one Redis Cluster slot.
 */
export function stripeRateKey(prefix: string): string {
  return `{${prefix}stripe-rate}`;
}

/** The archiver's last pass: its lag and when it ran (a hash; /readyz reads it). */
export function archiveStatusKey(prefix: string): string {
  return `${prefix}archive:status`;
}

/**
 * The shared test clock's offset from the system time, in ms (issue 11 §3): one key, read by
 * every process outside production (src/services/test-clock.ts); missing means 0.
 */
export function testClockKey(prefix: string): string {
  return `${prefix}test-clock`;
}

/**
 * The test clock's catch-up mark (issue 11 §3): the clock time up to which the monthly runs of
 * the months it passed are queued (test-clock-caught-up-1.lua); missing until the first advance.
 */
export function testClockCaughtUpKey(prefix: string): string {
  return `${prefix}test-clock:caught-up`;
}
