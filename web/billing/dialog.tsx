/**
 * A confirmation dialog: the native <dialog> opened with showModal (role dialog, modal, focus
 * kept inside), named by its title, with "Confirm" and "Cancel". Focus starts on Cancel, the
 * safe choice; Escape cancels; focus goes back to what opened it, or to `fallbackFocus`.
 */
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { T } from './i18n.js';

export interface ConfirmDialogProps {
  id: string;
  title: string;
  children: ComponentChildren;
  t: T;
  /** Runs the change; the dialog stays open (its buttons disabled) until it settles. */
  onConfirm(): Promise<void>;
  onClose(): void;
  /** Where focus goes when the element that opened the dialog is gone (e.g. after "Enable"). */
  fallbackFocus?: () => HTMLElement | null;
}

export function ConfirmDialog(p: ConfirmDialogProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const cancelRef = useRef<HTMLButtonElement>(null);
  const opener = useRef<Element | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    const dialog = ref.current!;
    opener.current = document.activeElement;
    dialog.showModal();
    cancelRef.current?.focus();
    return () => {
      if (dialog.open) dialog.close();
      // After Preact has rendered the change: the opener may have been replaced.
      setTimeout(() => {
        const back = opener.current;
        if (back instanceof HTMLElement && back.isConnected) back.focus();
        else p.fallbackFocus?.()?.focus();
      });
    };
  }, []);

  const confirm = async () => {
    setBusy(true);
    try {
      await p.onConfirm();
    } finally {
      setBusy(false);
      p.onClose();
    }
  };

  return (
    <dialog
      ref={ref}
      class="dialog"
      aria-labelledby={`${p.id}-title`}
      aria-describedby={`${p.id}-body`}
      onCancel={(e) => {
        // Escape: close through our state, so the focus goes back too.
        e.preventDefault();
        if (!busy) p.onClose();
      }}
    >
      <h2 id={`${p.id}-title`}>{p.title}</h2>
      <div id={`${p.id}-body`}>{p.children}</div>
      <div class="dialog-actions">
        <button type="button" ref={cancelRef} class="button secondary" disabled={busy} onClick={p.onClose}>
          {p.t('cancel')}
        </button>
        <button type="button" class="button primary" disabled={busy} onClick={() => void confirm()}>
          {p.t('confirm')}
        </button>
      </div>
    </dialog>
  );
}
