import { useEffect, useRef } from 'react';
import { useTranslation } from 'react-i18next';
import { ERROR_TEXT, type ErrorCode } from '../../../shared/errors.js';
import type { LogJobDetail } from '../../../shared/views.js';
import { useStepName } from '../../components/jobs.js';
import { ReprintLabelButton } from '../../components/LabelDialog.js';
import { useLocalText } from '../../i18n/dynamic.js';
import { formatDateTime, formatDuration, formatTime } from '../../components/format.js';

/** A failed or stopped job's reason in the UI language: headline by code, the job's own words, what to do; the code itself last. */
function JobOutcome({ job }: { job: LogJobDetail }) {
  const { t } = useTranslation('log');
  const { t: tc, i18n } = useTranslation();
  const local = useLocalText();
  if (!job.errorCode || (job.result !== 'failed' && job.result !== 'skipped' && job.result !== 'cancelled')) return null;
  const known = i18n.exists(`errors.code.${job.errorCode}`);
  const head = known ? tc(`errors.code.${job.errorCode}` as 'errors.code.INTERNAL') : (ERROR_TEXT[job.errorCode as ErrorCode]?.message ?? '');
  const message = job.errorMessage ? local(job.errorText, job.errorMessage) : '';
  // The job's specific hint in English, or translated; else the code's general hint in the UI language.
  const hint = job.errorHintText ? local(job.errorHintText, job.errorHint ?? '') : i18n.language === 'en' || !known ? (job.errorHint ?? '') : tc(`errors.hint.${job.errorCode}` as 'errors.hint.INTERNAL');
  return (
    <section className={job.result === 'failed' ? 'job-error' : 'job-outcome'} aria-labelledby="job-outcome-title">
      <h4 id="job-outcome-title">{job.result === 'failed' ? t('detail.error') : t('detail.stopped')}</h4>
      <p>
        <strong>{head}</strong>
      </p>
      {message && message !== head && <p className="notice__detail">{message}</p>}
      {hint && <p>{t('detail.hint', { hint })}</p>}
      <p className="muted small">{t('detail.errorCode', { code: job.errorCode })}</p>
    </section>
  );
}

/**
 * One job from the log: facts, the reason it failed or stopped, each step with its start, working
 * time (waiting for the operator apart) and a bar on a shared time axis, then the job's own log and
 * the evidence kept with it (the board's boot log).
 */
export function JobDetail({ job, onClose }: { job: LogJobDetail; onClose: () => void }) {
  const { t } = useTranslation('log');
  const { t: tc } = useTranslation();
  const stepName = useStepName();
  const local = useLocalText();
  const heading = useRef<HTMLHeadingElement>(null);
  // The detail takes focus when it opens, so keyboard and screen-reader users land on it.
  useEffect(() => heading.current?.focus(), [job.id]);
  const t0 = Date.parse(job.startedAt);
  // The time axis ends with the job, or with its last finished step while it still runs.
  const ends = job.steps.map((s) => (s.endedAt ? Date.parse(s.endedAt) : t0));
  const total = Math.max(1, (job.endedAt ? Date.parse(job.endedAt) : Math.max(t0, ...ends)) - t0);
  const none = tc('common.none');
  const facts: Array<[string, string, boolean?]> = [
    [t('detail.result'), t(`results.${job.result}`)],
    [t('detail.mac'), job.mac ?? none, true],
    [t('detail.code'), job.gatewayCode ?? none, true],
    [t('detail.serial'), job.certificateSerial ?? none, true],
    [t('detail.expires'), formatDateTime(job.certificateExpiresAt)],
    [t('detail.firmware'), job.firmware ? `${job.firmware.name} ${job.firmware.version} (sha256 ${job.firmware.sha256.slice(0, 12)}…)` : none],
    [t('detail.operator'), job.operator || none],
    [t('detail.station'), job.stationId],
    [t('detail.target'), job.target, true],
    [t('detail.server'), job.server ?? none],
    [t('detail.duration'), formatDuration(job.durationMs)],
    [t('detail.waited'), formatDuration(job.waitedMs)],
  ];
  return (
    <section className="card detail" aria-labelledby="job-detail-title" data-testid="job-detail" data-job-id={job.id}>
      <header className="detail__head">
        <div>
          <h3 id="job-detail-title" ref={heading} tabIndex={-1}>
            {t('detail.title')}
          </h3>
          <p className="muted">{t('detail.subtitle', { kind: t(`kinds.${job.kind}`), target: job.target, when: formatDateTime(job.startedAt) })}</p>
        </div>
        <div className="actions">
          <ReprintLabelButton job={job} />
          <button type="button" className="btn" onClick={onClose}>
            {t('detail.close')}
          </button>
        </div>
      </header>
      <dl className="facts">
        {facts.map(([k, v, mono]) => (
          <div key={k}>
            <dt>{k}</dt>
            <dd className={mono ? 'mono' : undefined}>{v}</dd>
          </div>
        ))}
      </dl>
      <JobOutcome job={job} />
      <h4>{t('detail.steps')}</h4>
      <table className="table table--steps">
        <thead>
          <tr>
            <th scope="col">{t('detail.step')}</th>
            <th scope="col">{t('detail.status')}</th>
            <th scope="col">{t('detail.start')}</th>
            <th scope="col">{t('detail.duration')}</th>
            <th scope="col">{t('detail.waited')}</th>
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
                <td>{start !== null ? `+${formatDuration(start - t0)}` : none}</td>
                <td>{formatDuration(ms === null ? null : Math.max(0, ms - s.waitedMs))}</td>
                <td>{s.waitedMs ? formatDuration(s.waitedMs) : ''}</td>
                <td className="col-bar" aria-hidden="true">
                  {start !== null && ms !== null && (
                    <span className="timebar" style={{ marginLeft: `${((start - t0) / total) * 100}%`, width: `${Math.max(0.5, (ms / total) * 100)}%` }} />
                  )}
                </td>
                <td className="step-detail">{s.detail ? local(s.detailText, s.detail) : ''}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <details data-testid="job-lines">
        <summary>{t('detail.jobLog', { count: job.lines.length + job.linesOmitted })}</summary>
        {job.linesOmitted > 0 && <p className="muted">{t('detail.jobLogOmitted', { count: job.linesOmitted })}</p>}
        {job.lines.length === 0 ? (
          <p>{t('detail.noLines')}</p>
        ) : (
          <pre className="console" tabIndex={0}>
            {job.lines.map((l) => `${formatTime(l.at)} ${l.level === 'info' ? '' : `${l.level.toUpperCase()} `}${l.text}`).join('\n')}
          </pre>
        )}
      </details>
      {job.attachment && (
        <details data-testid="job-attachment">
          <summary>
            {t('detail.attachment')}: {job.attachment.label}
          </summary>
          <pre className="console" tabIndex={0}>
            {job.attachment.text}
          </pre>
        </details>
      )}
    </section>
  );
}
