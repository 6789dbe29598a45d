/**
 * The hosted billing page's links and its share of the API, over HTTP (issue 11 §1): the
 * billing-sessions route (platform key, bad bodies, unknown workspace), a link that opens once,
 * expired, reused and tampered links, the session cookie, the CSRF and origin checks on writes,
 * a session that cannot reach another workspace, and a link made by one API process opened on
 * another of the deployment (R-OPS-4). The page itself: test/browser/.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PLATFORM, startTestApi, type TestApi } from '../support/http.js';
import { scanKeys } from '../support/redis.js';

let api: TestApi;
beforeAll(async () => {
  api = await startTestApi({ now: Date.now() });
  await api.call('PUT', '/v1/workspaces/bill-a', { body: { planId: 'growth' } });
  await api.call('PUT', '/v1/workspaces/bill-b', { body: { planId: 'growth' } });
});
afterAll(() => api.close());

const RETURN = 'https://app.example/settings/plan';

async function link(workspaceId = 'bill-a', body: Record<string, unknown> = { returnUrl: RETURN }) {
  const res = await api.call('POST', `/v1/workspaces/${workspaceId}/billing-sessions`, {
    key: PLATFORM,
    body,
  });
  expect(res.status).toBe(201);
  return res.body as { url: string; expiresAt: string };
}

/** Opens a link as a browser would, without following the redirect. */
async function open(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { redirect: 'manual', headers });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

async function session(workspaceId = 'bill-a') {
  const opened = await open((await link(workspaceId)).url);
  expect(opened.status).toBe(303);
  const cookie = opened.headers.get('set-cookie')!.split(';')[0]!;
  const me = await fetch(`${api.base}/billing/api/session`, { headers: { cookie } });
  return { cookie, csrf: ((await me.json()) as { csrfToken: string }).csrfToken };
}

const billingKeys = () => scanKeys(api.redis, `${api.prefix}billing:*`);
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

