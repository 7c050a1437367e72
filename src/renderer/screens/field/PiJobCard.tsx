import { useEffect, useRef, useState } from 'react';
import { useTranslation } from 'react-i18next';
import type { PiTarget } from '../../../shared/views.js';
import { RemoteError } from '../../app/client.js';
import { useStation } from '../../app/context.js';
import { useJob, useJobLog, usePresence } from '../../app/hooks.js';
import { ErrorNotice, JobErrorView } from '../../components/ErrorNotice.js';
import { formatDateTime } from '../../components/format.js';
import { JobQuestionPanel, JobStateBadge, ProgressBar, StepList } from '../../components/jobs.js';
import { useLocalText } from '../../i18n/dynamic.js';
import { announce } from '../../components/Announcer.js';

const FACT_ORDER = ['model', 'os', 'arch', 'hostname', 'interface', 'ipv4', 'python', 'pahoMqtt', 'pymodbus', 'missingPackages', 'sudo', 'systemd', 'agent', 'service', 'installedSerial', 'installedAt', 'hostKey'] as const;
type FactName = (typeof FACT_ORDER)[number];

/** What a probe found, in words: empty values say "missing" or "not a Raspberry Pi", codes become phrases. */
function ProbeFacts({ facts }: { facts: Record<string, string> }) {
  const { t } = useTranslation('field');
  const value = (k: FactName, v: string): string => {
    if (k === 'model') return v || t('probe.notPi');
    if (k === 'python' || k === 'pahoMqtt' || k === 'pymodbus') return v || t('probe.missing');
    if (k === 'missingPackages') return v || t('probe.none');
    if (k === 'systemd') return v === 'yes' ? t('probe.yes') : t('probe.no');
    if (k === 'agent') return v === 'installed' ? t('probe.agentInstalled') : t('probe.agentNone');
    if (k === 'sudo' && (v === 'root' || v === 'nopasswd' || v === 'password' || v === 'none')) return t(`probe.sudo.${v}`);
    if (k === 'installedAt') return formatDateTime(v);
    return v || '—';
  };
  return (
    <section aria-labelledby="probe-facts-title" data-testid="probe-facts">
      <h4 id="probe-facts-title">{t('probe.title')}</h4>
      <dl className="facts">
        {FACT_ORDER.filter((k) => k in facts).map((k) => (
          <div key={k} data-fact={k}>
            <dt>{t(`probe.facts.${k}`)}</dt>
            <dd className={k === 'model' || k === 'os' || k === 'agent' || k === 'sudo' || k === 'systemd' ? undefined : 'mono'}>{value(k, facts[k]!)}</dd>
          </div>
        ))}
      </dl>
    </section>
  );
}

/**
 * One Field job's card: its steps, the question it asks (focused and scrolled into view when it
 * appears), the outcome in words, a probe's findings, the Pi's live online state once provisioned,
 * and the SSH step log. A failure on a changed host key offers to forget the pinned key.
 */
export function PiJobCard({
  jobId,
  targets,
  onRetried,
  onCredentialsNeeded,
  onForgetHostKey,
}: {
  jobId: string;
  targets: PiTarget[];
  onRetried: (newJobId: string) => void;
  onCredentialsNeeded: () => void;
  onForgetHostKey: (target: PiTarget) => void;
}) {
  const { t } = useTranslation('field');
  const client = useStation();
  const job = useJob(jobId);
  const lines = useJobLog(jobId);
  const presence = usePresence();
  const local = useLocalText();
  const [error, setError] = useState<unknown>();
  const { t: tc } = useTranslation();
  // The end of a job is said to screen-reader users wherever the focus is (the shared live region).
  const lastState = useRef(job?.state);
  useEffect(() => {
    const before = lastState.current;
    lastState.current = job?.state;
    if (!job || !before || before === job.state || !['succeeded', 'failed', 'skipped', 'cancelled'].includes(job.state)) return;
    const who = targets.find((x) => x.jobId === jobId)?.name ?? job.target;
    const what = job.kind === 'pi-probe' ? t('job.titleProbe', { target: who }) : t('job.title', { target: who });
    announce(`${what}: ${tc(`jobState.${job.state}`)}`, job.state === 'failed' ? 'assertive' : 'polite');
  }, [job, jobId, targets, t, tc]);
  if (!job) return null;
  // The Pi this job ran on: the one showing it, else the one at its address (an earlier job of that Pi).
  const target = targets.find((x) => x.jobId === jobId) ?? targets.find((x) => `${x.host}:${x.port}` === job.target);
  const active = job.state === 'queued' || job.state === 'running' || job.state === 'waiting-input';
  const name = target?.name ?? job.target;
  const title = job.kind === 'pi-probe' ? t('job.titleProbe', { target: name }) : t('job.title', { target: name });
  const online = job.kind === 'pi' && job.state === 'succeeded' && job.mac ? presence[job.mac] : undefined;
  const retry = (): void => {
    setError(undefined);
    client.invoke('jobs.retry', { jobId }).then(
      (r) => onRetried(r.jobId),
      (err: unknown) => {
        setError(err);
        // The login given for this job is gone (the station core restarted): ask for it again.
        if (err instanceof RemoteError && err.body.code === 'CREDENTIALS_NEEDED') onCredentialsNeeded();
      },
    );
  };
  return (
    <section className="card pi-job" aria-label={title} data-testid="pi-job" data-job-id={job.id} data-kind={job.kind} data-state={job.state}>
      <header className="board__head">
        <h3>{title}</h3>
        <JobStateBadge state={job.state} />
      </header>
      <ProgressBar value={job.progress} label={title} />
      <StepList steps={job.steps} />
      {/* A new question takes the focus (its password field, else its first button) and is scrolled into view. */}
      {job.question && <JobQuestionPanel job={job} label={name} />}
      {job.error && job.state === 'failed' && <JobErrorView error={job.error} />}
      {/* A stop is not a failure: what was left as it was, said plainly. */}
      {job.error && job.state === 'skipped' && (
        <p className="notice" role="status" data-testid="pi-skipped">
          {local(job.error.text, job.error.message)}
        </p>
      )}
      {job.kind === 'pi-probe' && job.facts && job.state === 'succeeded' && <ProbeFacts facts={job.facts} />}
      {online !== undefined && (
        <p className={`presence presence--${online ? 'online' : 'offline'}`} role="status" data-testid="pi-online" data-online={online}>
          <span className={`dot ${online ? 'dot--connected' : ''}`} aria-hidden="true" /> {online ? t('job.online') : t('job.offline')}
        </p>
      )}
      <ErrorNotice error={error} />
      <div className="actions">
        {active ? (
          <button type="button" className="btn" aria-label={t('job.cancelFor', { target: name })} onClick={() => client.invoke('jobs.cancel', { jobId }).catch(setError)}>
            {t('job.cancel')}
          </button>
        ) : (
          job.state !== 'succeeded' && (
            <button type="button" className="btn" aria-label={t('job.retryFor', { target: name })} onClick={retry}>
              {t('job.retry')}
            </button>
          )
        )}
        {job.state === 'failed' && job.error?.code === 'SSH_HOST_KEY_CHANGED' && target?.hostKey && (
          <button type="button" className="btn btn--danger" aria-label={t('actions.forgetFor', { name })} onClick={() => onForgetHostKey(target)}>
            {t('actions.forget')}
          </button>
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
