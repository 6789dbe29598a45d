/**
 * The hosted billing page over HTTP (issue 11 §1):
 * - `GET /billing/open?token=…` takes a link once, sets the session cookie and sends the browser
 *   to the page; an expired, reused or tampered link gets a page that says so and shows nothing
 *   of the workspace;
 * - `/billing/` serves the page's bundle (dist/billing, `npm run build`);
 * - `/billing/api/…` is the platform API's own route table a second time, limited to what the
 *   page reads and writes (the routes with `page` set), authenticated by the session cookie
 *   instead of an API key, and only for the session's workspace (any other is 404). Writes need
 *   the session's CSRF token in `X-CSRF-Token` and, when the browser sends one, this origin's
 *   `Origin` (403 otherwise).
 * No API key, session id or token ever appears in the page, its URLs after the redirect, or a log.
 */
import { existsSync } from 'node:fs';
import express, { type Express, type Request, type RequestHandler, type Response } from 'express';
import { LANGS } from '../domain/alerts.js';
import { BurnrateError } from '../domain/errors.js';
import type { RouteDef } from '../http/routes.js';
import {
  type BillingLocale,
  type BillingService,
  type BillingSession,
  type LinkRefusal,
  sameSecret,
} from './billing-service.js';
import { BILLING_DIST } from './dist-path.js';
import { linkRefusalPage } from './link-page.js';

export const BILLING_COOKIE = 'burnrate_billing';
export const CSRF_HEADER = 'x-csrf-token';

const SECURITY_HEADERS = {
  'Content-Security-Policy':
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
};

/** The best of en, hi and ko for an Accept-Language header; English when none fits. */
export function negotiateLocale(header: string | undefined): BillingLocale {
  const ranked = (header ?? '')
    .split(',')
    .map((part, i) => {
      const [tag = '', ...params] = part.trim().split(';');
      const q = params.map((p) => /^\s*q=([\d.]+)\s*$/.exec(p)?.[1]).find((v) => v !== undefined);
      return { lang: tag.trim().toLowerCase().split('-')[0] ?? '', q: q === undefined ? 1 : Number(q), i };
    })
    .filter((t) => t.q > 0)
    .sort((a, b) => b.q - a.q || a.i - b.i);
  for (const t of ranked) {
    if ((LANGS as readonly string[]).includes(t.lang)) return t.lang as BillingLocale;
  }
  return 'en';
}

