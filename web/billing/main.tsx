/**
 * The hosted billing page (issue 11 §1). It runs on the session cookie the link set: the
 * project's typed client with base `/billing/api` and no API key, the session's CSRF token on
 * every call. The language is the session's (the link's `locale`, else the browser's), and can
 * be switched here.
 */
import { render } from 'preact';
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import {
  type Alerts,
  Burnrate,
  BurnrateApiError,
  type Catalog,
  type Recommendations,
  type UsageView,
  type Workspace,
} from '../../client/src/index.js';
import { BuyCredits } from './buy-credits.js';
import { FlexCard } from './flex-card.js';
import { credits, creditUnits, date, money } from './format.js';
import { isLocale, LOCALE_NAMES, LOCALES, type Locale, type T, translator } from './i18n.js';
import { CategoryTotals, Ledger, RecommendationList, UsageChart } from './usage.js';

interface Session {
  workspaceId: string;
  locale: Locale;
  returnUrl: string;
  csrfToken: string;
}

interface Data {
  workspace: Workspace;
  alerts: Alerts;
  catalog: Catalog;
  byDay: UsageView;
  byCategory: UsageView;
  recs: Recommendations;
}

const LOCALE_KEY = 'burnrate-billing-locale';
/** The Checkout session the page left for, and the prepaid balance then (JSON). */
const CHECKOUT_KEY = 'burnrate-billing-checkout';
/** A Checkout session id as Stripe and the stand-in make them (the success URL carries it). */
const CHECKOUT_ID = /^cs_[A-Za-z0-9_]{1,200}$/;

interface LeftFor {
  id: string | null;
  before: string | null;
}

function leftFor(): LeftFor | null {
  try {
    const v = JSON.parse(sessionStorage.getItem(CHECKOUT_KEY) ?? 'null') as Partial<LeftFor> | null;
    if (!v || typeof v !== 'object') return null;
    return {
      id: typeof v.id === 'string' && CHECKOUT_ID.test(v.id) ? v.id : null,
      before: typeof v.before === 'string' ? v.before : null,
    };
  } catch {
    return null;
  }
}

async function loadSession(): Promise<Session | 'ended'> {
  const res = await fetch('/billing/api/session', { credentials: 'same-origin' });
  if (res.status === 401) return 'ended';
  if (!res.ok) throw new Error(`session: ${res.status}`);
  return (await res.json()) as Session;
}

function App() {
  const [session, setSession] = useState<Session | 'ended' | 'failed' | null>(null);
  const [locale, setLocale] = useState<Locale>(() => {
    const saved = sessionStorage.getItem(LOCALE_KEY);
    return isLocale(saved) ? saved : 'en';
  });
  const t = useMemo(() => translator(locale), [locale]);

  useEffect(() => {
    loadSession()
      .then((s) => {
        if (s !== 'ended' && !isLocale(sessionStorage.getItem(LOCALE_KEY))) setLocale(s.locale);
        setSession(s);
      })
      .catch(() => setSession('failed'));
  }, []);

  // A layout effect, so the document's language changes in the same commit as its text: a screen
  // reader (or anything reading the page between the two) never meets Korean text marked Hindi.
  useLayoutEffect(() => {
    document.documentElement.lang = locale;
    document.title = `${t('pageTitle')} · burnrate`;
  }, [locale]);

  if (session === null) return <p class="loading">{t('loading')}</p>;
  if (session === 'ended' || session === 'failed')
    return (
      <main class="page">
        <h1>{t('pageTitle')}</h1>
        <p role="alert">{session === 'ended' ? t('sessionEnded') : t('loadFailed')}</p>
      </main>
    );
  return (
    <BillingPage
      session={session}
      locale={locale}
      t={t}
      onLocale={(l) => {
        sessionStorage.setItem(LOCALE_KEY, l);
        setLocale(l);
      }}
    />
  );
}

