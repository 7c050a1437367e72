import { useRef, useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { z } from 'zod';
import { AccountNameSchema } from '../../../shared/admin-inputs.js';
import { Dialog } from '../../components/Dialog.js';
import { TextField, useFieldErrors } from '../../components/form.js';
import { useFocusInAndBack } from '../gateways/interim.js';
import { AdminError } from './AdminError.js';

const NameSchema = z.object({ name: AccountNameSchema });

/** One name to type (a new account, a rename): checked here and by the core, the server's refusal in words. */
export function NameDialog(p: { title: string; label: string; initial: string; submitLabel: string; onSubmit: (name: string) => Promise<void>; onClose: () => void; fallbackFocus: () => HTMLElement | null }) {
  const { t } = useTranslation();
  const [name, setName] = useState(p.initial);
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const form = useRef<HTMLFormElement>(null);
  const { errors, check, fromError } = useFieldErrors('name-dialog');
  useFocusInAndBack(form, p.fallbackFocus);
  const submit = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    const r = check(NameSchema, { name });
    if (!r) return;
    setBusy(true);
    setError(undefined);
    try {
      await p.onSubmit(r.name);
    } catch (err) {
      if (!fromError(err)) setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog open title={p.title} onClose={p.onClose}>
      <form id="name-dialog" ref={form} onSubmit={(e) => void submit(e)} noValidate>
        <TextField name="name" label={p.label} value={name} onChange={setName} error={errors.name} />
        <AdminError error={error} />
        <div className="actions">
          <button type="submit" className="btn btn--primary" disabled={busy}>
            {p.submitLabel}
          </button>
          <button type="button" className="btn" onClick={p.onClose}>
            {t('actions.cancel')}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
