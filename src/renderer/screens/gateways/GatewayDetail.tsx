import { useEffect, useRef, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { REVOKE_REASONS } from '../../../shared/inputs.js';
import type { CertificateView, GatewayDetailView } from '../../../shared/views.js';
import { useStation } from '../../app/context.js';
import { usePresence } from '../../app/hooks.js';
import { roleAllows, useServerIdentity } from '../../app/server-identity.js';
import { Dialog } from '../../components/Dialog.js';
import { saveFile } from '../../components/download.js';
import { ErrorNotice } from '../../components/ErrorNotice.js';
import { SelectField } from '../../components/form.js';
import { formatDateTime } from '../../components/format.js';
import { useFocusInAndBack } from './interim.js';
import { PendingActions, RenewDialog } from './RenewDialog.js';
import { PresencePanel } from './PresencePanel.js';
import { ExpiryText, GatewayStateText, useRevocationWords } from './standing.js';
import { TelemetryPanel } from './TelemetryPanel.js';

type Reason = (typeof REVOKE_REASONS)[number];

function RevokeDialog({ gateway, onClose, onRevoked }: { gateway: GatewayDetailView; onClose: () => void; onRevoked: (g: GatewayDetailView) => void }) {
  const { t } = useTranslation('gateways');
  const client = useStation();
  const [reason, setReason] = useState<Reason>('unspecified');
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const first = useRef<HTMLDivElement>(null);
  useFocusInAndBack(first, () => document.getElementById('gw-detail-title'));
  const confirm = async (): Promise<void> => {
    setBusy(true);
    try {
      onRevoked(await client.invoke('gateways.revoke', { id: gateway.id, reason }));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog open title={t('revoke.title', { code: gateway.code })} onClose={onClose}>
      <p className="notice notice--warn">{t('revoke.warn')}</p>
      <div ref={first}>
        <SelectField<Reason> name="reason" label={t('revoke.reason')} value={reason} onChange={setReason} options={REVOKE_REASONS.map((r) => ({ value: r, label: t(`revoke.reasons.${r}`) }))} />
      </div>
      <ErrorNotice error={error} />
      <div className="actions">
        <button type="button" className="btn btn--danger" disabled={busy} onClick={() => void confirm()}>
          {t('revoke.confirm')}
        </button>
        <button type="button" className="btn" onClick={onClose}>
          {t('actions.cancel', { ns: 'common' })}
        </button>
      </div>
    </Dialog>
  );
}

function CertificateState({ c }: { c: CertificateView }) {
  const { t } = useTranslation('gateways');
  const words = useRevocationWords();
  if (c.revoked) return <>{t('detail.revokedAt', { at: formatDateTime(c.revokedAt), reason: words(c.revokeReason, c.revokeNote) })}</>;
  if (c.status === 'pending') return <>{t('detail.pending')}</>;
  if (c.status === 'expired') return <>{t('detail.expired')}</>;
  return <>{t('detail.active')}</>;
}

/** A renewal the server is delivering to the device: which certificate waits, and how often the device was asked. */
function DeliveryNotice({ gateway }: { gateway: GatewayDetailView }) {
  const { t } = useTranslation('gateways');
  const d = gateway.renewalDelivery;
  if (!d) return null;
  return (
    <div className="notice" data-testid="renewal-delivery" role="status">
      <strong>{t('detail.delivery.title')}</strong>
      <p>{t('detail.delivery.text', { pending: d.pendingSerial, replaces: d.replacesSerial })}</p>
      <p>{d.attempts === 0 ? t('detail.delivery.never') : t('detail.delivery.asked', { count: d.attempts, at: formatDateTime(d.lastAttemptAt) })}</p>
    </div>
  );
}

/** `opened` changes each time the user opens a gateway (also the one already shown): focus moves to the detail then. */
export function GatewayDetail({ gateway, opened, onChanged }: { gateway: GatewayDetailView; opened: number; onChanged: (g: GatewayDetailView) => void }) {
  const { t } = useTranslation('gateways');
  const { t: tc } = useTranslation();
  const client = useStation();
  const presence = usePresence();
  const identity = useServerIdentity();
  const [dialog, setDialog] = useState<'revoke' | 'renew' | null>(null);
  const heading = useRef<HTMLHeadingElement>(null);
  // Opened below the list: take the keyboard and screen reader there.
  useEffect(() => heading.current?.focus(), [opened]);
  const [message, setMessage] = useState('');
  const [error, setError] = useState<unknown>();
  const online = presence[gateway.mac] ?? gateway.online;
  const active = gateway.activeCertificate;
  const usable = gateway.standing.kind === 'active' && active !== null;
  const pending = gateway.certificates.filter((c) => c.status === 'pending');
  const changed = (g: GatewayDetailView, text: string): void => {
    setDialog(null);
    setError(undefined);
    setMessage(text);
    onChanged(g);
  };
  return (
    <section className="card detail" aria-labelledby="gw-detail-title" data-testid="gateway-detail">
      <h3 id="gw-detail-title" tabIndex={-1} ref={heading}>
        {t('detail.title', { code: gateway.code })}
      </h3>
      <dl className="facts facts--words">
        <div>
          <dt>MAC</dt>
          <dd className="mono">{gateway.mac}</dd>
        </div>
        <div>
          <dt>{t('columns.name')}</dt>
          <dd>{gateway.name}</dd>
        </div>
        <div>
          <dt>{t('columns.status')}</dt>
          <dd data-testid="gateway-state">
            <GatewayStateText gateway={gateway} online={online} long />
          </dd>
        </div>
        <div>
          <dt>{t('detail.expiresIn')}</dt>
          <dd data-testid="gateway-expiry">{usable ? <ExpiryText at={active.expiresAt} /> : tc('common.none')}</dd>
        </div>
        <div>
          <dt>{t('detail.account')}</dt>
          <dd>{gateway.accountId}</dd>
        </div>
        <div>
          <dt>{t('detail.firmware')}</dt>
          <dd>{gateway.firmwareVersion ?? tc('common.none')}</dd>
        </div>
        <div>
          <dt>{t('detail.created')}</dt>
          <dd>{formatDateTime(gateway.createdAt)}</dd>
        </div>
      </dl>
      <DeliveryNotice gateway={gateway} />
      <h4>{t('detail.certificates')}</h4>
      <table className="table" data-testid="gateway-certificates">
        <thead>
          <tr>
            <th scope="col">{t('detail.serial')}</th>
            <th scope="col">{t('detail.issued')}</th>
            <th scope="col">{t('detail.expires')}</th>
            <th scope="col">{t('detail.keyOrigin')}</th>
            <th scope="col">{t('detail.state')}</th>
          </tr>
        </thead>
        <tbody>
          {gateway.certificates.map((c) => (
            <tr key={c.id} className={c.revoked ? 'row--bad' : ''} data-serial={c.serialNumber} data-status={c.status}>
              <td className="mono">{c.serialNumber}</td>
              <td>{formatDateTime(c.issuedAt)}</td>
              <td>{formatDateTime(c.expiresAt)}</td>
              <td>{t(`detail.origin.${c.keyOrigin}`)}</td>
              <td>
                <CertificateState c={c} />
                {c.status === 'pending' && roleAllows(identity, ['operator']) && <PendingActions gateway={gateway} certificate={c} onDone={changed} onError={setError} />}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <p role="status" data-testid="gateway-message">
        {message}
      </p>
      <ErrorNotice error={error} onDismiss={() => setError(undefined)} />
      <div className="actions">
        <button type="button" className="btn" onClick={() => client.invoke('gateways.downloadZip', { id: gateway.id }).then(saveFile, setError)}>
          {t('detail.zip')}
        </button>
        {usable && pending.length === 0 && !gateway.renewalDelivery && roleAllows(identity, ['operator']) && (
          <button type="button" className="btn" onClick={() => setDialog('renew')}>
            {t('detail.renew')}
          </button>
        )}
        {active && !active.revoked && roleAllows(identity, ['operator', 'admin']) && (
          <button type="button" className="btn btn--danger" onClick={() => setDialog('revoke')}>
            {t('detail.revoke')}
          </button>
        )}
      </div>
      <PresencePanel key={`p${gateway.id}`} gatewayId={gateway.id} />
      <TelemetryPanel key={gateway.id} gatewayId={gateway.id} />
      {dialog === 'revoke' && <RevokeDialog gateway={gateway} onClose={() => setDialog(null)} onRevoked={(g) => changed(g, t('revoke.done'))} />}
      {dialog === 'renew' && <RenewDialog gateway={gateway} onClose={() => setDialog(null)} onRenewed={changed} />}
    </section>
  );
}
