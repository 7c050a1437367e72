import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import type { JobSnapshot, StepSnapshot } from '../../shared/jobs.js';
import { useStation } from '../app/context.js';
import { ErrorNotice } from './ErrorNotice.js';
import { useStepName } from './step-name.js';
import { formatDateTime } from './format.js';
import { useLocalText } from './local-text.js';

export { useStepName } from './step-name.js';

export function ProgressBar({ value, label }: { value: number; label: string }) {
  const pct = Math.round(Math.max(0, Math.min(1, value)) * 100);
  return (
    <div className="progress">
      <progress max={100} value={pct} aria-label={label} />
      <span className="progress__pct" aria-hidden="true">
        {pct}%
      </span>
    </div>
  );
}

function duration(step: StepSnapshot): string | null {
  if (!step.startedAt) return null;
  const end = step.endedAt ? Date.parse(step.endedAt) : Date.now();
  // Working time: waiting for the operator's answer is not the step's.
  const ms = Math.max(0, end - Date.parse(step.startedAt) - (step.waitedMs ?? 0));
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

const ICON: Record<StepSnapshot['status'], string> = { pending: '○', running: '◔', done: '✓', failed: '✕', skipped: '–' };

export function StepList({ steps }: { steps: StepSnapshot[] }) {
  const { t } = useTranslation();
  const stepName = useStepName();
  const local = useLocalText();
  return (
    <ol className="steps">
      {steps.map((s) => (
        <li key={s.name} className={`step step--${s.status}`}>
          <span className="step__icon" aria-hidden="true">
            {ICON[s.status]}
          </span>
          <span className="step__name">{stepName(s.name)}</span>
          <span className="visually-hidden">{t(`stepStatus.${s.status}`)}</span>
          {s.status === 'running' && s.progress !== undefined && <span className="step__pct">{Math.round(s.progress * 100)}%</span>}
          {(s.status === 'done' || s.status === 'failed') && <span className="step__time">{duration(s)}</span>}
          {s.detail && <span className="step__detail">{local(s.detailText, s.detail)}</span>}
        </li>
      ))}
    </ol>
  );
}

export function JobStateBadge({ state }: { state: JobSnapshot['state'] }) {
  const { t } = useTranslation();
  return <span className={`badge badge--${state}`}>{t(`jobState.${state}`)}</span>;
}

/** The job's open question (host key, re-provision, sudo password, manual boot), answered inline. */
export function JobQuestionPanel({ job }: { job: JobSnapshot }) {
  const { t, i18n } = useTranslation();
  const local = useLocalText();
  const client = useStation();
  const [value, setValue] = useState('');
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const q = job.question;
  if (!q) return null;
  const title =
    q.kind === 'host-key' ? t('question.hostKeyTitle') : q.kind === 'reprovision' ? t('question.reprovisionTitle') : q.kind === 'sudo-password' ? t('question.sudoTitle') : q.kind === 'manual-boot' ? t('question.manualBootTitle') : t('question.title');
  const choiceLabel = (c: string): string => (i18n.exists(`question.choice.${c}`) ? t(`question.choice.${c}` as 'question.choice.yes') : c);
  const answer = async (choice: string): Promise<void> => {
    setBusy(true);
    setError(undefined);
    try {
      // A secret question's value goes beside the choice, straight to the asking step.
      await client.invoke('jobs.answer', { jobId: job.id, questionId: q.id, choice, ...(q.secret && value ? { secret: value } : {}) });
      setValue('');
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="question" role="alertdialog" aria-label={title} tabIndex={-1} data-question={q.id}>
      <h4>{title}</h4>
      <p>{local(q.text, q.message)}</p>
      {q.kind === 'host-key' && <p className="question__warn">{t('question.hostKeyWarn')}</p>}
      {q.facts && (
        <dl className="facts">
          {Object.entries(q.facts).map(([k, v]) => (
            <div key={k}>
              {/* Facts are named in words; a fact this renderer does not know yet keeps its key. */}
              <dt>{i18n.exists(`question.factNames.${k}`) ? t(`question.factNames.${k}` as 'question.factNames.host') : k}</dt>
              <dd className="mono">{k === 'expiresAt' ? formatDateTime(v) : v}</dd>
            </div>
          ))}
        </dl>
      )}
      {q.secret && (
        <label className="field">
          {t('question.passwordLabel')}
          <input type="password" name="secret" value={value} autoComplete="off" onChange={(e) => setValue(e.target.value)} />
        </label>
      )}
      <div className="actions">
        {q.choices.map((c, i) => (
          <button key={c} type="button" className={`btn ${i === 0 ? 'btn--primary' : ''}`} disabled={busy} onClick={() => void answer(c)}>
            {choiceLabel(c)}
          </button>
        ))}
      </div>
      <ErrorNotice error={error} />
    </section>
  );
}
