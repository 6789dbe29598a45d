/**
 * The Flex Billing card, as ../shared/seeds/manage-flex-billing.en.md says: "Enable" opens a
 * confirmation, then flex is on with the plan's default cap (R-FLX-1); the cap (minimum $1,
 * R-FLX-2) is saved by its Save button, by Enter or by leaving the field; "Remove cap" and
 * "Disable" (R-FLX-3) each confirm with the seed's warning. The operator's billing threshold is
 * shown when it binds (R-FLX-4); the free plan says why there is no flex (R-CYC-4), and a plan
 * whose terms leave flex out says that instead. A change the server refused shows as the card's
 * alert, whatever the state; the cap field's own error is only for an amount under $1.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { BurnrateApiError, type Workspace } from '../../client/src/index.js';
import { ConfirmDialog } from './dialog.js';
import { centsToDecimal, money, parseDollars } from './format.js';
import type { Locale, T } from './i18n.js';

type Pending = 'enable' | 'disable' | 'remove' | null;

export interface FlexCardProps {
  workspace: Workspace;
  /** The workspace is on a free plan (no flex by plan), not a paid one whose terms leave flex out. */
  freePlan: boolean;
  locale: Locale;
  t: T;
  /** PATCH flex; resolves with the workspace after it, or rejects with a message. */
  setFlex(body: { enabled?: boolean; capCents?: number | null; confirmUnlimited?: boolean }): Promise<void>;
}

const draftOf = (capCents: number | null) => (capCents === null ? '' : centsToDecimal(capCents));

