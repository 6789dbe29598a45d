/**
 * The hosted billing page's links and sessions (issue 11 §1), and the live price of a prepaid
 * quantity it shows.
 *
 * A link is `<public base>/billing/open?token=<random>.<mac>`: 32 random bytes and their
 * HMAC-SHA256 under the billing secret, so a tampered token is refused before Redis is asked.
 * Redis keeps the link under the SHA-256 of its random part (never the token itself) with the
 * workspace, the locale and the return URL; opening it takes it with GETDEL, so it works once.
 * The record outlives its deadline by a grace period, only so that an expired link can still
 * say where to go back to; past `expiresAt` it opens nothing. Opening it, or trying it once
 * expired, leaves a tombstone under the same key, so the next try says the same. A record that
 * is not readable opens nothing either.
 *
 * A session is a random id in an HttpOnly cookie; Redis keeps it under the id's SHA-256 with
 * the workspace, the locale, the return URL and the CSRF token the page sends with writes.
 *
 * Every key is a single-key command's, so none needs a hash tag on a Redis Cluster (R-OPS-4).
 * Links and sessions run on the wall clock, as Redis' TTLs do: a test clock moved forward by a
 * month (issue 11 §3) must not expire them.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { LANGS, type Lang } from '../domain/alerts.js';
import { sha256 } from '../domain/hash.js';
import type { EngineStore } from '../redis/engine-store.js';
import type { ScriptClient } from '../redis/scripts.js';
import type { Clock } from '../services/clock.js';
import { requireWorkspace } from '../services/require-workspace.js';

/** The page's languages are the banners' (R-ALR-3). */
export type BillingLocale = Lang;

/** How long an expired or used link still remembers its return URL and locale (not the session). */
const TOMBSTONE_SECONDS = 24 * 3600;

export interface BillingOptions {
  /** BILLING_SECRET; undefined: one made once and kept in Redis, shared by every API process. */
  secret: string | undefined;
  linkTtlSeconds: number;
  sessionTtlSeconds: number;
  /** PUBLIC_URL; undefined: the request's own origin. */
  publicUrl: string | undefined;
}

export function billingKeys(prefix: string) {
  return {
    secret: `${prefix}billing:secret`,
    link: (hash: string) => `${prefix}billing:link:${hash}`,
    session: (hash: string) => `${prefix}billing:session:${hash}`,
  };
}

const linkRecordSchema = z.object({
  /** `used` and `expired` are tombstones: they only say why the link opens nothing. */
  state: z.enum(['open', 'used', 'expired']),
  workspaceId: z.string(),
  locale: z.enum(LANGS).nullable(),
  returnUrl: z.string(),
  expiresAt: z.number(),
});

const sessionSchema = z.object({
  workspaceId: z.string(),
  locale: z.enum(LANGS),
  returnUrl: z.string(),
  csrfToken: z.string(),
  expiresAt: z.number(),
});
export type BillingSession = z.infer<typeof sessionSchema>;

/** Why a link opened nothing: its page says so, with the return URL and locale when known. */
export type LinkRefusal = {
  ok: false;
  reason: 'invalid' | 'expired' | 'used';
  returnUrl: string | null;
  locale: BillingLocale | null;
};
export type LinkOpened = { ok: true; sessionId: string; session: BillingSession };

/** A Redis record's JSON, or undefined when it is not JSON (a corrupt record opens nothing). */
function parseJson(raw: string | null): unknown {
  if (raw === null) return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    return undefined;
  }
}

/** A link's or session's key: the SHA-256 of its secret part, never the part itself. */
const keyOf = (s: string) => sha256(s, 'hex');
const random = () => randomBytes(32).toString('base64url');

