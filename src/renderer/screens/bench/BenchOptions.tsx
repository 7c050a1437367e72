import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import type { BenchOptionsView } from '../../../shared/views.js';
import { useStation } from '../../app/context.js';
import { useSettings } from '../../app/settings-context.js';
import { ErrorNotice } from '../../components/ErrorNotice.js';
import { CheckboxField } from '../../components/form.js';
import { allowNotifications, beep } from './feedback.js';

/** How the Bench behaves (kept by the station): beep, notification, auto-start, auto-print. */
export function BenchOptions() {
  const { t } = useTranslation('bench');
  const client = useStation();
  const { settings, setSettings } = useSettings();
  const [error, setError] = useState<unknown>();
  const [denied, setDenied] = useState(false);
  // A box shows its new state at once; the station's answer confirms it (or an error puts it back).
  const [pending, setPending] = useState<Partial<BenchOptionsView>>({});
  const o = { ...settings.bench, ...pending };
  const set = async (change: Partial<BenchOptionsView>): Promise<void> => {
    setError(undefined);
    setPending((p) => ({ ...p, ...change }));
    try {
      if (change.notify) {
        const allowed = await allowNotifications();
        setDenied(!allowed);
        if (!allowed) return;
      }
      // A first sound right away: the technician hears what it will be (and the page may play sound).
      if (change.sound) beep('pass');
      setSettings(await client.invoke('bench.setOptions', change));
    } catch (err) {
      setError(err);
    } finally {
      setPending((p) => Object.fromEntries(Object.entries(p).filter(([k]) => !(k in change))));
    }
  };
  return (
    <fieldset className="bench-options" data-testid="bench-options">
      <legend>{t('options.title')}</legend>
      <CheckboxField name="sound" label={t('options.sound')} checked={o.sound} onChange={(v) => void set({ sound: v })} />
      <CheckboxField name="notify" label={t('options.notify')} checked={o.notify} onChange={(v) => void set({ notify: v })} />
      {denied && <p className="field__error">{t('options.notifyDenied')}</p>}
      <CheckboxField name="autoStart" label={t('options.autoStart')} checked={o.autoStart} onChange={(v) => void set({ autoStart: v })} />
      <CheckboxField name="autoPrint" label={t('options.autoPrint')} checked={o.autoPrint} onChange={(v) => void set({ autoPrint: v })} />
      <ErrorNotice error={error} />
    </fieldset>
  );
}
