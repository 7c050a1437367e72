import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { FieldProbeInputSchema, FieldProvisionInputSchema } from '../../../shared/inputs.js';
import type { FieldMemoryView, PiTarget } from '../../../shared/views.js';
import { useStation } from '../../app/context.js';
import { Dialog } from '../../components/Dialog.js';
import { ErrorNotice } from '../../components/ErrorNotice.js';
import { CheckboxField, FormSummary, SelectField, TextArea, TextField, useFieldErrors } from '../../components/form.js';
import { SuggestField } from './SuggestField.js';

type Method = 'password' | 'key' | 'keyFile' | 'agent';
export type CredentialsMode = 'provision' | 'probe';

/**
 * Username + password / pasted key / key file / ssh-agent (+ sudo password and gateway code when
 * provisioning), and "wait for the Pi to boot". Starts with what the station remembers — the user
 * last used on this Pi (or at all), the sign-in method, the key file's path, the boot wait — never a
 * password, key or passphrase.
 */
export function CredentialsDialog({
  target,
  profile,
  mode,
  remembered,
  keyFiles,
  onClose,
  onStarted,
}: {
  target: PiTarget;
  profile: string;
  mode: CredentialsMode;
  remembered: FieldMemoryView | undefined;
  keyFiles: string[];
  onClose: () => void;
  onStarted: (jobId: string) => void;
}) {
  const { t } = useTranslation('field');
  const client = useStation();
  const recent = remembered?.recentHosts.find((h) => h.host === target.host && h.port === target.port);
  const [username, setUsername] = useState(recent?.username ?? remembered?.username ?? 'pi');
  const [method, setMethod] = useState<Method>(remembered?.authMethod ?? 'password');
  const [password, setPassword] = useState('');
  const [keyPem, setKeyPem] = useState('');
  const [keyPath, setKeyPath] = useState(remembered?.keyFile ?? keyFiles[0] ?? '');
  const [passphrase, setPassphrase] = useState('');
  const [sudo, setSudo] = useState('');
  const [code, setCode] = useState('');
  const [waitForBoot, setWaitForBoot] = useState(remembered?.waitForBoot ?? false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const { errors, check, fromError, hasErrors } = useFieldErrors('creds-form');

  const auth =
    method === 'password'
      ? { method, password }
      : method === 'key'
        ? { method, privateKeyPem: keyPem, ...(passphrase ? { passphrase } : {}) }
        : method === 'keyFile'
          ? { method, path: keyPath, ...(passphrase ? { passphrase } : {}) }
          : { method };
  const submit = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    setError(undefined);
    const login = { targetId: target.id, profile, username, auth, waitForBoot };
    try {
      if (mode === 'probe') {
        const req = check(FieldProbeInputSchema, login);
        if (!req) return;
        setBusy(true);
        onStarted((await client.invoke('field.probe', req)).jobId);
      } else {
        const req = check(FieldProvisionInputSchema, { ...login, ...(sudo ? { sudoPassword: sudo } : {}), ...(code.trim() ? { gatewayCode: code } : {}) });
        if (!req) return;
        setBusy(true);
        onStarted((await client.invoke('field.provision', req)).jobId);
      }
    } catch (err) {
      if (!fromError(err)) setError(err);
    } finally {
      setBusy(false);
    }
  };
  const loadKey = async (file: File | undefined): Promise<void> => {
    if (file && file.size < 64 * 1024) setKeyPem(await file.text());
  };
  const host = target.name ?? target.host;
  return (
    <Dialog open title={mode === 'probe' ? t('creds.titleProbe', { host }) : t('creds.title', { host })} onClose={onClose}>
      <form id="creds-form" onSubmit={(e) => void submit(e)} noValidate data-mode={mode}>
        <FormSummary show={hasErrors} />
        <p className="muted" data-testid="creds-notice">
          {t('creds.notStored')}
        </p>
        <TextField name="username" label={t('creds.username')} value={username} onChange={setUsername} error={errors.username} autoComplete="username" autoFocus />
        <SelectField<Method>
          name="auth.method"
          label={t('creds.method')}
          value={method}
          onChange={setMethod}
          options={(['password', 'keyFile', 'key', 'agent'] as const).map((m) => ({ value: m, label: t(`creds.methods.${m}`) }))}
          error={errors['auth.method']}
        />
        {method === 'password' && <TextField name="auth.password" type="password" label={t('creds.password')} value={password} onChange={setPassword} error={errors['auth.password']} autoComplete="current-password" />}
        {method === 'keyFile' && (
          <SuggestField
            name="auth.path"
            label={t('creds.keyPath')}
            value={keyPath}
            onChange={setKeyPath}
            suggestions={keyFiles.map((f) => ({ value: f }))}
            error={errors['auth.path']}
            hint={t('creds.keyPathHint')}
            placeholder="/home/…/.ssh/id_ed25519"
          />
        )}
        {method === 'key' && (
          <>
            <TextArea name="auth.privateKeyPem" label={t('creds.key')} value={keyPem} onChange={setKeyPem} error={errors['auth.privateKeyPem']} hint={t('creds.keyHint')} rows={5} />
            <label className="btn btn--ghost file-btn">
              {t('creds.keyFile')}
              <input type="file" className="visually-hidden" onChange={(e) => void loadKey(e.target.files?.[0])} />
            </label>
          </>
        )}
        {(method === 'key' || method === 'keyFile') && (
          <TextField name="auth.passphrase" type="password" label={t('creds.passphrase')} value={passphrase} onChange={setPassphrase} error={errors['auth.passphrase']} />
        )}
        {mode === 'provision' && (
          <>
            <TextField name="sudoPassword" type="password" label={t('creds.sudo')} value={sudo} onChange={setSudo} error={errors.sudoPassword} />
            <TextField name="gatewayCode" label={t('creds.code')} value={code} onChange={setCode} error={errors.gatewayCode} hint={t('creds.codeHint')} />
          </>
        )}
        <CheckboxField name="waitForBoot" label={t('creds.waitForBoot')} checked={waitForBoot} onChange={setWaitForBoot} hint={t('creds.waitForBootHint')} />
        <ErrorNotice error={error} />
        <div className="actions">
          <button type="submit" className="btn btn--primary" disabled={busy}>
            {mode === 'probe' ? t('creds.startProbe') : t('creds.start')}
          </button>
          <button type="button" className="btn" onClick={onClose}>
            {t('actions.cancel', { ns: 'common' })}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
