/**
 * Money and credits as the API gives them, formatted per locale without float arithmetic:
 * cents are integers and credits decimal strings (at most 4 decimals), both handed to
 * Intl.NumberFormat as exact decimal strings.
 */
import { parseDecimal4 } from '../../src/domain/units.js';
import type { Locale } from './i18n.js';

const TAGS: Record<Locale, string> = { en: 'en-US', hi: 'hi-IN', ko: 'ko-KR' };

/** `12345` cents → "123.45", exactly. */
export function centsToDecimal(cents: number | bigint): `${number}` {
  const c = BigInt(cents);
  const sign = c < 0n ? '-' : '';
  const abs = c < 0n ? -c : c;
  return `${sign}${abs / 100n}.${String(abs % 100n).padStart(2, '0')}` as `${number}`;
}

/** A cent amount with a decimal part (the API's unitAmountCents, "352.0000") → dollars string. */
export function decimalCentsToDecimal(cents: string): `${number}` {
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(cents);
  if (!m) return '0';
  const [, sign = '', whole = '0', frac = ''] = m;
  const digits = `${whole}${frac}`.replace(/^0+(?=\d)/, '');
  // Move the point two places left.
  const scale = frac.length + 2;
  const padded = digits.padStart(scale + 1, '0');
  return `${sign}${padded.slice(0, -scale)}.${padded.slice(-scale)}` as `${number}`;
}

export function money(locale: Locale, cents: number, currency = 'usd'): string {
  return new Intl.NumberFormat(TAGS[locale], { style: 'currency', currency: currency.toUpperCase() }).format(
    centsToDecimal(cents),
  );
}

/** A price that may go below a cent (per credit): up to 4 decimals. */
export function unitMoney(locale: Locale, decimalCents: string, currency = 'usd'): string {
  return new Intl.NumberFormat(TAGS[locale], {
    style: 'currency',
    currency: currency.toUpperCase(),
    maximumFractionDigits: 4,
  }).format(decimalCentsToDecimal(decimalCents));
}

export function credits(locale: Locale, decimal: string): string {
  return new Intl.NumberFormat(TAGS[locale], { maximumFractionDigits: 4 }).format(decimal as `${number}`);
}

export function percent(locale: Locale, bps: number): string {
  return new Intl.NumberFormat(TAGS[locale], { maximumFractionDigits: 2 }).format(
    `${Math.trunc(bps / 100)}.${String(bps % 100).padStart(2, '0')}` as `${number}`,
  );
}

export function date(locale: Locale, iso: string): string {
  return new Intl.DateTimeFormat(TAGS[locale], { dateStyle: 'medium', timeZone: 'UTC' }).format(
    new Date(iso),
  );
}

export function dateTime(locale: Locale, iso: string): string {
  return new Intl.DateTimeFormat(TAGS[locale], {
    dateStyle: 'medium',
    timeStyle: 'short',
    timeZone: 'UTC',
  }).format(new Date(iso));
}

export function shortDay(locale: Locale, day: string): string {
  return new Intl.DateTimeFormat(TAGS[locale], { month: 'short', day: 'numeric', timeZone: 'UTC' }).format(
    new Date(`${day}T00:00:00Z`),
  );
}

/** Credits "12.3456" → integer units (1 credit = 10,000), for the chart's arithmetic; 0 if malformed. */
export function creditUnits(decimal: string): number {
  return parseDecimal4(decimal) ?? 0;
}

/**
 * A dollar amount typed by the customer ("100", "12.5", "$1,200.00") → integer cents, or null
 * when it is not an amount with at most two decimals.
 */
export function parseDollars(input: string): number | null {
  const s = input.trim().replace(/^\$/, '').replace(/,/g, '');
  const m = /^(\d{1,9})(?:\.(\d{0,2}))?$/.exec(s);
  if (!m) return null;
  return Number(m[1]) * 100 + Number((m[2] ?? '').padEnd(2, '0'));
}
