/**
 * Vitest global setup: the billing page's bundle is built (when missing or stale) before any
 * test starts an API that serves it, so a fresh clone needs only `npm ci` then `npm test`.
 */
import { ensureBillingBuilt } from '../../scripts/build-billing.js';

export default async function setup() {
  await ensureBillingBuilt();
}