describe('POST /v1/workspaces/{id}/billing-sessions', () => {
  it('answers a single-use link to /billing/open, with when it expires', async () => {
    const before = Date.now();
    const res = await link('bill-a', { returnUrl: RETURN, locale: 'ko' });
    expect(res.url).toMatch(
      new RegExp(`^${api.base}/billing/open\\?token=[A-Za-z0-9_-]{43}\\.[A-Za-z0-9_-]{43}$`),
    );
    const expires = Date.parse(res.expiresAt);
    expect(expires).toBeGreaterThanOrEqual(before + 899_000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 900_000);
  });

  it('needs a platform key (R-OPS-5)', async () => {
    const path = '/v1/workspaces/bill-a/billing-sessions';
    expect((await api.call('POST', path, { key: null, body: { returnUrl: RETURN } })).status).toBe(401);
    expect((await api.call('POST', path, { key: 'wrong-key-123', body: { returnUrl: RETURN } })).status).toBe(
      401,
    );
  });

  it('refuses bad bodies with 400 and writes nothing', async () => {
    const keysBefore = (await billingKeys()).sort();
    const path = '/v1/workspaces/bill-a/billing-sessions';
    for (const body of [
      {},
      { returnUrl: 'javascript:alert(1)' },
      { returnUrl: 'ftp://files.example/x' },
      { returnUrl: 'not a url' },
      { returnUrl: RETURN, locale: 'fr' },
      { returnUrl: RETURN, extra: 1 },
      { returnUrl: 42 },
    ]) {
      const res = await api.call('POST', path, { key: PLATFORM, body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error.code).toBe('invalid_request');
    }
    expect((await api.call('POST', path, { key: PLATFORM, raw: '{"returnUrl":' })).status).toBe(400);
    expect((await billingKeys()).sort()).toEqual(keysBefore);
  });

  it('is 404 for an unknown workspace, and writes nothing', async () => {
    const keysBefore = (await billingKeys()).sort();
    const res = await api.call('POST', '/v1/workspaces/nobody-here/billing-sessions', {
      key: PLATFORM,
      body: { returnUrl: RETURN },
    });
    expect(res.status).toBe(404);
    expect((await billingKeys()).sort()).toEqual(keysBefore);
  });

  it('is in /openapi.json, generated from the route table', async () => {
    const doc = (await api.call('GET', '/openapi.json', { key: PLATFORM })).body;
    expect(Object.keys(doc.paths)).toContain('/v1/workspaces/{workspaceId}/billing-sessions');
  });
});

describe('opening a link', () => {
  it('sets an HttpOnly, SameSite=Strict cookie on /billing and sends the browser to the page', async () => {
    const opened = await open((await link()).url);
    expect(opened.status).toBe(303);
    expect(opened.headers.get('location')).toBe('/billing/');
    const cookie = opened.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^burnrate_billing=[A-Za-z0-9_-]{43};/);
    expect(cookie).toMatch(/; HttpOnly/i);
    expect(cookie).toMatch(/; SameSite=Strict/i);
    expect(cookie).toMatch(/; Path=\/billing/i);
    expect(cookie).not.toMatch(/; Secure/i); // served over http here
  });

  it('works once: a reused link shows the clear page with the way back, and no data', async () => {
    const { url } = await link('bill-a', { returnUrl: RETURN, locale: 'hi' });
    expect((await open(url)).status).toBe(303);
    const again = await open(url);
    expect(again.status).toBe(410);
    expect(again.headers.get('set-cookie')).toBeNull();
    expect(again.headers.get('content-type')).toMatch(/text\/html/);
    expect(again.text).toContain('lang="hi"');
    expect(again.text).toContain('पहले ही उपयोग');
    expect(again.text).toContain(`href="${RETURN}"`);
    expect(again.text).not.toContain('bill-a');
  });

  it('refuses a tampered link (400) in the browser language, and an unsigned one, without a session', async () => {
    const { url } = await link();
    const token = new URL(url).searchParams.get('token')!;
    const flipped = `${token.slice(0, 10)}${token[10] === 'A' ? 'B' : 'A'}${token.slice(11)}`;
    for (const bad of [flipped, `${token}x`, token.split('.')[0]!, 'nonsense', '']) {
      const res = await open(`${api.base}/billing/open?token=${encodeURIComponent(bad)}`, {
        'accept-language': 'ko-KR,ko;q=0.9,en;q=0.5',
      });
      expect(res.status).toBe(400);
      expect(res.headers.get('set-cookie')).toBeNull();
      expect(res.text).toContain('lang="ko"');
      expect(res.text).toContain('유효하지 않은');
    }
    // The untouched link still opens: the tampered ones did not consume it.
    expect((await open(url)).status).toBe(303);
  });

  it('uses PUBLIC_URL for the link when set', async () => {
    const other = await startTestApi({
      now: Date.now(),
      env: { PUBLIC_URL: 'https://billing.example.com/' },
    });
    try {
      await other.call('PUT', '/v1/workspaces/pub', { body: { planId: 'growth' } });
      const res = await other.call('POST', '/v1/workspaces/pub/billing-sessions', {
        key: PLATFORM,
        body: { returnUrl: RETURN },
      });
      expect(res.body.url).toMatch(/^https:\/\/billing\.example\.com\/billing\/open\?token=/);
      // Served as https (PUBLIC_URL), the cookie is Secure.
      const path = new URL(res.body.url);
      const opened = await open(`${other.base}${path.pathname}${path.search}`);
      expect(opened.headers.get('set-cookie')).toMatch(/; Secure/i);
    } finally {
      await other.close();
    }
  });

  it('an expired link shows the clear page with the way back, and opens nothing', async () => {
    const short = await startTestApi({ now: Date.now(), env: { BILLING_LINK_TTL_SECONDS: '1' } });
    try {
      await short.call('PUT', '/v1/workspaces/late', { body: { planId: 'growth' } });
      const res = await short.call('POST', '/v1/workspaces/late/billing-sessions', {
        key: PLATFORM,
        body: { returnUrl: RETURN, locale: 'en' },
      });
      await new Promise((r) => setTimeout(r, 1100));
      // Opened twice: the second time still says it expired, with the way back (its tombstone).
      for (let i = 0; i < 2; i++) {
        const opened = await open(res.body.url);
        expect(opened.status).toBe(410);
        expect(opened.headers.get('set-cookie')).toBeNull();
        expect(opened.text).toContain('has expired');
        expect(opened.text).toContain(`href="${RETURN}"`);
        expect(opened.text).not.toContain('late');
      }
    } finally {
      await short.close();
    }
  });
});

