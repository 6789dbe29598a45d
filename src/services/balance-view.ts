/**
 * The one builder of a workspace's balances as the API shows them: what is left of each kind
 * (`remaining`, API.md's word), the cycle's flex use and the block. Usage answers, the
 * workspace view and the usage view's summary all show these fields from here.
 */
import { centsForUnits, formatUnits } from '../domain/units.js';
import type { DebitBalances, StoredState } from '../redis/engine-store.js';

/** The balances every usage answer carries: all a debit's reply holds. */
export function balances(s: DebitBalances) {
  return {
    included: { remaining: formatUnits(s.included) },
    prepaid: { remaining: formatUnits(s.prepaid) },
    flex: { usedCredits: formatUnits(s.flexCycle), usedCents: centsForUnits(s.flexCycle, s.flexPriceE4) },
    blocked: s.blocked,
  };
}

/** The whole balance view (API.md's GET workspace): the grant and its use, and the flex settings. */
export function balanceView(s: StoredState) {
  const b = balances(s);
  return {
    included: {
      granted: formatUnits(s.includedGranted),
      used: formatUnits(s.includedGranted - s.included),
      remaining: b.included.remaining,
    },
    prepaid: b.prepaid,
    flex: {
      allowed: s.flexAllowed,
      enabled: s.flexEnabled,
      capCents: s.capCents,
      /** What "Enable" sets (R-FLX-1): the plan's default cap, or the workspace override's. */
      defaultCapCents: s.defaultCapCents,
      thresholdCents: s.thresholdCents,
      ...b.flex,
      unitAmountCents: formatUnits(s.flexPriceE4),
    },
    blocked: b.blocked,
  };
}
