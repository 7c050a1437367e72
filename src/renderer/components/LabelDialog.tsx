import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import type { FileData } from '../../shared/views.js';
import { useStation } from '../app/context.js';
import { Dialog } from './Dialog.js';
import { dataUrl, saveBlob, saveFile } from './download.js';
import { ErrorNotice } from './ErrorNotice.js';

/** 62 mm at 300 dpi: sharp on thermal label printers. */
const PNG_WIDTH = 732;

/** Rasterises the core's SVG label to PNG in the page (no native image library in the core). */
async function svgToPng(svg: FileData): Promise<Blob> {
  const img = new Image();
  img.src = dataUrl(svg);
  await img.decode();
  const canvas = document.createElement('canvas');
  canvas.width = PNG_WIDTH;
  canvas.height = Math.round((PNG_WIDTH * img.naturalHeight) / img.naturalWidth);
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('no 2D canvas');
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
  return new Promise((resolve, reject) => canvas.toBlob((b) => (b ? resolve(b) : reject(new Error('PNG encoding failed'))), 'image/png'));
}

/** The job a label is for: a live job (Bench) or a row of the station log (Log). */
export interface LabelJob {
  id: string;
  mac?: string | null | undefined;
  gatewayCode?: string | null | undefined;
  certificateSerial?: string | null | undefined;
}

/** A board's label (MAC, gateway code, certificate serial, QR) as PNG or PDF, or printed; from the Bench or again from the Log. */
export function LabelDialog({ job, onClose }: { job: LabelJob; onClose: () => void }) {
  const { t } = useTranslation();
  const client = useStation();
  const [svg, setSvg] = useState<FileData>();
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    client.invoke('labels.render', { jobId: job.id, format: 'svg' }).then(setSvg, setError);
  }, [client, job.id]);
  const base = svg ? svg.fileName.replace(/\.svg$/, '') : 'label';
  const png = async (): Promise<void> => {
    try {
      if (svg) saveBlob(await svgToPng(svg), `${base}.png`);
    } catch (err) {
      setError(err);
    }
  };
  const pdf = async (): Promise<void> => {
    try {
      saveFile(await client.invoke('labels.render', { jobId: job.id, format: 'pdf' }));
    } catch (err) {
      setError(err);
    }
  };
  return (
    <Dialog
      open
      title={t('label.title', { mac: job.mac ?? '' })}
      onClose={onClose}
      footer={
        <div className="actions">
          <button type="button" className="btn btn--primary" disabled={!svg} onClick={() => void png()} data-testid="label-png">
            {t('label.png')}
          </button>
          <button type="button" className="btn" onClick={() => void pdf()} data-testid="label-pdf">
            {t('label.pdf')}
          </button>
          <button type="button" className="btn" disabled={!svg} onClick={() => window.print()}>
            {t('label.print')}
          </button>
        </div>
      }
    >
      <ErrorNotice error={error} />
      {svg && (
        <div className="print-area">
          <img className="label-preview" src={dataUrl(svg)} alt={t('label.preview', { mac: job.mac, code: job.gatewayCode, serial: job.certificateSerial })} />
        </div>
      )}
    </Dialog>
  );
}

/** "Label" for a job that has a certificate (the Log's job detail): opens the label to print it again. */
export function ReprintLabelButton({ job }: { job: LabelJob }) {
  const { t } = useTranslation();
  const [open, setOpen] = useState(false);
  if (!job.certificateSerial) return null;
  return (
    <>
      <button type="button" className="btn" onClick={() => setOpen(true)} data-testid="reprint-label">
        {t('label.reprint')}
      </button>
      {open && <LabelDialog job={job} onClose={() => setOpen(false)} />}
    </>
  );
}
