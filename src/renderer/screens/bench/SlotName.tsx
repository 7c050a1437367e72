import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { SlotNameInputSchema } from '../../../shared/inputs.js';
import { useStation } from '../../app/context.js';
import { FormSummary, TextField, useFieldErrors } from '../../components/form.js';
import { returnFocusHome } from '../../components/focus.js';
import { ErrorNotice } from '../../components/ErrorNotice.js';

/** Names (or renames) a slot in place; the name is kept for its USB position. */
export function SlotName({ slotKey, name, slotLabel, onDone }: { slotKey: string; name: string | null; slotLabel: string; onDone: () => void }) {
  const { t } = useTranslation('bench');
  const { t: tc } = useTranslation();
  const client = useStation();
  const [value, setValue] = useState(name ?? '');
  const [error, setError] = useState<unknown>();
  const formId = `slot-name-${slotKey.replace(/[^A-Za-z0-9_-]/g, '_')}`;
  const { errors, check, fromError, hasErrors } = useFieldErrors(formId);
  const close = (): void => {
    onDone();
    returnFocusHome();
  };
  const submit = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    const req = check(SlotNameInputSchema, { slot: slotKey, name: value.trim() === '' ? null : value });
    if (!req) return;
    try {
      await client.invoke('bench.nameSlot', req);
      close();
    } catch (err) {
      if (!fromError(err)) setError(err);
    }
  };
  return (
    <form
      id={formId}
      className="slot-name"
      onSubmit={(e) => void submit(e)}
      onKeyDown={(e) => {
        if (e.key === 'Escape') {
          e.preventDefault();
          close();
        }
      }}
      noValidate
      aria-label={`${t('card.nameLabel')}: ${slotLabel}`}
    >
      <FormSummary show={hasErrors} />
      <TextField name="name" label={t('card.nameLabel')} hint={t('card.nameHint')} value={value} onChange={setValue} error={errors.name} autoFocus />
      <ErrorNotice error={error} />
      <div className="actions">
        <button type="submit" className="btn btn--primary btn--small">
          {t('card.save')}
        </button>
        <button type="button" className="btn btn--small" onClick={close}>
          {tc('actions.cancel')}
        </button>
      </div>
    </form>
  );
}
