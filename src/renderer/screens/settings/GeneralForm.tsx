import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { GeneralSettingsInputSchema } from '../../../shared/inputs.js';
import type { LanguagePref } from '../../../shared/views.js';
import { useStation } from '../../app/context.js';
import { useSettings } from '../../app/settings-context.js';
import { ErrorNotice } from '../../components/ErrorNotice.js';
import { FormSummary, SelectField, TextField, useFieldErrors } from '../../components/form.js';

export function GeneralForm() {
  const { t } = useTranslation('settings');
  const { t: tc } = useTranslation();
  const client = useStation();
  const { settings, info, setSettings } = useSettings();
  const [operator, setOperator] = useState(settings.operator);
  const [language, setLanguage] = useState<LanguagePref>(settings.language);
  const [stationId, setStationId] = useState(settings.stationId);
  const [status, setStatus] = useState('');
  const [error, setError] = useState<unknown>();
  const { errors, check, fromError, hasErrors } = useFieldErrors('general-form');
  const submit = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    setStatus('');
    setError(undefined);
    const req = check(GeneralSettingsInputSchema, { operator, language, stationId });
    if (!req) return;
    try {
      setSettings(await client.invoke('settings.update', req));
      setStatus(tc('actions.saved'));
    } catch (err) {
      if (!fromError(err)) setError(err);
    }
  };
  return (
    <form id="general-form" className="card form" onSubmit={(e) => void submit(e)} noValidate>
      <FormSummary show={hasErrors} />
      <TextField name="operator" label={t('general.operator')} hint={t('general.operatorHint')} value={operator} onChange={setOperator} error={errors.operator} autoComplete="name" />
      <SelectField<LanguagePref>
        name="language"
        label={t('general.language')}
        value={language}
        onChange={setLanguage}
        options={(['auto', 'en', 'pt-BR'] as const).map((l) => ({ value: l, label: t(`general.languages.${l}`) }))}
        error={errors.language}
      />
      <TextField name="stationId" label={t('general.stationId')} hint={t('general.stationIdHint')} value={stationId} onChange={setStationId} error={errors.stationId} />
      <p className="muted">{t('general.secrets', { where: t(`general.secretStores.${info.secretStore}`) })}</p>
      <p className="muted">{t('general.dataDir', { dir: info.dataDir })}</p>
      <ErrorNotice error={error} />
      <div className="actions">
        <button type="submit" className="btn btn--primary">
          {tc('actions.save')}
        </button>
        <span role="status">{status}</span>
      </div>
    </form>
  );
}