export function FlexCard(p: FlexCardProps) {
  const { workspace: ws, t, locale } = p;
  const flex = ws.flex;
  const annual = ws.cycle.interval === 'year';
  const [pending, setPending] = useState<Pending>(null);
  const [draft, setDraft] = useState(draftOf(flex.capCents));
  /** The cap field's own error: an amount under $1 (R-FLX-2). */
  const [error, setError] = useState<string | null>(null);
  /** A change the server did not take (Enable, Disable, Remove cap, a cap save). */
  const [cardError, setCardError] = useState<string | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  const saving = useRef(false);
  const saveRef = useRef<HTMLButtonElement>(null);
  const headingRef = useRef<HTMLHeadingElement>(null);
  const cur = ws.currency;

  // The saved cap, unless the customer is typing another one (a save's reload lands later).
  useEffect(() => {
    if (document.activeElement?.id !== 'flex-cap') setDraft(draftOf(flex.capCents));
  }, [flex.capCents, flex.enabled]);

  const fail = (err: unknown) => {
    setStatus(null);
    setCardError(t(err instanceof BurnrateApiError && err.status === 401 ? 'sessionEnded' : 'flexFailed'));
  };
  /** Runs a change: the card's alert is cleared first, and set again if it fails. */
  const change = (body: Parameters<FlexCardProps['setFlex']>[0]) => {
    setCardError(null);
    return p.setFlex(body).catch(fail);
  };

  const saveCap = async () => {
    const cents = parseDollars(draft);
    if (cents === null || cents < 100) {
      setStatus(null);
      setError(t('capError'));
      return;
    }
    setError(null);
    if (cents === flex.capCents || saving.current) return;
    saving.current = true;
    setCardError(null);
    try {
      await p.setFlex({ capCents: cents });
      setStatus(t('capSaved', { cap: money(locale, cents, cur) }));
    } catch (err) {
      fail(err);
    } finally {
      saving.current = false;
    }
  };

  const limitText = (cents: number) =>
    t(annual ? 'perYear' : 'perMonth', { amount: money(locale, cents, cur) });

  const bindingThreshold =
    flex.thresholdCents !== null && (flex.capCents === null || flex.thresholdCents <= flex.capCents)
      ? flex.thresholdCents
      : null;
  const thresholdText =
    bindingThreshold === null
      ? null
      : t(
          flex.capCents === null
            ? 'thresholdNoCap'
            : bindingThreshold === flex.capCents
              ? 'thresholdEqual'
              : 'threshold',
          {
            threshold: money(locale, bindingThreshold, cur),
          },
        );

  let body: preact.ComponentChildren;
  if (!flex.allowed) {
    body = <p>{t(p.freePlan ? 'flexFree' : 'flexNotIncluded')}</p>;
  } else if (!flex.enabled) {
    body = (
      <>
        <p>{t('flexOffText')}</p>
        <div class="actions">
          <button type="button" class="button primary" onClick={() => setPending('enable')}>
            {t('enable')}
          </button>
        </div>
      </>
    );
  } else {
    const describedBy = ['flex-cap-help', error ? 'flex-cap-error' : ''].filter(Boolean).join(' ');
    body = (
      <>
        <form
          class="cap-form"
          noValidate
          onSubmit={(e) => {
            e.preventDefault();
            void saveCap();
          }}
        >
          <label for="flex-cap">{t('capLabel')}</label>
          <div class="cap-row">
            <input
              id="flex-cap"
              name="flexCap"
              type="text"
              inputMode="decimal"
              autoComplete="off"
              value={draft}
              aria-describedby={describedBy}
              aria-invalid={error ? 'true' : 'false'}
              onInput={(e) => {
                setDraft((e.target as HTMLInputElement).value);
                setStatus(null);
                setError(null);
              }}
              onBlur={(e) => {
                // Leaving the field for its own Save button: the click saves.
                if (e.relatedTarget === saveRef.current) return;
                if (draft !== draftOf(flex.capCents)) void saveCap();
              }}
            />
            <button type="submit" class="button primary" ref={saveRef}>
              {t('save')}
            </button>
          </div>
          <p id="flex-cap-help" class="help">
            {t(annual ? 'capHelpYear' : 'capHelp')}
          </p>
          {error && (
            <p id="flex-cap-error" class="error" role="alert">
              {error}
            </p>
          )}
          <p class="status" role="status">
            {status ?? ''}
          </p>
        </form>
        {flex.capCents === null && <p class="warning">{t('capNone')}</p>}
        {thresholdText !== null && <p class="threshold">{thresholdText}</p>}
        <div class="actions">
          {flex.capCents !== null && (
            <button type="button" class="button secondary" onClick={() => setPending('remove')}>
              {t('removeCap')}
            </button>
          )}
          <button type="button" class="button danger" onClick={() => setPending('disable')}>
            {t('disable')}
          </button>
        </div>
      </>
    );
  }

  const close = () => setPending(null);
  const focusCard = () => headingRef.current;

  return (
    <section class="card flex-card" aria-labelledby="flex-title">
      <div class="card-head">
        <h2 id="flex-title" ref={headingRef} tabIndex={-1}>
          {t('flexTitle')}
        </h2>
        {flex.allowed && (
          <span class={`badge ${flex.enabled ? 'on' : 'off'}`}>
            {flex.enabled ? t('flexOn') : t('flexOff')}
          </span>
        )}
      </div>
      <p class="intro">{t('flexIntro')}</p>
      {body}
      {cardError && (
        <p id="flex-card-error" class="error" role="alert">
          {cardError}
        </p>
      )}
      {pending === 'enable' && (
        <ConfirmDialog
          id="enable-dialog"
          title={t('enableTitle')}
          t={t}
          onClose={close}
          fallbackFocus={() => document.getElementById('flex-cap') ?? focusCard()}
          onConfirm={() => change({ enabled: true })}
        >
          <p>{t('enableBody', { cap: limitText(flex.defaultCapCents) })}</p>
        </ConfirmDialog>
      )}
      {pending === 'remove' && (
        <ConfirmDialog
          id="remove-dialog"
          title={t('removeTitle')}
          t={t}
          onClose={close}
          fallbackFocus={focusCard}
          onConfirm={() => change({ capCents: null, confirmUnlimited: true })}
        >
          <p>{t('removeBody')}</p>
        </ConfirmDialog>
      )}
      {pending === 'disable' && (
        <ConfirmDialog
          id="disable-dialog"
          title={t('disableTitle')}
          t={t}
          onClose={close}
          fallbackFocus={focusCard}
          onConfirm={() => change({ enabled: false })}
        >
          <p>{t('disableBody')}</p>
        </ConfirmDialog>
      )}
    </section>
  );
}
