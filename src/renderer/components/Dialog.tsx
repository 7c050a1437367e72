import { useEffect, useId, useRef, type ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import { useReturnFocus } from './focus.js';

/**
 * A modal on the native <dialog>: focus moves in and is trapped by the browser, Escape closes, and
 * focus goes back to the opener (or the screen's home control, focus.ts) also when the dialog is
 * removed while open. Children render only while open. `footer` holds the dialog's buttons outside
 * the scrolling body, so they stay visible on a small screen.
 */
export function Dialog({
  open,
  title,
  onClose,
  children,
  footer,
  wide,
  role,
  describedBy,
}: {
  open: boolean;
  title: string;
  onClose: () => void;
  children?: ReactNode;
  footer?: ReactNode;
  wide?: boolean;
  /** 'alertdialog' for a question that needs an answer (a confirmation). */
  role?: 'dialog' | 'alertdialog';
  describedBy?: string;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const { t } = useTranslation();
  useReturnFocus(open);
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) d.showModal();
    if (!open && d.open) d.close();
  }, [open]);
  return (
    <dialog
      ref={ref}
      className={`dialog ${wide ? 'dialog--wide' : ''}`}
      aria-labelledby={titleId}
      aria-describedby={describedBy}
      role={role === 'alertdialog' ? 'alertdialog' : undefined}
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
    >
      {open && (
        <>
          <header className="dialog__head">
            <h2 id={titleId}>{title}</h2>
            <button type="button" className="btn btn--icon" onClick={onClose} aria-label={t('actions.closeDialog', { title })}>
              ×
            </button>
          </header>
          {children !== undefined && <div className="dialog__body">{children}</div>}
          {footer && <footer className="dialog__foot">{footer}</footer>}
        </>
      )}
    </dialog>
  );
}
