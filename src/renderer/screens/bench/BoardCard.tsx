import { memo, useState } from 'react';
import { useTranslation } from 'react-i18next';
import type { BenchDevice } from '../../../shared/views.js';
import { useStation } from '../../app/context.js';
import { useJob } from '../../app/hooks.js';
import { ErrorNotice, JobErrorView } from '../../components/ErrorNotice.js';
import { JobQuestionPanel, JobStateBadge, ProgressBar, StepList } from '../../components/jobs.js';
import { LabelDialog } from './LabelDialog.js';
import { SerialConsole } from './SerialConsole.js';

interface Props {
  device: BenchDevice;
  selected: boolean;
  onSelect: (id: string) => void;
  onProvision: (id: string) => void;
}

/** One board: identity, progress, steps, console and the actions that fit its state. */
export const BoardCard = memo(function BoardCard({ device, selected, onSelect, onProvision }: Props) {
  const { t } = useTranslation('bench');
  const { t: tc } = useTranslation();
  const client = useStation();
  const job = useJob(device.jobId);
  const [showConsole, setShowConsole] = useState(false);
  const [showLabel, setShowLabel] = useState(false);
  const [error, setError] = useState<unknown>();
  const active = job && (job.state === 'queued' || job.state === 'running' || job.state === 'waiting-input');
  const mac = job?.mac ?? device.mac;
  const chip = job?.facts?.chip ?? device.chip;
  // The rate the station picked for this port (after a step-down, the lower one).
  const baud = job?.facts?.baud;
  const act = (p: Promise<unknown>): void => {
    setError(undefined);
    p.catch(setError);
  };
  const toggleConsole = (): void => {
    const open = !showConsole;
    setShowConsole(open);
    if (!active) act(client.invoke('bench.console', { deviceId: device.id, open }));
  };
  const title = t('card.title', { port: device.path });
  return (
    <article
      className={`card board ${selected ? 'board--selected' : ''} board--${job?.state ?? 'idle'}`}
      aria-label={title}
      data-testid="board-card"
      data-port={device.path}
      data-state={job?.state ?? 'idle'}
      onClick={() => onSelect(device.id)}
    >
      <header className="board__head">
        <h3 className="mono">{device.path}</h3>
        {job ? <JobStateBadge state={job.state} /> : <span className="badge badge--idle">{t('card.idle')}</span>}
        <button type="button" className="btn btn--small btn--ghost" aria-pressed={selected} onClick={(e) => { e.stopPropagation(); onSelect(device.id); }}>
          {selected ? t('card.selected') : t('card.select')}
        </button>
      </header>
      <dl className="facts facts--inline">
        {device.bridge && (
          <div>
            <dt>{t('card.bridge')}</dt>
            <dd>{device.bridge}</dd>
          </div>
        )}
        <div>
          <dt>{t('card.chip')}</dt>
          <dd>{chip ?? tc('common.none')}</dd>
        </div>
        {baud && (
          <div>
            <dt>{t('card.speed')}</dt>
            <dd data-testid="board-speed">{t('card.baud', { rate: Number(baud) })}</dd>
          </div>
        )}
        <div>
          <dt>{t('card.mac')}</dt>
          <dd className="mono" data-testid="board-mac">{mac ?? tc('common.none')}</dd>
        </div>
        <div>
          <dt>{t('card.code')}</dt>
          <dd className="mono">{job?.gatewayCode ?? device.gatewayCode ?? t('card.noCode')}</dd>
        </div>
        {job?.certificateSerial && (
          <div>
            <dt>{t('card.serial')}</dt>
            <dd className="mono">{job.certificateSerial}</dd>
          </div>
        )}
      </dl>
      {job?.facts?.identity === 'birth' && (
        <p className="notice" data-testid="birth-note">
          {t('card.birthNote')}
        </p>
      )}
      {job && <ProgressBar value={job.progress} label={`${title}: ${tc('progress.overall')}`} />}
      {job && <StepList steps={job.steps} />}
      {job?.question && <JobQuestionPanel job={job} />}
      {job?.error && job.state === 'failed' && <JobErrorView error={job.error} />}
      <ErrorNotice error={error} onDismiss={() => setError(undefined)} />
      <div className="actions" onClick={(e) => e.stopPropagation()}>
        {!active && (
          <button
            type="button"
            className="btn btn--primary"
            onClick={() => (job && (job.state === 'failed' || job.state === 'cancelled') ? act(client.invoke('jobs.retry', { jobId: job.id })) : onProvision(device.id))}
          >
            {job?.state === 'failed' || job?.state === 'cancelled' ? t('card.retry') : job?.state === 'succeeded' ? t('card.again') : t('provisionOne')}
          </button>
        )}
        {!active && device.gatewayCode && (
          <button type="button" className="btn btn--ghost" onClick={() => act(client.invoke('bench.assignCode', { deviceId: device.id, code: null }))}>
            {t('card.clearCode')}
          </button>
        )}
        {active && (
          <button type="button" className="btn" onClick={() => act(client.invoke('jobs.cancel', { jobId: job.id }))}>
            {t('card.cancel')}
          </button>
        )}
        {job?.state === 'succeeded' && (
          <button type="button" className="btn" onClick={() => setShowLabel(true)}>
            {t('card.printLabel')}
          </button>
        )}
        <button type="button" className="btn btn--ghost" aria-expanded={showConsole} onClick={toggleConsole}>
          {showConsole ? t('card.consoleClose') : t('card.consoleOpen')}
        </button>
      </div>
      {showConsole && <SerialConsole deviceId={device.id} jobId={device.jobId} label={`${t('card.console')} ${device.path}`} />}
      {showLabel && job && <LabelDialog job={job} onClose={() => setShowLabel(false)} />}
    </article>
  );
});
