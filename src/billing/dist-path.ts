/**
 * Where `npm run build` puts the billing page (scripts/build-billing.ts, which builds beside it
 * under this path with a suffix: so no trailing slash) and where the API serves it from
 * (billing-http.ts). A module of its own, so the build script loads nothing of the server.
 */
import { fileURLToPath } from 'node:url';

export const BILLING_DIST = fileURLToPath(new URL('../../dist/billing', import.meta.url));
