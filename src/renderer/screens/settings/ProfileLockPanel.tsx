import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { ProfileLockInputSchema } from '../../../shared/inputs.js';
import { useStation } from '../../app/context.js';
import { useSettings } from '../../app/settings-context.js';
import { ErrorNotice } from '../../components/ErrorNotice.js';
import { FormSummary, TextField, useFieldErrors } from '../../components/form.js';

/** An admin locks the profiles with a PIN (the first lock sets it); operators then only use them. */
export function ProfileLockPanel() {
  const { t } = useTranslation('settings');
  const client = useStation();
  const { settings, setSettings } = useSettings();
  const lock = settings.profileLock;
  const [pin, setPin] = useState('');
  const [status, setStatus] = useState('');
  const [error, setError] = useState<unknown>();
  const { errors, check, fromError, hasErrors } = useFieldErrors('profile-lock-form');
  const submit = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    setStatus('');
    setError(undefined);
    const req = check(ProfileLockInputSchema, { locked: !lock.locked, pin });
    if (!req) return;
    try {
      const view = await client.invoke('profiles.setLock', req);
      setSettings(view);
      setPin('');
      setStatus(view.profileLock.locked ? t('lock.nowLocked') : t('lock.nowUnlocked'));
    } catch (err) {
      if (!fromError(err)) setError(err);
    }
  };
  return (
    <form id="profile-lock-form" className="card form" onSubmit={(e) => void submit(e)} noValidate aria-labelledby="profile-lock-title">
      <h3 id="profile-lock-title">{t('lock.title')}</h3>
      <p data-testid="profile-lock-state">{lock.locked ? t('lock.locked') : t('lock.unlocked')}</p>
      <FormSummary show={hasErrors} />
      <TextField
        name="pin"
        type="password"
        inputMode="numeric"
        autoComplete="off"
        label={t('lock.pin')}
        hint={lock.pinSet ? t('lock.pinHint') : t('lock.pinFirst')}
        value={pin}
        onChange={setPin}
        error={errors.pin}
        className="field--narrow"
      />
      <ErrorNotice error={error} />
      <div className="actions">
        <button type="submit" className="btn btn--primary">
          {lock.locked ? t('lock.unlock') : t('lock.lock')}
        </button>
        <span role="status">{status}</span>
      </div>
    </form>
  );
}
