import { useTranslation } from 'react-i18next';
import { ERROR_TEXT, type JobError } from '../../shared/errors.js';
import type { IpcErrorBody } from '../../shared/ipc-errors.js';
import { RemoteError } from '../app/client.js';
import type { LocalText } from '../../shared/local-text.js';
import { useDynamicT, useLocalText } from '../i18n/dynamic.js';
import { useStepName } from './step-name.js';

function bodyOf(err: unknown): IpcErrorBody {
  if (err instanceof RemoteError) return err.body;
  if (err instanceof Error) return { code: 'INTERNAL', message: err.message };
  return { code: 'INTERNAL', message: String(err) };
}

/**
 * How an error reads, in the UI's language: a headline (the job's own sentence in this language's
 * words, else the code's), what to do, and the core's own English text and code only under
 * "Details" — never a code in front of a sentence.
 */
function useErrorText(): (e: { code: string; message: string; hint?: string | undefined; text?: LocalText | undefined; hintText?: LocalText | undefined }) => {
  head: string;
  /** The core's own sentence, shown as it is (English UI), or under Details (another language). */
  detail: string | null;
  detailShown: boolean;
  hint: string | null;
} {
  const { has, tr, language } = useDynamicT();
  const local = useLocalText();
  return (e) => {
    const known = has(`errors.code.${e.code}`);
    const codeHead = known ? tr(`errors.code.${e.code}`) : (ERROR_TEXT[e.code as keyof typeof ERROR_TEXT]?.message ?? tr('errors.title'));
    const worded = e.text && has(e.text.key) ? local(e.text, e.message) : null;
    const english = !language || language === 'en';
    const head = worded ?? codeHead;
    const hint =
      e.hintText && has(e.hintText.key) ? local(e.hintText, e.hint ?? '') : english && e.hint ? e.hint : has(`errors.hint.${e.code}`) ? tr(`errors.hint.${e.code}`) : (e.hint ?? null);
    const detail = e.message && e.message !== head ? e.message : null;
    return { head, detail, detailShown: english && !worded, hint };
  };
}

function Details({ code, text }: { code: string; text: string | null }) {
  const { t } = useTranslation();
  return (
    <details className="notice__more">
      <summary>{t('actions.details')}</summary>
      {text && <p className="notice__detail">{text}</p>}
      <p className="muted">{t('errors.codeIs', { code })}</p>
    </details>
  );
}

/** An error the user can act on, from a request the UI made. */
export function ErrorNotice({ error, onDismiss }: { error: unknown; onDismiss?: () => void }) {
  const { t } = useTranslation();
  const text = useErrorText();
  if (error === undefined || error === null) return null;
  const body = bodyOf(error);
  // Field problems are shown at their fields; here only what the form as a whole should know.
  const { head, detail, detailShown, hint } = text({ code: body.code, message: body.message, hint: body.hint });
  return (
    <div className="notice notice--error" role="alert">
      <strong>{head}</strong>
      {detail && detailShown && <p className="notice__detail">{detail}</p>}
      {hint && <p>{t('errors.whatToDo', { hint })}</p>}
      <Details code={body.code} text={detailShown ? null : detail} />
      {onDismiss && (
        <button type="button" className="btn btn--small" onClick={onDismiss}>
          {t('actions.close')}
        </button>
      )}
    </div>
  );
}

/** A job's failure (or why it was skipped): what happened and what to do, evidence under Details. */
export function JobErrorView({ error, tone = 'error' }: { error: JobError; tone?: 'error' | 'info' }) {
  const { t } = useTranslation();
  const text = useErrorText();
  const stepName = useStepName();
  const { head, detail, detailShown, hint } = text(error);
  // `where` starts with the step's name ("connect: …"): said in words, the rest as the job gave it.
  const whereText = (where: string): string => {
    const [step, ...rest] = where.split(': ');
    return [stepName(step!), ...rest].join(': ');
  };
  return (
    <div className={`job-error ${tone === 'info' ? 'job-error--info' : ''}`} role={tone === 'error' ? 'alert' : 'status'}>
      <strong>{head}</strong>
      {detail && detailShown && <p className="notice__detail">{detail}</p>}
      {hint && <p>{t('errors.whatToDo', { hint })}</p>}
      {((detail && !detailShown) || error.where || error.attachment) && (
        <details className="notice__more">
          <summary>{t('actions.details')}</summary>
          {detail && !detailShown && <p className="notice__detail">{detail}</p>}
          {error.where && <p className="mono">{t('errors.where', { where: whereText(error.where) })}</p>}
          <p className="muted">{t('errors.codeIs', { code: error.code })}</p>
          {error.attachment && (
            <>
              <p>{error.attachment.label}</p>
              <pre className="console" tabIndex={0}>
                {error.attachment.text}
              </pre>
            </>
          )}
        </details>
      )}
    </div>
  );
}
