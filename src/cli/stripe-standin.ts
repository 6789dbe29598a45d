/**
 * `npm run stripe:standin`: the local Stripe stand-in alone, on STRIPE_STANDIN_PORT (12111),
 * sending signed events to STRIPE_STANDIN_WEBHOOK_URL (default: the API on PORT). Point the
 * service at it with STRIPE_API_BASE=http://127.0.0.1:12111. STRIPE_STANDIN_RATE_LIMIT: 429s above
 * that many requests a second, as Stripe answers.
 */
import { loadConfig } from '../config/env.js';
import { DEV_WEBHOOK_SECRET, STANDIN_FIXTURES, startStandin } from '../stripe/standin/server.js';

const config = loadConfig();
const webhookUrl = config.stripe.standinWebhookUrl ?? `http://127.0.0.1:${config.port}/webhooks/stripe`;
const s = await startStandin({
  port: config.stripe.standinPort,
  fixturesPath: STANDIN_FIXTURES,
  webhookSecret: config.stripeWebhookSecret ?? DEV_WEBHOOK_SECRET,
  webhookUrl,
  rateLimit: config.stripe.standinRateLimit,
});
process.stdout.write(`Stripe stand-in on ${s.url}, sending events to ${webhookUrl}\n`);
process.on('SIGINT', () => void s.close().then(() => process.exit(0)));
process.on('SIGTERM', () => void s.close().then(() => process.exit(0)));
