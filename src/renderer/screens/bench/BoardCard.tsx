import { memo, useState } from 'react';
import { useTranslation } from 'react-i18next';
import type { JobSnapshot } from '../../../shared/jobs.js';
import type { BenchDevice, BoardRegistration } from '../../../shared/views.js';
import { useStation } from '../../app/context.js';
import { useJob } from '../../app/hooks.js';
import { ErrorNotice, JobErrorView } from '../../components/ErrorNotice.js';
import { returnFocusHome } from '../../components/focus.js';
import { formatDate, formatPercent } from '../../components/format.js';
import { JobQuestionPanel, ProgressBar, StepList, useStepName } from '../../components/jobs.js';
import { useDynamicT } from '../../i18n/dynamic.js';
import { SlotName } from './SlotName.js';

const ACTIVE = new Set(['queued', 'running', 'waiting-input']);

interface Props {
  device: BenchDevice;
  /** "Hub A · 3", or "Slot 3" until the operator names it. */
  slotLabel: string;
  selected: boolean;
  /** The code the last scan put on this board (highlighted until the next scan). */
  justScanned: string | null;
  /** Whether the board's question takes focus when it appears (not when all boards are answered at once). */
  questionFocus: boolean;
  onSelect: (id: string) => void;
  onProvision: (id: string) => void;
  onConsole: (id: string) => void;
  onLabel: (job: JobSnapshot) => void;
}

