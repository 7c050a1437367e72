import { useMemo, useState } from 'react';
import { useTranslation } from 'react-i18next';
import type { PiTarget } from '../../../shared/views.js';
import { RemoteError } from '../../app/client.js';
import { useStation } from '../../app/context.js';
import { useAsync, useJob, useJobLog, useTargets } from '../../app/hooks.js';
import { useSettings } from '../../app/settings-context.js';
import { ErrorNotice, JobErrorView } from '../../components/ErrorNotice.js';
import { JobQuestionPanel, JobStateBadge, ProgressBar, StepList } from '../../components/jobs.js';
import { AddHostForm } from './AddHostForm.js';
import { CredentialsDialog } from './CredentialsDialog.js';

function PiJob({ jobId, onRetried, onCredentialsNeeded }: { jobId: string; onRetried: (newJobId: string) => void; onCredentialsNeeded: () => void }) {
  const { t } = useTranslation('field');
  const client = useStation();
  const job = useJob(jobId);
  const lines = useJobLog(jobId);
  const [error, setError] = useState<unknown>();
  if (!job) return null;
  const active = job.state === 'queued' || job.state === 'running' || job.state === 'waiting-input';
  return (
    <section className="card pi-job" aria-label={t('job.title', { target: job.target })} data-testid="pi-job" data-job-id={job.id} data-state={job.state}>
      <header className="board__head">
        <h3>{t('job.title', { target: job.target })}</h3>
        <JobStateBadge state={job.state} />
      </header>
      <ProgressBar value={job.progress} label={t('job.title', { target: job.target })} />
      <StepList steps={job.steps} />
      {job.question && <JobQuestionPanel job={job} />}
      {job.error && job.state === 'failed' && <JobErrorView error={job.error} />}
      <ErrorNotice error={error} />
      <div className="actions">
        {active ? (
          <button type="button" className="btn" onClick={() => client.invoke('jobs.cancel', { jobId }).catch(setError)}>
            {t('job.cancel')}
          </button>
        ) : (
          job.state !== 'succeeded' && (
            <button
              type="button"
              className="btn"
              onClick={() =>
                client.invoke('jobs.retry', { jobId }).then(
                  (r) => onRetried(r.jobId),
                  (err: unknown) => {
                    setError(err);
                    // The login given for this job is gone (the station core restarted): ask for it again.
                    if (err instanceof RemoteError && err.body.code === 'CREDENTIALS_NEEDED') onCredentialsNeeded();
                  },
                )
              }
            >
              {t('job.retry')}
            </button>
          )
        )}
      </div>
      <details open={active}>
        <summary>{t('job.log')}</summary>
        <pre className="console" tabIndex={0}>
          {lines.join('\n')}
        </pre>
      </details>
    </section>
  );
}

function TargetRow({ target, onProvision, disabled }: { target: PiTarget; onProvision: () => void; disabled: boolean }) {
  const { t } = useTranslation('field');
  const client = useStation();
  const [error, setError] = useState<unknown>();
  return (
    <li className="card target" data-testid="pi-target" data-host={target.host}>
      <div className="target__main">
        <strong>{target.name ?? target.host}</strong>
        <span className="mono">
          {target.host}:{target.port}
        </span>
        <span className="muted">{t(`source.${target.source}`)}</span>
        {target.model && (
          <span>
            {t('model')}: {target.model}
          </span>
        )}
        {target.mac && <span className="mono">{target.mac}</span>}
      </div>
      <div className="actions">
        <button type="button" className="btn btn--primary" onClick={onProvision} disabled={disabled}>
          {t('provision')}
        </button>
        {target.source === 'manual' && (
          <button type="button" className="btn btn--ghost" onClick={() => client.invoke('field.removeHost', { targetId: target.id }).catch(setError)}>
            {t('remove')}
          </button>
        )}
      </div>
      <ErrorNotice error={error} />
    </li>
  );
}

/** The field installer's screen: discovered + hand-entered Pis, credentials, host key, progress, SSH log. */
export default function FieldScreen() {
  const { t } = useTranslation('field');
  const client = useStation();
  const targets = useTargets();
  const { profiles, settings } = useSettings();
  const state = useAsync(() => client.invoke('field.state'), [client]);
  const [profile, setProfile] = useState(settings.activeProfile ?? profiles[0]?.name ?? '');
  const [creds, setCreds] = useState<PiTarget | null>(null);
  const [shownJobs, setShownJobs] = useState<string[]>([]);
  const chosen = profiles.some((p) => p.name === profile) ? profile : (profiles[0]?.name ?? '');
  const jobIds = useMemo(() => [...new Set([...shownJobs, ...targets.map((x) => x.jobId).filter((x): x is string => !!x)])], [shownJobs, targets]);

  return (
    <section aria-labelledby="field-title" className="screen">
      <div className="screen__head">
        <h2 id="field-title">{t('title')}</h2>
        <p className="muted">{t('intro')}</p>
      </div>
      {profiles.length === 0 ? (
        <p className="notice">{t('noProfiles')}</p>
      ) : (
        <label className="field field--inline">
          {t('profile')}
          <select value={chosen} onChange={(e) => setProfile(e.target.value)} data-testid="field-profile">
            {profiles.map((p) => (
              <option key={p.name} value={p.name}>
                {p.name}
              </option>
            ))}
          </select>
        </label>
      )}
      <h3>{t('discovered')}</h3>
      <p className="muted" aria-live="polite">
        {state.data?.discovery === 'unavailable' ? t('discoveryUnavailable') : t('discoveryRunning')}
      </p>
      {targets.length === 0 ? (
        <p>{t('none')}</p>
      ) : (
        <ul className="target-list">
          {targets.map((x) => (
            <TargetRow key={x.id} target={x} disabled={!chosen} onProvision={() => setCreds(x)} />
          ))}
        </ul>
      )}
      <AddHostForm />
      {jobIds.map((id) => (
        // The retry takes the failed attempt's place (it stays in the Log).
        <PiJob
          key={id}
          jobId={id}
          onRetried={(next) => setShownJobs((s) => [...new Set([next, ...s.filter((x) => x !== id)])])}
          onCredentialsNeeded={() => setCreds(targets.find((x) => x.jobId === id) ?? null)}
        />
      ))}
      {creds && (
        <CredentialsDialog
          target={creds}
          profile={chosen}
          onClose={() => setCreds(null)}
          onStarted={(jobId) => {
            setCreds(null);
            setShownJobs((s) => [jobId, ...s.filter((x) => x !== jobId)]);
          }}
        />
      )}
    </section>
  );
}
