import { useTranslation } from 'react-i18next';
import { ERROR_TEXT, type JobError } from '../../shared/errors.js';
import type { IpcErrorBody } from '../../shared/ipc-errors.js';
import { RemoteError } from '../app/client.js';
import { useStepName } from './step-name.js';
import { useLocalText } from './local-text.js';

function bodyOf(err: unknown): IpcErrorBody {
  if (err instanceof RemoteError) return err.body;
  if (err instanceof Error) return { code: 'INTERNAL', message: err.message };
  return { code: 'INTERNAL', message: String(err) };
}

/**
 * An error the user can act on: a translated headline by code, the core's specific message (it names
 * the port, host or field), and what to do.
 */
export function ErrorNotice({ error, onDismiss }: { error: unknown; onDismiss?: () => void }) {
  const { t, i18n } = useTranslation();
  if (error === undefined || error === null) return null;
  const body = bodyOf(error);
  const headKey = `errors.code.${body.code}`;
  const head = i18n.exists(headKey) ? t(headKey as 'errors.code.INTERNAL') : t('errors.title');
  const hintKey = `errors.hint.${body.code}`;
  const hint = body.hint && i18n.language === 'en' ? body.hint : i18n.exists(hintKey) ? t(hintKey as 'errors.hint.INTERNAL') : body.hint;
  return (
    <div className="notice notice--error" role="alert">
      <strong>{head}</strong>
      {body.message && body.message !== head && <p className="notice__detail">{body.message}</p>}
      {hint && <p>{t('errors.whatToDo', { hint })}</p>}
      {onDismiss && (
        <button type="button" className="btn btn--small" onClick={onDismiss}>
          {t('actions.close')}
        </button>
      )}
    </div>
  );
}

export function JobErrorView({ error }: { error: JobError }) {
  const { t, i18n } = useTranslation();
  const local = useLocalText();
  const stepName = useStepName();
  // `where` starts with the step's name ("connect: …"): said in words, the rest as the job gave it.
  const whereText = (where: string): string => {
    const [step, ...rest] = where.split(': ');
    return [stepName(step!), ...rest].join(': ');
  };
  // A code newer than this renderer's dictionaries still gets the core's English text.
  const known = i18n.exists(`errors.code.${error.code}`);
  const head = known ? t(`errors.code.${error.code}` as 'errors.code.INTERNAL') : (ERROR_TEXT[error.code]?.message ?? error.code);
  const message = local(error.text, error.message);
  const hint = error.hintText
    ? local(error.hintText, error.hint ?? '')
    : (i18n.language === 'en' || !known) && error.hint
      ? error.hint
      : known
        ? t(`errors.hint.${error.code}` as 'errors.hint.INTERNAL')
        : (ERROR_TEXT[error.code]?.hint ?? '');
  return (
    <div className="job-error" role="alert">
      <strong>{head}</strong>
      {message && message !== head && <p className="notice__detail">{message}</p>}
      {error.where && <p className="mono">{whereText(error.where)}</p>}
      {hint && <p>{t('errors.whatToDo', { hint })}</p>}
      {error.attachment && (
        <details>
          <summary>{error.attachment.label}</summary>
          <pre className="console">{error.attachment.text}</pre>
        </details>
      )}
    </div>
  );
}
