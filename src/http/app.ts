/**
 * The HTTP app: health, readiness and metrics without a key; every API route behind its role
 * (R-OPS-5), with its own body limit, validated by its zod schemas.
 */
import express, { type Express, type Request, type RequestHandler } from 'express';
import { mountBillingPage, requestOrigin } from '../billing/billing-http.js';
import type { Config } from '../config/env.js';
import { BurnrateError } from '../domain/errors.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { OutageLog } from '../observability/outage-log.js';
import type { Services } from '../services/create-services.js';
import { authenticator } from './auth.js';
import { errorHandler, parseOr400 } from './errors.js';
import { openApiDocument } from './openapi.js';
import { pathParams, ROUTES, type RouteDef } from './routes.js';

export interface AppDeps {
  config: Pick<Config, 'apiKeys' | 'trustProxy'>;
  service: Services;
  metrics: Metrics;
  log: Logger;
  /**
   * Resolves when Redis and the queues answer, with what /readyz adds (the archive's lag);
   * rejects otherwise (within the command timeout).
   */
  ready(): Promise<Record<string, unknown> | undefined>;
  /** After a command timed out: drops the connections that are stalled (src/redis/clients.ts). */
  onRedisStall?(): void;
  /** Routes mounted before the API's (the Stripe webhook needs its raw body). */
  mountBefore?: (app: Express) => void;
}

const DEFAULT_BODY_LIMIT = '64kb';

export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  // Behind a TLS proxy the connection is http: TRUST_PROXY says whose X-Forwarded-Proto and
  // X-Forwarded-Host to believe (req.protocol, req.host and req.ip follow it; the billing page's
  // Secure cookie and links read them).
  app.set('trust proxy', deps.config.trustProxy);
  const auth = authenticator(deps.config.apiKeys);

  app.get('/healthz', (_req, res) => {
    res.json({ ok: true });
  });
  const outage = new OutageLog({
    log: deps.log,
    what: 'Redis',
    probe: async () => {
      await deps.ready();
    },
    ...(deps.onRedisStall ? { onStall: deps.onRedisStall } : {}),
  });
  app.get('/readyz', async (req, res) => {
    try {
      res.json({ ok: true, ...(await deps.ready()) });
    } catch (err) {
      outage.refuse(err, { method: req.method, path: req.path });
      res
        .status(503)
        .json({ error: { code: 'unavailable', message: 'Redis or the queues are unreachable' } });
    }
  });
  app.get('/metrics', async (_req, res) => {
    res.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });
  deps.mountBefore?.(app);

  const openapi = openApiDocument();
  app.get('/openapi.json', auth('platform'), (_req, res) => {
    res.json(openapi);
  });

  const handlerOf = (r: RouteDef): RequestHandler[] => {
    const handler: RequestHandler = async (req: Request, res) => {
      const workspaceId =
        req.params.workspaceId === undefined
          ? ''
          : parseOr400(pathParams.workspaceId, req.params.workspaceId, 'workspace id');
      const month =
        req.params.month === undefined ? '' : parseOr400(pathParams.month, req.params.month, 'month');
      const body = r.body ? parseOr400(r.body, req.body, 'request body') : undefined;
      const query = r.query ? parseOr400(r.query, req.query, 'query') : undefined;
      // Read only by the route that needs it (billing links), not on every request.
      const origin = () => requestOrigin(req);
      const out = await r.handle(deps.service, { workspaceId, month, origin, body, query });
      if (out.headers) res.set(out.headers);
      res.status(out.status).json(out.body);
    };
    return [express.json({ limit: r.bodyLimit ?? DEFAULT_BODY_LIMIT }), handler];
  };
  for (const r of ROUTES) app[r.method](r.path, auth(r.role), ...handlerOf(r));
  // The hosted billing page and its share of the same routes, behind its session (issue 11 §1).
  mountBillingPage(app, { billing: deps.service.billing, routes: ROUTES, handlerOf });

  app.use((req, _res, next) => {
    next(new BurnrateError('not_found', `no route ${req.method} ${req.path}`));
  });
  app.use(errorHandler(deps.log, outage));
  return app;
}
