import { useTranslation } from 'react-i18next';
import type { TodayFigures } from '../../../shared/views.js';
import { formatDuration, formatNumber } from '../../components/format.js';

/** Today's figures in devices and a small per-hour bar chart (plain SVG; the text summary is what screen readers get). */
export function TodayPanel({ today }: { today: TodayFigures }) {
  const { t } = useTranslation('log');
  const max = Math.max(1, ...today.byHour.map((h) => h.succeeded + h.failed));
  const busy = today.byHour.filter((h) => h.succeeded + h.failed > 0);
  const summary = busy.length ? busy.map((h) => t('today.chartHour', { hour: h.hour, ok: formatNumber(h.succeeded), bad: formatNumber(h.failed) })).join('; ') : '—';
  const W = 24 * 12;
  const H = 60;
  return (
    <section className="card today" aria-labelledby="today-title" data-testid="today">
      <h3 id="today-title">{t('today.title')}</h3>
      <dl className="figures">
        <div>
          <dt>{t('today.provisioned')}</dt>
          <dd data-testid="today-provisioned">{formatNumber(today.provisioned)}</dd>
        </div>
        <div>
          <dt>{t('today.failed')}</dt>
          <dd data-testid="today-failed">{formatNumber(today.failed)}</dd>
        </div>
        <div>
          <dt>{t('today.skipped')}</dt>
          <dd data-testid="today-skipped">{formatNumber(today.skipped)}</dd>
        </div>
        <div>
          <dt>{t('today.median')}</dt>
          <dd data-testid="today-median" title={t('today.medianHint')}>
            {formatDuration(today.medianMs)}
          </dd>
        </div>
      </dl>
      <p className="muted" data-testid="today-jobs">
        {t('today.jobs', { count: today.jobs })} {t('today.medianHint')}
      </p>
      <svg className="chart" viewBox={`0 0 ${W} ${H + 12}`} role="img" aria-label={t('today.chart', { summary })}>
        {today.byHour.map((h) => {
          const okH = (h.succeeded / max) * H;
          const badH = (h.failed / max) * H;
          return (
            <g key={h.hour} transform={`translate(${h.hour * 12 + 1},0)`}>
              <rect className="chart__ok" x={0} y={H - okH} width={10} height={okH} />
              <rect className="chart__bad" x={0} y={H - okH - badH} width={10} height={badH} />
              {h.hour % 6 === 0 && (
                <text className="chart__label" x={0} y={H + 10}>
                  {h.hour}
                </text>
              )}
            </g>
          );
        })}
      </svg>
    </section>
  );
}
