/**
 * Request and response bodies of the platform API (../shared/API.md), as zod schemas. The
 * server validates with these and /openapi.json is generated from them.
 */
import { z } from 'zod';
import { ALERT_NAMES, LANGS } from '../domain/alerts.js';
import { REFUSAL_REASONS } from '../domain/burndown.js';
import { overridesSchema } from '../domain/catalog.js';
import { MAX_PURCHASE_CREDITS, MAX_REQUEST_UNITS, parseDecimal4 } from '../domain/units.js';
import { GROUP_BYS } from '../services/usage-view.js';

export const workspaceIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, 'a workspace id is 1-64 characters of A-Z a-z 0-9 _ -');

/** A credit amount: a decimal string or number, at most 4 decimals, parsed to integer units. */
function creditAmount(opts: { signed: boolean }) {
  return z
    .union([z.string(), z.number()])
    .transform((v, ctx) => {
      const units = parseDecimal4(v);
      if (units === null) {
        ctx.addIssue({ code: 'custom', message: 'a decimal number of credits with at most 4 decimals' });
        return z.NEVER;
      }
      if (units === 0 || (!opts.signed && units < 0)) {
        ctx.addIssue({
          code: 'custom',
          message: opts.signed ? 'must not be zero' : 'must be greater than zero',
        });
        return z.NEVER;
      }
      if (Math.abs(units) > MAX_REQUEST_UNITS) {
        ctx.addIssue({
          code: 'custom',
          message: `at most ${MAX_REQUEST_UNITS / 10_000} credits in one request`,
        });
        return z.NEVER;
      }
      return units;
    })
    .meta({
      description: 'Credits as a decimal string or number, at most 4 decimals',
      examples: ['0.37', 12],
    });
}

const positiveCredits = creditAmount({ signed: false });
const signedCredits = creditAmount({ signed: true });

const idempotencyKey = z
  .string()
  .regex(/^[\x21-\x7e]{1,200}$/, '1-200 printable ASCII characters without spaces')
  .meta({ description: 'Repeating a key returns the first answer and debits nothing (R-CON-5)' });

const metadata = z
  .record(z.string().max(40), z.union([z.string().max(500), z.number(), z.boolean()]))
  .refine((m) => Object.keys(m).length <= 20, 'at most 20 metadata keys');

const featureId = z.string().regex(/^[a-z0-9_.-]{1,64}$/);

/** `credits`, or `feature` with `quantity` (priced from the rate card), never both. */
const amountFields = {
  credits: positiveCredits.optional(),
  feature: featureId.optional(),
  quantity: positiveCredits.optional().meta({ description: 'Quantity of the feature, at most 4 decimals' }),
};
function oneAmount<
  T extends { credits?: number | undefined; feature?: string | undefined; quantity?: number | undefined },
>(v: T, ctx: z.RefinementCtx) {
  const byCredits = v.credits !== undefined;
  const byFeature = v.feature !== undefined || v.quantity !== undefined;
  if (byCredits === byFeature || (byFeature && (v.feature === undefined || v.quantity === undefined))) {
    ctx.addIssue({
      code: 'custom',
      message: 'give either credits, or feature and quantity',
      path: ['credits'],
    });
  }
}

/** The fields of one usage event. Unknown fields are refused: a typo such as "mdoe" must not
 * turn a record into a consume. */
const usageFields = {
  idempotencyKey,
  ...amountFields,
  mode: z.enum(['consume', 'record']).default('consume'),
  metadata: metadata.optional(),
  occurredAt: z.iso.datetime({ offset: true }).optional().meta({
    description:
      'When the usage happened, at most 35 days back: its flex counts toward that month while the month is not yet invoiced (R-FLX-5)',
  }),
};

export const usageBodySchema = z.object(usageFields).strict().superRefine(oneAmount);

export const batchBodySchema = z
  .object({
    events: z
      .array(
        z
          .object({ workspaceId: workspaceIdSchema, ...usageFields })
          .strict()
          .superRefine(oneAmount),
      )
      .min(1)
      .max(1000),
  })
  .strict();

export const authorizeBodySchema = z
  .object({ ...amountFields })
  .strict()
  .superRefine(oneAmount);

export const checkoutBodySchema = z
  .object({
    bundleId: z.string().min(1).max(64).optional(),
    credits: z
      .number()
      .int()
      .min(1)
      .max(MAX_PURCHASE_CREDITS)
      .optional()
      .meta({ description: 'Whole credits, any quantity' }),
    successUrl: z.url({ protocol: /^https?$/ }),
    cancelUrl: z.url({ protocol: /^https?$/ }),
  })
  .strict()
  .refine((v) => (v.bundleId === undefined) !== (v.credits === undefined), {
    message: 'give either bundleId or credits',
    path: ['credits'],
  });

export const checkoutResponseSchema = z.object({
  id: z.string(),
  url: z.string().nullable(),
  credits: z.string(),
  amountCents: z.number().int(),
  currency: z.string(),
});

