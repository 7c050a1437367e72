import { useTranslation } from 'react-i18next';
import type { BrokerPublicationView } from '../../../shared/admin-views.js';
import { useStation } from '../../app/context.js';
import { useAsync } from '../../app/hooks.js';
import { formatDateTime } from '../../components/format.js';
import { formatRelative } from '../gateways/interim.js';
import { AdminError } from './AdminError.js';
import { crlUrgency } from './crl-urgency.js';

function Publication({ p }: { p: BrokerPublicationView | null }) {
  const { t } = useTranslation('admin');
  if (!p) return <>{t('server.never')}</>;
  const at = formatDateTime(p.at);
  const parts = [p.ok ? t('server.pubOk', { number: p.crlNumber ?? '—', at }) : t('server.pubError', { at, error: p.error ?? '' })];
  if (p.reloaded) parts.push(t('server.reloaded'));
  if (p.disconnected > 0) parts.push(t('server.disconnected', { count: p.disconnected }));
  return <span data-ok={p.ok}>{parts.join(' · ')}</span>;
}

function CrlCard() {
  const { t } = useTranslation('admin');
  const client = useStation();
  const crl = useAsync(() => client.invoke('admin.crl'), [client]);
  const c = crl.data;
  const urgency = c ? crlUrgency(c) : 'ok';
  return (
    <section className="card" aria-labelledby="crl-title" data-testid="crl-state" data-urgency={urgency}>
      <h3 id="crl-title">{t('server.crl')}</h3>
      <AdminError error={crl.error} />
      {c && (
        <>
          {urgency !== 'ok' && (
            <p className="notice notice--warn" role="alert" data-testid="crl-warning">
              {t(urgency === 'expired' ? 'server.expiredWarn' : 'server.nearWarn', { relative: formatRelative(c.nextUpdate) })}
            </p>
          )}
          <dl className="facts facts--words">
            <div>
              <dt>{t('server.number')}</dt>
              <dd data-testid="crl-number">{c.number}</dd>
            </div>
            <div>
              <dt>{t('server.thisUpdate')}</dt>
              <dd>{formatDateTime(c.thisUpdate)}</dd>
            </div>
            <div>
              <dt>{t('server.nextUpdate')}</dt>
              <dd>
                {formatDateTime(c.nextUpdate)} ({formatRelative(c.nextUpdate)})
              </dd>
            </div>
            <div>
              <dt>{t('server.revoked')}</dt>
              <dd>{c.revokedCount}</dd>
            </div>
          </dl>
          <h4>{t('server.publications')}</h4>
          {c.publications ? (
            <dl className="facts facts--words" data-testid="crl-publications">
              <div>
                <dt>{t('server.mosquitto')}</dt>
                <dd data-broker="mosquitto">
                  <Publication p={c.publications.mosquitto} />
                </dd>
              </div>
              <div>
                <dt>{t('server.embedded')}</dt>
                <dd data-broker="embedded">
                  <Publication p={c.publications.embedded} />
                </dd>
              </div>
            </dl>
          ) : (
            <p className="muted">{t('server.noPublications')}</p>
          )}
        </>
      )}
      <div className="actions">
        <button type="button" className="btn btn--small" aria-label={`${t('server.refresh')}: ${t('server.crl')}`} onClick={crl.reload}>
          {t('server.refresh')}
        </button>
      </div>
    </section>
  );
}

function BrokerCard() {
  const { t } = useTranslation('admin');
  const { t: tc } = useTranslation();
  const client = useStation();
  const broker = useAsync(() => client.invoke('admin.broker'), [client]);
  const b = broker.data;
  const m = b?.mosquitto;
  return (
    <section className="card" aria-labelledby="broker-title" data-testid="broker-state">
      <h3 id="broker-title">{t('server.broker')}</h3>
      <AdminError error={broker.error} forbidden={t('server.brokerForbidden')} />
      {b && m && (
        <dl className="facts facts--words">
          <div>
            <dt>{t('server.mosquitto')}</dt>
            <dd data-testid="kit-configured">{m.configured ? t('server.configured') : t('server.notConfigured')}</dd>
          </div>
          {m.configured && (
            <>
              <div>
                <dt>{t('server.address')}</dt>
                <dd className="mono">{m.host && m.port ? `${m.host}:${m.port}` : tc('common.none')}</dd>
              </div>
              <div>
                <dt>{t('server.builtAt')}</dt>
                <dd>{formatDateTime(m.builtAt)}</dd>
              </div>
              <div>
                <dt>{t('server.publishDir')}</dt>
                <dd className="mono">{m.publishDir ?? tc('common.none')}</dd>
              </div>
              <div>
                <dt>{t('server.reload')}</dt>
                <dd className="mono">{m.reload ?? tc('common.none')}</dd>
              </div>
              <div>
                <dt>{t('server.sessionControl')}</dt>
                <dd>{m.sessionControl ? tc('common.yes') : tc('common.no')}</dd>
              </div>
              <div>
                <dt>{t('server.publications')}</dt>
                <dd>
                  <Publication p={m.lastPublication} />
                </dd>
              </div>
            </>
          )}
          <div>
            <dt>{t('server.embedded')}</dt>
            <dd>{b.embedded.running ? t('server.embeddedRunning', { address: `${b.embedded.host ?? ''}:${b.embedded.port ?? ''}` }) : t('server.embeddedStopped')}</dd>
          </div>
          <div>
            <dt>{t('server.mqttClient')}</dt>
            <dd data-testid="mqtt-client">{!b.mqttClient.enabled ? t('server.mqttOff') : b.mqttClient.connected ? t('server.mqttConnected') : t('server.mqttDisconnected')}</dd>
          </div>
        </dl>
      )}
      <div className="actions">
        <button type="button" className="btn btn--small" aria-label={`${t('server.refresh')}: ${t('server.broker')}`} onClick={broker.reload}>
          {t('server.refresh')}
        </button>
      </div>
    </section>
  );
}

/** The CRL (number, validity, publication to each broker, a warning when it is near its end) and the brokers. */
export function ServerStatePanel() {
  return (
    <div className="state-list">
      <CrlCard />
      <BrokerCard />
    </div>
  );
}
