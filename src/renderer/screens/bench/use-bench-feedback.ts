import { useCallback, useEffect, useRef, useState } from 'react';
import { useTranslation } from 'react-i18next';
import type { BenchDevice } from '../../../shared/views.js';
import { useLive, useStation } from '../../app/context.js';
import { useSettings } from '../../app/settings-context.js';
import { announce } from '../../components/Announcer.js';
import { useDynamicT } from '../../i18n/dynamic.js';
import { beep, notify } from './feedback.js';

const ACTIVE = new Set(['queued', 'running', 'waiting-input']);

export interface PrintItem {
  jobId: string;
  mac: string;
  code: string;
  serial: string;
}

/**
 * What happens when one of the Bench's boards passes or fails while the screen is open: it is
 * announced to screen readers, and, as the Bench options say, a beep, an OS notification and (for a
 * pass) its label in the print queue. Jobs already finished when the screen opened say nothing.
 */
export function useBenchFeedback(devices: BenchDevice[], slotLabel: (d: BenchDevice | undefined) => string): { printQueue: PrintItem[]; printed: (jobId: string) => void } {
  const { t } = useTranslation('bench');
  const { has, tr } = useDynamicT();
  const client = useStation();
  const live = useLive();
  const { settings } = useSettings();
  const [printQueue, setPrintQueue] = useState<PrintItem[]>([]);
  // The listener below reads the latest of these without subscribing again.
  const latest = useRef({ devices, slotLabel, options: settings.bench, t, has, tr, client });
  useEffect(() => {
    latest.current = { devices, slotLabel, options: settings.bench, t, has, tr, client };
  });

  useEffect(() => {
    const seen = new Map<string, string>();
    const check = (): void => {
      const { devices, slotLabel, options, t, has, tr, client } = latest.current;
      for (const d of devices) {
        const job = d.jobId ? live.jobs.get(d.jobId) : undefined;
        if (!job) continue;
        const before = seen.get(job.id);
        seen.set(job.id, job.state);
        if (!before || !ACTIVE.has(before) || (job.state !== 'succeeded' && job.state !== 'failed')) continue;
        const slot = slotLabel(d);
        if (job.state === 'succeeded') {
          const text = t('feedback.passed', { slot, code: job.gatewayCode ?? job.mac ?? '' });
          announce(text);
          if (options.sound) beep('pass');
          if (options.notify) void notify(client, t('feedback.notifyPassed'), text);
          if (options.autoPrint && job.mac && job.gatewayCode && job.certificateSerial) {
            const item = { jobId: job.id, mac: job.mac, code: job.gatewayCode, serial: job.certificateSerial };
            setPrintQueue((q) => (q.some((x) => x.jobId === job.id) ? q : [...q, item]));
          }
        } else {
          const code = job.error?.code ?? 'INTERNAL';
          const reason = has(`errors.code.${code}`) ? tr(`errors.code.${code}`) : (job.error?.message ?? '');
          const text = t('feedback.failed', { slot, reason });
          announce(text, 'assertive');
          if (options.sound) beep('fail');
          if (options.notify) void notify(client, t('feedback.notifyFailed'), text);
        }
      }
    };
    check();
    return live.jobs.subscribeAll(check);
  }, [live]);

  const printed = useCallback((jobId: string) => setPrintQueue((q) => q.filter((x) => x.jobId !== jobId)), []);
  return { printQueue, printed };
}