/** What the card says about the MAC when no job of this session is shown (after "Clear finished"). */
function RegistrationLine({ r }: { r: BoardRegistration }) {
  const { t } = useTranslation('bench');
  const { has, tr } = useDynamicT();
  if (r.state === 'provisioned') {
    return (
      <p className="board__registration board__registration--provisioned" data-testid="board-registration" data-registration="provisioned">
        {t(r.source === 'log' ? 'card.provisionedLog' : 'card.provisioned', { serial: r.serial ?? '—', at: formatDate(r.at) })}
      </p>
    );
  }
  if (r.state === 'revoked') {
    const word = (r.reason ?? 'unspecified').split(/[\s:(]/)[0] ?? 'unspecified';
    const reason = has(`bench:revokeReason.${word}`) ? tr(`bench:revokeReason.${word}`) : (r.reason ?? '');
    return (
      <p className="board__registration board__registration--revoked" data-testid="board-registration" data-registration="revoked">
        {t('card.revoked', { at: formatDate(r.at), reason })}
      </p>
    );
  }
  return (
    <p className="board__registration muted" data-testid="board-registration" data-registration="new">
      {t('card.fresh')}
    </p>
  );
}

/**
 * One slot of the hub: its name, a large state readable from a metre away, the gateway code and what
 * the technician acts on. Engineering detail (port, bridge, speed, steps with their details) is
 * behind "Details". Every button names the slot for screen readers; after an action focus goes back
 * to the scan field.
 */
export const BoardCard = memo(function BoardCard({ device, slotLabel, selected, justScanned, questionFocus, onSelect, onProvision, onConsole, onLabel }: Props) {
  const { t } = useTranslation('bench');
  const client = useStation();
  const stepName = useStepName();
  const job = useJob(device.jobId);
  const [details, setDetails] = useState(false);
  const [naming, setNaming] = useState(false);
  const [error, setError] = useState<unknown>();
  const active = !!job && ACTIVE.has(job.state);
  const state = job?.state ?? 'idle';
  const mac = job?.mac ?? device.mac;
  const code = active || !job ? (device.gatewayCode ?? job?.gatewayCode) : (job.gatewayCode ?? device.gatewayCode);
  const chip = job?.facts?.chip ?? device.chip;
  const baud = job?.facts?.baud;
  const running = job?.steps.find((s) => s.status === 'running');
  const act = (p: Promise<unknown>): void => {
    setError(undefined);
    p.then(() => returnFocusHome(), setError);
  };
  const forBoard = <span className="visually-hidden"> — {slotLabel}</span>;
  const stateText = t(`card.state.${state}`);
  return (
    <article
      className={`card board ${selected ? 'board--selected' : ''} board--${state}`}
      aria-label={`${slotLabel}: ${stateText}`}
      data-testid="board-card"
      data-port={device.path}
      data-slot={device.slot.key}
      data-state={state}
      aria-current={selected ? 'true' : undefined}
    >
      <header className="board__head">
        <h3 className="board__name" data-testid="slot-name">
          {slotLabel}
        </h3>
        <button
          type="button"
          className="btn btn--small btn--ghost"
          aria-pressed={selected}
          onClick={() => {
            onSelect(device.id);
            returnFocusHome();
          }}
        >
          {selected ? t('card.selected') : t('card.select')}
          {forBoard}
        </button>
      </header>
      <div className={`board__state board__state--${state}`} data-testid="board-state" aria-hidden="true">
        <span className="board__state-text">{stateText}</span>
        {job && active && <span className="board__state-pct">{formatPercent(job.progress)}</span>}
      </div>
      {running && <p className="board__step">{stepName(running.name)}</p>}
      {naming && <SlotName slotKey={device.slot.key} name={device.slot.name} slotLabel={slotLabel} onDone={() => setNaming(false)} />}
      <dl className="facts facts--inline">
        <div className={justScanned ? 'fact--scanned' : undefined}>
          <dt>
            {t('card.code')}
            {justScanned && <span className="badge badge--scanned">{t('card.justScanned')}</span>}
          </dt>
          <dd className="mono board__code" data-testid="board-code">
            {code ?? t('card.noCode')}
          </dd>
        </div>
        <div>
          <dt>{t('card.mac')}</dt>
          <dd className="mono" data-testid="board-mac">
            {mac ?? '—'}
          </dd>
        </div>
      </dl>
      {job?.facts?.identity === 'birth' && (
        <p className="notice" data-testid="birth-note">
          {t('card.birthNote')}
        </p>
      )}
      {!job && device.registration && <RegistrationLine r={device.registration} />}
      {job && active && <ProgressBar value={job.progress} label={`${slotLabel}: ${t('card.state.running')}`} />}
      {job?.question && <JobQuestionPanel job={job} takeFocus={questionFocus} label={slotLabel} />}
      {job?.error && (job.state === 'failed' || job.state === 'skipped') && <JobErrorView error={job.error} tone={job.state === 'skipped' ? 'info' : 'error'} />}
      <ErrorNotice error={error} onDismiss={() => setError(undefined)} />
      <div className="actions">
        {!active && (
          <button
            type="button"
            className="btn btn--primary"
            onClick={() => {
              if (job && (job.state === 'failed' || job.state === 'cancelled')) act(client.invoke('jobs.retry', { jobId: job.id }));
              else {
                onProvision(device.id);
                returnFocusHome();
              }
            }}
          >
            {job?.state === 'failed' || job?.state === 'cancelled' ? t('card.retry') : job?.state === 'succeeded' || job?.state === 'skipped' ? t('card.again') : t('card.provision')}
            {forBoard}
          </button>
        )}
        {active && (
          <button type="button" className="btn" onClick={() => act(client.invoke('jobs.cancel', { jobId: job.id }))}>
            {t('card.cancel')}
            {forBoard}
          </button>
        )}
        {!active && device.gatewayCode && (
          <button type="button" className="btn btn--ghost" onClick={() => act(client.invoke('bench.assignCode', { deviceId: device.id, code: null }))}>
            {t('card.clearCode')}
            {forBoard}
          </button>
        )}
        {job?.state === 'succeeded' && (
          <button type="button" className="btn" onClick={() => onLabel(job)}>
            {t('card.printLabel')}
            {forBoard}
          </button>
        )}
      </div>
      <div className="actions actions--minor">
        <button type="button" className="btn btn--small btn--ghost" onClick={() => onConsole(device.id)}>
          {t('card.consoleOpen')}
          {forBoard}
        </button>
        <button type="button" className="btn btn--small btn--ghost" onClick={() => setNaming(true)} aria-expanded={naming}>
          {device.slot.name ? t('card.rename') : t('card.name')}
          {forBoard}
        </button>
        <button
          type="button"
          className="btn btn--small btn--ghost"
          aria-expanded={details}
          onClick={() => {
            setDetails((d) => !d);
            returnFocusHome();
          }}
        >
          {details ? t('card.hideDetails') : t('card.details')}
          {forBoard}
        </button>
      </div>
      {details && (
        <div className="board__details" data-testid="board-details">
          <dl className="facts facts--inline">
            <div>
              <dt>{t('card.port')}</dt>
              <dd className="mono">{device.path}</dd>
            </div>
            {device.slot.location && (
              <div>
                <dt>{t('card.location')}</dt>
                <dd className="mono">{device.slot.location}</dd>
              </div>
            )}
            {device.bridge && (
              <div>
                <dt>{t('card.bridge')}</dt>
                <dd>{device.bridge}</dd>
              </div>
            )}
            {chip && (
              <div>
                <dt>{t('card.chip')}</dt>
                <dd>{chip}</dd>
              </div>
            )}
            {baud && (
              <div>
                <dt>{t('card.speed')}</dt>
                <dd data-testid="board-speed">{t('card.baud', { rate: Number(baud) })}</dd>
              </div>
            )}
            {job?.certificateSerial && (
              <div>
                <dt>{t('card.serial')}</dt>
                <dd className="mono">{job.certificateSerial}</dd>
              </div>
            )}
          </dl>
          {job && (
            <>
              <h4>{t('card.steps')}</h4>
              <StepList steps={job.steps} />
            </>
          )}
        </div>
      )}
    </article>
  );
});
