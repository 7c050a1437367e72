import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { requestSchemas } from '../../../shared/ipc.js';
import type { FieldMemoryView } from '../../../shared/views.js';
import { useStation } from '../../app/context.js';
import { ErrorNotice } from '../../components/ErrorNotice.js';
import { FormSummary, num, TextField, useFieldErrors } from '../../components/form.js';
import { SuggestField } from './SuggestField.js';

/** Adds a Pi by address; the Pis worked on lately are offered as the address is typed. */
export function AddHostForm({ recent }: { recent: FieldMemoryView['recentHosts'] }) {
  const { t } = useTranslation('field');
  const client = useStation();
  const [host, setHost] = useState('');
  const [port, setPort] = useState('22');
  const [name, setName] = useState('');
  const [error, setError] = useState<unknown>();
  const { errors, check, fromError, hasErrors } = useFieldErrors('add-host');
  const submit = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    setError(undefined);
    const req = check(requestSchemas['field.addHost'], { host, port: num(port), ...(name.trim() ? { name } : {}) });
    if (!req) return;
    try {
      await client.invoke('field.addHost', req);
      setHost('');
      setName('');
    } catch (err) {
      if (!fromError(err)) setError(err);
    }
  };
  const pickHost = (value: string): void => {
    setHost(value);
    // A recent Pi on another port comes back with its port.
    const r = recent.find((h) => h.host === value);
    if (r) setPort(String(r.port));
  };
  return (
    <form id="add-host" className="card form-inline" onSubmit={(e) => void submit(e)} noValidate aria-labelledby="add-host-title">
      <h3 id="add-host-title">{t('add.title')}</h3>
      <FormSummary show={hasErrors} />
      <SuggestField
        name="host"
        label={t('add.host')}
        value={host}
        onChange={pickHost}
        suggestions={recent.map((h) => ({ value: h.host, label: `${h.username}@${h.host}:${h.port}` }))}
        error={errors.host}
        hint={recent.length ? t('add.hostHint') : undefined}
        placeholder="192.168.1.50"
      />
      <TextField name="port" label={t('add.port')} value={port} onChange={setPort} error={errors.port} inputMode="numeric" className="field--narrow" />
      <TextField name="name" label={t('add.name')} value={name} onChange={setName} error={errors.name} />
      <button type="submit" className="btn btn--primary">
        {t('add.submit')}
      </button>
      <ErrorNotice error={error} />
    </form>
  );
}