export const putWorkspaceBodySchema = z
  .object({
    planId: z.string().min(1).max(64),
    createdAt: z.iso.datetime({ offset: true }).optional(),
    stripeCustomerId: z
      .string()
      .regex(/^cus_[A-Za-z0-9_]{1,250}$/)
      .optional(),
    overrides: overridesSchema.optional(),
  })
  .strict();

const capCents = z.number().int().min(100).max(1_000_000_000);
export const flexBodySchema = z
  .object({
    enabled: z.boolean().optional(),
    capCents: capCents
      .nullable()
      .optional()
      .meta({ description: 'Cents per billing cycle, ≥ 100; null removes the cap' }),
    confirmUnlimited: z.boolean().optional(),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (v.capCents === null && v.confirmUnlimited !== true) {
      ctx.addIssue({
        code: 'custom',
        path: ['confirmUnlimited'],
        message: 'removing the flex cap means no spending limit: send confirmUnlimited: true to confirm',
      });
    }
    if (v.enabled === undefined && v.capCents === undefined) {
      ctx.addIssue({ code: 'custom', message: 'nothing to change: give enabled and/or capCents' });
    }
  });

export const thresholdBodySchema = z
  .object({ thresholdCents: z.number().int().min(0).max(1_000_000_000).nullable() })
  .strict();

export const adjustmentBodySchema = z
  .object({
    idempotencyKey,
    kind: z.enum(['prepaid', 'included']),
    credits: signedCredits,
    // Kept in the ledger, which PostgreSQL keeps for good: its text holds no NUL.
    reason: z
      .string()
      .min(1)
      .max(500)
      .refine((r) => !r.includes('\u0000'), 'a reason holds no NUL character'),
  })
  .strict();

const U64_MAX = 2n ** 64n - 1n;

/**
 * A ledger cursor is a stream id from a previous page (R-USE-2): two unsigned 64-bit parts, and
 * never 0-0, which no entry has and before which nothing lies (Redis refuses both as a range).
 */
const ledgerCursor = z
  .string()
  .regex(/^\d{1,20}-\d{1,20}$/, 'a cursor from a previous page')
  // zod runs the refinement after a failed regex too: check the shape again before BigInt.
  .refine(
    (c) => /^\d+-\d+$/.test(c) && c !== '0-0' && c.split('-').every((part) => BigInt(part) <= U64_MAX),
    {
      message: 'a cursor from a previous page',
    },
  );

export const ledgerQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: ledgerCursor.optional(),
});

/** A day (YYYY-MM-DD) or an instant (ISO 8601); usage is grouped by UTC day. */
const dayOrInstant = z
  .union([z.iso.date(), z.iso.datetime({ offset: true })])
  .transform((v) => Date.parse(v));

export const usageQuerySchema = z.object({
  from: dayOrInstant.optional().meta({ description: 'First UTC day (default: the current cycle start)' }),
  to: dayOrInstant.optional().meta({ description: 'Last UTC day, included (default: today)' }),
  groupBy: z.enum(GROUP_BYS).default('day'),
});

export const alertsQuerySchema = z.object({
  lang: z.enum(LANGS).default('en'),
});

export const previewQuerySchema = z.object({
  month: z
    .string()
    .regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'YYYY-MM')
    .optional(),
});

const monthString = z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'YYYY-MM');
export const invoicingRunBodySchema = z
  .object({ month: monthString, dryRun: z.boolean().default(false) })
  .strict();
export const monthParamSchema = monthString;

/** Issue 11 §3: where to move the test clock; only forward. */
export const testClockBodySchema = z
  .object({
    advanceTo: z.iso
      .datetime({ offset: true })
      .transform((v) => Date.parse(v))
      .meta({
        description:
          "ISO 8601; not before the current clock (the clock's own time moves nothing, and queues what is pending)",
        examples: ['2027-01-01T12:00:00Z'],
      }),
  })
  .strict();

export const testClockSchema = z.object({
  now: z.string().meta({ description: "burnrate's clock, ISO 8601" }),
  offsetMs: z.number().int().meta({ description: 'How far it is ahead of the system time (ms)' }),
});

export const testClockAdvanceSchema = testClockSchema.extend({
  previous: z.string().meta({ description: 'The clock before the advance' }),
  invoicingRuns: z.array(z.string()).meta({
    description:
      'The months closed since the catch-up mark (the last catch-up), each with its monthly invoicing run queued (R-FLX-6)',
  }),
  cycleSweep: z.boolean().meta({ description: 'Whether a cycle sweep was queued (R-CYC-1)' }),
  stripeTestClocks: z
    .union([z.object({ advanced: z.array(z.string()) }), z.object({ error: z.string() })])
    .nullable()
    .meta({
      description: "Stripe's test clocks moved to the same time (test mode or the stand-in); null: no Stripe",
    }),
});

export const catalogQuerySchema = z.object({ workspaceId: workspaceIdSchema.optional() });

