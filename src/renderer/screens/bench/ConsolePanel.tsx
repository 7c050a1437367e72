import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import type { BenchDevice } from '../../../shared/views.js';
import { RemoteError } from '../../app/client.js';
import { useStation } from '../../app/context.js';
import { useConsole, useJobLog } from '../../app/hooks.js';
import { Dialog } from '../../components/Dialog.js';
import { saveBlob } from '../../components/download.js';
import { ErrorNotice } from '../../components/ErrorNotice.js';
import { SerialConsole } from './SerialConsole.js';

/**
 * A board's serial console in its own wide panel: the latest job's log, then what the board prints
 * now (the port is opened while the board is idle), with Copy and Save. Closing it lets go of the
 * port and returns focus to the scan field.
 */
export function ConsolePanel({ device, slotLabel, onClose }: { device: BenchDevice; slotLabel: string; onClose: () => void }) {
  const { t } = useTranslation('bench');
  const client = useStation();
  const jobLines = useJobLog(device.jobId);
  const rawLines = useConsole(device.id);
  const [error, setError] = useState<unknown>();
  const [status, setStatus] = useState('');
  const lines = rawLines.length ? jobLines.concat(rawLines) : jobLines;
  useEffect(() => {
    // An idle board's port is opened for its live output; a busy one shows its job's log only.
    client.invoke('bench.console', { deviceId: device.id, open: true }).catch((err: unknown) => {
      if (!(err instanceof RemoteError && err.body.code === 'BUSY')) setError(err);
    });
    return () => {
      void client.invoke('bench.console', { deviceId: device.id, open: false }).catch(() => undefined);
    };
  }, [client, device.id]);
  const text = (): string => lines.join('\n') + '\n';
  const copy = async (): Promise<void> => {
    try {
      await navigator.clipboard.writeText(text());
      setStatus(t('consolePanel.copied'));
    } catch (err) {
      setError(err);
    }
  };
  const save = (): void => {
    const stamp = new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19);
    saveBlob(new Blob([text()], { type: 'text/plain;charset=utf-8' }), `console-${(device.mac ?? device.slot.key).replace(/[^A-Za-z0-9]+/g, '')}-${stamp}.log`);
  };
  const title = t('consolePanel.title', { slot: slotLabel });
  return (
    <Dialog
      open
      wide
      title={title}
      onClose={onClose}
      footer={
        <div className="actions">
          <button type="button" className="btn" onClick={() => void copy()} data-testid="console-copy">
            {t('consolePanel.copy')}
          </button>
          <button type="button" className="btn" onClick={save} data-testid="console-save">
            {t('consolePanel.save')}
          </button>
          <span role="status">{status}</span>
        </div>
      }
    >
      <ErrorNotice error={error} />
      <SerialConsole lines={lines} label={title} empty={t('consolePanel.empty')} />
    </Dialog>
  );
}
