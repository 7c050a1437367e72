import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { ERROR_CODES } from '../../../shared/errors.js';
import { LogFilterSchema, type LogFilter } from '../../../shared/inputs.js';
import { LOG_KINDS, LOG_RESULTS } from '../../../shared/views.js';
import type { FieldIssue } from '../../../shared/validation.js';
import { DateField, FormSummary, SelectField, TextField, useFieldErrors } from '../../components/form.js';

const EMPTY = { q: '', from: '', to: '', operator: '', result: '', kind: '', mac: '', gatewayCode: '', serial: '', station: '', errorCode: '', firmware: '' };
export type FilterDraft = typeof EMPTY;
export const EMPTY_DRAFT: FilterDraft = EMPTY;

/**
 * The Log's filters: a free-text search, dates in the UI language's format, and parts of the
 * operator, MAC, gateway code, serial, station or firmware, the result, the kind and the error.
 * Checked with the contract's schema (a From after To is pointed out at To) before they apply.
 */
export function LogFilters({ onApply, onExport }: { onApply: (f: LogFilter) => void; onExport: (f: LogFilter) => void }) {
  const { t } = useTranslation('log');
  const { t: tc } = useTranslation();
  const [draft, setDraft] = useState<FilterDraft>(EMPTY);
  const { errors, check, hasErrors, clear } = useFieldErrors('log-filters');
  const set = (k: keyof FilterDraft) => (v: string) => setDraft((d) => ({ ...d, [k]: v }));

  /** The draft as a checked filter, or undefined (the bad fields are marked and the first one focused). */
  const toFilter = (): LogFilter | undefined => {
    const f: Record<string, unknown> = {};
    // Dates arrive as YYYY-MM-DD from the date fields (text that is not a date as typed: the schema refuses it).
    for (const [k, v] of Object.entries(draft)) if (v.trim()) f[k] = v.trim();
    return check(LogFilterSchema, f);
  };
  const apply = (e: FormEvent): void => {
    e.preventDefault();
    const f = toFilter();
    if (f) onApply(f);
  };
  const any = t('filters.any');
  const err = (k: keyof FilterDraft): FieldIssue | undefined => errors[k];
  return (
    <form id="log-filters" className="card filters" onSubmit={apply} noValidate aria-labelledby="filters-title">
      <h3 id="filters-title">{t('filters.title')}</h3>
      <FormSummary show={hasErrors} />
      <div className="filters__grid">
        <TextField name="q" type="search" label={t('filters.search')} value={draft.q} onChange={set('q')} error={err('q')} hint={t('filters.searchHint')} className="filters__search" />
        <DateField name="from" label={t('filters.from')} value={draft.from} onChange={set('from')} error={err('from')} />
        <DateField name="to" label={t('filters.to')} value={draft.to} onChange={set('to')} error={err('to')} />
        <SelectField
          name="kind"
          label={t('filters.kind')}
          value={draft.kind}
          onChange={set('kind')}
          options={[{ value: '', label: any }, ...LOG_KINDS.map((k) => ({ value: k, label: t(`kinds.${k}`) }))]}
          error={err('kind')}
        />
        <SelectField
          name="result"
          label={t('filters.result')}
          value={draft.result}
          onChange={set('result')}
          options={[{ value: '', label: any }, ...LOG_RESULTS.map((r) => ({ value: r, label: t(`results.${r}`) }))]}
          error={err('result')}
        />
        <TextField name="operator" label={t('filters.operator')} value={draft.operator} onChange={set('operator')} error={err('operator')} />
        <TextField name="mac" label={t('filters.mac')} value={draft.mac} onChange={set('mac')} error={err('mac')} placeholder="de:00:01" />
        <TextField name="gatewayCode" label={t('filters.code')} value={draft.gatewayCode} onChange={set('gatewayCode')} error={err('gatewayCode')} />
        <TextField name="serial" label={t('filters.serial')} value={draft.serial} onChange={set('serial')} error={err('serial')} />
        <TextField name="station" label={t('filters.station')} value={draft.station} onChange={set('station')} error={err('station')} />
        <TextField name="firmware" label={t('filters.firmware')} value={draft.firmware} onChange={set('firmware')} error={err('firmware')} />
        <SelectField
          name="errorCode"
          label={t('filters.errorCode')}
          value={draft.errorCode}
          onChange={set('errorCode')}
          options={[{ value: '', label: any }, ...ERROR_CODES.map((c) => ({ value: c, label: tc(`errors.code.${c}`) }))]}
          error={err('errorCode')}
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
            clear();
            onApply({});
          }}
        >
          {t('filters.reset')}
        </button>
        <button
          type="button"
          className="btn"
          onClick={() => {
            const f = toFilter();
            if (f) onExport(f);
          }}
          data-testid="log-export"
        >
          {t('filters.export')}
        </button>
      </div>
    </form>
  );
}