describe('a link against mail scanners, races and corrupt records', () => {
  it('a HEAD (a mail scanner) gets an empty 200 and leaves the link to the GET', async () => {
    const { url } = await link();
    const head = await fetch(url, { method: 'HEAD', redirect: 'manual' });
    expect(head.status).toBe(200);
    expect(head.headers.get('set-cookie')).toBeNull();
    expect(head.headers.get('cache-control')).toBe('no-store');
    expect(await head.text()).toBe('');
    const opened = await open(url);
    expect(opened.status).toBe(303);
    const cookie = opened.headers.get('set-cookie')!.split(';')[0]!;
    const me = await fetch(`${api.base}/billing/api/session`, { headers: { cookie } });
    expect(me.status).toBe(200);
    expect(((await me.json()) as { workspaceId: string }).workspaceId).toBe('bill-a');
  });

  it('two GETs of one link at once: exactly one opens a session, the others say it was used, with the way back', async () => {
    for (let round = 0; round < 10; round++) {
      const { url } = await link();
      const both = await Promise.all([open(url), open(url), open(url), open(url)]);
      const statuses = both.map((r) => r.status).sort();
      expect(statuses).toEqual([303, 410, 410, 410]);
      expect(both.filter((r) => r.headers.get('set-cookie') !== null)).toHaveLength(1);
      // Never "expired" with no way back: a second open finds the first's tombstone at once.
      for (const r of both.filter((o) => o.status === 410)) {
        expect(r.text).toContain('data-reason="used"');
        expect(r.text).toContain(RETURN);
      }
    }
  });

  it('a corrupt link record shows the refusal page, and a corrupt session is 401, never a 500', async () => {
    const { url } = await link();
    const part = new URL(url).searchParams.get('token')!.split('.')[0]!;
    await api.redis.set(`${api.prefix}billing:link:${sha256(part)}`, '{not json', 'EX', 60);
    const opened = await open(url);
    expect(opened.status).toBe(410);
    expect(opened.headers.get('set-cookie')).toBeNull();
    expect(opened.text).toContain('This billing link cannot be opened');

    const good = await open((await link()).url);
    const cookie = good.headers.get('set-cookie')!.split(';')[0]!;
    const sid = cookie.split('=')[1]!;
    await api.redis.set(`${api.prefix}billing:session:${sha256(sid)}`, '{"workspaceId":', 'EX', 60);
    expect((await fetch(`${api.base}/billing/api/session`, { headers: { cookie } })).status).toBe(401);
    expect(
      (await fetch(`${api.base}/billing/api/v1/workspaces/bill-a`, { headers: { cookie } })).status,
    ).toBe(401);
  });
});

describe('R-OPS-4 several API processes on one Redis', () => {
  /** A second API process of the same deployment: its own port and clients, the same Redis and prefix. */
  let other: TestApi;
  beforeAll(async () => {
    other = await startTestApi({ now: Date.now(), prefix: api.prefix });
  });
  afterAll(() => other.close());

  /** The link as the other process serves it (the path and token, on its own port). */
  const onOther = (url: string) => {
    const u = new URL(url);
    return `${other.base}${u.pathname}${u.search}`;
  };

  it('R-OPS-4 a link one API made opens on another exactly once, and a second open on either is the used page (410)', async () => {
    const { url } = await link('bill-a', { returnUrl: RETURN, locale: 'en' });
    const opened = await open(onOther(url));
    expect(opened.status).toBe(303);
    expect(opened.headers.get('location')).toBe('/billing/');
    const cookie = opened.headers.get('set-cookie')!.split(';')[0]!;
    // The session is the deployment's: the process that made the link serves it too.
    for (const base of [other.base, api.base]) {
      const me = await fetch(`${base}/billing/api/session`, { headers: { cookie } });
      expect(me.status, base).toBe(200);
      expect(((await me.json()) as { workspaceId: string }).workspaceId).toBe('bill-a');
    }
    for (const again of [onOther(url), url]) {
      const res = await open(again);
      expect(res.status, again).toBe(410);
      expect(res.headers.get('set-cookie')).toBeNull();
      expect(res.text).toContain('This link was already used');
      expect(res.text).toContain(`href="${RETURN}"`);
    }
  });

  it('R-OPS-4 one link opened on both APIs at once: exactly one opens a session', async () => {
    for (let round = 0; round < 5; round++) {
      const { url } = await link();
      const both = await Promise.all([open(url), open(onOther(url)), open(onOther(url)), open(url)]);
      expect(both.map((r) => r.status).sort()).toEqual([303, 410, 410, 410]);
      expect(both.filter((r) => r.headers.get('set-cookie') !== null)).toHaveLength(1);
    }
  });
});

