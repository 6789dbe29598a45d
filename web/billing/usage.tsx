/**
 * Usage (R-USE-1, R-USE-2, R-ALR-4): credits by day with the three kinds stacked (an SVG with
 * the same figures in a table), totals by category, the ledger a page at a time, and the
 * recommendations with their savings.
 */
import { useEffect, useState } from 'preact/hooks';
import type { Burnrate, LedgerPage, Recommendations, UsageView } from '../../client/src/index.js';
import { credits, creditUnits, dateTime, money, shortDay } from './format.js';
import type { Key, Locale, T } from './i18n.js';

const KINDS = ['included', 'prepaid', 'flex'] as const;
const KIND_LABEL: Record<(typeof KINDS)[number], Key> = {
  included: 'kindIncluded',
  prepaid: 'kindPrepaid',
  flex: 'kindFlex',
};

/** The chart's most days: an annual cycle's days would make bars too thin to read. */
export const CHART_DAYS = 31;
const DAY_MS = 86_400_000;

/** Every day from `from` to `to` (YYYY-MM-DD, both included). */
function daysFrom(from: string, to: string): string[] {
  const out: string[] = [];
  const last = Date.parse(`${to}T00:00:00Z`);
  for (let d = Date.parse(`${from}T00:00:00Z`); d <= last && out.length < 800; d += DAY_MS)
    out.push(new Date(d).toISOString().slice(0, 10));
  return out;
}

type Day = UsageView['groups'][number];
const ZERO = { credits: '0', included: '0', prepaid: '0', flex: '0', shortfall: '0' };
const zeroDay = (key: string): Day => ({ ...ZERO, key }) as Day;

