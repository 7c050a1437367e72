import { useEffect, useRef } from 'react';
import { useTranslation } from 'react-i18next';
import { useConsole, useJobLog } from '../../app/hooks.js';

/**
 * The board's live output: its latest job's log (esptool steps, then the device's boot log) followed
 * by raw serial lines when the console is open. Not a live region: it is far too chatty for a screen
 * reader; the card's state and steps carry what matters.
 */
export function SerialConsole({ deviceId, jobId, label }: { deviceId: string; jobId: string | null; label: string }) {
  const { t } = useTranslation('bench');
  const jobLines = useJobLog(jobId);
  const rawLines = useConsole(deviceId);
  const ref = useRef<HTMLPreElement>(null);
  const lines = rawLines.length ? jobLines.concat(rawLines) : jobLines;
  useEffect(() => {
    const el = ref.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [lines.length]);
  return (
    <pre ref={ref} className="console" tabIndex={0} aria-label={label} data-testid="console">
      {lines.length ? lines.slice(-300).join('\n') : t('card.consoleEmpty')}
    </pre>
  );
}