function cookieOf(req: Request, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

/**
 * Whether the page is served over https: as PUBLIC_URL says, else the connection, or the
 * X-Forwarded-Proto of a proxy TRUST_PROXY trusts (Express's `req.secure`).
 */
function servedSecurely(req: Request, billing: BillingService): boolean {
  return req.secure || billing.publicBase('http:').startsWith('https:');
}

/** The origin a request came to: PUBLIC_URL's, else its own (a trusted proxy's X-Forwarded-*). */
export function requestOrigin(req: Request): string {
  return `${req.protocol}://${req.host || 'localhost'}`;
}

function originOf(req: Request, billing: BillingService): string {
  return new URL(billing.publicBase(requestOrigin(req))).origin;
}

type SessionRequest = Request & { billingSession?: BillingSession };

export function mountBillingPage(
  app: Express,
  o: {
    billing: BillingService;
    routes: readonly RouteDef[];
    /** The route table's body parser and handler for a route (src/http/app.ts). */
    handlerOf(r: RouteDef): RequestHandler[];
  },
): void {
  const { billing } = o;
  const secured: RequestHandler = (_req, res, next) => {
    res.set(SECURITY_HEADERS);
    next();
  };
  app.use('/billing', secured);

  // Express answers HEAD with the GET route: a mail scanner's HEAD would take the link. It gets
  // an empty 200 and the link stays open for the customer's GET.
  app.head('/billing/open', (_req, res) => {
    res.set('Cache-Control', 'no-store').status(200).end();
  });
  app.get('/billing/open', async (req, res) => {
    res.set('Cache-Control', 'no-store');
    const fallback = negotiateLocale(req.headers['accept-language']);
    const opened = await billing.openLink(req.query.token, fallback);
    if (!opened.ok) return refuse(res, opened, fallback);
    res.cookie(BILLING_COOKIE, opened.sessionId, {
      httpOnly: true,
      sameSite: 'strict',
      path: '/billing',
      secure: servedSecurely(req, billing),
      maxAge: opened.session.expiresAt - Date.now(),
    });
    res.redirect(303, '/billing/');
  });

  /** Resolves the cookie's session, or 401; never another workspace's data (404). */
  const sessionAuth =
    (access: 'read' | 'write'): RequestHandler =>
    async (req: SessionRequest, _res, next) => {
      const session = await billing.session(cookieOf(req, BILLING_COOKIE));
      if (!session)
        return next(
          new BurnrateError(
            'unauthorized',
            'the billing session has ended: open a new link from your workspace',
          ),
        );
      const asked = req.params.workspaceId ?? req.query.workspaceId;
      if (asked !== undefined && asked !== session.workspaceId)
        return next(new BurnrateError('not_found', 'no such workspace in this billing session'));
      if (access === 'write') {
        const origin = req.headers.origin;
        if (origin !== undefined && origin !== originOf(req, billing))
          return next(new BurnrateError('forbidden', 'a write from another origin'));
        const csrf = req.headers[CSRF_HEADER];
        if (typeof csrf !== 'string' || !sameSecret(csrf, session.csrfToken))
          return next(new BurnrateError('forbidden', `a write needs the session's ${CSRF_HEADER} header`));
      }
      req.billingSession = session;
      next();
    };

  app.get('/billing/api/session', sessionAuth('read'), (req: SessionRequest, res) => {
    const s = req.billingSession!;
    res.set('Cache-Control', 'no-store');
    res.json({
      workspaceId: s.workspaceId,
      locale: s.locale,
      returnUrl: s.returnUrl,
      csrfToken: s.csrfToken,
      expiresAt: new Date(s.expiresAt).toISOString(),
    });
  });

  for (const r of o.routes) {
    if (!r.page) continue;
    // A route that changes anything is a write: the CSRF token and the Origin are checked.
    if (r.method !== 'get' && r.page !== 'write')
      throw new Error(
        `${r.method.toUpperCase()} ${r.path} is on the billing page as read: a write needs CSRF`,
      );
    const [json, handler] = o.handlerOf(r);
    const chain: RequestHandler[] = [sessionAuth(r.page), json!];
    // Checkout comes back to this page only: the session must not make Stripe redirect elsewhere.
    if (r.backToPage) chain.push(backToThisPage(billing));
    app[r.method](`/billing/api${r.path}`, ...chain, noStore, handler!);
  }

  // Routing ignores a trailing slash: only the bare path is sent on, or /billing/ would loop.
  app.get('/billing', (req, res, next) => {
    if (req.originalUrl.split('?')[0] === '/billing') res.redirect(301, '/billing/');
    else next();
  });
  const assets = express.static(BILLING_DIST, {
    index: 'index.html',
    setHeaders: (res) => res.set('Cache-Control', 'no-cache'),
  });
  app.use('/billing', (req, res, next) => {
    if (req.path.startsWith('/api/')) return next();
    if (!existsSync(BILLING_DIST)) {
      res.status(503).type('text/plain').send('The billing page is not built: run `npm run build`.');
      return;
    }
    assets(req, res, next);
  });
}

const noStore: RequestHandler = (_req, res, next) => {
  res.set('Cache-Control', 'no-store');
  next();
};

function backToThisPage(billing: BillingService): RequestHandler {
  return (req, _res, next) => {
    const page = `${originOf(req, billing)}/billing/`;
    const body = (req.body ?? {}) as { successUrl?: unknown; cancelUrl?: unknown };
    for (const url of [body.successUrl, body.cancelUrl]) {
      if (typeof url === 'string' && !url.startsWith(page))
        return next(new BurnrateError('invalid_request', `Checkout must come back to ${page}`));
    }
    next();
  };
}

function refuse(res: Response, r: LinkRefusal, fallback: BillingLocale): void {
  res
    .status(r.reason === 'invalid' ? 400 : 410)
    .type('html')
    .send(linkRefusalPage({ reason: r.reason, locale: r.locale ?? fallback, returnUrl: r.returnUrl }));
}