export function UsageChart(p: { byDay: UsageView; locale: Locale; t: T }) {
  const { t, locale } = p;
  const used = p.byDay.groups;
  if (used.length === 0) return <p>{t('noUsage')}</p>;
  // Days without usage are bars of zero; the chart shows the last CHART_DAYS of the range, the
  // table below every day with usage.
  const byKey = new Map(used.map((d) => [d.key, d]));
  const range = daysFrom(p.byDay.from, p.byDay.to);
  const windowed = range.length > CHART_DAYS;
  const days = range.slice(-CHART_DAYS).map((k) => byKey.get(k) ?? zeroDay(k));
  const title = windowed ? t('chartTitleRecent', { days: days.length }) : t('chartTitle');
  const totals = days.map((d) => creditUnits(d.credits));
  const max = Math.max(...totals, 1);
  const gap = days.length > 16 ? 4 : 10;
  const barW = days.length > 16 ? 16 : 28;
  const h = 160;
  const width = days.length * (barW + gap) + gap;
  const every = Math.ceil(days.length / 6);
  return (
    <figure class="chart">
      <svg
        viewBox={`0 0 ${width} ${h + 24}`}
        width={Math.min(width, 720)}
        height={h + 24}
        role="img"
        aria-labelledby="chart-title chart-desc"
        preserveAspectRatio="xMinYMin meet"
      >
        <title id="chart-title">{title}</title>
        <desc id="chart-desc">{t('chartSummary')}</desc>
        {days.map((d, i) => {
          let y = h;
          const x = gap + i * (barW + gap);
          return (
            <g key={d.key} class="day" data-day={d.key}>
              {KINDS.map((k) => {
                const units = creditUnits(d[k]);
                const barH = (units / max) * (h - 4);
                y -= barH;
                return units > 0 ? (
                  <rect key={k} class={`bar ${k}`} x={x} y={y} width={barW} height={barH} />
                ) : null;
              })}
              {(i % every === 0 || days.length <= 6) && (
                <text class="tick" x={x + barW / 2} y={h + 16} text-anchor="middle">
                  {shortDay(locale, d.key)}
                </text>
              )}
            </g>
          );
        })}
      </svg>
      <figcaption class="legend">
        {KINDS.map((k) => (
          <span key={k} class="legend-item">
            <span class={`swatch ${k}`} aria-hidden="true" />
            {t(KIND_LABEL[k])}
          </span>
        ))}
      </figcaption>
      <table class="figures">
        <caption>{t('chartTitle')}</caption>
        <thead>
          <tr>
            <th scope="col">{t('day')}</th>
            {KINDS.map((k) => (
              <th scope="col" key={k}>
                {t(KIND_LABEL[k])}
              </th>
            ))}
            <th scope="col">{t('total')}</th>
          </tr>
        </thead>
        <tbody>
          {used.map((d) => (
            <tr key={d.key}>
              <th scope="row">{shortDay(locale, d.key)}</th>
              {KINDS.map((k) => (
                <td key={k}>{credits(locale, d[k])}</td>
              ))}
              <td>{credits(locale, d.credits)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}

const CATEGORIES = ['data', 'training', 'deployment'] as const;

export function CategoryTotals(p: { byCategory: UsageView; locale: Locale; t: T }) {
  const { t, locale } = p;
  const found = new Map(p.byCategory.groups.map((g) => [g.key, g.credits]));
  const keys = [
    ...CATEGORIES,
    ...[...found.keys()].filter((k) => !(CATEGORIES as readonly string[]).includes(k)),
  ];
  return (
    <table class="categories">
      <caption>{t('byCategory')}</caption>
      <thead>
        <tr>
          <th scope="col">{t('category')}</th>
          <th scope="col">{t('credits')}</th>
        </tr>
      </thead>
      <tbody>
        {keys.map((k) => (
          <tr key={k}>
            <th scope="row">{t(`cat_${k}` as Key)}</th>
            <td>{credits(locale, found.get(k) ?? '0')}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

const PAGE_SIZE = 10;

export function Ledger(p: { client: Burnrate; workspaceId: string; locale: Locale; t: T; version: number }) {
  const { t, locale } = p;
  // The cursors of the pages seen so far: [null (first page), cursor of page 2, …].
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const [page, setPage] = useState<LedgerPage | null>(null);

  // Back to the first page only when the customer's own change added entries (`version`); a
  // reload of the same data (a language switch, Checkout's polling) keeps the page.
  useEffect(() => {
    setCursors((c) => (c.length === 1 ? c : [null]));
  }, [p.version]);

  const index = cursors.length - 1;
  useEffect(() => {
    let live = true;
    p.client
      .ledgerPage(p.workspaceId, { limit: PAGE_SIZE, cursor: cursors[index] ?? null })
      .then((res) => {
        if (live) setPage(res);
      })
      .catch(() => {});
    return () => {
      live = false;
    };
  }, [cursors, p.version]);

  return (
    <div class="ledger">
      <table>
        <caption>
          {t('ledger')} · {t('page', { n: index + 1 })}
        </caption>
        <thead>
          <tr>
            <th scope="col">{t('when')}</th>
            <th scope="col">{t('entry')}</th>
            <th scope="col">{t('kind')}</th>
            <th scope="col">{t('amount')}</th>
            <th scope="col">{t('balanceAfter')}</th>
          </tr>
        </thead>
        <tbody>
          {page?.entries.length === 0 && (
            <tr>
              <td colSpan={5}>{t('ledgerEmpty')}</td>
            </tr>
          )}
          {page?.entries.map((e) => (
            <tr key={e.id} data-entry-id={e.id} data-at={e.at}>
              <td>{dateTime(locale, e.at)}</td>
              <td>
                {t(`type_${e.type}` as Key)}
                {e.feature ? ` · ${e.feature}` : ''}
              </td>
              <td>{e.kind ? t(KIND_LABEL[e.kind]) : '—'}</td>
              <td class="num">{credits(locale, e.credits)}</td>
              <td class="num">{credits(locale, e.balanceAfter)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <div class="pager">
        <button
          type="button"
          class="button secondary"
          disabled={index === 0}
          onClick={() => setCursors(cursors.slice(0, -1))}
        >
          {t('previous')}
        </button>
        <button
          type="button"
          class="button secondary"
          disabled={!page?.nextCursor}
          onClick={() => page?.nextCursor && setCursors([...cursors, page.nextCursor])}
        >
          {t('next')}
        </button>
      </div>
    </div>
  );
}

type Rec = Record<string, unknown> & { type: string };

export function RecommendationList(p: { recs: Recommendations; currency: string; locale: Locale; t: T }) {
  const { t, locale } = p;
  const list = (p.recs.recommendations ?? []) as Rec[];
  if (list.length === 0) return <p>{t('noRecommendations')}</p>;
  const m = (v: unknown) => money(locale, Number(v), p.currency);
  return (
    <ul class="recs">
      {list.map((r, i) => (
        <li key={`${r.type}-${i}`}>
          {r.type === 'prepaid_bundle' &&
            t('recPrepaid', {
              credits: credits(locale, String(r.credits)),
              amount: m(r.amountCents),
              saving: m(r.savingCents),
            })}
          {r.type === 'upgrade' && t('recUpgrade', { plan: String(r.planName), saving: m(r.savingCents) })}
          {r.type === 'contact_sales' && t('recSales')}
        </li>
      ))}
    </ul>
  );
}
