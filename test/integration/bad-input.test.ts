/**
 * Bad bytes get a clear 4xx and change nothing, never a 5xx (R-WH-1, R-USE-2, R-OPS-5): the
 * regressions first (each once answered 500), then fast-check over every route's path, query
 * and body, and the webhook's body and signature.
 */
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTES } from '../../src/http/routes.js';
import { OPERATOR, PLATFORM, startTestApi, type TestApi } from '../support/http.js';
import { scanKeys } from '../support/redis.js';
import { sign } from '../support/stripe.js';

let api: TestApi;
const WS = 'fuzzed';

beforeAll(async () => {
  api = await startTestApi();
  expect((await api.call('PUT', `/v1/workspaces/${WS}`, { body: { planId: 'growth' } })).status).toBe(201);
  const spent = await api.call('POST', `/v1/workspaces/${WS}/usage`, {
    key: PLATFORM,
    body: { idempotencyKey: 'seed', credits: 3 },
  });
  expect(spent.status).toBe(200);
});
afterAll(async () => {
  await api.close();
});

/**
 * Every key of this test's prefix with its value: equal digests mean nothing changed. On a
 * cluster every master is scanned (each holds its own slots); DUMP goes to the key's master.
 */
async function digest(): Promise<string> {
  const keys = await scanKeys(api.redis, `*${api.prefix}*`);
  keys.sort();
  const dumps = await Promise.all(keys.map((k) => api.redis.dumpBuffer(k)));
  return keys.map((k, i) => `${k}=${dumps[i]?.toString('base64') ?? ''}`).join('\n');
}

