import { useTranslation } from 'react-i18next';
import type { LogJobDetail } from '../../../shared/views.js';
import { useStepName } from '../../components/jobs.js';
import { ReprintLabelButton } from '../../components/LabelDialog.js';
import { formatDateTime, formatDuration } from '../../components/format.js';

/** One job from the log: facts, then each step with its start, duration and a bar on a shared time axis. */
export function JobDetail({ job }: { job: LogJobDetail }) {
  const { t } = useTranslation('log');
  const { t: tc } = useTranslation();
  const stepName = useStepName();
  const t0 = Date.parse(job.startedAt);
  // The time axis ends with the job, or with its last finished step while it still runs.
  const ends = job.steps.map((s) => (s.endedAt ? Date.parse(s.endedAt) : t0));
  const total = Math.max(1, (job.endedAt ? Date.parse(job.endedAt) : Math.max(t0, ...ends)) - t0);
  return (
    <section className="card detail" aria-labelledby="job-detail-title" data-testid="job-detail">
      <h3 id="job-detail-title">{t('detail.title', { id: job.id })}</h3>
      <ReprintLabelButton job={job} />
      <dl className="facts">
        <div>
          <dt>{t('columns.result')}</dt>
          <dd>{t(`results.${job.result}`)}</dd>
        </div>
        <div>
          <dt>{t('columns.mac')}</dt>
          <dd className="mono">{job.mac ?? tc('common.none')}</dd>
        </div>
        <div>
          <dt>{t('columns.code')}</dt>
          <dd className="mono">{job.gatewayCode ?? tc('common.none')}</dd>
        </div>
        <div>
          <dt>{t('columns.serial')}</dt>
          <dd className="mono">{job.certificateSerial ?? tc('common.none')}</dd>
        </div>
        <div>
          <dt>{t('detail.expires')}</dt>
          <dd>{formatDateTime(job.certificateExpiresAt)}</dd>
        </div>
        <div>
          <dt>{t('detail.firmware')}</dt>
          <dd>{job.firmware ? `${job.firmware.name} ${job.firmware.version} (sha256 ${job.firmware.sha256.slice(0, 12)}…)` : tc('common.none')}</dd>
        </div>
        <div>
          <dt>{t('columns.operator')}</dt>
          <dd>{job.operator}</dd>
        </div>
        <div>
          <dt>{t('detail.station')}</dt>
          <dd>{job.stationId}</dd>
        </div>
        <div>
          <dt>{t('detail.server')}</dt>
          <dd>{job.server ?? tc('common.none')}</dd>
        </div>
        <div>
          <dt>{t('columns.duration')}</dt>
          <dd>{formatDuration(job.durationMs)}</dd>
        </div>
        {job.errorCode && (
          <div>
            <dt>{t('detail.error')}</dt>
            <dd>
              {job.errorCode}: {job.errorMessage}
            </dd>
          </div>
        )}
      </dl>
      <h4>{t('detail.steps')}</h4>
      <table className="table">
        <thead>
          <tr>
            <th scope="col">{t('detail.step')}</th>
            <th scope="col">{t('detail.status')}</th>
            <th scope="col">{t('detail.start')}</th>
            <th scope="col">{t('detail.duration')}</th>
            <th scope="col" className="col-bar">
              <span className="visually-hidden">{t('detail.duration')}</span>
            </th>
            <th scope="col">{t('detail.detail')}</th>
          </tr>
        </thead>
        <tbody>
          {job.steps.map((s) => {
            const start = s.startedAt ? Date.parse(s.startedAt) : null;
            const end = s.endedAt ? Date.parse(s.endedAt) : null;
            const ms = start !== null && end !== null ? end - start : null;
            return (
              <tr key={s.name} className={s.status === 'failed' ? 'row--bad' : ''}>
                <td>{stepName(s.name)}</td>
                <td>{tc(`stepStatus.${s.status}`)}</td>
                <td>{start !== null ? `+${formatDuration(start - t0)}` : tc('common.none')}</td>
                <td>{formatDuration(ms)}</td>
                <td className="col-bar" aria-hidden="true">
                  {start !== null && ms !== null && (
                    <span className="timebar" style={{ marginLeft: `${((start - t0) / total) * 100}%`, width: `${Math.max(0.5, (ms / total) * 100)}%` }} />
                  )}
                </td>
                <td>{s.detail ?? ''}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </section>
  );
}
