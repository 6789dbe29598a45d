/**
 * Buying prepaid credits (R-PRE-1, R-CAT-2): the bundles with their discounts, or any quantity
 * priced live at the tier it reaches (the server's quote, the same Checkout charges), then
 * Stripe Checkout, which comes back to this page.
 */
import { useEffect, useState } from 'preact/hooks';
import { type Burnrate, BurnrateApiError, type Catalog, type PrepaidQuote } from '../../client/src/index.js';
import { MAX_PURCHASE_CREDITS } from '../../src/domain/units.js';
import { credits, money, percent, unitMoney } from './format.js';
import type { Locale, T } from './i18n.js';

export interface BuyCreditsProps {
  client: Burnrate;
  workspaceId: string;
  catalog: Catalog;
  locale: Locale;
  t: T;
  /** Called just before the browser leaves for Checkout, with its session's id. */
  onLeave(checkoutSessionId: string): void;
}

const CUSTOM = 'custom';

export function BuyCredits(p: BuyCreditsProps) {
  const { t, locale, catalog } = p;
  const [choice, setChoice] = useState<string>(catalog.bundles[1]?.id ?? catalog.bundles[0]?.id ?? CUSTOM);
  const [quantity, setQuantity] = useState('75');
  const [quote, setQuote] = useState<PrepaidQuote | null>(null);
  const [quantityError, setQuantityError] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const typed = quantity.trim().replace(/[,\s]/g, '');
  const wholeCredits =
    /^\d{1,7}$/.test(typed) && Number(typed) >= 1 && Number(typed) <= MAX_PURCHASE_CREDITS
      ? Number(typed)
      : null;
  const quantityErrorText = t('quantityError', { max: credits(locale, String(MAX_PURCHASE_CREDITS)) });

  useEffect(() => {
    // The price shown is always the quantity's in the field: none while another is priced.
    setQuote(null);
    if (wholeCredits === null) {
      setQuantityError(quantityErrorText);
      return;
    }
    setQuantityError(null);
    const controller = new AbortController();
    const timer = setTimeout(() => {
      p.client
        .prepaidQuote(p.workspaceId, wholeCredits, { signal: controller.signal })
        .then((q) => {
          setQuote(q);
          setError(null);
        })
        .catch(() => {
          if (!controller.signal.aborted) setError(t('quoteFailed'));
        });
    }, 200);
    return () => {
      clearTimeout(timer);
      controller.abort();
    };
  }, [wholeCredits, locale]);

  const buy = async () => {
    setError(null);
    const chosen =
      choice === CUSTOM ? (wholeCredits !== null ? { credits: wholeCredits } : null) : { bundleId: choice };
    if (!chosen) {
      setQuantityError(quantityErrorText);
      document.getElementById('quantity')?.focus();
      return;
    }
    setBusy(true);
    try {
      const page = `${location.origin}/billing/`;
      const session = await p.client.createCheckout(p.workspaceId, {
        ...chosen,
        // Stripe (and the stand-in) put the session's id in place of {CHECKOUT_SESSION_ID}.
        successUrl: `${page}?checkout=success&session={CHECKOUT_SESSION_ID}`,
        cancelUrl: `${page}?checkout=cancel`,
      });
      if (!session.url) throw new Error('Checkout gave no URL');
      p.onLeave(session.id);
      location.assign(session.url);
    } catch (err) {
      setError(t(err instanceof BurnrateApiError && err.status === 401 ? 'sessionEnded' : 'checkoutFailed'));
      setBusy(false);
    }
  };

  return (
    <section class="card buy-card" id="buy-credits" aria-labelledby="buy-title" tabIndex={-1}>
      <h2 id="buy-title">{t('buyTitle')}</h2>
      <p class="intro">{t('buyIntro')}</p>
      <fieldset class="bundles">
        <legend>{t('bundles')}</legend>
        {catalog.bundles.map((b) => (
          <label class="bundle" key={b.id}>
            <input
              type="radio"
              name="bundle"
              value={b.id}
              checked={choice === b.id}
              onChange={() => setChoice(b.id)}
            />
            <span class="bundle-name">
              {t('bundleOption', {
                credits: credits(locale, String(b.credits)),
                amount: money(locale, b.amountCents, b.currency),
              })}
            </span>{' '}
            {b.discountBps > 0 && (
              <span class="discount">{t('off', { pct: percent(locale, b.discountBps) })}</span>
            )}
          </label>
        ))}
        <label class="bundle">
          <input
            type="radio"
            name="bundle"
            value={CUSTOM}
            checked={choice === CUSTOM}
            onChange={() => setChoice(CUSTOM)}
          />
          <span class="bundle-name">{t('quantityOption')}</span>
        </label>
      </fieldset>
      {choice === CUSTOM && (
        <div class="quantity">
          <label for="quantity">{t('otherQuantity')}</label>
          <input
            id="quantity"
            type="text"
            inputMode="numeric"
            autoComplete="off"
            value={quantity}
            aria-describedby={quantityError ? 'quantity-error' : 'quantity-price'}
            aria-invalid={quantityError ? 'true' : 'false'}
            onInput={(e) => setQuantity((e.target as HTMLInputElement).value)}
          />
          {quantityError ? (
            <p id="quantity-error" class="error" role="alert">
              {quantityError}
            </p>
          ) : (
            <p id="quantity-price" class="price" aria-live="polite">
              {quote &&
                quote.credits === String(wholeCredits) &&
                `${t('quantityPrice', {
                  credits: credits(locale, quote.credits),
                  amount: money(locale, quote.amountCents, quote.currency),
                  unit: unitMoney(locale, quote.unitAmountCents, quote.currency),
                })}${quote.discountBps > 0 ? ` · ${t('off', { pct: percent(locale, quote.discountBps) })}` : ''}`}
            </p>
          )}
        </div>
      )}
      <div class="actions">
        <button type="button" class="button primary" disabled={busy} onClick={() => void buy()}>
          {t('buy')}
        </button>
      </div>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}
