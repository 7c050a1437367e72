import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import type { PresenceHistoryView } from '../../../shared/views.js';
import { useStation } from '../../app/context.js';
import { useAsync } from '../../app/hooks.js';
import { ErrorNotice } from '../../components/ErrorNotice.js';
import { formatDateTime } from '../../components/format.js';
import { SelectField } from '../../components/form.js';
import { formatNumber, formatSpan } from './interim.js';
import { stretchesOf } from './presence-stretches.js';

type Window = '1' | '7' | '30';
const WIDTH = 600;
const HEIGHT = 22;

/** Online/offline over the window as one bar (plain SVG), with the uptime in words for everyone. */
function Timeline({ history, label }: { history: PresenceHistoryView; label: string }) {
  const { t } = useTranslation('gateways');
  const start = Date.parse(history.since);
  const span = Math.max(1, Date.parse(history.until) - start);
  const x = (ms: number): number => ((ms - start) / span) * WIDTH;
  const stretches = stretchesOf(history);
  return (
    <figure className="presence">
      <svg className="presence__bar" viewBox={`0 0 ${WIDTH} ${HEIGHT}`} preserveAspectRatio="none" role="img" aria-label={label} data-stretches={stretches.length}>
        {stretches.map((s) => (
          <rect
            key={s.from}
            x={x(s.from)}
            width={Math.max(0.5, x(s.to) - x(s.from))}
            y={0}
            height={HEIGHT}
            className={s.online === null ? 'presence__unknown' : s.online ? 'presence__online' : 'presence__offline'}
            data-online={String(s.online)}
          />
        ))}
      </svg>
      <figcaption className="presence__axis">
        <span>{formatDateTime(history.since)}</span>
        <span className="presence__legend" aria-hidden="true">
          <span className="presence__key presence__online" /> {t('presence.legendOnline')} <span className="presence__key presence__offline" /> {t('presence.legendOffline')}{' '}
          <span className="presence__key presence__unknown" /> {t('presence.legendUnknown')}
        </span>
        <span>{formatDateTime(history.until)}</span>
      </figcaption>
    </figure>
  );
}

/** A gateway's online/offline history from the server: a timeline, its uptime, and the latest changes. */
export function PresencePanel({ gatewayId }: { gatewayId: number }) {
  const { t } = useTranslation('gateways');
  const client = useStation();
  const [days, setDays] = useState<Window>('7');
  const { data, error } = useAsync(() => client.invoke('gateways.presence', { id: gatewayId, days: Number(days) as 1 | 7 | 30 }), [client, gatewayId, days]);
  // From the seconds (the server's percentage has two decimals): a short history in a long window is
  // a small share, shown with two significant digits so it does not read as 0.
  const share = data && data.uptimePercent !== null && data.windowSeconds > 0 ? data.onlineSeconds / data.windowSeconds : null;
  const percent = share === null ? null : formatNumber(share, share > 0 && share < 0.01 ? { style: 'percent', maximumSignificantDigits: 2 } : { style: 'percent', maximumFractionDigits: 1 });
  const changes = data ? [...data.transitions].reverse().slice(0, 10) : [];
  return (
    <section aria-labelledby="gw-presence-title" data-testid="gateway-presence">
      <h4 id="gw-presence-title">{t('presence.title')}</h4>
      <SelectField<Window> name="presenceWindow" label={t('presence.window')} value={days} onChange={setDays} options={(['1', '7', '30'] as const).map((d) => ({ value: d, label: t(`presence.windows.${d}`) }))} className="field--inline" />
      <ErrorNotice error={error} />
      {data && (
        <>
          <Timeline
            history={data}
            label={t('presence.chart', { from: formatDateTime(data.since), to: formatDateTime(data.until), percent: percent ?? t('common.unknown', { ns: 'common' }) })}
          />
          <p data-testid="presence-uptime">
            {percent === null
              ? t('presence.uptimeUnknown')
              : t('presence.uptime', { percent, online: formatSpan(data.onlineSeconds), window: t(`presence.windowsIn.${days}`) })}
          </p>
          <h5>{t('presence.changes')}</h5>
          {changes.length === 0 ? (
            <p className="muted">{t('presence.noChanges')}</p>
          ) : (
            <ul className="presence__changes" data-testid="presence-changes">
              {changes.map((c) => (
                <li key={`${c.at}-${String(c.online)}`}>
                  <time dateTime={c.at}>{formatDateTime(c.at)}</time> — {c.online ? t('presence.wentOnline') : t('presence.wentOffline')}
                </li>
              ))}
            </ul>
          )}
          {data.truncated && <p className="muted">{t('presence.truncated')}</p>}
        </>
      )}
    </section>
  );
}
