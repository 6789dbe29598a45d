/**
 * The hosted billing page's API (src/billing/billing-http.ts) takes its routes from the route
 * table: a route on the page that changes anything must be a write, which checks the session's
 * CSRF token and the Origin. A route marked read with another method than GET is refused when
 * the page is mounted, before any request; the real table mounts.
 */
import express, { type RequestHandler } from 'express';
import { describe, expect, it } from 'vitest';
import { mountBillingPage } from '../../src/billing/billing-http.js';
import type { BillingService } from '../../src/billing/billing-service.js';
import { ROUTES, type RouteDef } from '../../src/http/routes.js';

const pass: RequestHandler = (_req, _res, next) => next();
const mount = (routes: readonly RouteDef[]) =>
  mountBillingPage(express(), {
    billing: {} as BillingService,
    routes,
    handlerOf: () => [pass, pass],
  });

describe('the billing page mounts only writes that check CSRF', () => {
  it('refuses a route on the page as read that is not a GET', () => {
    const read = ROUTES.find((r) => r.page === 'read' && r.method === 'get')!;
    expect(() => mount([{ ...read, method: 'post', path: '/sneaky' }])).toThrow(
      'POST /sneaky is on the billing page as read: a write needs CSRF',
    );
    // The same route as a write, or as a GET, mounts.
    expect(() => mount([{ ...read, method: 'post', path: '/sneaky', page: 'write' }])).not.toThrow();
    expect(() => mount([read])).not.toThrow();
  });

  it('mounts the real route table, whose every page route other than a GET is a write', () => {
    expect(() => mount(ROUTES)).not.toThrow();
    const onPage = ROUTES.filter((r) => r.page);
    expect(onPage.length).toBeGreaterThan(0);
    for (const r of onPage) if (r.method !== 'get') expect(r.page).toBe('write');
  });
});
