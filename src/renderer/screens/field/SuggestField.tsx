import { useId } from 'react';
import type { FieldIssue } from '../../../shared/validation.js';
import { FieldShell } from '../../components/form.js';

/** A text field that offers what the station remembers (recent Pis, key files) as the user types. */
export function SuggestField(p: {
  name: string;
  label: string;
  value: string;
  onChange: (value: string) => void;
  suggestions: readonly { value: string; label?: string }[];
  error?: FieldIssue | undefined;
  hint?: string | undefined;
  placeholder?: string;
}) {
  const listId = useId();
  return (
    <FieldShell label={p.label} error={p.error} hint={p.hint}>
      {({ id, describedBy, invalid }) => (
        <>
          <input
            id={id}
            data-field={p.name}
            name={p.name}
            value={p.value}
            list={listId}
            placeholder={p.placeholder}
            autoComplete="off"
            spellCheck={false}
            aria-invalid={invalid || undefined}
            aria-describedby={describedBy}
            onChange={(e) => p.onChange(e.target.value)}
          />
          <datalist id={listId}>
            {p.suggestions.map((s) => (
              <option key={s.value} value={s.value}>
                {s.label}
              </option>
            ))}
          </datalist>
        </>
      )}
    </FieldShell>
  );
}
