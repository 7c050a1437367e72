import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { useStation } from '../../app/context.js';
import { useSettings } from '../../app/settings-context.js';
import { ErrorNotice } from '../../components/ErrorNotice.js';
import { CheckboxField } from '../../components/form.js';

/**
 * Zero-touch open enrolment of the bundled server (Settings → Server, bundled mode only). The shown
 * state is the running server's config; applying writes it and restarts the bundled server.
 */
export function OpenEnrolmentForm() {
  const { t } = useTranslation('settings');
  const client = useStation();
  const { settings, setSettings } = useSettings();
  const current = settings.server.bundled?.openEnrolment ?? null;
  // What the user ticked; until then (and after applying) the server's own state.
  const [choice, setChoice] = useState<boolean>();
  const on = choice ?? current ?? false;
  const [status, setStatus] = useState('');
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);

  if (settings.server.mode !== 'bundled' || current === null) return null;

  const submit = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    setStatus('');
    setError(undefined);
    setBusy(true);
    setStatus(t('server.openEnrolment.restarting'));
    try {
      const view = await client.invoke('bundled.setOpenEnrolment', { on });
      setSettings(view);
      setChoice(undefined);
      setStatus(view.server.bundled?.openEnrolment ? t('server.openEnrolment.nowOn') : t('server.openEnrolment.nowOff'));
    } catch (err) {
      setStatus('');
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form id="open-enrolment-form" className="card form" onSubmit={(e) => void submit(e)} noValidate aria-labelledby="open-enrolment-title">
      <h3 id="open-enrolment-title">{t('server.openEnrolment.title')}</h3>
      <CheckboxField name="openEnrolment" label={t('server.openEnrolment.label')} checked={on} onChange={setChoice} hint={t('server.openEnrolment.risk')} />
      <ErrorNotice error={error} />
      <div className="actions">
        <button type="submit" className="btn btn--primary" disabled={busy || on === current}>
          {t('server.openEnrolment.apply')}
        </button>
        <span role="status" data-testid="open-enrolment-status">
          {status}
        </span>
      </div>
    </form>
  );
}
