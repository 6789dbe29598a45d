/**
 * What one flex bill does next (R-FLX-5, R-FLX-6, R-CYC-3, R-CAT-5), decided from what was read:
 * pure, so the rules of billing read in one place and src/services/invoicing.ts only loads the
 * facts and carries the decision out (its state writes and the Stripe calls of src/stripe/).
 */
import { z } from 'zod';
import type { EngineState } from './burndown.js';
import { type Catalog, effectiveOverrides, findPlan } from './catalog.js';
import { centsForUnits, floorToWholeCredits, formatUnits, UNITS_PER_CREDIT } from './units.js';

/**
 * What one bill is for: a workspace-month of the monthly run or, with `subscriptionId`, the
 * final stretch of that subscription in the month it ended (R-CYC-3).
 */
export interface Bill {
  workspaceId: string;
  month: string;
  subscriptionId?: string | undefined;
}

export const INVOICE_STATUSES = ['pending', 'item_created', 'invoiced', 'skipped', 'failed'] as const;

const termsSchema = z.object({
  priceE4: z.number().int().positive(),
  currency: z.string(),
  customer: z.string(),
  ownInvoice: z.boolean(),
});
/**
 * The terms of a bill, fixed before the first Stripe call and reused by every retry: Stripe
 * refuses an idempotency key reused with other parameters, and a price or plan change between
 * attempts must not change what the month is billed (or leave a draft invoice).
 */
export type BillTerms = z.infer<typeof termsSchema>;

export const billStateSchema = z.object({
  status: z.enum(INVOICE_STATUSES),
  flexCredits: z.string(),
  billedCredits: z.number().int(),
  /** What the billed credits cost at the workspace's flex price; known once it is billed. */
  amountCents: z.number().int().optional(),
  itemId: z.string().optional(),
  invoiceId: z.string().optional(),
  reason: z.string().optional(),
  terms: termsSchema.optional(),
});
export type WorkspaceMonthState = z.infer<typeof billStateSchema>;

/** What was read for a bill. */
export interface BillFacts {
  bill: Bill;
  /** The bill's recorded state, if any: every step resumes from it. */
  prev: WorkspaceMonthState | null;
  /** The flex units to bill: the month's less what final invoices took, or a final stretch. */
  units: number;
  /** The workspace now; null when it does not exist. */
  workspace: {
    state: Pick<EngineState, 'planId' | 'intervalMonths' | 'flexPriceE4'>;
    meta: { currency: string; stripeCustomerId: string; overrides: string };
  } | null;
  catalog: Catalog;
  stripeConfigured: boolean;
}

/** The figures every state of a bill shows. */
export type BillFigures = Pick<WorkspaceMonthState, 'flexCredits' | 'billedCredits' | 'amountCents'>;

export type BillDecision =
  /** A final stretch without flex: nothing to bill, nothing recorded. */
  | { kind: 'nothing' }
  /** Done before (invoiced, skipped, or an item that waits for the subscription invoice). */
  | { kind: 'done'; state: WorkspaceMonthState }
  | { kind: 'no_workspace' }
  /** Recorded and done: skipped. */
  | { kind: 'skip'; state: WorkspaceMonthState }
  /** Recorded, then the job fails: no retry fixes it (an operator does, then a re-run). */
  | { kind: 'fail'; state: WorkspaceMonthState; stripeMissing: boolean }
  | {
      kind: 'bill';
      figures: BillFigures;
      billed: number;
      terms: BillTerms;
      /** First attempt of an own invoice (three calls): its terms are saved before the first. */
      saveTermsFirst: boolean;
      /** What earlier attempts created in Stripe: the steps resume after them. */
      invoiceId?: string | undefined;
      itemId?: string | undefined;
    };

export function decideBill(f: BillFacts): BillDecision {
  const { prev, units, workspace } = f;
  const final = f.bill.subscriptionId !== undefined;
  // A final stretch is taken once per subscription: one with no flex never recorded a state.
  if (final && units === 0) return { kind: 'nothing' };
  if (prev && (prev.status === 'invoiced' || prev.status === 'skipped' || prev.status === 'item_created'))
    return { kind: 'done', state: prev };
  if (!workspace) return { kind: 'no_workspace' };
  const billed = floorToWholeCredits(units);
  // The first attempt's terms; but a month that failed before anything was created in Stripe
  // takes today's (the operator fixed the cause, e.g. the customer).
  const keep = prev?.status === 'failed' && !prev.itemId && !prev.invoiceId ? undefined : prev?.terms;
  const price = keep?.priceE4 ?? workspace.state.flexPriceE4;
  const figures: BillFigures = {
    flexCredits: formatUnits(units),
    billedCredits: billed,
    amountCents: centsForUnits(billed * UNITS_PER_CREDIT, price),
  };
  if (billed === 0)
    return { kind: 'skip', state: { ...figures, status: 'skipped', reason: 'under one credit of flex' } };
  if (effectiveOverrides(f.catalog, f.bill.workspaceId, workspace.meta.overrides).manualInvoicing)
    return { kind: 'skip', state: { ...figures, status: 'skipped', reason: 'invoiced by hand (R-CAT-5)' } };
  const customer = keep?.customer ?? workspace.meta.stripeCustomerId;
  if (!customer || !f.stripeConfigured) {
    const reason = customer ? 'Stripe is not configured' : 'the workspace has no Stripe customer';
    return { kind: 'fail', state: { ...figures, status: 'failed', reason }, stripeMissing: !!customer };
  }
  // Annual plans, the final stretch of an ended subscription (R-CYC-3), and a workspace now on
  // a plan not sold through Stripe (its subscription ended after the month, before this
  // run): no next subscription invoice will sweep the item up, so an invoice is finalized now.
  const plan = findPlan(f.catalog, workspace.state.planId);
  const noSubscription = !plan || plan.stripePriceIds.length === 0;
  const terms = keep ?? {
    priceE4: price,
    currency: workspace.meta.currency || 'usd',
    customer,
    ownInvoice: workspace.state.intervalMonths === 12 || final || noSubscription,
  };
  // An own invoice takes three calls: its terms are saved before the first. A monthly plan's
  // single call saves them with its result; a retry after a crash in between that finds the
  // price changed is refused by Stripe (same key, other parameters) and the month shows as
  // failed, never billed twice. That saves a write on nine workspaces in ten.
  return {
    kind: 'bill',
    figures,
    billed,
    terms,
    saveTermsFirst: !keep && terms.ownInvoice,
    invoiceId: prev?.invoiceId,
    itemId: prev?.itemId,
  };
}
