/**
 * Credits and money as integers (R-UNIT-1, R-UNIT-2).
 *
 * 1 credit = 10 000 units, so a usage of 0.37 credits is 3 700 units. Prices per credit are
 * kept in "price units" of 1/10 000 cent, so a sub-cent price such as 368.5 cents/credit is
 * exact (Stripe's `unit_amount_decimal`). Nothing here ever holds a float amount.
 */
export const UNITS_PER_CREDIT = 10_000;
export const PRICE_UNITS_PER_CENT = 10_000;
/** Units per credit times price units per cent: units × priceE4 / this = cents. */
const CENT_SCALE = 100_000_000n;

/** The largest amount one request may carry: 10 million credits. */
export const MAX_REQUEST_UNITS = 10_000_000 * UNITS_PER_CREDIT;

/**
 * The most whole credits one prepaid purchase takes: Checkout's quantity, its quote's, and the
 * billing page's field (web/billing imports it, so this module imports nothing).
 */
export const MAX_PURCHASE_CREDITS = 1_000_000;

const DECIMAL = /^(-)?(\d{1,12})(?:\.(\d{1,4}))?$/;

/** Parses a decimal (string or number) with at most 4 decimals into integer units; null if malformed. */
export function parseDecimal4(input: string | number): number | null {
  let text: string;
  if (typeof input === 'number') {
    if (!Number.isFinite(input)) return null;
    text = String(input);
  } else {
    text = input.trim();
  }
  const m = DECIMAL.exec(text);
  if (!m) return null;
  const whole = Number(m[2]);
  const frac = Number((m[3] ?? '').padEnd(4, '0'));
  const value = whole * UNITS_PER_CREDIT + frac;
  if (!Number.isSafeInteger(value)) return null;
  return m[1] ? -value : value;
}

/** Formats units as a decimal credit string with no trailing zeros: 777000 → "77.7". */
export function formatUnits(units: number): string {
  const sign = units < 0 ? '-' : '';
  const abs = Math.abs(units);
  const whole = Math.floor(abs / UNITS_PER_CREDIT);
  const frac = abs % UNITS_PER_CREDIT;
  if (frac === 0) return `${sign}${whole}`;
  return `${sign}${whole}.${String(frac).padStart(4, '0').replace(/0+$/, '')}`;
}

/** How many flex units a dollar limit allows at a price: floor(cents × 10^8 / priceE4) (R-FLX-2). */
export function unitsForCents(cents: number, priceE4: number): number {
  return Number((BigInt(cents) * CENT_SCALE) / BigInt(priceE4));
}

/** What units cost at a price, rounded down to whole cents. */
export function centsForUnits(units: number, priceE4: number): number {
  return Number((BigInt(units) * BigInt(priceE4)) / CENT_SCALE);
}

/** Whole credits in units, rounded down (R-FLX-5: 77.7 → 77). */
export function floorToWholeCredits(units: number): number {
  return Math.floor(units / UNITS_PER_CREDIT);
}
