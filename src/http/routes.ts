/**
 * The platform API as one table of routes (../shared/API.md). Each route names its role, the
 * schemas it validates with and its answers; the router and /openapi.json are both built from
 * this table, so the served contract is the validated one.
 */
import { z } from 'zod';
import type { Role } from '../config/env.js';
import type { Services } from '../services/create-services.js';
import type { BatchEventError, UsageOutcome } from '../services/usage-service.js';
import { STATUS } from './errors.js';
import {
  adjustmentBodySchema,
  alertsQuerySchema,
  authorizeBodySchema,
  authorizeResponseSchema,
  batchBodySchema,
  billingSessionBodySchema,
  billingSessionResponseSchema,
  catalogQuerySchema,
  checkoutBodySchema,
  checkoutResponseSchema,
  flexBodySchema,
  invoicePreviewSchema,
  invoicingRunBodySchema,
  ledgerQuerySchema,
  ledgerResponseSchema,
  monthParamSchema,
  prepaidQuoteQuerySchema,
  prepaidQuoteSchema,
  previewQuerySchema,
  putWorkspaceBodySchema,
  testClockAdvanceSchema,
  testClockBodySchema,
  testClockSchema,
  thresholdBodySchema,
  usageBodySchema,
  usageOkSchema,
  usageQuerySchema,
  usageRefusedSchema,
  workspaceIdSchema,
  workspaceSchema,
} from './schemas.js';

export interface RouteInput<B, Q> {
  workspaceId: string;
  /** The :month path parameter, where the route has one. */
  month: string;
  /** The request's own origin (`http://host:port`), for links back to this API. */
  origin(): string;
  body: B;
  query: Q;
}

