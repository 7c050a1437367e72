import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import type { FieldIssue } from '../../shared/validation.js';
import type { StationAddress } from '../../shared/views.js';
import { useStation } from '../app/context.js';
import { TextField } from './form.js';

/** Loopback: only this machine (a simulated board) can use it. */
export function isLoopback(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127\./.test(h);
}

/**
 * "The address devices use to reach this station": a text field, with this machine's LAN addresses
 * (from the core) offered as one-click choices, and a warning when the address is a loopback one,
 * which real boards can never reach.
 */
export function DeviceHostField(p: { name: string; label: string; hint: string; value: string; onChange: (v: string) => void; error?: FieldIssue | undefined }) {
  const { t } = useTranslation();
  const client = useStation();
  const [addresses, setAddresses] = useState<StationAddress[]>([]);
  useEffect(() => {
    let alive = true;
    client.invoke('station.addresses').then(
      (list) => alive && setAddresses(list),
      () => undefined,
    );
    return () => {
      alive = false;
    };
  }, [client]);
  const lan = addresses.filter((a) => !a.loopback);
  const warnId = `${p.name}-loopback`;
  return (
    <div className="device-host">
      <TextField name={p.name} label={p.label} hint={p.hint} value={p.value} onChange={p.onChange} error={p.error} />
      {lan.length > 0 && (
        <div className="device-host__choices" role="group" aria-label={t('deviceHost.choices')}>
          <span className="muted">{t('deviceHost.choices')}</span>
          {lan.map((a) => (
            <button key={`${a.interface}-${a.address}`} type="button" className="btn btn--small" aria-pressed={p.value === a.address} onClick={() => p.onChange(a.address)} data-testid="device-host-choice">
              {t('deviceHost.use', { address: a.address, iface: a.interface })}
            </button>
          ))}
        </div>
      )}
      {isLoopback(p.value) && (
        <p id={warnId} className="notice notice--warn" role="status" data-testid="device-host-loopback">
          {lan.length > 0 ? t('deviceHost.loopbackWarn', { address: lan[0]!.address }) : t('deviceHost.loopbackWarnNoLan')}
        </p>
      )}
    </div>
  );
}
