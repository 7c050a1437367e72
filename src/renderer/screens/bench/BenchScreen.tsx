import { useCallback, useMemo, useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { GatewayCodeSchema } from '../../../shared/inputs.js';
import { parseMac } from '@tds/server/contract';
import { useLive, useStation } from '../../app/context.js';
import { useDevices, useJobs } from '../../app/hooks.js';
import { useSettings } from '../../app/settings-context.js';
import { ErrorNotice } from '../../components/ErrorNotice.js';
import { BoardCard } from './BoardCard.js';

const ACTIVE = new Set(['queued', 'running', 'waiting-input']);

/**
 * The technician's screen: every detected board as a card; the scan field keeps focus so a barcode
 * scanner (a keyboard that types + Enter) assigns gateway codes, and an empty Enter starts the batch.
 */
export function BenchScreen() {
  const { t } = useTranslation('bench');
  const { t: tc } = useTranslation();
  const client = useStation();
  const live = useLive();
  const { settings, profiles } = useSettings();
  const devices = useDevices();
  const jobs = useJobs();
  const esp32Profiles = useMemo(() => profiles.filter((p) => p.esp32), [profiles]);
  const [profile, setProfile] = useState<string>(() => (settings.activeProfile && esp32Profiles.some((p) => p.name === settings.activeProfile) ? settings.activeProfile : (esp32Profiles[0]?.name ?? '')));
  const [selected, setSelected] = useState<string | null>(null);
  const [scan, setScan] = useState('');
  const [message, setMessage] = useState('');
  const [error, setError] = useState<unknown>();
  const [scanError, setScanError] = useState('');
  const chosenProfile = esp32Profiles.some((p) => p.name === profile) ? profile : (esp32Profiles[0]?.name ?? '');

  const counts = useMemo(() => {
    const ids = new Set(devices.map((d) => d.jobId).filter(Boolean));
    const mine = jobs.filter((j) => ids.has(j.id));
    return {
      running: mine.filter((j) => ACTIVE.has(j.state)).length,
      done: mine.filter((j) => j.state === 'succeeded').length,
      failed: mine.filter((j) => j.state === 'failed').length,
    };
  }, [devices, jobs]);

  const provision = useCallback(
    async (deviceIds: string[]) => {
      setError(undefined);
      if (deviceIds.length === 0) {
        setMessage(t('nothingToStart'));
        return;
      }
      try {
        const r = await client.invoke('bench.provision', { deviceIds, profile: chosenProfile });
        setMessage(t('started', { count: r.jobIds.length }));
      } catch (err) {
        setError(err);
      }
    },
    [client, chosenProfile, t],
  );

  const provisionOne = useCallback((id: string) => void provision([id]), [provision]);

  const idleIds = (): string[] =>
    devices
      .filter((d) => {
        const j = d.jobId ? live.jobs.get(d.jobId) : undefined;
        return !j || !ACTIVE.has(j.state);
      })
      .map((d) => d.id);

  const onScan = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    const text = scan.trim();
    setScanError('');
    if (!text) {
      setScan('');
      await provision(idleIds());
      return;
    }
    const scanned = parseMac(text);
    const asMac = scanned.ok ? scanned.mac : null;
    if (asMac) {
      const byMac = devices.find((d) => (d.mac ?? (d.jobId ? live.jobs.get(d.jobId)?.mac : undefined)) === asMac);
      if (byMac) {
        setScan('');
        setSelected(byMac.id);
        setMessage(t('scanSelected', { port: byMac.path }));
        return;
      }
    }
    // A misread or mistyped code stays in the field, marked, so the operator can fix or rescan it.
    if (!GatewayCodeSchema.safeParse(text).success) {
      setScanError(tc('validation.gatewayCode'));
      return;
    }
    setScan('');
    const target = devices.find((d) => d.id === selected) ?? devices.find((d) => !d.gatewayCode && idleIds().includes(d.id));
    if (!target) {
      setMessage(t('scanNoBoard', { code: text }));
      return;
    }
    try {
      await client.invoke('bench.assignCode', { deviceId: target.id, code: text });
      setMessage(t('scanAssigned', { code: text, port: target.path }));
      const next = devices.find((d) => d.id !== target.id && !d.gatewayCode && idleIds().includes(d.id));
      setSelected(next?.id ?? null);
    } catch (err) {
      setError(err);
    }
  };

  return (
    <section aria-labelledby="bench-title" className="screen">
      <div className="screen__head">
        <h2 id="bench-title">{t('title')}</h2>
        <p className="muted">{t('intro')}</p>
      </div>
      {esp32Profiles.length === 0 ? (
        <p className="notice">{t('noProfiles')}</p>
      ) : (
        <form className="toolbar" onSubmit={(e) => void onScan(e)}>
          <label className="field">
            {t('profile')}
            <select value={chosenProfile} onChange={(e) => setProfile(e.target.value)} data-testid="bench-profile">
              {esp32Profiles.map((p) => (
                <option key={p.name} value={p.name}>
                  {p.name}
                </option>
              ))}
            </select>
          </label>
          <label className="field field--grow">
            {t('scanLabel')}
            <input
              value={scan}
              onChange={(e) => setScan(e.target.value)}
              autoFocus
              autoComplete="off"
              spellCheck={false}
              aria-describedby={scanError ? 'scan-hint scan-err' : 'scan-hint'}
              aria-invalid={scanError ? true : undefined}
              data-testid="scan-input"
            />
            {scanError && (
              <span id="scan-err" className="field__error" role="alert" data-testid="scan-error">
                {scanError}
              </span>
            )}
          </label>
          <button type="button" className="btn btn--primary btn--big" title={t('provisionAllHint')} onClick={() => void provision(idleIds())} data-testid="provision-all">
            {t('provisionAll')}
          </button>
          <small id="scan-hint" className="field__hint toolbar__hint">
            {t('scanHint')}
          </small>
        </form>
      )}
      <p className="summary" aria-live="polite">
        {t('summary', { boards: devices.length, ...counts })}
        {message && ` — ${message}`}
      </p>
      <ErrorNotice error={error} onDismiss={() => setError(undefined)} />
      {devices.length === 0 ? (
        <div className="empty">
          <p>{t('noBoards')}</p>
          <p className="muted">{t('noBoardsHint')}</p>
        </div>
      ) : (
        <div className="board-grid">
          {devices.map((d) => (
            <BoardCard key={d.id} device={d} selected={selected === d.id} onSelect={setSelected} onProvision={provisionOne} />
          ))}
        </div>
      )}
      {counts.done + counts.failed > 0 && (
        <button type="button" className="btn btn--ghost" onClick={() => void client.invoke('jobs.clearFinished').catch(setError)}>
          {t('clearFinished')}
        </button>
      )}
    </section>
  );
}
