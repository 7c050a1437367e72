import { useState, type ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import { Dialog } from '../../components/Dialog.js';
import { ErrorNotice } from '../../components/ErrorNotice.js';

/**
 * An in-app confirmation (never the browser's confirm()): the question, what happens, a confirm
 * button that runs `onConfirm` (its error is shown in place) and Cancel. Local to the Field screen
 * until the renderer has one shared confirmation dialog.
 */
export function ConfirmDialog({ title, children, confirmLabel, danger, onConfirm, onClose }: { title: string; children: ReactNode; confirmLabel: string; danger?: boolean; onConfirm: () => Promise<void>; onClose: () => void }) {
  const { t } = useTranslation();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const confirm = async (): Promise<void> => {
    setBusy(true);
    setError(undefined);
    try {
      await onConfirm();
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return (
    <Dialog open title={title} onClose={onClose}>
      <div data-testid="confirm-dialog">
        {children}
        <ErrorNotice error={error} />
        <div className="actions">
          <button type="button" className={`btn ${danger ? 'btn--danger' : 'btn--primary'}`} disabled={busy} onClick={() => void confirm()}>
            {confirmLabel}
          </button>
          <button type="button" className="btn" onClick={onClose} autoFocus>
            {t('actions.cancel')}
          </button>
        </div>
      </div>
    </Dialog>
  );
}