function BillingPage(p: { session: Session; locale: Locale; t: T; onLocale(l: Locale): void }) {
  const { session, locale, t } = p;
  const ws = session.workspaceId;
  const client = useMemo(
    () =>
      new Burnrate({
        baseUrl: '/billing/api',
        credentials: 'same-origin',
        headers: () => ({ 'x-csrf-token': session.csrfToken }),
        retries: 2,
      }),
    [session.csrfToken],
  );
  const [data, setData] = useState<Data | null>(null);
  const [failed, setFailed] = useState<string | null>(null);
  const [version, setVersion] = useState(0);
  const [notice, setNotice] = useState<string | null>(null);
  const checkout = useRef(
    (() => {
      const q = new URLSearchParams(location.search);
      const id = q.get('session');
      return { outcome: q.get('checkout'), id: id !== null && CHECKOUT_ID.test(id) ? id : null };
    })(),
  );

  const load = async () => {
    try {
      const [workspace, alerts, catalog, byDay, byCategory, recs] = await Promise.all([
        client.getWorkspace(ws),
        client.alerts(ws, { lang: locale }),
        client.catalog({ workspaceId: ws }),
        client.getUsage(ws, { groupBy: 'day' }),
        client.getUsage(ws, { groupBy: 'category' }),
        client.recommendations(ws),
      ]);
      setData({ workspace, alerts, catalog, byDay, byCategory, recs });
      setFailed(null);
      return workspace;
    } catch (err) {
      const ended = err instanceof BurnrateApiError && err.status === 401;
      // A session that ended shows nothing of the workspace any more.
      if (ended) setData(null);
      setFailed(ended ? t('sessionEnded') : t('loadFailed'));
      return null;
    }
  };
  /** After the customer's own change: the ledger goes back to its first page, where it shows. */
  const reload = async () => {
    await load();
    setVersion((v) => v + 1);
  };

  useEffect(() => {
    void load();
  }, [locale]);

  // Back from Checkout: the credits arrive with Stripe's webhook (R-PRE-1). The page says the
  // payment is being confirmed until the ledger has the grant of that Checkout session (its
  // lot, R-PRE-2); without the session's id, until the prepaid balance is above what it was
  // when the page left for Checkout. It never says the credits arrived on a guess.
  useEffect(() => {
    const { outcome, id: returnedId } = checkout.current;
    if (!outcome) return;
    history.replaceState(null, '', '/billing/');
    const left = leftFor();
    if (outcome !== 'success') {
      sessionStorage.removeItem(CHECKOUT_KEY);
      setNotice(t('checkoutCancelled'));
      return;
    }
    setNotice(t('checkoutReturned'));
    const id = returnedId ?? left?.id ?? null;
    const before = left?.before ?? null;
    const arrived = async (): Promise<boolean> => {
      if (id !== null) {
        const lot = `checkout:${id}`;
        const page = await client.ledgerPage(ws, { limit: 50, cursor: null });
        return page.entries.some((e) => e.type === 'grant' && (e.ref === lot || e.lot === lot));
      }
      if (before === null) return false;
      const w = await client.getWorkspace(ws);
      return creditUnits(w.prepaid.remaining) > creditUnits(before);
    };
    let tries = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let live = true;
    const look = async () => {
      tries += 1;
      const done = await arrived().catch(() => false);
      if (!live) return;
      if (done) {
        sessionStorage.removeItem(CHECKOUT_KEY);
        await reload();
        setNotice(t('checkoutPaid'));
      } else if (tries >= 60) {
        setNotice(t('checkoutPending'));
      } else {
        timer = setTimeout(() => void look(), 1000);
      }
    };
    timer = setTimeout(() => void look(), 500);
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, []);

  const setFlex = async (body: Parameters<Burnrate['setFlex']>[1]) => {
    await client.setFlex(ws, body);
    await reload();
  };

  const plan = data?.catalog.plans.find((pl) => pl.id === data.workspace.planId);
  /** A free plan has no flex by its nature; a paid one may leave it out by its terms (R-CYC-4). */
  const freePlan = plan !== undefined && plan.monthlyPriceCents === 0;
  return (
    <>
      <header class="top">
        <div class="top-inner">
          <div>
            <h1>{t('pageTitle')}</h1>
            {data && (
              <p class="sub">
                <span class="ws">{ws}</span> · {t('plan', { plan: plan?.name ?? data.workspace.planId })}
              </p>
            )}
          </div>
          <div class="top-tools">
            <label for="locale">{t('language')}</label>
            <select
              id="locale"
              value={locale}
              onChange={(e) => p.onLocale((e.target as HTMLSelectElement).value as Locale)}
            >
              {LOCALES.map((l) => (
                <option key={l} value={l} lang={l}>
                  {LOCALE_NAMES[l]}
                </option>
              ))}
            </select>
            <a class="back" href={session.returnUrl}>
              {t('back')}
            </a>
          </div>
        </div>
      </header>
      <main class="page">
        {notice && (
          <p class="notice" role="status">
            {notice}
          </p>
        )}
        {failed && (
          <p class="error" role="alert">
            {failed}
          </p>
        )}
        {!data && !failed && <p class="loading">{t('loading')}</p>}
        {data && (
          <>
            <Banners alerts={data.alerts} workspace={data.workspace} t={t} />
            <Balances data={data} freePlan={freePlan} locale={locale} t={t} />
            <div class="columns">
              <FlexCard
                workspace={data.workspace}
                freePlan={freePlan}
                locale={locale}
                t={t}
                setFlex={setFlex}
              />
              <BuyCredits
                client={client}
                workspaceId={ws}
                catalog={data.catalog}
                locale={locale}
                t={t}
                onLeave={(id) =>
                  sessionStorage.setItem(
                    CHECKOUT_KEY,
                    JSON.stringify({ id, before: data.workspace.prepaid.remaining } satisfies LeftFor),
                  )
                }
              />
            </div>
            <section class="card usage-card" aria-labelledby="usage-title">
              <h2 id="usage-title">{t('usageTitle')}</h2>
              <UsageChart byDay={data.byDay} locale={locale} t={t} />
              <CategoryTotals byCategory={data.byCategory} locale={locale} t={t} />
              <h3>{t('recommendations')}</h3>
              <RecommendationList recs={data.recs} currency={data.workspace.currency} locale={locale} t={t} />
              <h3>{t('ledger')}</h3>
              <Ledger client={client} workspaceId={ws} locale={locale} t={t} version={version} />
            </section>
          </>
        )}
      </main>
    </>
  );
}

/** The cap's banners offer to raise the cap as well as to buy (manage-flex-billing seed). */
const CAP_BANNERS = new Set(['flex_cap_80', 'flex_cap_reached']);

function Banners(p: { alerts: Alerts; workspace: Workspace; t: T }) {
  if (p.alerts.alerts.length === 0) return null;
  const f = p.workspace.flex;
  const capField = f.allowed && f.enabled && f.capCents !== null;
  const raiseCap = () => {
    const field = document.getElementById('flex-cap') as HTMLInputElement | null;
    field?.scrollIntoView({ block: 'center' });
    field?.focus();
    field?.select();
  };
  return (
    <section class="banners" aria-label={p.t('alerts')}>
      {p.alerts.alerts.map((a) => (
        <div class={`banner ${a.type}`} key={a.id} lang={p.alerts.lang}>
          <p>{a.message}</p>
          <div class="banner-actions">
            {capField && CAP_BANNERS.has(a.type) && (
              <button type="button" class="link-button" onClick={raiseCap}>
                {p.t('raiseCap')}
              </button>
            )}
            <a href="#buy-credits">{p.t('buyPrepaid')}</a>
          </div>
        </div>
      ))}
    </section>
  );
}

function Balances(p: { data: Data; freePlan: boolean; locale: Locale; t: T }) {
  const { t, locale } = p;
  const w = p.data.workspace;
  const f = w.flex;
  const cur = w.currency;
  const prepaidUsed = p.data.byDay.total.prepaid;
  const limit =
    f.capCents === null
      ? f.thresholdCents
      : f.thresholdCents === null
        ? f.capCents
        : Math.min(f.capCents, f.thresholdCents);
  // <meter> takes numbers: credits as integers of their 1/10,000 units, cents as they are.
  const units = creditUnits;
  const included = { used: units(w.included.used), granted: units(w.included.granted) };
  const prepaidLeft = units(w.prepaid.remaining);
  const prepaidTotal = prepaidLeft + units(prepaidUsed);
  const annual = w.cycle.interval === 'year';
  return (
    <section class="balances" aria-labelledby="balances-title">
      <h2 id="balances-title">{t('balances')}</h2>
      <div class="meters">
        <div class="meter-card">
          <label for="meter-included">{t('included')}</label>
          <meter
            id="meter-included"
            min={0}
            max={Math.max(included.granted, 1)}
            value={included.used}
            high={Math.max(included.granted, 1) * 0.8}
            optimum={0}
            aria-describedby="meter-included-detail"
          />
          <p id="meter-included-detail" class="detail">
            {t(annual ? 'includedDetailYear' : 'includedDetail', {
              used: credits(locale, w.included.used),
              granted: credits(locale, w.included.granted),
              left: credits(locale, w.included.remaining),
              date: date(locale, w.cycle.end),
            })}
          </p>
        </div>
        <div class="meter-card">
          <label for="meter-prepaid">{t('prepaid')}</label>
          <meter
            id="meter-prepaid"
            min={0}
            max={Math.max(prepaidTotal, 1)}
            value={prepaidLeft}
            aria-describedby="meter-prepaid-detail"
          />
          <p id="meter-prepaid-detail" class="detail">
            {t('prepaidDetail', {
              left: credits(locale, w.prepaid.remaining),
              used: credits(locale, prepaidUsed),
            })}
          </p>
        </div>
        <div class="meter-card">
          <label for="meter-flex">{t('flexUsage')}</label>
          <meter
            id="meter-flex"
            min={0}
            max={Math.max(limit ?? f.usedCents, 1)}
            value={f.usedCents}
            high={Math.max(limit ?? f.usedCents, 1) * 0.8}
            optimum={0}
            aria-describedby="meter-flex-detail"
          />
          <p id="meter-flex-detail" class="detail">
            {!f.allowed
              ? t(p.freePlan ? 'flexDetailFree' : 'flexDetailNotIncluded')
              : !f.enabled
                ? t('flexDetailOff')
                : limit === null
                  ? t('flexDetailNoCap', {
                      used: money(locale, f.usedCents, cur),
                      credits: credits(locale, f.usedCredits),
                    })
                  : t('flexDetail', {
                      used: money(locale, f.usedCents, cur),
                      limit: money(locale, limit, cur),
                      credits: credits(locale, f.usedCredits),
                    })}
          </p>
        </div>
      </div>
    </section>
  );
}

render(<App />, document.getElementById('app')!);