// Responses (documented in /openapi.json).
const creditString = z.string().meta({ description: 'Credits as a decimal string, at most 4 decimals' });

export const workspaceSummarySchema = z.object({
  included: z.object({ remaining: creditString }),
  prepaid: z.object({ remaining: creditString }),
  flex: z.object({ usedCredits: creditString, usedCents: z.number().int() }),
  blocked: z.enum(REFUSAL_REASONS).nullable(),
});

/** The alerts a usage call raised (R-ALR-1), present when it raised any: the platform may act at once. */
const raisedAlertsSchema = z
  .array(z.object({ id: z.string(), type: z.enum(ALERT_NAMES) }))
  .optional()
  .meta({ description: 'The alerts this call raised, when it raised any (R-ALR-1)' });

export const usageOkSchema = z.object({
  ok: z.literal(true),
  usageId: z.string(),
  debited: z.object({ included: creditString, prepaid: creditString, flex: creditString }),
  shortfall: creditString.optional(),
  alerts: raisedAlertsSchema,
  workspace: workspaceSummarySchema,
});

export const usageRefusedSchema = z.object({
  ok: z.literal(false),
  reason: z.enum(REFUSAL_REASONS),
  available: creditString
    .nullable()
    .meta({ description: 'What could be spent now; null when flex has no cap' }),
  usageId: z.string(),
  alerts: raisedAlertsSchema,
  workspace: workspaceSummarySchema,
});

export const workspaceSchema = z.object({
  id: z.string(),
  planId: z.string(),
  priceBook: z.string(),
  currency: z.string(),
  createdAt: z.string(),
  stripeCustomerId: z.string().nullable(),
  overrides: overridesSchema.nullable(),
  cycle: z.object({ start: z.string(), end: z.string(), interval: z.enum(['month', 'year']) }),
  included: z.object({ granted: creditString, used: creditString, remaining: creditString }),
  prepaid: z.object({ remaining: creditString }),
  flex: z.object({
    allowed: z.boolean(),
    enabled: z.boolean(),
    capCents: z.number().int().nullable(),
    defaultCapCents: z
      .number()
      .int()
      .meta({ description: 'The cap "Enable" sets (R-FLX-1): the plan\'s default, or the override\'s' }),
    thresholdCents: z.number().int().nullable(),
    usedCredits: creditString,
    usedCents: z.number().int(),
    unitAmountCents: z.string(),
  }),
  blocked: z.enum(REFUSAL_REASONS).nullable(),
  alerts: z.array(z.unknown()),
});

export const authorizeResponseSchema = z.object({
  ok: z.boolean(),
  reason: z.enum(REFUSAL_REASONS).optional(),
  credits: creditString,
  available: creditString.nullable(),
});

export const ledgerResponseSchema = z.object({
  entries: z.array(
    z.object({
      id: z.string(),
      at: z.string(),
      type: z.string(),
      kind: z.enum(['included', 'prepaid', 'flex']).nullable(),
      credits: creditString,
      balanceAfter: creditString,
      ref: z.string(),
      lot: z.string().optional(),
      feature: z.string().optional(),
      reason: z.string().optional(),
      occurredAt: z.string().optional().meta({ description: 'Late usage: when it happened' }),
      month: z.string().optional().meta({ description: 'Flex: the month it is invoiced in' }),
    }),
  ),
  nextCursor: z.string().nullable(),
});

export const invoicePreviewSchema = z.object({
  month: z.string(),
  flexCredits: creditString,
  billedCredits: creditString,
  unitAmountCents: z.string(),
  amountCents: z.number().int(),
  currency: z.string(),
  status: z.enum(['open', 'closed']),
  finalInvoicedCredits: creditString.meta({
    description: "What final invoices of ended subscriptions took of the month's flex (R-CYC-3)",
  }),
  toBillCredits: creditString.meta({
    description: 'What the monthly run bills: the flex final invoices left, rounded down (R-FLX-5)',
  }),
  toBillAmountCents: z.number().int(),
});

/** POST billing-sessions (issue 11 §1): where the page's "back" goes, and its language. */
export const billingSessionBodySchema = z
  .object({
    returnUrl: z.url({ protocol: /^https?$/ }).max(2000),
    locale: z.enum(LANGS).optional().meta({ description: "The page's language; default the browser's" }),
  })
  .strict();

export const billingSessionResponseSchema = z.object({
  url: z.string().meta({ description: 'A single-use link to the hosted billing page' }),
  expiresAt: z.string(),
});

export const prepaidQuoteQuerySchema = z.object({
  credits: z.coerce.number().int().min(1).max(MAX_PURCHASE_CREDITS),
});

export const prepaidQuoteSchema = z.object({
  credits: z.string(),
  amountCents: z.number().int(),
  unitAmountCents: z.string(),
  discountBps: z.number().int(),
  currency: z.string(),
});

export const errorSchema = z.object({
  error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }),
});
