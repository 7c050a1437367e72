import { useEffect, useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { FirstRunInputSchema } from '../../../shared/inputs.js';
import type { FirstRunProgress } from '../../../shared/views.js';
import { useStation } from '../../app/context.js';
import { useStationEvent } from '../../app/hooks.js';
import { useSettings } from '../../app/settings-context.js';
import { DeviceHostField, isLoopback } from '../../components/DeviceHostField.js';
import { ErrorNotice } from '../../components/ErrorNotice.js';
import { CheckboxField, FormSummary, num, TextField, useFieldErrors } from '../../components/form.js';

/** First run: bundled server (CA, account, token, monitor identity, optional broker) or a remote one. */
export function FirstRunWizard({ onDone, onRemote }: { onDone: () => void; onRemote: () => void }) {
  const { t } = useTranslation('firstRun');
  const client = useStation();
  const { info, settings, setSettings, reloadInfo, reloadProfiles } = useSettings();
  const [account, setAccount] = useState('');
  const [operator, setOperator] = useState(settings.operator);
  const [startBroker, setStartBroker] = useState(info.features.embeddedBroker);
  const [brokerPort, setBrokerPort] = useState('8883');
  const [deviceHost, setDeviceHost] = useState(settings.broker.deviceHost);
  const [progress, setProgress] = useState<FirstRunProgress[]>([]);
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState(false);
  const [error, setError] = useState<unknown>();
  const { errors, check, fromError, hasErrors } = useFieldErrors('first-run-form');
  useStationEvent('firstRun.progress', (p) => setProgress((list) => [...list.filter((x) => x.step !== p.step), p]));
  // Offer this machine's first LAN address instead of the loopback default real boards cannot reach.
  useEffect(() => {
    let alive = true;
    client.invoke('station.addresses').then(
      (list) => {
        const lan = list.find((a) => !a.loopback && a.family === 'IPv4') ?? list.find((a) => !a.loopback);
        if (alive && lan) setDeviceHost((current) => (isLoopback(current) ? lan.address : current));
      },
      () => undefined,
    );
    return () => {
      alive = false;
    };
  }, [client]);

  const submit = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    setError(undefined);
    const req = check(FirstRunInputSchema, { accountName: account, operator, startBroker, brokerPort: num(brokerPort), deviceBrokerHost: deviceHost, profileName: t('profileName') });
    if (!req) return;
    setBusy(true);
    setProgress([]);
    try {
      setSettings(await client.invoke('firstRun.run', req));
      await reloadInfo();
      await reloadProfiles();
      setDone(true);
    } catch (err) {
      if (!fromError(err)) setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <main id="main" className="wizard" aria-labelledby="wizard-title">
      <h1 id="wizard-title">{t('title')}</h1>
      <p>{t('intro')}</p>
      {info.features.bundledServer && (
        <form id="first-run-form" className="card form" onSubmit={(e) => void submit(e)} noValidate aria-labelledby="bundled-title">
          <h2 id="bundled-title">{t('bundled')}</h2>
          <p className="muted">{t('bundledHint')}</p>
          <FormSummary show={hasErrors} />
          <TextField name="accountName" label={t('account')} value={account} onChange={setAccount} error={errors.accountName} autoFocus />
          <TextField name="operator" label={t('operator')} value={operator} onChange={setOperator} error={errors.operator} autoComplete="name" />
          <DeviceHostField name="deviceBrokerHost" label={t('deviceHost')} hint={t('deviceHostHint')} value={deviceHost} onChange={setDeviceHost} error={errors.deviceBrokerHost} />
          {info.features.embeddedBroker && (
            <>
              <CheckboxField name="startBroker" label={t('startBroker')} hint={t('startBrokerHint')} checked={startBroker} onChange={setStartBroker} />
              {startBroker && <TextField name="brokerPort" label={t('brokerPort')} value={brokerPort} onChange={setBrokerPort} error={errors.brokerPort} inputMode="numeric" className="field--narrow" />}
            </>
          )}
          {progress.length > 0 && (
            <ol className="steps" aria-live="polite">
              {progress.map((p) => (
                <li key={p.step} className={`step step--${p.state === 'done' ? 'done' : p.state === 'failed' ? 'failed' : 'running'}`}>
                  <span className="step__icon" aria-hidden="true">
                    {p.state === 'done' ? '✓' : p.state === 'failed' ? '✕' : '◔'}
                  </span>
                  <span className="step__name">{t(`steps.${p.step}`)}</span>
                  {p.message && <span className="step__detail">{p.message}</span>}
                </li>
              ))}
            </ol>
          )}
          <ErrorNotice error={error} />
          {done ? (
            <div className="actions">
              <p role="status">{t('done')}</p>
              <button type="button" className="btn btn--primary" onClick={onDone} autoFocus>
                {t('continue')}
              </button>
            </div>
          ) : (
            <div className="actions">
              <button type="submit" className="btn btn--primary" disabled={busy}>
                {busy ? t('running') : t('run')}
              </button>
            </div>
          )}
        </form>
      )}
      <section className="card" aria-labelledby="remote-title">
        <h2 id="remote-title">{t('remote')}</h2>
        <p className="muted">{t('remoteHint')}</p>
        <button type="button" className="btn" onClick={onRemote}>
          {t('remote')}
        </button>
      </section>
    </main>
  );
}
