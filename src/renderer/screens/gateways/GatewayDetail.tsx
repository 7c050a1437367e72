import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { REVOKE_REASONS } from '../../../shared/inputs.js';
import type { GatewayDetailView } from '../../../shared/views.js';
import { useStation } from '../../app/context.js';
import { usePresence } from '../../app/hooks.js';
import { Dialog } from '../../components/Dialog.js';
import { saveFile } from '../../components/download.js';
import { ErrorNotice } from '../../components/ErrorNotice.js';
import { SelectField } from '../../components/form.js';
import { formatDateTime } from '../../components/format.js';
import { TelemetryPanel } from './TelemetryPanel.js';

type Reason = (typeof REVOKE_REASONS)[number];

function RevokeDialog({ gateway, onClose, onRevoked }: { gateway: GatewayDetailView; onClose: () => void; onRevoked: (g: GatewayDetailView) => void }) {
  const { t } = useTranslation('gateways');
  const client = useStation();
  const [reason, setReason] = useState<Reason>('unspecified');
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
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
      <SelectField<Reason> name="reason" label={t('revoke.reason')} value={reason} onChange={setReason} options={REVOKE_REASONS.map((r) => ({ value: r, label: t(`revoke.reasons.${r}`) }))} />
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

export function GatewayDetail({ gateway, onChanged }: { gateway: GatewayDetailView; onChanged: (g: GatewayDetailView) => void }) {
  const { t } = useTranslation('gateways');
  const { t: tc } = useTranslation();
  const client = useStation();
  const presence = usePresence();
  const [revoking, setRevoking] = useState(false);
  const [message, setMessage] = useState('');
  const [error, setError] = useState<unknown>();
  const online = presence[gateway.mac] ?? gateway.online;
  const active = gateway.activeCertificate;
  return (
    <section className="card detail" aria-labelledby="gw-detail-title" data-testid="gateway-detail">
      <h3 id="gw-detail-title">{t('detail.title', { code: gateway.code })}</h3>
      <dl className="facts">
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
          <dd>
            <span className={`dot dot--${online ? 'connected' : 'unconfigured'}`} aria-hidden="true" /> {online ? tc('common.online') : tc('common.offline')}
          </dd>
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
      <h4>{t('detail.certificates')}</h4>
      <table className="table">
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
            <tr key={c.id} className={c.revoked ? 'row--bad' : ''}>
              <td className="mono">{c.serialNumber}</td>
              <td>{formatDateTime(c.issuedAt)}</td>
              <td>{formatDateTime(c.expiresAt)}</td>
              <td>{t(`detail.origin.${c.keyOrigin}`)}</td>
              <td>{c.revoked ? t('detail.revokedAt', { at: formatDateTime(c.revokedAt), reason: c.revokeReason ?? '' }) : t('detail.active')}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <TelemetryPanel key={gateway.id} gatewayId={gateway.id} />
      <p role="status">{message}</p>
      <ErrorNotice error={error} />
      <div className="actions">
        <button type="button" className="btn" onClick={() => client.invoke('gateways.downloadZip', { id: gateway.id }).then(saveFile, setError)}>
          {t('detail.zip')}
        </button>
        {active && !active.revoked && (
          <button type="button" className="btn btn--danger" onClick={() => setRevoking(true)}>
            {t('detail.revoke')}
          </button>
        )}
      </div>
      {revoking && (
        <RevokeDialog
          gateway={gateway}
          onClose={() => setRevoking(false)}
          onRevoked={(g) => {
            setRevoking(false);
            setMessage(t('revoke.done'));
            onChanged(g);
          }}
        />
      )}
    </section>
  );
}
