import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { LogFilterSchema, type LogFilter } from '../../../shared/inputs.js';
import { LOG_RESULTS, type LogJobDetail } from '../../../shared/views.js';
import { useStation } from '../../app/context.js';
import { useAsync, useLogVersion } from '../../app/hooks.js';
import { saveFile } from '../../components/download.js';
import { ErrorNotice } from '../../components/ErrorNotice.js';
import { DateField, FormSummary, SelectField, TextField, useFieldErrors } from '../../components/form.js';
import { formatDateTime, formatDuration } from '../../components/format.js';
import { JobDetail } from './JobDetail.js';
import { TodayPanel } from './TodayPanel.js';

const EMPTY = { from: '', to: '', operator: '', result: '', mac: '', serial: '', kind: '' };
type Draft = typeof EMPTY;

function toFilter(d: Draft, limit: number): unknown {
  const f: Record<string, unknown> = { limit };
  for (const [k, v] of Object.entries(d)) if (v.trim()) f[k] = v.trim();
  return f;
}

/** The admin's log: today's figures, filters, jobs table, job details with steps, CSV export. */
export default function LogScreen() {
  const { t } = useTranslation('log');
  const client = useStation();
  const version = useLogVersion();
  const [draft, setDraft] = useState<Draft>(EMPTY);
  const [filter, setFilter] = useState<LogFilter>({ limit: 100 });
  const [detail, setDetail] = useState<LogJobDetail | null>(null);
  const [error, setError] = useState<unknown>();
  const { errors, check, fromError, hasErrors } = useFieldErrors('log-filters');
  const today = useAsync(() => client.invoke('log.today'), [client, version]);
  const page = useAsync(() => client.invoke('log.query', filter), [client, filter, version]);
  const set = (k: keyof Draft) => (v: string) => setDraft((d) => ({ ...d, [k]: v }));

  const apply = (e: FormEvent): void => {
    e.preventDefault();
    const f = check(LogFilterSchema, toFilter(draft, 100));
    if (f) setFilter(f);
  };
  const exportCsv = async (): Promise<void> => {
    const f = check(LogFilterSchema, toFilter(draft, 1000));
    if (!f) return;
    try {
      saveFile(await client.invoke('log.exportCsv', f));
    } catch (err) {
      if (!fromError(err)) setError(err);
    }
  };
  const open = async (id: string): Promise<void> => {
    try {
      setDetail(await client.invoke('log.get', { id }));
    } catch (err) {
      setError(err);
    }
  };
  const any = t('filters.any');
  return (
    <section aria-labelledby="log-title" className="screen">
      <div className="screen__head">
        <h2 id="log-title">{t('title')}</h2>
        <p className="muted">{t('intro')}</p>
      </div>
      {today.data && <TodayPanel today={today.data} />}
      <form id="log-filters" className="card filters" onSubmit={apply} noValidate aria-labelledby="filters-title">
        <h3 id="filters-title">{t('filters.title')}</h3>
        <FormSummary show={hasErrors} />
        <div className="filters__grid">
          <DateField name="from" label={t('filters.from')} value={draft.from} onChange={set('from')} error={errors.from} />
          <DateField name="to" label={t('filters.to')} value={draft.to} onChange={set('to')} error={errors.to} />
          <TextField name="operator" label={t('filters.operator')} value={draft.operator} onChange={set('operator')} error={errors.operator} />
          <SelectField
            name="result"
            label={t('filters.result')}
            value={draft.result}
            onChange={set('result')}
            options={[{ value: '', label: any }, ...LOG_RESULTS.map((r) => ({ value: r, label: t(`results.${r}`) }))]}
            error={errors.result}
          />
          <TextField name="mac" label={t('filters.mac')} value={draft.mac} onChange={set('mac')} error={errors.mac} placeholder="aa:bb:cc:dd:ee:ff" />
          <TextField name="serial" label={t('filters.serial')} value={draft.serial} onChange={set('serial')} error={errors.serial} />
          <SelectField
            name="kind"
            label={t('filters.kind')}
            value={draft.kind}
            onChange={set('kind')}
            options={[
              { value: '', label: any },
              { value: 'esp32', label: t('kinds.esp32') },
              { value: 'pi', label: t('kinds.pi') },
            ]}
            error={errors.kind}
          />
        </div>
        <div className="actions">
          <button type="submit" className="btn btn--primary">
            {t('filters.apply')}
          </button>
          <button
            type="button"
            className="btn"
            onClick={() => {
              setDraft(EMPTY);
              setFilter({ limit: 100 });
            }}
          >
            {t('filters.reset')}
          </button>
          <button type="button" className="btn" onClick={() => void exportCsv()} data-testid="log-export">
            {t('filters.export')}
          </button>
        </div>
      </form>
      <ErrorNotice error={page.error ?? error} onDismiss={() => setError(undefined)} />
      {page.data && (
        <>
          <p className="muted" aria-live="polite">
            {t('total', { shown: page.data.rows.length, total: page.data.total })}
          </p>
          {page.data.rows.length === 0 ? (
            <p>{t('none')}</p>
          ) : (
            <table className="table" data-testid="log-table">
              <thead>
                <tr>
                  <th scope="col">{t('columns.when')}</th>
                  <th scope="col">{t('columns.kind')}</th>
                  <th scope="col">{t('columns.target')}</th>
                  <th scope="col">{t('columns.mac')}</th>
                  <th scope="col">{t('columns.code')}</th>
                  <th scope="col">{t('columns.serial')}</th>
                  <th scope="col">{t('columns.result')}</th>
                  <th scope="col">{t('columns.duration')}</th>
                  <th scope="col">{t('columns.operator')}</th>
                </tr>
              </thead>
              <tbody>
                {page.data.rows.map((r) => (
                  <tr key={r.id} className={r.result === 'failed' ? 'row--bad' : ''} aria-selected={detail?.id === r.id} data-result={r.result}>
                    <td>
                      <button type="button" className="link" onClick={() => void open(r.id)}>
                        {formatDateTime(r.startedAt)}
                      </button>
                    </td>
                    <td>{t(`kinds.${r.kind}`)}</td>
                    <td className="mono">{r.target}</td>
                    <td className="mono">{r.mac ?? ''}</td>
                    <td className="mono">{r.gatewayCode ?? ''}</td>
                    <td className="mono">{r.certificateSerial ?? ''}</td>
                    <td>{t(`results.${r.result}`)}</td>
                    <td>{formatDuration(r.durationMs)}</td>
                    <td>{r.operator}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {page.data.total > page.data.rows.length && (
            <button type="button" className="btn btn--ghost" onClick={() => setFilter((f) => ({ ...f, limit: Math.min(1000, (f.limit ?? 100) + 100) }))}>
              {t('more')}
            </button>
          )}
        </>
      )}
      {detail && <JobDetail key={detail.id} job={detail} />}
    </section>
  );
}
