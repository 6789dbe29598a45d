/**
 * The Flex Billing card, as ../shared/seeds/manage-flex-billing.en.md says: "Enable" opens a
 * confirmation, then flex is on with the plan's default cap (R-FLX-1); the cap (minimum $1,
 * R-FLX-2) is saved by its Save button, by Enter or by leaving the field; "Remove cap" and
 * "Disable" (R-FLX-3) each confirm with the seed's warning. The operator's billing threshold is
 * shown when it binds (R-FLX-4); the free plan says why there is no flex (R-CYC-4).
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import type { Workspace } from '../../client/src/index.js';
import { ConfirmDialog } from './dialog.js';
import { centsToDecimal, money, parseDollars } from './format.js';
import type { Locale, T } from './i18n.js';

type Pending = 'enable' | 'disable' | 'remove' | null;

export interface FlexCardProps {
  workspace: Workspace;
  /** The plan's default cap (cents), what "Enable" sets. */
  defaultCapCents: number | null;
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
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  const saving = useRef(false);
  const saveRef = useRef<HTMLButtonElement>(null);
  const headingRef = useRef<HTMLHeadingElement>(null);
  const cur = ws.currency;

  // The saved cap, unless the customer is typing another one (a save's reload lands later).
  useEffect(() => {
    if (document.activeElement?.id !== 'flex-cap') setDraft(draftOf(flex.capCents));
  }, [flex.capCents, flex.enabled]);

  const fail = (err: unknown) => setError(t('saveFailed', { reason: (err as Error).message }));

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

  let body: preact.ComponentChildren;
  if (!flex.allowed) {
    body = <p>{t('flexFree')}</p>;
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
        {bindingThreshold !== null && (
          <p class="threshold">{t('threshold', { threshold: money(locale, bindingThreshold, cur) })}</p>
        )}
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
      {pending === 'enable' && (
        <ConfirmDialog
          id="enable-dialog"
          title={t('enableTitle')}
          t={t}
          onClose={close}
          fallbackFocus={() => document.getElementById('flex-cap') ?? focusCard()}
          onConfirm={() => p.setFlex({ enabled: true }).catch(fail)}
        >
          <p>
            {t('enableBody', {
              cap: p.defaultCapCents === null ? '' : limitText(p.defaultCapCents),
            })}
          </p>
        </ConfirmDialog>
      )}
      {pending === 'remove' && (
        <ConfirmDialog
          id="remove-dialog"
          title={t('removeTitle')}
          t={t}
          onClose={close}
          fallbackFocus={focusCard}
          onConfirm={() => p.setFlex({ capCents: null, confirmUnlimited: true }).catch(fail)}
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
          onConfirm={() => p.setFlex({ enabled: false }).catch(fail)}
        >
          <p>{t('disableBody')}</p>
        </ConfirmDialog>
      )}
    </section>
  );
}
