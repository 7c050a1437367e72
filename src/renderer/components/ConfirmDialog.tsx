import { createContext, useCallback, useContext, useId, useRef, useState, type ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import { Dialog } from './Dialog.js';
import { focusSoon } from './focus.js';

/**
 * The app's confirmation question, instead of the browser's `confirm()` (which screen readers and
 * the keyboard handle poorly, cannot be translated in its buttons, and blocks the page):
 *
 *   const confirm = useConfirm();
 *   if (await confirm({ title, message, confirmLabel, danger: true })) …
 *
 * A dangerous action starts with focus on Cancel, so an Enter pressed by habit does not do it.
 */
export interface ConfirmOptions {
  title: string;
  message: ReactNode;
  /** The button that does it, in words ("Delete profile"), never just "OK". */
  confirmLabel: string;
  cancelLabel?: string;
  danger?: boolean;
}

type Ask = (options: ConfirmOptions) => Promise<boolean>;

const Ctx = createContext<Ask | null>(null);

export function ConfirmProvider({ children }: { children: ReactNode }) {
  const { t } = useTranslation();
  const messageId = useId();
  const [pending, setPending] = useState<(ConfirmOptions & { resolve: (v: boolean) => void }) | null>(null);
  const cancelRef = useRef<HTMLButtonElement>(null);
  const okRef = useRef<HTMLButtonElement>(null);
  const ask = useCallback<Ask>(
    (options) =>
      new Promise<boolean>((resolve) => {
        setPending((old) => {
          old?.resolve(false);
          return { ...options, resolve };
        });
        focusSoon(() => (options.danger ? cancelRef.current : okRef.current));
      }),
    [],
  );
  const answer = (v: boolean): void => {
    pending?.resolve(v);
    setPending(null);
  };
  return (
    <Ctx.Provider value={ask}>
      {children}
      <Dialog
        open={pending !== null}
        title={pending?.title ?? ''}
        role="alertdialog"
        describedBy={messageId}
        onClose={() => answer(false)}
        footer={
          pending && (
            <div className="actions">
              <button ref={okRef} type="button" className={`btn ${pending.danger ? 'btn--danger-solid' : 'btn--primary'}`} onClick={() => answer(true)} data-testid="confirm-ok">
                {pending.confirmLabel}
              </button>
              <button ref={cancelRef} type="button" className="btn" onClick={() => answer(false)} data-testid="confirm-cancel">
                {pending.cancelLabel ?? t('actions.cancel')}
              </button>
            </div>
          )
        }
      >
        {pending && <div id={messageId}>{pending.message}</div>}
      </Dialog>
    </Ctx.Provider>
  );
}

export function useConfirm(): Ask {
  const ask = useContext(Ctx);
  if (!ask) throw new Error('ConfirmProvider missing');
  return ask;
}