describe('TRUST_PROXY (behind a TLS proxy, PUBLIC_URL unset)', () => {
  const forwarded = { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'billing.proxy.example' };

  it('unset: X-Forwarded-* count for nothing; the link and cookie follow the connection', async () => {
    const res = await api.call('POST', '/v1/workspaces/bill-a/billing-sessions', {
      key: PLATFORM,
      body: { returnUrl: RETURN },
      headers: forwarded,
    });
    expect(res.body.url).toMatch(new RegExp(`^${api.base}/billing/open\\?token=`));
    const opened = await open(res.body.url, forwarded);
    expect(opened.headers.get('set-cookie')).not.toMatch(/; Secure/i);
  });

  it("set: a trusted proxy's X-Forwarded-Proto and -Host make the link https on its host and the cookie Secure", async () => {
    const proxied = await startTestApi({ now: Date.now(), env: { TRUST_PROXY: 'loopback' } });
    try {
      await proxied.call('PUT', '/v1/workspaces/prox', { body: { planId: 'growth' } });
      const res = await proxied.call('POST', '/v1/workspaces/prox/billing-sessions', {
        key: PLATFORM,
        body: { returnUrl: RETURN },
        headers: forwarded,
      });
      expect(res.body.url).toMatch(/^https:\/\/billing\.proxy\.example\/billing\/open\?token=/);
      const path = new URL(res.body.url);
      const opened = await open(`${proxied.base}${path.pathname}${path.search}`, forwarded);
      expect(opened.status).toBe(303);
      expect(opened.headers.get('set-cookie')).toMatch(/; Secure/i);
      // A write from the page: its Origin is the proxy's.
      const cookie = opened.headers.get('set-cookie')!.split(';')[0]!;
      const me = await fetch(`${proxied.base}/billing/api/session`, { headers: { cookie } });
      const { csrfToken } = (await me.json()) as { csrfToken: string };
      const patch = await fetch(`${proxied.base}/billing/api/v1/workspaces/prox/flex`, {
        method: 'PATCH',
        headers: {
          ...forwarded,
          cookie,
          'x-csrf-token': csrfToken,
          origin: 'https://billing.proxy.example',
          'content-type': 'application/json',
        },
        body: JSON.stringify({ capCents: 4200 }),
      });
      expect(patch.status).toBe(200);
    } finally {
      await proxied.close();
    }
  });
});

describe('the workspace view for the page', () => {
  it('R-FLX-1 flex.defaultCapCents is what "Enable" sets: the plan\'s, or the override\'s', async () => {
    await api.call('PUT', '/v1/workspaces/cap-plan', { body: { planId: 'growth' } });
    await api.call('PUT', '/v1/workspaces/cap-annual', { body: { planId: 'growth-annual' } });
    await api.call('PUT', '/v1/workspaces/cap-override', {
      body: { planId: 'growth', overrides: { defaultFlexCapCents: 25_000 } },
    });
    const flex = async (id: string) =>
      (await api.call('GET', `/v1/workspaces/${id}`, { key: PLATFORM })).body.flex;
    expect((await flex('cap-plan')).defaultCapCents).toBe(10_000);
    expect((await flex('cap-annual')).defaultCapCents).toBe(120_000);
    expect((await flex('cap-override')).defaultCapCents).toBe(25_000);
    // Enable (off, then on) sets that cap.
    await api.call('PATCH', '/v1/workspaces/cap-override/flex', { key: PLATFORM, body: { enabled: false } });
    const on = await api.call('PATCH', '/v1/workspaces/cap-override/flex', {
      key: PLATFORM,
      body: { enabled: true },
    });
    expect(on.body.flex).toMatchObject({ enabled: true, capCents: 25_000, defaultCapCents: 25_000 });
  });
});

