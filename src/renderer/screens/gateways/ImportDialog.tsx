import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { requestSchemas } from '../../../shared/ipc.js';
import type { ImportResult } from '../../../shared/views.js';
import { useStation } from '../../app/context.js';
import { Dialog } from '../../components/Dialog.js';
import { ErrorNotice } from '../../components/ErrorNotice.js';
import { FormSummary, TextArea, useFieldErrors } from '../../components/form.js';

export function ImportDialog({ onClose, onImported }: { onClose: () => void; onImported: () => void }) {
  const { t } = useTranslation('gateways');
  const client = useStation();
  const [csv, setCsv] = useState('mac_address,codigo,nome\n');
  const [result, setResult] = useState<ImportResult>();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const { errors, check, fromError, hasErrors } = useFieldErrors('import-form');
  const submit = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    setError(undefined);
    const req = check(requestSchemas['gateways.importCsv'], { csv });
    if (!req) return;
    setBusy(true);
    try {
      setResult(await client.invoke('gateways.importCsv', req));
      onImported();
    } catch (err) {
      if (!fromError(err)) setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog open wide title={t('importDialog.title')} onClose={onClose}>
      <form id="import-form" onSubmit={(e) => void submit(e)} noValidate>
        <p className="muted">{t('importDialog.help')}</p>
        <FormSummary show={hasErrors} />
        <label className="btn btn--ghost file-btn">
          {t('importDialog.file')}
          <input type="file" accept=".csv,text/csv" className="visually-hidden" onChange={(e) => void e.target.files?.[0]?.text().then(setCsv)} />
        </label>
        <TextArea name="csv" label={t('importDialog.text')} value={csv} onChange={setCsv} error={errors.csv} rows={8} />
        <ErrorNotice error={error} />
        <div className="actions">
          <button type="submit" className="btn btn--primary" disabled={busy}>
            {t('importDialog.submit')}
          </button>
        </div>
      </form>
      {result && (
        <div role="status">
          <p>
            <strong>{t('importDialog.result', { created: result.created, failed: result.failed })}</strong>
          </p>
          <table className="table">
            <thead>
              <tr>
                <th scope="col">{t('importDialog.line')}</th>
                <th scope="col">MAC</th>
                <th scope="col">{t('importDialog.status')}</th>
                <th scope="col">{t('importDialog.error')}</th>
              </tr>
            </thead>
            <tbody>
              {result.rows.map((r) => (
                <tr key={r.line} className={r.status === 'error' ? 'row--bad' : ''}>
                  <td>{r.line}</td>
                  <td className="mono">{r.mac}</td>
                  <td>{r.status}</td>
                  <td>{r.error ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Dialog>
  );
}
