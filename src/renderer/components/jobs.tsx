import { useEffect, useRef, useState } from 'react';
import { useTranslation } from 'react-i18next';
import type { JobQuestion, JobSnapshot, StepSnapshot } from '../../shared/jobs.js';
import { useStation } from '../app/context.js';
import { useDynamicT, useLocalText } from '../i18n/dynamic.js';
import { ErrorNotice } from './ErrorNotice.js';
import { focusSoon, returnFocusHome } from './focus.js';
import { formatDate, formatDuration, formatPercent } from './format.js';
import { useStepName } from './step-name.js';

export { useStepName } from './step-name.js';

export function ProgressBar({ value, label }: { value: number; label: string }) {
  const pct = Math.round(Math.max(0, Math.min(1, value)) * 100);
  return (
    <div className="progress">
      <progress max={100} value={pct} aria-label={label} />
      <span className="progress__pct" aria-hidden="true">
        {formatPercent(pct / 100)}
      </span>
    </div>
  );
}

function duration(step: StepSnapshot): string | null {
  if (!step.startedAt) return null;
  const end = step.endedAt ? Date.parse(step.endedAt) : Date.now();
  // Working time: waiting for the operator's answer is not the step's.
  return formatDuration(Math.max(0, end - Date.parse(step.startedAt) - (step.waitedMs ?? 0)));
}

const ICON: Record<StepSnapshot['status'], string> = { pending: '○', running: '◔', done: '✓', failed: '✕', skipped: '–' };

export function StepList({ steps, details = true }: { steps: StepSnapshot[]; details?: boolean }) {
  const { t } = useTranslation();
  const stepName = useStepName();
  const local = useLocalText();
  return (
    <ol className="steps">
      {steps.map((s) => {
        const detail = details && s.detail ? local(s.detailText, s.detail) : undefined;
        return (
          <li key={s.name} className={`step step--${s.status}`}>
            <span className="step__icon" aria-hidden="true">
              {ICON[s.status]}
            </span>
            <span className="step__name">{stepName(s.name)}</span>
            <span className="visually-hidden">{t(`stepStatus.${s.status}`)}</span>
            {s.status === 'running' && s.progress !== undefined && <span className="step__pct">{formatPercent(s.progress)}</span>}
            {(s.status === 'done' || s.status === 'failed') && <span className="step__time">{duration(s)}</span>}
            {detail && <span className="step__detail">{detail}</span>}
          </li>
        );
      })}
    </ol>
  );
}

export function JobStateBadge({ state }: { state: JobSnapshot['state'] }) {
  const { t } = useTranslation();
  return <span className={`badge badge--${state}`}>{t(`jobState.${state}`)}</span>;
}

/** Facts of a question whose value is a date, shown as one. */
const DATE_FACTS = new Set(['expiresAt', 'issuedAt']);

/**
 * The question in the UI's language: the job's own sentence when it sent one this renderer knows,
 * else worded from its kind and facts; the core's English text otherwise.
 */
export function useQuestionText(): (q: JobQuestion) => { title: string; text: string } {
  const { t, i18n } = useTranslation();
  const local = useLocalText();
  return (q) => {
    const f = q.facts ?? {};
    const own = q.text && i18n.exists(q.text.key) ? local(q.text, q.message) : null;
    switch (q.kind) {
      case 'reprovision':
        return { title: t('question.reprovisionTitle'), text: own ?? (f.mac && f.serial ? t('question.reprovisionText', { mac: f.mac, serial: f.serial, expires: formatDate(f.expiresAt) }) : q.message) };
      case 'manual-boot':
        return { title: t('question.manualBootTitle'), text: t('question.manualBootText') };
      case 'host-key':
        return { title: t('question.hostKeyTitle'), text: own ?? q.message };
      case 'sudo-password':
        return { title: t('question.sudoTitle'), text: own ?? q.message };
      default:
        return { title: t('question.title'), text: own ?? q.message };
    }
  };
}

/**
 * The job's open question (host key, re-provision, sudo password, manual boot), answered inline. It
 * takes focus when it appears (`takeFocus`), so keyboard and screen-reader users land on it; once
 * answered, focus goes back to the screen's home control (focus.ts).
 */
export function JobQuestionPanel({ job, takeFocus = true, label }: { job: JobSnapshot; takeFocus?: boolean; label?: string }) {
  const { t } = useTranslation();
  const { has, tr } = useDynamicT();
  const client = useStation();
  const questionText = useQuestionText();
  const [value, setValue] = useState('');
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const ref = useRef<HTMLElement>(null);
  const q = job.question;
  const qid = q?.id;
  useEffect(() => {
    if (!qid || !takeFocus) return;
    focusSoon(() => {
      ref.current?.scrollIntoView({ block: 'nearest' });
      return ref.current?.querySelector<HTMLElement>('input, button') ?? null;
    });
  }, [qid, takeFocus]);
  if (!q) return null;
  const { title, text } = questionText(q);
  const choiceLabel = (c: string): string => (has(`question.choice.${c}`) ? tr(`question.choice.${c}`) : c);
  const factLabel = (k: string): string => (has(`question.fact.${k}`) ? tr(`question.fact.${k}`) : k);
  const answer = async (choice: string): Promise<void> => {
    setBusy(true);
    setError(undefined);
    try {
      // A secret question's value goes beside the choice, straight to the asking step.
      await client.invoke('jobs.answer', { jobId: job.id, questionId: q.id, choice, ...(q.secret && value ? { secret: value } : {}) });
      setValue('');
      returnFocusHome();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const facts = Object.entries(q.facts ?? {}).filter(([k]) => k !== 'gatewayId');
  return (
    <section ref={ref} className="question" role="group" aria-label={label ? `${title}: ${label}` : title} data-focus-keep data-question-id={q.id} data-question-kind={q.kind}>
      <h4>{title}</h4>
      <p>{text}</p>
      {q.kind === 'host-key' && <p className="question__warn">{t('question.hostKeyWarn')}</p>}
      {facts.length > 0 && (
        <dl className="facts">
          {facts.map(([k, v]) => (
            <div key={k}>
              <dt>{factLabel(k)}</dt>
              <dd className={DATE_FACTS.has(k) ? undefined : 'mono'}>{DATE_FACTS.has(k) ? formatDate(v) : v}</dd>
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
            {label && <span className="visually-hidden"> ({label})</span>}
          </button>
        ))}
      </div>
      <ErrorNotice error={error} />
    </section>
  );
}
