import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import type { GatewayTelemetryView, TelemetrySeriesView } from '../../../shared/views.js';
import { useStation } from '../../app/context.js';
import { ErrorNotice } from '../../components/ErrorNotice.js';
import { formatDateTime, formatNumber } from '../../components/format.js';
import { Sparkline } from './Sparkline.js';

const number = (v: number): string => formatNumber(v, { maximumFractionDigits: 3 });

/** The gateway's latest readings from the server: per register, the newest value and a small chart. */
export function TelemetryPanel({ gatewayId }: { gatewayId: number }) {
  const { t } = useTranslation('gateways');
  const client = useStation();
  const [data, setData] = useState<GatewayTelemetryView>();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  // Mounted per gateway (keyed by its id), so the first load needs no reset.
  useEffect(() => {
    client.invoke('gateways.telemetry', { id: gatewayId }).then(setData, setError);
  }, [client, gatewayId]);
  const refresh = async (): Promise<void> => {
    setBusy(true);
    setError(undefined);
    try {
      setData(await client.invoke('gateways.telemetry', { id: gatewayId }));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const name = (s: TelemetrySeriesView): string =>
    s.slaveId === null ? t('readings.unaddressed') : t('readings.register', { slave: s.slaveId, register: s.register ?? '—' });
  return (
    <section aria-labelledby="gw-readings-title" data-testid="gateway-readings">
      <h4 id="gw-readings-title">{t('readings.title')}</h4>
      <ErrorNotice error={error} />
      {!data && !error && <p className="muted">{t('readings.loading')}</p>}
      {data && data.series.length === 0 && <p className="muted">{t('readings.none', { since: formatDateTime(data.since) })}</p>}
      {data && data.series.length > 0 && (
        <table className="table">
          <thead>
            <tr>
              <th scope="col">{t('readings.series')}</th>
              <th scope="col">{t('readings.latest')}</th>
              <th scope="col">{t('readings.at')}</th>
              <th scope="col">{t('readings.trend')}</th>
            </tr>
          </thead>
          <tbody>
            {data.series.map((s) => {
              const last = s.points.at(-1)!;
              const values = s.points.map((p) => p.value);
              return (
                <tr key={`${s.slaveId}/${s.register}/${s.unit}`} data-testid="reading-row">
                  <td>{name(s)}</td>
                  <td className="mono" data-testid="reading-value">
                    {number(last.value)} {s.unit}
                  </td>
                  <td>{formatDateTime(last.at)}</td>
                  <td>
                    <Sparkline
                      values={values}
                      label={t('readings.chart', { count: values.length, name: name(s), min: number(Math.min(...values)), max: number(Math.max(...values)), unit: s.unit })}
                    />
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      <div className="actions">
        <button type="button" className="btn" disabled={busy} onClick={() => void refresh()}>
          {t('readings.refresh')}
        </button>
      </div>
    </section>
  );
}
