import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { FieldProvisionInputSchema } from '../../../shared/inputs.js';
import type { PiTarget } from '../../../shared/views.js';
import { useStation } from '../../app/context.js';
import { Dialog } from '../../components/Dialog.js';
import { ErrorNotice } from '../../components/ErrorNotice.js';
import { FormSummary, SelectField, TextArea, TextField, useFieldErrors } from '../../components/form.js';

type Method = 'password' | 'key' | 'agent';

/** Username + password/key/agent (+ sudo password, gateway code). Nothing here is stored. */
export function CredentialsDialog({ target, profile, onClose, onStarted }: { target: PiTarget; profile: string; onClose: () => void; onStarted: (jobId: string) => void }) {
  const { t } = useTranslation('field');
  const client = useStation();
  const [username, setUsername] = useState('pi');
  const [method, setMethod] = useState<Method>('password');
  const [password, setPassword] = useState('');
  const [keyPem, setKeyPem] = useState('');
  const [passphrase, setPassphrase] = useState('');
  const [sudo, setSudo] = useState('');
  const [code, setCode] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const { errors, check, fromError, hasErrors } = useFieldErrors('creds-form');

  const auth = method === 'password' ? { method, password } : method === 'key' ? { method, privateKeyPem: keyPem, ...(passphrase ? { passphrase } : {}) } : { method };
  const submit = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    setError(undefined);
    const req = check(FieldProvisionInputSchema, {
      targetId: target.id,
      profile,
      username,
      auth,
      ...(sudo ? { sudoPassword: sudo } : {}),
      ...(code.trim() ? { gatewayCode: code } : {}),
    });
    if (!req) return;
    setBusy(true);
    try {
      const r = await client.invoke('field.provision', req);
      onStarted(r.jobId);
    } catch (err) {
      if (!fromError(err)) setError(err);
    } finally {
      setBusy(false);
    }
  };
  const loadKey = async (file: File | undefined): Promise<void> => {
    if (file && file.size < 64 * 1024) setKeyPem(await file.text());
  };
  return (
    <Dialog open title={t('creds.title', { host: target.name ?? target.host })} onClose={onClose}>
      <form id="creds-form" onSubmit={(e) => void submit(e)} noValidate>
        <FormSummary show={hasErrors} />
        <p className="muted">{t('creds.notStored')}</p>
        <TextField name="username" label={t('creds.username')} value={username} onChange={setUsername} error={errors.username} autoComplete="username" />
        <SelectField<Method>
          name="auth.method"
          label={t('creds.method')}
          value={method}
          onChange={setMethod}
          options={(['password', 'key', 'agent'] as const).map((m) => ({ value: m, label: t(`creds.methods.${m}`) }))}
          error={errors['auth.method']}
        />
        {method === 'password' && <TextField name="auth.password" type="password" label={t('creds.password')} value={password} onChange={setPassword} error={errors['auth.password']} autoComplete="current-password" />}
        {method === 'key' && (
          <>
            <TextArea name="auth.privateKeyPem" label={t('creds.key')} value={keyPem} onChange={setKeyPem} error={errors['auth.privateKeyPem']} hint={t('creds.keyHint')} rows={5} />
            <label className="btn btn--ghost file-btn">
              {t('creds.keyFile')}
              <input type="file" className="visually-hidden" onChange={(e) => void loadKey(e.target.files?.[0])} />
            </label>
            <TextField name="auth.passphrase" type="password" label={t('creds.passphrase')} value={passphrase} onChange={setPassphrase} error={errors['auth.passphrase']} />
          </>
        )}
        <TextField name="sudoPassword" type="password" label={t('creds.sudo')} value={sudo} onChange={setSudo} error={errors.sudoPassword} />
        <TextField name="gatewayCode" label={t('creds.code')} value={code} onChange={setCode} error={errors.gatewayCode} hint={t('creds.codeHint')} />
        <ErrorNotice error={error} />
        <div className="actions">
          <button type="submit" className="btn btn--primary" disabled={busy}>
            {t('creds.start')}
          </button>
          <button type="button" className="btn" onClick={onClose}>
            {t('actions.cancel', { ns: 'common' })}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