/** Equal strings in constant time (a CSRF token, a MAC). */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class BillingService {
  private secret: Promise<string> | undefined;
  private readonly keys: ReturnType<typeof billingKeys>;

  constructor(
    private readonly deps: {
      redis: ScriptClient;
      store: EngineStore;
      clock: Clock;
      keyPrefix: string;
      options: BillingOptions;
      /** The wall clock of links and sessions (see the header); tests may pass their own. */
      wallClock?: () => number;
    },
  ) {
    this.keys = billingKeys(deps.keyPrefix);
  }

  private wallNow(): number {
    return (this.deps.wallClock ?? Date.now)();
  }

  /**
   * BILLING_SECRET, else the deployment's secret in Redis: the first process to need it writes
   * one (SET NX) and every other reads that one. A failed read is retried next time.
   */
  private hmacSecret(): Promise<string> {
    if (this.deps.options.secret) return Promise.resolve(this.deps.options.secret);
    this.secret ??= (async () => {
      const key = this.keys.secret;
      await this.deps.redis.set(key, random(), 'NX');
      const stored = await this.deps.redis.get(key);
      if (!stored) throw new Error('the billing secret was not kept in Redis');
      return stored;
    })().catch((err) => {
      this.secret = undefined;
      throw err;
    });
    return this.secret;
  }

  /**
   * The secret a link is checked with, without making one: before any link was made there is
   * none, and no token can be valid (so checking a made-up token writes nothing to Redis).
   */
  private async checkingSecret(): Promise<string | null> {
    if (this.deps.options.secret) return this.deps.options.secret;
    if (this.secret) return this.secret;
    const stored = await this.deps.redis.get(this.keys.secret);
    // Once made, the secret never changes: kept, so each later open asks Redis for it no more.
    if (stored !== null) this.secret = Promise.resolve(stored);
    return stored;
  }

  private mac(part: string, secret: string): string {
    return createHmac('sha256', secret).update(`billing-link:${part}`).digest('base64url');
  }

  /** The base of the page's URLs: PUBLIC_URL, else the request's origin. */
  publicBase(requestOrigin: string): string {
    return (this.deps.options.publicUrl ?? requestOrigin).replace(/\/+$/, '');
  }

  /** A single-use link to the workspace's page (404 when the workspace does not exist). */
  async createLink(o: {
    workspaceId: string;
    returnUrl: string;
    locale?: BillingLocale | undefined;
    origin: string;
  }): Promise<{ url: string; expiresAt: string }> {
    await requireWorkspace(this.deps.store, o.workspaceId, this.deps.clock.now());
    const part = random();
    const token = `${part}.${this.mac(part, await this.hmacSecret())}`;
    const ttl = this.deps.options.linkTtlSeconds;
    const expiresAt = this.wallNow() + ttl * 1000;
    const record: z.infer<typeof linkRecordSchema> = {
      state: 'open',
      workspaceId: o.workspaceId,
      locale: o.locale ?? null,
      returnUrl: o.returnUrl,
      expiresAt,
    };
    await this.deps.redis.set(
      this.keys.link(keyOf(part)),
      JSON.stringify(record),
      'EX',
      ttl + TOMBSTONE_SECONDS,
    );
    return {
      url: `${this.publicBase(o.origin)}/billing/open?token=${token}`,
      expiresAt: new Date(expiresAt).toISOString(),
    };
  }

  /** Takes the link (once) and opens a session on its workspace, or says why not. */
  async openLink(token: unknown, fallbackLocale: BillingLocale): Promise<LinkOpened | LinkRefusal> {
    const invalid: LinkRefusal = { ok: false, reason: 'invalid', returnUrl: null, locale: null };
    if (typeof token !== 'string') return invalid;
    const m = /^([A-Za-z0-9_-]{43})\.([A-Za-z0-9_-]{43})$/.exec(token);
    if (!m) return invalid;
    const secret = await this.checkingSecret();
    if (secret === null || !sameSecret(m[2]!, this.mac(m[1]!, secret))) return invalid;
    const key = this.keys.link(keyOf(m[1]!));
    const now = this.wallNow();
    // One step (billing-link-take-1.lua): of two opens at once, one takes the record open and
    // leaves its tombstone; the other finds that tombstone, with the way back. Both get the record as it is left.
    const [record, took] = await this.deps.redis.billingLinkTake(key, now, TOMBSTONE_SECONDS);
    const parsed = linkRecordSchema.safeParse(parseJson(record ?? null));
    // Signed by us yet unknown or unreadable: its record (and grace period) is gone.
    if (!parsed.success) return { ok: false, reason: 'expired', returnUrl: null, locale: null };
    const link = parsed.data;
    const refusal = (reason: 'expired' | 'used'): LinkRefusal => ({
      ok: false,
      reason,
      returnUrl: link.returnUrl,
      locale: link.locale,
    });
    // Only the open that took the record opens it, unless the script found it past its time
    // (its tombstone says `expired`); one that found it taken is a second open.
    if (link.state === 'expired') return refusal('expired');
    if (Number(took) !== 1) return refusal('used');
    const sessionId = random();
    const session: BillingSession = {
      workspaceId: link.workspaceId,
      locale: link.locale ?? fallbackLocale,
      returnUrl: link.returnUrl,
      csrfToken: random(),
      expiresAt: now + this.deps.options.sessionTtlSeconds * 1000,
    };
    await this.deps.redis.set(
      this.keys.session(keyOf(sessionId)),
      JSON.stringify(session),
      'EX',
      this.deps.options.sessionTtlSeconds,
    );
    return { ok: true, sessionId, session };
  }

  /** The session behind a cookie's id, or null (unknown, expired, malformed). */
  async session(sessionId: string | undefined): Promise<BillingSession | null> {
    if (!sessionId || !/^[A-Za-z0-9_-]{43}$/.test(sessionId)) return null;
    const raw = await this.deps.redis.get(this.keys.session(keyOf(sessionId)));
    if (raw === null) return null;
    const parsed = sessionSchema.safeParse(parseJson(raw));
    if (!parsed.success || parsed.data.expiresAt <= this.wallNow()) return null;
    return parsed.data;
  }
}
