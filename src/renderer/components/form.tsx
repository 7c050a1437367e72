import { useCallback, useId, useState, type ChangeEvent, type ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import type { z } from 'zod';
import { toFieldIssues, type FieldIssue } from '../../shared/validation.js';
import { RemoteError } from '../app/client.js';
import { datePattern, isoToLocalDate, parseLocalDate } from './format.js';

export type FieldErrors = Record<string, FieldIssue>;

function byField(issues: FieldIssue[]): FieldErrors {
  const out: FieldErrors = {};
  for (const i of issues) if (!out[i.field]) out[i.field] = i;
  return out;
}

/**
 * Field errors of one form, from the shared zod schema (checked here before sending) or from the
 * core's INVALID_INPUT answer (checked again at the boundary). Focuses the first bad field so
 * keyboard and screen-reader users land on it.
 */
export function useFieldErrors(formId?: string) {
  const [errors, setErrors] = useState<FieldErrors>({});
  const focusFirst = useCallback(
    (errs: FieldErrors) => {
      const first = Object.keys(errs)[0];
      if (first === undefined) return;
      requestAnimationFrame(() => {
        const scope = formId ? document.getElementById(formId) : document;
        const el = scope?.querySelector<HTMLElement>(`[data-field="${CSS.escape(first)}"]`);
        el?.focus();
      });
    },
    [formId],
  );
  const check = useCallback(
    <S extends z.ZodType>(schema: S, value: unknown): z.output<S> | undefined => {
      const r = schema.safeParse(value);
      if (r.success) {
        setErrors({});
        return r.data;
      }
      const errs = byField(toFieldIssues(r.error));
      setErrors(errs);
      focusFirst(errs);
      return undefined;
    },
    [focusFirst],
  );
  /** Takes field issues from a core error; returns true when it had any. */
  const fromError = useCallback(
    (err: unknown, prefix = ''): boolean => {
      if (err instanceof RemoteError && err.body.issues?.length) {
        const errs = byField(err.body.issues.map((i) => ({ ...i, field: prefix && i.field.startsWith(prefix) ? i.field.slice(prefix.length) : i.field })));
        setErrors(errs);
        focusFirst(errs);
        return true;
      }
      return false;
    },
    [focusFirst],
  );
  const clear = useCallback(() => setErrors({}), []);
  return { errors, check, fromError, clear, hasErrors: Object.keys(errors).length > 0 };
}

/** '' → undefined (so "required" fires), anything else → Number (NaN → a type error message). */
export function num(s: string): number | undefined {
  return s.trim() === '' ? undefined : Number(s);
}

/** How a date is typed in the UI language, spelled in it (`dd/mm/aaaa`, `mm/dd/yyyy`). */
export function useDatePattern(): string {
  const { t } = useTranslation();
  return datePattern({ day: t('date.day'), month: t('date.month'), year: t('date.year') });
}

export function useIssueText(): (issue: FieldIssue | undefined) => string | undefined {
  const { t } = useTranslation();
  const pattern = useDatePattern();
  return (issue) => {
    if (!issue) return undefined;
    const key = `validation.${issue.key}`;
    // A date is asked for in the order the UI language writes it.
    const extra = issue.key === 'date' ? { example: pattern } : {};
    return t(key as 'validation.required', { ...(issue.params ?? {}), ...extra, defaultValue: issue.message });
  };
}

interface FieldShellProps {
  label: string;
  error?: FieldIssue | undefined;
  hint?: string | undefined;
  children: (ids: { id: string; describedBy: string | undefined; invalid: boolean }) => ReactNode;
  className?: string;
}

/** Label + control + hint + error, wired for screen readers (aria-describedby / aria-invalid). */
export function FieldShell({ label, error, hint, children, className }: FieldShellProps) {
  const id = useId();
  const issueText = useIssueText();
  const msg = issueText(error);
  const describedBy = [hint ? `${id}-hint` : '', msg ? `${id}-err` : ''].filter(Boolean).join(' ') || undefined;
  return (
    <div className={`field ${msg ? 'field--invalid' : ''} ${className ?? ''}`}>
      <label htmlFor={id}>{label}</label>
      {children({ id, describedBy, invalid: !!msg })}
      {hint && (
        <small id={`${id}-hint`} className="field__hint">
          {hint}
        </small>
      )}
      {msg && (
        <small id={`${id}-err`} className="field__error" role="alert">
          {msg}
        </small>
      )}
    </div>
  );
}

interface InputProps {
  name: string;
  label: string;
  value: string;
  onChange: (value: string) => void;
  error?: FieldIssue | undefined;
  hint?: string;
  type?: 'text' | 'password' | 'number' | 'url' | 'date' | 'search';
  placeholder?: string;
  autoComplete?: string;
  autoFocus?: boolean;
  inputMode?: 'numeric' | 'text' | 'url';
  className?: string;
  disabled?: boolean;
}

export function TextField(p: InputProps) {
  return (
    <FieldShell label={p.label} error={p.error} hint={p.hint} className={p.className}>
      {({ id, describedBy, invalid }) => (
        <input
          id={id}
          data-field={p.name}
          name={p.name}
          type={p.type ?? 'text'}
          value={p.value}
          placeholder={p.placeholder}
          autoComplete={p.autoComplete ?? 'off'}
          autoFocus={p.autoFocus}
          inputMode={p.inputMode}
          disabled={p.disabled}
          spellCheck={false}
          aria-invalid={invalid || undefined}
          aria-describedby={describedBy}
          onChange={(e: ChangeEvent<HTMLInputElement>) => p.onChange(e.target.value)}
        />
      )}
    </FieldShell>
  );
}

/**
 * A date typed in the UI language's order (`05/12/2026` in Portuguese), not the browser's date
 * picker (which follows the browser's language, not the station's). `value` and `onChange` are
 * `YYYY-MM-DD`; text that is not a date is passed on as typed, so the form's schema refuses it.
 */
export function DateField(p: Omit<InputProps, 'type' | 'inputMode' | 'placeholder'>) {
  const pattern = useDatePattern();
  const { i18n } = useTranslation();
  const [shown, setShown] = useState(() => ({ text: isoToLocalDate(p.value), value: p.value, lang: i18n.language }));
  let text = shown.text;
  // A date is spelled again in the language (also after a change of language); text that is not
  // (yet) a date stays as typed. Adjusted while rendering, as React advises for derived state.
  if (shown.value !== p.value || shown.lang !== i18n.language) {
    const typed = text.trim() === '' ? '' : (parseLocalDate(text) ?? text);
    text = /^\d{4}-\d{2}-\d{2}$/.test(p.value) ? isoToLocalDate(p.value) : typed === p.value ? text : p.value;
    setShown({ text, value: p.value, lang: i18n.language });
  }
  const setText = (v: string): void => setShown({ text: v, value: v.trim() === '' ? '' : (parseLocalDate(v) ?? v), lang: i18n.language });
  return (
    <TextField
      {...p}
      value={text}
      placeholder={pattern}
      inputMode="numeric"
      onChange={(v) => {
        setText(v);
        p.onChange(v.trim() === '' ? '' : (parseLocalDate(v) ?? v));
      }}
    />
  );
}

export function TextArea(p: Omit<InputProps, 'type'> & { rows?: number }) {
  return (
    <FieldShell label={p.label} error={p.error} hint={p.hint} className={p.className}>
      {({ id, describedBy, invalid }) => (
        <textarea
          id={id}
          data-field={p.name}
          name={p.name}
          rows={p.rows ?? 4}
          value={p.value}
          placeholder={p.placeholder}
          spellCheck={false}
          disabled={p.disabled}
          aria-invalid={invalid || undefined}
          aria-describedby={describedBy}
          onChange={(e) => p.onChange(e.target.value)}
        />
      )}
    </FieldShell>
  );
}

export function SelectField<V extends string>(p: {
  name: string;
  label: string;
  value: V;
  options: readonly { value: V; label: string }[];
  onChange: (value: V) => void;
  error?: FieldIssue | undefined;
  hint?: string;
  className?: string;
}) {
  return (
    <FieldShell label={p.label} error={p.error} hint={p.hint} className={p.className}>
      {({ id, describedBy, invalid }) => (
        <select id={id} data-field={p.name} name={p.name} value={p.value} aria-invalid={invalid || undefined} aria-describedby={describedBy} onChange={(e) => p.onChange(e.target.value as V)}>
          {p.options.map((o) => (
            <option key={o.value} value={o.value}>
              {o.label}
            </option>
          ))}
        </select>
      )}
    </FieldShell>
  );
}

export function CheckboxField(p: { name: string; label: string; checked: boolean; onChange: (v: boolean) => void; hint?: string }) {
  const id = useId();
  return (
    <div className="field field--check">
      <input id={id} data-field={p.name} type="checkbox" checked={p.checked} onChange={(e) => p.onChange(e.target.checked)} aria-describedby={p.hint ? `${id}-hint` : undefined} />
      <label htmlFor={id}>{p.label}</label>
      {p.hint && (
        <small id={`${id}-hint`} className="field__hint">
          {p.hint}
        </small>
      )}
    </div>
  );
}

/** "Please fix the fields below" at the top of a form, announced once. */
export function FormSummary({ show }: { show: boolean }) {
  const { t } = useTranslation();
  if (!show) return null;
  return (
    <p className="form-summary" role="alert">
      {t('validation.summary')}
    </p>
  );
}
