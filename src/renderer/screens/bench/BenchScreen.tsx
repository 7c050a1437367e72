import { useCallback, useEffect, useMemo, useRef, useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { parseMac } from '@tds/server/contract';
import type { JobSnapshot } from '../../../shared/jobs.js';
import { GatewayCodeSchema } from '../../../shared/inputs.js';
import type { BenchDevice } from '../../../shared/views.js';
import { useLive, useStation } from '../../app/context.js';
import { useDevices, useJobs } from '../../app/hooks.js';
import { useSettings } from '../../app/settings-context.js';
import { announce } from '../../components/Announcer.js';
import { saveFile } from '../../components/download.js';
import { ErrorNotice } from '../../components/ErrorNotice.js';
import { returnFocusHome, useFocusHome } from '../../components/focus.js';
import { LabelDialog, type LabelJob } from '../../components/LabelDialog.js';
import { AutoPrint } from './AutoPrint.js';
import { BenchOptions } from './BenchOptions.js';
import { BoardCard } from './BoardCard.js';
import { BulkAnswer } from './BulkAnswer.js';
import { ConsolePanel } from './ConsolePanel.js';
import { useBenchFeedback } from './use-bench-feedback.js';
import { useStrayScan } from './stray-scan.js';

const ACTIVE = new Set(['queued', 'running', 'waiting-input']);

/**
 * The technician's screen: every board as a slot card; the scan field keeps focus (it is the
 * screen's home: focus comes back to it after every action) so a barcode scanner — a keyboard that
 * types and presses Enter — assigns gateway codes; Enter with nothing typed starts the new boards.
 */
export function BenchScreen() {
  const { t } = useTranslation('bench');
  const { t: tc } = useTranslation();
  const client = useStation();
  const live = useLive();
  const { settings, profiles, setSettings } = useSettings();
  const devices = useDevices();
  const jobs = useJobs();
  const esp32Profiles = useMemo(() => profiles.filter((p) => p.esp32), [profiles]);
  const chosenProfile = settings.activeProfile && esp32Profiles.some((p) => p.name === settings.activeProfile) ? settings.activeProfile : (esp32Profiles[0]?.name ?? '');
  const [selected, setSelected] = useState<string | null>(null);
  const [scan, setScan] = useState('');
  const [message, setMessage] = useState('');
  const [error, setError] = useState<unknown>();
  const [scanError, setScanError] = useState('');
  const [justAssigned, setJustAssigned] = useState<{ deviceId: string; code: string } | null>(null);
  const [showOptions, setShowOptions] = useState(false);
  const [consoleFor, setConsoleFor] = useState<string | null>(null);
  const [labelFor, setLabelFor] = useState<LabelJob | null>(null);
  const scanRef = useRef<HTMLInputElement>(null);
  useFocusHome(scanRef);

  const slotLabels = useMemo(() => new Map(devices.map((d, i) => [d.id, d.slot.name ?? t('card.unnamed', { n: i + 1 })])), [devices, t]);
  const label = useCallback((d: BenchDevice | undefined): string => (d ? (slotLabels.get(d.id) ?? d.path) : ''), [slotLabels]);
  const jobOf = useCallback((d: BenchDevice): JobSnapshot | undefined => (d.jobId ? jobs.find((j) => j.id === d.jobId) : undefined), [jobs]);

  const counts = useMemo(() => {
    const mine = devices.map(jobOf).filter((j): j is JobSnapshot => !!j);
    const n = (states: string[]): number => mine.filter((j) => states.includes(j.state)).length;
    return { boards: devices.length, working: n(['queued', 'running']), waiting: n(['waiting-input']), done: n(['succeeded']), failed: n(['failed']), skipped: n(['skipped', 'cancelled']) };
  }, [devices, jobOf]);

  const asking = useMemo(() => devices.map(jobOf).filter((j): j is JobSnapshot => j?.question?.kind === 'reprovision'), [devices, jobOf]);
  const bulk = asking.length > 1;
  const { printQueue, printed } = useBenchFeedback(devices, label);

  const say = useCallback((text: string, politeness: 'polite' | 'assertive' = 'polite') => {
    setMessage(text);
    announce(text, politeness);
  }, []);

  const provision = useCallback(
    async (deviceIds: string[], onlyNew: boolean) => {
      setError(undefined);
      if (deviceIds.length === 0) return say(t('nothingToStart'));
      try {
        const r = await client.invoke('bench.provision', { deviceIds, profile: chosenProfile, onlyNew });
        const parts = [r.jobIds.length ? t('started', { count: r.jobIds.length }) : t('nothingToStart')];
        const left = r.skipped.filter((s) => s.reason !== 'running').length;
        if (left) parts.push(t('skippedBoards', { count: left }));
        say(parts.join(' '));
      } catch (err) {
        setError(err);
      }
    },
    [client, chosenProfile, say, t],
  );
  const provisionOne = useCallback((id: string) => void provision([id], false), [provision]);
  const toggleSelected = useCallback((id: string) => setSelected((s) => (s === id ? null : id)), []);
  const startNew = (): Promise<void> => provision(devices.map((d) => d.id), true);

  const idle = (d: BenchDevice): boolean => {
    const j = d.jobId ? live.jobs.get(d.jobId) : undefined;
    return !j || !ACTIVE.has(j.state);
  };

  /** One scan, from the scan field or caught elsewhere on the screen. Returns false when it was refused. */
  const takeScan = async (raw: string): Promise<boolean> => {
    const text = raw.trim();
    setScanError('');
    if (!text) {
      await startNew();
      return true;
    }
    const asMac = parseMac(text);
    if (asMac.ok) {
      const byMac = devices.find((d) => (d.mac ?? (d.jobId ? live.jobs.get(d.jobId)?.mac : undefined)) === asMac.mac);
      if (byMac) {
        setSelected(byMac.id);
        say(t('scanSelected', { slot: label(byMac) }));
        return true;
      }
    }
    // A misread or mistyped code stays in the field, marked, so the operator can fix or rescan it.
    if (!GatewayCodeSchema.safeParse(text).success) {
      setScanError(tc('validation.gatewayCode'));
      return false;
    }
    const chosen = devices.find((d) => d.id === selected && idle(d));
    const target = chosen ?? devices.find((d) => !d.gatewayCode && idle(d));
    if (!target) {
      say(t('scanNoBoard', { code: text }), 'assertive');
      return true;
    }
    try {
      await client.invoke('bench.assignCode', { deviceId: target.id, code: text });
      setJustAssigned({ deviceId: target.id, code: text });
      // The selection was for this code only: it is used up, and does not move to another board.
      if (chosen) setSelected(null);
      say(t('scanAssigned', { code: text, slot: label(target) }));
    } catch (err) {
      setError(err);
    }
    return true;
  };

  const onSubmit = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    if (await takeScan(scan)) setScan('');
  };

  useStrayScan((text, dialogOpen) => {
    if (dialogOpen) {
      announce(t('scanLost', { code: text }), 'assertive');
      return;
    }
    announce(t('scanStray', { code: text }));
    setScan(text);
    scanRef.current?.focus();
    void takeScan(text).then((ok) => ok && setScan(''));
  });

  // The scan field is where the screen starts.
  useEffect(() => {
    scanRef.current?.focus({ preventScroll: true });
  }, []);

  const batchLabels = async (): Promise<void> => {
    const done = devices.map(jobOf).filter((j): j is JobSnapshot => j?.state === 'succeeded');
    try {
      saveFile(await client.invoke('labels.sheet', { jobIds: done.map((j) => j.id) }));
      returnFocusHome();
    } catch (err) {
      setError(err);
    }
  };

  const consoleDevice = devices.find((d) => d.id === consoleFor);
  return (
    <section aria-labelledby="bench-title" className="screen">
      <div className="screen__head">
        <h2 id="bench-title">{t('title')}</h2>
        <p className="muted">{t('intro')}</p>
      </div>
      {esp32Profiles.length === 0 ? (
        <p className="notice">{t('noProfiles')}</p>
      ) : (
        <form className="toolbar" onSubmit={(e) => void onSubmit(e)}>
          <label className="field">
            {t('profile')}
            <select
              value={chosenProfile}
              onChange={(e) => {
                void client.invoke('settings.update', { activeProfile: e.target.value }).then(setSettings, setError);
                returnFocusHome();
              }}
              data-testid="bench-profile"
            >
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
              ref={scanRef}
              value={scan}
              onChange={(e) => setScan(e.target.value)}
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
          <button type="button" className="btn btn--primary btn--big" title={t('provisionAllHint')} onClick={() => void startNew().then(() => returnFocusHome())} data-testid="provision-all">
            {t('provisionAll')}
          </button>
          <button type="button" className="btn" aria-expanded={showOptions} aria-controls="bench-options" onClick={() => setShowOptions((v) => !v)}>
            {t('options.open')}
          </button>
          <small id="scan-hint" className="field__hint toolbar__hint">
            {t('scanHint')}
          </small>
        </form>
      )}
      {showOptions && (
        <div id="bench-options">
          <BenchOptions />
        </div>
      )}
      <p className="summary" data-testid="bench-summary">
        {t('summary', counts)}
        {message && <span data-testid="bench-message"> — {message}</span>}
      </p>
      <ErrorNotice error={error} onDismiss={() => setError(undefined)} />
      {bulk && <BulkAnswer jobs={asking} />}
      {devices.length === 0 ? (
        <div className="empty">
          <p>{t('noBoards')}</p>
          <p className="muted">{t('noBoardsHint')}</p>
        </div>
      ) : (
        <div className="board-grid">
          {devices.map((d) => (
            <BoardCard
              key={d.id}
              device={d}
              slotLabel={label(d)}
              selected={selected === d.id}
              justScanned={justAssigned?.deviceId === d.id && d.gatewayCode === justAssigned.code ? justAssigned.code : null}
              questionFocus={!bulk}
              onSelect={toggleSelected}
              onProvision={provisionOne}
              onConsole={setConsoleFor}
              onLabel={setLabelFor}
            />
          ))}
        </div>
      )}
      <div className="actions">
        {counts.done > 0 && (
          <button type="button" className="btn" onClick={() => void batchLabels()} data-testid="labels-batch">
            {t('labelsBatch')}
          </button>
        )}
        {counts.done + counts.failed + counts.skipped > 0 && (
          <button type="button" className="btn btn--ghost" onClick={() => void client.invoke('jobs.clearFinished').then(() => returnFocusHome(), setError)}>
            {t('clearFinished')}
          </button>
        )}
      </div>
      {consoleDevice && <ConsolePanel device={consoleDevice} slotLabel={label(consoleDevice)} onClose={() => setConsoleFor(null)} />}
      {labelFor && <LabelDialog job={labelFor} onClose={() => setLabelFor(null)} />}
      <AutoPrint queue={printQueue} onPrinted={printed} />
    </section>
  );
}
