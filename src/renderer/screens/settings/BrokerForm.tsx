import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { BrokerSettingsInputSchema } from '../../../shared/inputs.js';
import { useStation } from '../../app/context.js';
import { useMonitor } from '../../app/hooks.js';
import { useSettings } from '../../app/settings-context.js';
import { DeviceHostField } from '../../components/DeviceHostField.js';
import { ErrorNotice } from '../../components/ErrorNotice.js';
import { FormSummary, num, TextArea, TextField, useFieldErrors } from '../../components/form.js';
import { formatDateTime } from '../../components/format.js';

export function BrokerForm() {
  const { t } = useTranslation('settings');
  const { t: tc } = useTranslation();
  const client = useStation();
  const monitor = useMonitor();
  const { settings, setSettings } = useSettings();
  const b = settings.broker;
  const [host, setHost] = useState(b.host);
  const [port, setPort] = useState(String(b.port));
  const [deviceHost, setDeviceHost] = useState(b.deviceHost);
  const [caPem, setCaPem] = useState(b.caPem ?? '');
  const [certPem, setCertPem] = useState('');
  const [keyPem, setKeyPem] = useState('');
  const [status, setStatus] = useState('');
  const [error, setError] = useState<unknown>();
  const { errors, check, fromError, hasErrors } = useFieldErrors('broker-form');
  const submit = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    setStatus('');
    setError(undefined);
    const monitorInput = certPem.trim() || keyPem.trim() ? { monitor: { certPem, keyPem } } : {};
    const req = check(BrokerSettingsInputSchema, { host, port: num(port), deviceHost, caPem: caPem.trim() ? caPem : null, ...monitorInput });
    if (!req) return;
    try {
      setSettings(await client.invoke('settings.setBroker', req));
      setCertPem('');
      setKeyPem('');
      setStatus(tc('actions.saved'));
    } catch (err) {
      if (!fromError(err)) setError(err);
    }
  };
  return (
    <form id="broker-form" className="card form" onSubmit={(e) => void submit(e)} noValidate>
      <FormSummary show={hasErrors} />
      {b.embedded && (
        <p className="muted">
          {t('broker.embedded', { state: b.embedded.running ? t('broker.embeddedRunning', { port: b.embedded.port }) : t('broker.embeddedStopped') })}
        </p>
      )}
      <p className="muted">
        {t('broker.status', { state: tc(`status.monitor.${monitor?.state ?? 'unconfigured'}`) })}
        {monitor?.error ? ` — ${monitor.error}` : ''}
      </p>
      <TextField name="host" label={t('broker.host')} value={host} onChange={setHost} error={errors.host} />
      <TextField name="port" label={t('broker.port')} value={port} onChange={setPort} error={errors.port} inputMode="numeric" className="field--narrow" />
      <DeviceHostField name="deviceHost" label={t('broker.deviceHost')} hint={t('broker.deviceHostHint')} value={deviceHost} onChange={setDeviceHost} error={errors.deviceHost} />
      <TextArea name="caPem" label={t('broker.caPem')} hint={t('broker.caHint')} value={caPem} onChange={setCaPem} error={errors.caPem} rows={3} />
      <fieldset>
        <legend>{t('broker.monitor')}</legend>
        <p>
          {b.monitor
            ? t('broker.monitorHave', { name: b.monitor.name, serial: b.monitor.serialNumber ?? '?', expires: formatDateTime(b.monitor.expiresAt) })
            : t('broker.monitorNone')}
        </p>
        <TextArea name="monitor.certPem" label={t('broker.certPem')} value={certPem} onChange={setCertPem} error={errors['monitor.certPem']} rows={3} />
        <TextArea name="monitor.keyPem" label={t('broker.keyPem')} hint={t('broker.keyHint')} value={keyPem} onChange={setKeyPem} error={errors['monitor.keyPem']} rows={3} />
      </fieldset>
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