describe('the page API (/billing/api)', () => {
  it('reads the session workspace with the cookie, and nothing without it', async () => {
    const { cookie } = await session();
    const ws = await fetch(`${api.base}/billing/api/v1/workspaces/bill-a`, { headers: { cookie } });
    expect(ws.status).toBe(200);
    expect(((await ws.json()) as { id: string }).id).toBe('bill-a');
    expect((await fetch(`${api.base}/billing/api/v1/workspaces/bill-a`)).status).toBe(401);
    // An API key is not a session: the page API takes none.
    const withKey = await fetch(`${api.base}/billing/api/v1/workspaces/bill-a`, {
      headers: { authorization: `Bearer ${PLATFORM}` },
    });
    expect(withKey.status).toBe(401);
  });

  it('a session cannot read or write another workspace (404)', async () => {
    const { cookie, csrf } = await session();
    for (const path of [
      '/v1/workspaces/bill-b',
      '/v1/workspaces/bill-b/usage',
      '/v1/workspaces/bill-b/ledger',
      '/v1/workspaces/bill-b/alerts',
      '/v1/workspaces/bill-b/recommendations',
      '/v1/catalog?workspaceId=bill-b',
    ]) {
      expect((await fetch(`${api.base}/billing/api${path}`, { headers: { cookie } })).status, path).toBe(404);
    }
    const write = await fetch(`${api.base}/billing/api/v1/workspaces/bill-b/flex`, {
      method: 'PATCH',
      headers: { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' },
      body: JSON.stringify({ enabled: false }),
    });
    expect(write.status).toBe(404);
    expect((await api.call('GET', '/v1/workspaces/bill-b')).body.flex.enabled).toBe(true);
  });

  it('offers only the page routes: no usage, adjustments or operator routes', async () => {
    const { cookie, csrf } = await session();
    const headers = { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' };
    const usage = await fetch(`${api.base}/billing/api/v1/workspaces/bill-a/usage`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ idempotencyKey: 'k1', credits: 1 }),
    });
    expect(usage.status).toBe(404);
    const put = await fetch(`${api.base}/billing/api/v1/workspaces/bill-a`, {
      method: 'PUT',
      headers,
      body: JSON.stringify({ planId: 'scale' }),
    });
    expect(put.status).toBe(404);
    expect((await api.call('GET', '/v1/workspaces/bill-a')).body.planId).toBe('growth');
  });

  it('a write needs the CSRF token and a same-origin Origin (403), and then changes the workspace', async () => {
    const { cookie, csrf } = await session();
    const patch = (headers: Record<string, string>) =>
      fetch(`${api.base}/billing/api/v1/workspaces/bill-a/flex`, {
        method: 'PATCH',
        headers: { cookie, 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ capCents: 4200 }),
      });
    expect((await patch({})).status).toBe(403);
    expect((await patch({ 'x-csrf-token': `${csrf.slice(0, -1)}x` })).status).toBe(403);
    expect((await patch({ 'x-csrf-token': csrf, origin: 'https://evil.example' })).status).toBe(403);
    expect((await api.call('GET', '/v1/workspaces/bill-a')).body.flex.capCents).toBe(10_000);
    expect((await patch({ 'x-csrf-token': csrf, origin: api.base })).status).toBe(200);
    expect((await api.call('GET', '/v1/workspaces/bill-a')).body.flex.capCents).toBe(4200);
  });

  it('Checkout from the page must come back to the page', async () => {
    const { cookie, csrf } = await session();
    const res = await fetch(`${api.base}/billing/api/v1/workspaces/bill-a/checkout-sessions`, {
      method: 'POST',
      headers: { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' },
      body: JSON.stringify({
        credits: 10,
        successUrl: 'https://evil.example/ok',
        cancelUrl: `${api.base}/billing/`,
      }),
    });
    expect(res.status).toBe(400);
  });

  it('prices any quantity at the tier it reaches (R-CAT-2)', async () => {
    const { cookie } = await session();
    const q = await fetch(`${api.base}/billing/api/v1/workspaces/bill-a/prepaid-quote?credits=260`, {
      headers: { cookie },
    });
    expect(await q.json()).toMatchObject({ credits: '260', amountCents: 260 * 352, discountBps: 1200 });
    const bad = await fetch(`${api.base}/billing/api/v1/workspaces/bill-a/prepaid-quote?credits=0`, {
      headers: { cookie },
    });
    expect(bad.status).toBe(400);
    // R-PRE-1: the quote is Checkout's; a quantity Checkout refuses (above Stripe's largest
    // amount, 999,999.99) is refused here too, never priced for a purchase that cannot happen.
    const tooDear = await fetch(`${api.base}/billing/api/v1/workspaces/bill-a/prepaid-quote?credits=500000`, {
      headers: { cookie },
    });
    expect(tooDear.status).toBe(400);
    expect(
      ((await tooDear.json()) as { error: { details: { maxAmountCents: number } } }).error.details,
    ).toMatchObject({
      maxAmountCents: 99_999_999,
    });
  });

  it('keeps no token or session id in Redis, only their hashes', async () => {
    const { url } = await link();
    const token = new URL(url).searchParams.get('token')!;
    const opened = await open(url);
    const sid = opened.headers.get('set-cookie')!.split(';')[0]!.split('=')[1]!;
    const keys = await billingKeys();
    const values = await Promise.all(keys.filter((k) => !k.endsWith(':secret')).map((k) => api.redis.get(k)));
    for (const text of [...keys, ...values.map(String)]) {
      expect(text).not.toContain(token.split('.')[0]);
      expect(text).not.toContain(sid);
    }
  });
});
