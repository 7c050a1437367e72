import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import type { FileData } from '../../../shared/views.js';
import { useStation } from '../../app/context.js';
import { dataUrl } from '../../components/download.js';

/**
 * Auto-print: the label of each board that passes, one after the other, through the browser's (or
 * the app's) print. The label is drawn off screen; the print style sheet shows only it.
 */
export function AutoPrint({ queue, onPrinted }: { queue: { jobId: string; mac: string; code: string; serial: string }[]; onPrinted: (jobId: string) => void }) {
  const { t } = useTranslation();
  const client = useStation();
  const head = queue[0];
  const [svg, setSvg] = useState<{ jobId: string; file: FileData }>();
  const headId = head?.jobId;
  useEffect(() => {
    if (!headId) return;
    let alive = true;
    client.invoke('labels.render', { jobId: headId, format: 'svg' }).then(
      (file) => alive && setSvg({ jobId: headId, file }),
      () => alive && onPrinted(headId),
    );
    return () => {
      alive = false;
    };
  }, [client, headId, onPrinted]);
  if (!head || svg?.jobId !== head.jobId) return null;
  return (
    <div className="print-area print-area--auto" aria-hidden="true">
      <img
        className="label-preview"
        src={dataUrl(svg.file)}
        alt={t('label.preview', { mac: head.mac, code: head.code, serial: head.serial })}
        onLoad={() => {
          window.print();
          onPrinted(head.jobId);
        }}
      />
    </div>
  );
}
