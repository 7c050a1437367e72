import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { ServerSettingsInputSchema, ServerTestInputSchema } from '../../../shared/inputs.js';
import { useStation } from '../../app/context.js';
import { useSettings } from '../../app/settings-context.js';
import { ErrorNotice } from '../../components/ErrorNotice.js';
import { FormSummary, num, TextArea, TextField, useFieldErrors } from '../../components/form.js';

export function ServerForm() {
  const { t } = useTranslation('settings');
  const { t: tc } = useTranslation();
  const client = useStation();
  const { settings, info, setSettings, reloadInfo } = useSettings();
  const s = settings.server;
  const [mode, setMode] = useState(s.mode);
  const [url, setUrl] = useState(s.mode === 'remote' ? (s.url ?? '') : '');
  const [token, setToken] = useState('');
  const [caPem, setCaPem] = useState(s.caPem ?? '');
  const [account, setAccount] = useState(s.accountId ? String(s.accountId) : '1');
  const [status, setStatus] = useState('');
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const { errors, check, fromError, hasErrors } = useFieldErrors('server-form');

  const request = (): unknown =>
    mode === 'bundled'
      ? { mode }
      : { mode, url, ...(token.trim() ? { token } : {}), caPem: caPem.trim() ? caPem : null, accountId: num(account) };

  const submit = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    setStatus('');
    setError(undefined);
    const req = check(ServerSettingsInputSchema, request());
    if (!req) return;
    setBusy(true);
    try {
      setSettings(await client.invoke('settings.setServer', req));
      setToken('');
      setStatus(tc('actions.saved'));
      await reloadInfo();
    } catch (err) {
      if (!fromError(err)) setError(err);
    } finally {
      setBusy(false);
    }
  };
  const test = async (): Promise<void> => {
    setStatus('');
    setError(undefined);
    const req = check(ServerTestInputSchema, { url, ...(token.trim() ? { token } : {}), caPem: caPem.trim() ? caPem : null });
    if (!req) return;
    setBusy(true);
    try {
      const r = await client.invoke('server.test', req);
      setStatus(t('server.testOk', { detail: r.detail }));
    } catch (err) {
      if (!fromError(err)) setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form id="server-form" className="card form" onSubmit={(e) => void submit(e)} noValidate>
      <FormSummary show={hasErrors} />
      <fieldset>
        <legend>{t('server.mode')}</legend>
        {(['bundled', 'remote'] as const).map((m) => (
          <label key={m} className={`radio ${!info.features.bundledServer && m === 'bundled' ? 'radio--disabled' : ''}`}>
            <input type="radio" name="server-mode" value={m} checked={mode === m} disabled={m === 'bundled' && !info.features.bundledServer} onChange={() => setMode(m)} data-field="mode" />
            {t(`server.modes.${m}`)}
          </label>
        ))}
      </fieldset>
      {mode === 'bundled' && (
        <p className="muted">{s.bundled?.running && s.url ? t('server.bundledRunning', { url: s.url, dir: s.bundled.dataDir }) : t('server.bundledStopped')}</p>
      )}
      {mode === 'remote' && (
        <>
          <TextField name="url" type="url" label={t('server.url')} value={url} onChange={setUrl} error={errors.url} placeholder="https://tds.example.com:8443" />
          <TextField
            name="token"
            type="password"
            label={t('server.token')}
            value={token}
            onChange={setToken}
            error={errors.token}
            hint={s.mode === 'remote' && s.hasToken ? t('server.tokenKeep') : t('server.tokenNone')}
          />
          <TextField name="accountId" label={t('server.account')} hint={t('server.accountHint')} value={account} onChange={setAccount} error={errors.accountId} inputMode="numeric" className="field--narrow" />
          <TextArea name="caPem" label={t('server.caPem')} hint={t('server.caHint')} value={caPem} onChange={setCaPem} error={errors.caPem} rows={4} />
        </>
      )}
      <ErrorNotice error={error} />
      <div className="actions">
        <button type="submit" className="btn btn--primary" disabled={busy}>
          {tc('actions.save')}
        </button>
        {mode === 'remote' && (
          <button type="button" className="btn" disabled={busy} onClick={() => void test()}>
            {t('server.test')}
          </button>
        )}
        <span role="status">{status}</span>
      </div>
    </form>
  );
}