export interface RouteResult {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

export interface RouteDef<B = unknown, Q = unknown> {
  method: 'get' | 'post' | 'put' | 'patch';
  path: string;
  role: Role;
  summary: string;
  /** Large bodies are accepted only where they belong (the batch). */
  bodyLimit?: string;
  body?: z.ZodType<B>;
  query?: z.ZodType<Q>;
  responses: Record<number, { description: string; schema?: z.ZodType }>;
  /**
   * On the hosted billing page's API too (/billing/api, src/billing/billing-http.ts), under its
   * session: a read, or a write (which needs the session's CSRF token); unset: not on the page.
   */
  page?: 'read' | 'write';
  /** On the page, the body's successUrl and cancelUrl must come back to the page (Checkout). */
  backToPage?: boolean;
  handle(svc: Services, input: RouteInput<B, Q>): Promise<RouteResult>;
}

function route<B, Q>(def: RouteDef<B, Q>): RouteDef {
  return def as unknown as RouteDef;
}

const ok = (body: unknown): RouteResult => ({ status: 200, body });
const replayHeaders = (replayed: boolean): Record<string, string> =>
  replayed ? { 'Idempotent-Replayed': 'true' } : {};
const NOT_FOUND = { 404: { description: 'No such workspace' } };

/** A usage answer's status: a refused debit is 402, not an error (API.md). */
const usageStatus = (o: UsageOutcome) => (o.answer.ok ? 200 : 402);

/** A batch event's result: its status first, then the usage answer or the error. */
function batchResult(r: UsageOutcome | BatchEventError) {
  if ('error' in r) return { status: STATUS[r.error.code], error: r.error };
  return { status: usageStatus(r), ...(r.replayed ? { replayed: true } : {}), ...r.answer };
}

export const pathParams = { workspaceId: workspaceIdSchema, month: monthParamSchema };

export const ROUTES: RouteDef[] = [
  route({
    method: 'post',
    path: '/v1/admin/invoicing/runs',
    role: 'operator',
    summary: 'Queue the flex invoicing of a closed month (R-FLX-6); dryRun counts without queueing',
    body: invoicingRunBodySchema,
    responses: { 202: { description: 'Queued' }, 200: { description: 'The dry run' } },
    handle: async (svc, { body }) => {
      const res = await svc.invoicingRuns.run(body.month, body.dryRun);
      return { status: body.dryRun ? 200 : 202, body: res };
    },
  }),
  route({
    method: 'get',
    path: '/v1/admin/invoicing/runs/:month',
    role: 'operator',
    summary: "A month's invoicing: workspaces by state, billed credits and cents, failures",
    responses: { 200: { description: 'Progress and totals' } },
    handle: async (svc, { month }) => ok(await svc.invoicingRuns.status(month)),
  }),
  route({
    method: 'get',
    path: '/v1/admin/test-clock',
    role: 'operator',
    summary: "burnrate's clock and its offset from the system time (issue 11 §3; refused in production)",
    responses: {
      200: { description: 'The clock', schema: testClockSchema },
      403: { description: 'NODE_ENV=production: no test clock' },
    },
    handle: async (svc) => ok(svc.testClock.read()),
  }),
  route({
    method: 'post',
    path: '/v1/admin/test-clock',
    role: 'operator',
    summary:
      'Move the clock of every process forward (issue 11 §3): reads, cycle rolls, alerts and the monthly invoicing run follow it, and Stripe test clocks too; refused in production',
    body: testClockBodySchema,
    responses: {
      200: { description: 'The clock after it, and what it queued', schema: testClockAdvanceSchema },
      400: { description: 'Before the clock: nothing changed (the clock itself: 200, a retry catches up)' },
      403: { description: 'NODE_ENV=production: no test clock' },
    },
    handle: async (svc, { body }) => ok(await svc.testClock.advance(body.advanceTo)),
  }),
  route({
    method: 'put',
    path: '/v1/workspaces/:workspaceId',
    role: 'operator',
    summary: 'Create or update a workspace; a different plan starts a new billing cycle (R-CYC-2)',
    body: putWorkspaceBodySchema,
    responses: {
      200: { description: 'Updated', schema: workspaceSchema },
      201: { description: 'Created', schema: workspaceSchema },
    },
    handle: async (svc, { workspaceId, body }) => {
      const { outcome, workspace } = await svc.workspaces.putWorkspace(workspaceId, body);
      return { status: outcome === 'created' ? 201 : 200, body: workspace };
    },
  }),
  route({
    method: 'get',
    path: '/v1/workspaces/:workspaceId',
    role: 'platform',
    page: 'read',
    summary: 'Plan, cycle, balances, flex settings, block and alerts',
    responses: { 200: { description: 'The workspace', schema: workspaceSchema }, ...NOT_FOUND },
    handle: async (svc, { workspaceId }) => ok(await svc.views.getWorkspace(workspaceId)),
  }),
  route({
    method: 'post',
    path: '/v1/workspaces/:workspaceId/usage',
    role: 'platform',
    summary: 'Spend credits: consume (all or nothing) or record (shortfall allowed)',
    body: usageBodySchema,
    responses: {
      200: { description: 'Debited', schema: usageOkSchema },
      402: { description: 'Refused; nothing debited', schema: usageRefusedSchema },
      ...NOT_FOUND,
      409: { description: 'Idempotency key reused with another body' },
    },
    handle: async (svc, { workspaceId, body }) => {
      const res = await svc.usage.spend(workspaceId, body);
      return { status: usageStatus(res), body: res.answer, headers: replayHeaders(res.replayed) };
    },
  }),
  route({
    method: 'post',
    path: '/v1/workspaces/:workspaceId/authorize',
    role: 'platform',
    summary: 'Could this amount be spent now? Debits nothing (R-CON-3)',
    body: authorizeBodySchema,
    responses: { 200: { description: 'The answer', schema: authorizeResponseSchema }, ...NOT_FOUND },
    handle: async (svc, { workspaceId, body }) => ok(await svc.usage.authorize(workspaceId, body)),
  }),
  route({
    method: 'post',
    path: '/v1/usage/batch',
    role: 'platform',
    summary: 'Up to 1,000 usage events; one result per event, in order',
    bodyLimit: '2mb',
    body: batchBodySchema,
    responses: {
      200: {
        description: 'Results in event order, each with its own status (200, 402, 404, 409)',
        schema: z.object({ results: z.array(z.object({ status: z.number().int() }).loose()) }),
      },
    },
    handle: async (svc, { body }) =>
      ok({ results: (await svc.usage.spendBatch(body.events)).map(batchResult) }),
  }),
  route({
    method: 'patch',
    path: '/v1/workspaces/:workspaceId/flex',
    role: 'platform',
    page: 'write',
    summary: 'Enable or disable flex (R-FLX-1, R-FLX-3), set or remove its cap (R-FLX-2)',
    body: flexBodySchema,
    responses: { 200: { description: 'The workspace', schema: workspaceSchema }, ...NOT_FOUND },
    handle: async (svc, { workspaceId, body }) =>
      ok(await svc.workspaces.setFlex(workspaceId, { enabled: body.enabled, capCents: body.capCents })),
  }),
  route({
    method: 'put',
    path: '/v1/workspaces/:workspaceId/billing-threshold',
    role: 'operator',
    summary: "Set or remove the operator's billing threshold (R-FLX-4)",
    body: thresholdBodySchema,
    responses: { 200: { description: 'The workspace', schema: workspaceSchema }, ...NOT_FOUND },
    handle: async (svc, { workspaceId, body }) =>
      ok(await svc.workspaces.setThreshold(workspaceId, body.thresholdCents)),
  }),
  route({
    method: 'post',
    path: '/v1/workspaces/:workspaceId/adjustments',
    role: 'operator',
    summary: 'A signed manual grant or debit of included or prepaid credits, on the ledger',
    body: adjustmentBodySchema,
    responses: { 200: { description: 'The workspace after it', schema: workspaceSchema }, ...NOT_FOUND },
    handle: async (svc, { workspaceId, body }) => {
      const res = await svc.workspaces.adjust(workspaceId, body);
      return { status: 200, body: res.workspace, headers: replayHeaders(res.replayed) };
    },
  }),
  route({
    method: 'post',
    path: '/v1/workspaces/:workspaceId/checkout-sessions',
    role: 'platform',
    page: 'write',
    backToPage: true,
    summary:
      "A Stripe Checkout Session for prepaid credits, priced from the workspace's price book (R-PRE-1)",
    body: checkoutBodySchema,
    responses: {
      200: { description: 'The session to send the customer to', schema: checkoutResponseSchema },
      ...NOT_FOUND,
    },
    handle: async (svc, { workspaceId, body }) => ok(await svc.checkout.createCheckout(workspaceId, body)),
  }),
  route({
    method: 'get',
    path: '/v1/workspaces/:workspaceId/ledger',
    role: 'platform',
    page: 'read',
    summary: 'The ledger, newest first, paginated (R-USE-2)',
    query: ledgerQuerySchema,
    responses: { 200: { description: 'A page', schema: ledgerResponseSchema }, ...NOT_FOUND },
    handle: async (svc, { workspaceId, query }) => ok(await svc.views.ledger(workspaceId, query)),
  }),
  route({
    method: 'get',
    path: '/v1/workspaces/:workspaceId/usage',
    role: 'platform',
    page: 'read',
    summary:
      "Usage by day, category, feature or credit kind over a range of UTC days, and the current cycle's summary (R-USE-1)",
    query: usageQuerySchema,
    responses: { 200: { description: 'The usage' }, ...NOT_FOUND },
    handle: async (svc, { workspaceId, query }) => ok(await svc.views.usageView(workspaceId, query)),
  }),
  route({
    method: 'get',
    path: '/v1/workspaces/:workspaceId/recommendations',
    role: 'platform',
    page: 'read',
    summary:
      'From the last three months: the cheapest prepaid bundle for the flex used, an upgrade, or sales, with the figures (R-ALR-4)',
    responses: { 200: { description: 'The recommendations' }, ...NOT_FOUND },
    handle: async (svc, { workspaceId }) => ok(await svc.views.recommendations(workspaceId)),
  }),
  route({
    method: 'get',
    path: '/v1/workspaces/:workspaceId/alerts',
    role: 'platform',
    page: 'read',
    summary:
      "This cycle's active alert banners (R-ALR-1, R-ALR-2), with their figures, in English, Hindi or Korean (R-ALR-3)",
    query: alertsQuerySchema,
    responses: { 200: { description: 'The banners' }, ...NOT_FOUND },
    handle: async (svc, { workspaceId, query }) => ok(await svc.views.alerts(workspaceId, query.lang)),
  }),
  route({
    method: 'get',
    path: '/v1/workspaces/:workspaceId/invoice-preview',
    role: 'platform',
    summary: "A month's flex credits and what they bill: rounded down (R-FLX-5)",
    query: previewQuerySchema,
    responses: { 200: { description: 'The preview', schema: invoicePreviewSchema }, ...NOT_FOUND },
    handle: async (svc, { workspaceId, query }) =>
      ok(await svc.views.invoicePreview({ workspaceId, month: query.month })),
  }),
  route({
    method: 'post',
    path: '/v1/workspaces/:workspaceId/billing-sessions',
    role: 'platform',
    summary:
      "A single-use link (15 minutes by default) to the workspace's hosted billing page; opening it starts the customer's session (issue 11 §1)",
    body: billingSessionBodySchema,
    responses: {
      201: { description: 'The link', schema: billingSessionResponseSchema },
      ...NOT_FOUND,
    },
    handle: async (svc, { workspaceId, body, origin }) => ({
      status: 201,
      body: await svc.billing.createLink({ workspaceId, ...body, origin: origin() }),
    }),
  }),
  route({
    method: 'get',
    path: '/v1/workspaces/:workspaceId/prepaid-quote',
    role: 'platform',
    page: 'read',
    summary:
      'What any quantity of prepaid credits costs the workspace: the tier it reaches in its price book (R-CAT-2, R-PRE-1)',
    query: prepaidQuoteQuerySchema,
    responses: { 200: { description: 'The quote', schema: prepaidQuoteSchema }, ...NOT_FOUND },
    handle: async (svc, { workspaceId, query }) =>
      ok(await svc.checkout.prepaidQuote(workspaceId, query.credits)),
  }),
  route({
    method: 'get',
    path: '/v1/catalog',
    role: 'platform',
    page: 'read',
    summary: "Plans, bundles priced from a workspace's price book, the rate card",
    query: catalogQuerySchema,
    responses: { 200: { description: 'The catalog' } },
    handle: async (svc, { query }) => ok(await svc.views.catalogView(query.workspaceId)),
  }),
];
