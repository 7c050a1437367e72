import type { FileData } from '../../shared/views.js';
import { StationError } from '../../shared/ipc-errors.js';
import type { ClaimLabels } from './claim-labels.js';
import type { JobsHub } from './jobs-hub.js';
import { claimLabelPdf, claimLabelSvg, labelPdf, labelSheetPdf, labelSvg, type ClaimLabelData, type LabelData, type SheetLabel } from './labels.js';
import type { LogView } from './log-view.js';

/** What a job's label shows: a board's final identity, a bench-born board's claim label, or nothing (yet). */
type JobLabel = { kind: 'board'; data: LabelData } | { kind: 'claim'; data: ClaimLabelData } | { kind: 'claim-gone' } | { kind: 'none' };

/**
 * Labels as files for the UI: one board's (SVG to preview, PDF), or a batch's on A4 sheets. A
 * bench-born board's label carries its claim secret, which only this process's memory holds
 * (ClaimLabels): once that is gone the label cannot be made again.
 */
export class LabelFiles {
  constructor(
    private readonly hub: JobsHub,
    private readonly logView: LogView,
    private readonly claims: ClaimLabels,
  ) {}

  private of(jobId: string): JobLabel {
    const claim = this.claims.get(jobId);
    if (claim) return { kind: 'claim', data: claim };
    const live = this.hub.queue.get(jobId);
    const record = live ? undefined : this.logView.get(jobId);
    const steps = live ? live.steps : record!.steps;
    if (steps.some((st) => st.name === 'birth-identity')) return { kind: 'claim-gone' };
    const data: Partial<LabelData> = live
      ? { mac: live.mac, gatewayCode: live.gatewayCode, certificateSerial: live.certificateSerial, expiresAt: live.certificateExpiresAt ?? null }
      : { mac: record!.mac ?? undefined, gatewayCode: record!.gatewayCode ?? undefined, certificateSerial: record!.certificateSerial ?? undefined, expiresAt: record!.certificateExpiresAt };
    return data.mac && data.gatewayCode && data.certificateSerial ? { kind: 'board', data: data as LabelData } : { kind: 'none' };
  }

  async file(jobId: string, format: 'svg' | 'pdf'): Promise<FileData> {
    const label = this.of(jobId);
    if (label.kind === 'claim-gone') {
      throw new StationError('CONFLICT', 'The claim secret of this board is no longer held by the station: the server shows it only once, and the station keeps it only in memory until the label is printed.', {
        hint: 'Provision the board again with the same profile and choose "replace": it gets a new birth identity and a new label.',
      });
    }
    if (label.kind === 'none') throw new StationError('CONFLICT', 'This job has no certificate yet, so there is nothing to print.');
    const d = label.data;
    if (label.kind === 'claim') {
      const base = `claim-label-${d.mac.replace(/:/g, '')}`;
      if (format === 'svg') return { fileName: `${base}.svg`, mime: 'image/svg+xml', base64: Buffer.from(claimLabelSvg(label.data), 'utf8').toString('base64') };
      return { fileName: `${base}.pdf`, mime: 'application/pdf', base64: Buffer.from(await claimLabelPdf(label.data)).toString('base64') };
    }
    const base = `label-${d.mac.replace(/:/g, '')}`;
    if (format === 'svg') return { fileName: `${base}.svg`, mime: 'image/svg+xml', base64: Buffer.from(labelSvg(label.data), 'utf8').toString('base64') };
    return { fileName: `${base}.pdf`, mime: 'application/pdf', base64: Buffer.from(await labelPdf(label.data)).toString('base64') };
  }

  /** One PDF with the labels of the given jobs (board and claim labels alike; jobs without one are left out), on A4 sheets. */
  async sheet(jobIds: string[]): Promise<FileData> {
    const labels: SheetLabel[] = [];
    for (const id of jobIds) {
      const l = this.of(id);
      if (l.kind === 'board' || l.kind === 'claim') labels.push(l.data);
    }
    if (labels.length === 0) throw new StationError('CONFLICT', 'None of these jobs has a certificate yet, so there is nothing to print.');
    const day = new Date().toISOString().slice(0, 10);
    return { fileName: `labels-${day}-${labels.length}.pdf`, mime: 'application/pdf', base64: Buffer.from(await labelSheetPdf(labels)).toString('base64') };
  }
}
