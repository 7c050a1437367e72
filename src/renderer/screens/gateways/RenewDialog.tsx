import { useId, useRef, useState } from 'react';
import { useTranslation } from 'react-i18next';
import type { CertificateView, GatewayDetailView } from '../../../shared/views.js';
import { useStation } from '../../app/context.js';
import { Dialog } from '../../components/Dialog.js';
import { saveFile } from '../../components/download.js';
import { ErrorNotice } from '../../components/ErrorNotice.js';
import { ConfirmDialog, useFocusInAndBack } from './interim.js';

type Mode = 'deliver' | 'pending';

const detailHeading = (): HTMLElement | null => document.getElementById('gw-detail-title');

/**
 * Renewal, confirmed like a revocation (an in-app dialog): ask the device over MQTT for a new key, or
 * have the server make a pending certificate to install by hand (its ZIP, with the key, downloaded
 * once). The current certificate stays valid either way until the new one is confirmed.
 */
export function RenewDialog({ gateway, onClose, onRenewed }: { gateway: GatewayDetailView; onClose: () => void; onRenewed: (g: GatewayDetailView, message: string) => void }) {
  const { t } = useTranslation('gateways');
  const { t: tc } = useTranslation();
  const client = useStation();
  const [mode, setMode] = useState<Mode>('deliver');
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const choices = useRef<HTMLFieldSetElement>(null);
  const hintId = useId();
  useFocusInAndBack(choices, detailHeading);
  const renew = async (): Promise<void> => {
    setBusy(true);
    setError(undefined);
    try {
      const r = await client.invoke('gateways.renew', { id: gateway.id, mode });
      if (r.file) saveFile(r.file);
      onRenewed(r.gateway, r.file ? t('renew.pendingDone') : r.delivery === 'asked' ? t('renew.asked') : t('renew.waiting'));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog open title={t('renew.title', { code: gateway.code })} onClose={onClose}>
      <p>{t('renew.intro')}</p>
      <fieldset ref={choices} className="choices">
        <legend>{t('renew.how')}</legend>
        {(['deliver', 'pending'] as const).map((m) => (
          <label key={m} className="radio radio--block">
            <input type="radio" name="renew-mode" value={m} checked={mode === m} onChange={() => setMode(m)} aria-describedby={`${hintId}-${m}`} />
            <span>
              {t(`renew.${m}`)}
              <small id={`${hintId}-${m}`} className="field__hint">
                {t(`renew.${m}Hint`)}
              </small>
            </span>
          </label>
        ))}
      </fieldset>
      <ErrorNotice error={error} />
      <div className="actions">
        <button type="button" className="btn btn--primary" disabled={busy} onClick={() => void renew()}>
          {busy ? tc('actions.working') : t('renew.confirm')}
        </button>
        <button type="button" className="btn" onClick={onClose}>
          {tc('actions.cancel')}
        </button>
      </div>
    </Dialog>
  );
}

/** Confirm (one installed by hand) or cancel a pending certificate, in its row of the certificate table: each asks first. */
export function PendingActions({
  gateway,
  certificate,
  onDone,
  onError,
}: {
  gateway: GatewayDetailView;
  certificate: CertificateView;
  onDone: (g: GatewayDetailView, message: string) => void;
  onError: (err: unknown) => void;
}) {
  const { t } = useTranslation('gateways');
  const client = useStation();
  const [asking, setAsking] = useState<'confirm' | 'cancel' | null>(null);
  const [busy, setBusy] = useState(false);
  const serial = certificate.serialNumber;
  const run = async (what: 'confirm' | 'cancel'): Promise<void> => {
    setBusy(true);
    try {
      const g = await client.invoke(what === 'confirm' ? 'gateways.confirmRenewal' : 'gateways.cancelRenewal', { id: gateway.id, serialNumber: serial });
      setAsking(null);
      onDone(g, t(what === 'confirm' ? 'renew.confirmDone' : 'renew.cancelDone'));
    } catch (err) {
      setAsking(null);
      onError(err);
    } finally {
      setBusy(false);
    }
  };
  // A renewal on its way to the device over MQTT is confirmed by the device itself (its ack): by
  // hand it would revoke the certificate the device still uses. It can only be cancelled here.
  const delivered = gateway.renewalDelivery?.pendingSerial === serial;
  return (
    <span className="row-actions">
      {!delivered && (
        <button type="button" className="btn btn--small" aria-label={t('detail.confirmPending', { serial })} onClick={() => setAsking('confirm')}>
          {t('detail.confirmPendingShort')}
        </button>
      )}
      <button type="button" className="btn btn--small" aria-label={t('detail.cancelPending', { serial })} onClick={() => setAsking('cancel')}>
        {t('detail.cancelPendingShort')}
      </button>
      {asking && (
        <ConfirmDialog
          title={t(asking === 'confirm' ? 'renew.confirmTitle' : 'renew.cancelTitle', { serial })}
          confirmLabel={t(asking === 'confirm' ? 'detail.confirmPendingShort' : 'renew.cancelConfirm')}
          danger={asking === 'cancel'}
          busy={busy}
          onConfirm={() => void run(asking)}
          onClose={() => setAsking(null)}
          fallbackFocus={detailHeading}
        >
          <p className={asking === 'confirm' ? 'notice notice--warn' : ''}>{t(asking === 'confirm' ? 'renew.confirmText' : 'renew.cancelText')}</p>
        </ConfirmDialog>
      )}
    </span>
  );
}