async function send(o: {
  method: string;
  path: string;
  body?: Uint8Array | string;
  headers?: Record<string, string>;
}): Promise<{ status: number; body: unknown }> {
  const res = await fetch(api.base + o.path, {
    method: o.method,
    headers: o.headers ?? {},
    ...(o.body === undefined ? {} : { body: o.body }),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // asserted below where it matters
  }
  return { status: res.status, body };
}

/** The error body API.md promises for every refusal. */
function expectErrorBody(body: unknown, code: string) {
  expect(body).toMatchObject({ error: { code, message: expect.any(String) } });
}

const concretePath = (path: string) => path.replace(':workspaceId', WS).replace(':month', '2026-10');

describe('regressions: each answered 500 before', () => {
  it('a body sent as gzip that is not gzip: 400 on every JSON route and on the webhook, nothing changed', async () => {
    const before = await digest();
    const withBodies = ROUTES.filter((r) => r.method !== 'get');
    expect(withBodies.length).toBeGreaterThan(5);
    for (const r of withBodies) {
      const res = await send({
        method: r.method.toUpperCase(),
        path: concretePath(r.path),
        body: '{"idempotencyKey":"gz","credits":1}',
        headers: {
          authorization: `Bearer ${OPERATOR}`,
          'content-type': 'application/json',
          'content-encoding': 'gzip',
        },
      });
      expect(res.status, `${r.method} ${r.path}`).toBe(400);
      expectErrorBody(res.body, 'invalid_request');
    }
    const payload = '{"id":"evt_1"}';
    const hook = await send({
      method: 'POST',
      path: '/webhooks/stripe',
      body: payload,
      headers: {
        'content-type': 'application/json',
        'content-encoding': 'gzip',
        'stripe-signature': sign(payload),
      },
    });
    expect(hook.status).toBe(400);
    expectErrorBody(hook.body, 'invalid_request');
    expect(await digest()).toBe(before);
  });

  it('a body that really is gzip is read as JSON', async () => {
    const res = await send({
      method: 'POST',
      path: `/v1/workspaces/${WS}/authorize`,
      body: gzipSync('{"credits":1}'),
      headers: {
        authorization: `Bearer ${PLATFORM}`,
        'content-type': 'application/json',
        'content-encoding': 'gzip',
      },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ ok: true });
  });

  it('R-OPS-5 an adjustment whose reason holds a NUL (PostgreSQL keeps the ledger; its text has none): 400', async () => {
    const before = await digest();
    const res = await api.call('POST', `/v1/workspaces/${WS}/adjustments`, {
      key: OPERATOR,
      body: { idempotencyKey: 'nul', kind: 'prepaid', credits: 1, reason: 'goodwill\u0000' },
    });
    expect(res.status).toBe(400);
    expectErrorBody(res.body, 'invalid_request');
    expect(await digest()).toBe(before);
  });

  it('R-USE-2 a ledger cursor shaped like a stream id that is none: 400', async () => {
    for (const cursor of [
      'abc',
      '1-',
      '0-0',
      '99999999999999999999-0',
      '0-99999999999999999999',
      '18446744073709551616-1',
    ]) {
      const res = await api.call('GET', `/v1/workspaces/${WS}/ledger?cursor=${cursor}`, { key: PLATFORM });
      expect(res.status, cursor).toBe(400);
      expectErrorBody(res.body, 'invalid_request');
    }
    const last = await api.call(
      'GET',
      `/v1/workspaces/${WS}/ledger?cursor=18446744073709551615-18446744073709551615`,
      {
        key: PLATFORM,
      },
    );
    expect(last.status).toBe(200);
  });

  it('R-OPS-5 malformed percent-encoding in the path, with or without a key: 400', async () => {
    for (const key of [null, PLATFORM]) {
      for (const path of [
        '/v1/workspaces/%ZZ',
        '/v1/workspaces/%E0%A4%A/usage',
        '/v1/admin/invoicing/runs/%',
      ]) {
        const res = await api.call('GET', path, { key });
        expect(res.status, `${path} ${key}`).toBe(400);
        expectErrorBody(res.body, 'invalid_request');
      }
    }
  });
});

// Bytes a careless client or an attacker sends: JSON of any shape, or not JSON at all.
const anyBody = fc.oneof(
  fc.json().map((s) => s as string | Uint8Array),
  fc.string({ unit: 'binary' }),
  fc.uint8Array({ maxLength: 300 }),
  fc.jsonValue().map((v) => JSON.stringify({ idempotencyKey: 'fz', credits: v })),
  fc
    .record({ workspaceId: fc.string(), events: fc.array(fc.jsonValue(), { maxLength: 3 }) })
    .map((v) => JSON.stringify(v)),
);
const contentType = fc.constantFrom(
  'application/json',
  'application/json; charset=utf-16',
  'application/json; charset=latin1',
  'text/plain',
  'application/x-www-form-urlencoded',
);
const contentEncoding = fc.constantFrom(undefined, 'gzip', 'deflate', 'br', 'identity', 'x-zip');
const pathSegment = fc.oneof(
  { arbitrary: fc.constant(WS), weight: 4 },
  fc.string({ unit: 'binary', maxLength: 40 }).map(encodeURIComponent),
  fc.constantFrom('%', '%ZZ', '%E0%A4%A', '%00', '..', '.', '%2F', 'a'.repeat(300)),
);
const queryString = fc.oneof(
  fc.constant(''),
  fc
    .dictionary(
      fc.constantFrom('limit', 'cursor', 'from', 'to', 'groupBy', 'lang', 'month', 'workspaceId', 'x'),
      fc.oneof(fc.string({ maxLength: 30 }), fc.integer().map(String), fc.constantFrom('0-0', '%ZZ', '')),
    )
    .map(
      (d) =>
        `?${Object.entries(d)
          .map(([k, v]) => `${k}=${v}`)
          .join('&')}`,
    ),
);

/**
 * fast-check over one route: its path's parameters, query, body, content type and encoding, and
 * `auth` (the credentials: an API key, or a billing session's cookie and CSRF token), under
 * `prefix`. Never a 5xx; a refusal changes nothing in Redis.
 */
function fuzzRoute<A>(
  route: (typeof ROUTES)[number],
  o: { prefix: string; auth: fc.Arbitrary<A>; headersOf(auth: A): Record<string, string>; numRuns: number },
) {
  return fc.assert(
    fc.asyncProperty(
      pathSegment,
      queryString,
      anyBody,
      contentType,
      contentEncoding,
      o.auth,
      async (segment, query, body, type, encoding, auth) => {
        const before = await digest();
        const headers: Record<string, string> = { 'content-type': type, ...o.headersOf(auth) };
        if (encoding) headers['content-encoding'] = encoding;
        const path = `${o.prefix}${route.path.replace(':workspaceId', segment).replace(':month', segment)}${query}`;
        const res = await send({
          method: route.method.toUpperCase(),
          path,
          ...(route.method === 'get' ? {} : { body }),
          headers,
        });
        expect(res.status, `${route.method} ${path}`).toBeLessThan(500);
        if (res.status >= 400) {
          expect((res.body as { error?: { code?: unknown } }).error?.code).toEqual(expect.any(String));
          expect(await digest()).toBe(before);
        }
      },
    ),
    { numRuns: o.numRuns },
  );
}

describe('fuzzed requests (fast-check): never a 5xx, a refusal changes nothing, the process lives', () => {
  it.each(ROUTES.map((r) => [`${r.method.toUpperCase()} ${r.path}`, r] as const))(
    '%s: path, query, body, content type and encoding',
    (_name, route) =>
      fuzzRoute(route, {
        prefix: '',
        auth: fc.constantFrom(OPERATOR, OPERATOR, PLATFORM, 'wrong-key-0000', null),
        headersOf: (key): Record<string, string> => (key ? { authorization: `Bearer ${key}` } : {}),
        numRuns: 60,
      }),
  );

  it('the Stripe webhook: any body, signed or not', async () => {
    await fc.assert(
      fc.asyncProperty(anyBody, fc.boolean(), contentEncoding, async (body, signed, encoding) => {
        const before = await digest();
        const payload = typeof body === 'string' ? body : Buffer.from(body).toString('latin1');
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (signed) headers['stripe-signature'] = sign(payload);
        if (encoding) headers['content-encoding'] = encoding;
        const res = await send({ method: 'POST', path: '/webhooks/stripe', body: payload, headers });
        expect(res.status).toBeLessThan(500);
        if (res.status >= 400) expect(await digest()).toBe(before);
      }),
      { numRuns: 200 },
    );
  });

  it('signed events of every handled type with fuzzed objects: 2xx or 4xx, never 5xx', async () => {
    const types = [
      'checkout.session.completed',
      'checkout.session.async_payment_succeeded',
      'customer.subscription.updated',
      'invoice.paid',
      'charge.refunded',
    ];
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...types),
        fc.oneof(fc.jsonValue(), fc.dictionary(fc.string(), fc.jsonValue())),
        fc.oneof(fc.integer(), fc.string(), fc.constant(Math.floor(Date.now() / 1000))),
        async (type, object, created) => {
          const before = await digest();
          const payload = JSON.stringify({ id: `evt_fz_${Math.random()}`, type, created, data: { object } });
          const res = await send({
            method: 'POST',
            path: '/webhooks/stripe',
            body: payload,
            headers: { 'content-type': 'application/json', 'stripe-signature': sign(payload) },
          });
          expect(res.status).toBeLessThan(500);
          if (res.status >= 400) expect(await digest()).toBe(before);
        },
      ),
      { numRuns: 150 },
    );
  });

  /** A billing page session on the fuzzed workspace (issue 11 §1): its cookie and CSRF token. */
  async function billingSession(): Promise<{ cookie: string; csrf: string }> {
    const link = await api.call('POST', `/v1/workspaces/${WS}/billing-sessions`, {
      key: PLATFORM,
      body: { returnUrl: 'https://app.example/settings' },
    });
    expect(link.status).toBe(201);
    const opened = await fetch(link.body.url, { redirect: 'manual' });
    expect(opened.status).toBe(303);
    const cookie = opened.headers.get('set-cookie')!.split(';')[0]!;
    const session = await fetch(`${api.base}/billing/api/session`, { headers: { cookie } });
    return { cookie, csrf: ((await session.json()) as { csrfToken: string }).csrfToken };
  }

  it('the billing page: any link token, GET or HEAD, opens nothing and changes nothing', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string({ unit: 'binary', maxLength: 120 }).map(encodeURIComponent),
          fc.constantFrom('%', '%ZZ', '', `${'a'.repeat(43)}.${'b'.repeat(43)}`, 'x.y.z'),
        ),
        fc.constantFrom('GET', 'HEAD'),
        async (token, method) => {
          const before = await digest();
          const res = await fetch(`${api.base}/billing/open?token=${token}`, { method, redirect: 'manual' });
          await res.arrayBuffer();
          expect(res.status, `${method} ${token}`).toBeLessThan(500);
          expect(res.headers.get('set-cookie')).toBeNull();
          expect(await digest()).toBe(before);
        },
      ),
      { numRuns: 120 },
    );
  });

  it.each(ROUTES.map((r) => [`${r.method.toUpperCase()} /billing/api${r.path}`, r] as const))(
    '%s with a billing session: path, query, body, CSRF token, content type and encoding',
    async (_name, route) => {
      const session = await billingSession();
      await fuzzRoute(route, {
        prefix: '/billing/api',
        auth: fc.constantFrom(session.csrf, session.csrf, 'forged', undefined),
        headersOf: (csrf): Record<string, string> => ({
          cookie: session.cookie,
          ...(csrf ? { 'x-csrf-token': csrf } : {}),
        }),
        numRuns: 25,
      });
    },
  );

  it('the process is alive and answers after all of it', async () => {
    expect((await api.call('GET', '/healthz', { key: null })).status).toBe(200);
    expect((await api.call('GET', '/readyz', { key: null })).status).toBe(200);
    expect((await api.call('GET', `/v1/workspaces/${WS}`, { key: PLATFORM })).status).toBe(200);
  });
});
