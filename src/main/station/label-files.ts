import type { FileData } from '../../shared/views.js';
import { StationError } from '../../shared/ipc-errors.js';
import type { JobsHub } from './jobs-hub.js';
import { labelPdf, labelSheetPdf, labelSvg, type LabelData } from './labels.js';
import type { LogView } from './log-view.js';

/** Labels as files for the UI: one board's (SVG to preview, PDF), or a batch's on A4 sheets. */
export class LabelFiles {
  constructor(
    private readonly hub: JobsHub,
    private readonly logView: LogView,
  ) {}

  /** What a job's label shows, from the live job or the station log; undefined while it has no certificate. */
  data(jobId: string): LabelData | undefined {
    const live = this.hub.queue.get(jobId);
    let data: Partial<LabelData> | undefined;
    if (live) data = { mac: live.mac, gatewayCode: live.gatewayCode, certificateSerial: live.certificateSerial, expiresAt: live.certificateExpiresAt ?? null };
    else {
      const r = this.logView.get(jobId);
      data = { mac: r.mac ?? undefined, gatewayCode: r.gatewayCode ?? undefined, certificateSerial: r.certificateSerial ?? undefined, expiresAt: r.certificateExpiresAt };
    }
    return data.mac && data.gatewayCode && data.certificateSerial ? (data as LabelData) : undefined;
  }

  async file(jobId: string, format: 'svg' | 'pdf'): Promise<FileData> {
    const d = this.data(jobId);
    if (!d) throw new StationError('CONFLICT', 'This job has no certificate yet, so there is nothing to print.');
    const base = `label-${d.mac.replace(/:/g, '')}`;
    if (format === 'svg') return { fileName: `${base}.svg`, mime: 'image/svg+xml', base64: Buffer.from(labelSvg(d), 'utf8').toString('base64') };
    return { fileName: `${base}.pdf`, mime: 'application/pdf', base64: Buffer.from(await labelPdf(d)).toString('base64') };
  }

  /** One PDF with the labels of the given jobs (those that have a certificate), on A4 sheets. */
  async sheet(jobIds: string[]): Promise<FileData> {
    const labels = jobIds.map((id) => this.data(id)).filter((d): d is LabelData => d !== undefined);
    if (labels.length === 0) throw new StationError('CONFLICT', 'None of these jobs has a certificate yet, so there is nothing to print.');
    const day = new Date().toISOString().slice(0, 10);
    return { fileName: `labels-${day}-${labels.length}.pdf`, mime: 'application/pdf', base64: Buffer.from(await labelSheetPdf(labels)).toString('base64') };
  }
}
