import type { ClaimLabel } from '../certs/birth-issuer.js';

/** Labels kept at most (the live screens keep the last 200 finished jobs too). */
const MAX_LABELS = 256;

/**
 * The claim labels of bench-born boards, by job: only in this process's memory, never in the station
 * log, a resume file or an event. The server shows a claim secret once; the station keeps it just long
 * enough to print (and reprint) the label, and forgets it when the core stops or the label is dropped.
 */
export class ClaimLabels {
  private readonly labels = new Map<string, ClaimLabel>();

  /** A new birth identity of a MAC voids the labels of its earlier ones. */
  put(jobId: string, label: ClaimLabel): void {
    for (const [id, l] of this.labels) if (l.mac === label.mac) this.labels.delete(id);
    this.labels.delete(jobId);
    this.labels.set(jobId, label);
    while (this.labels.size > MAX_LABELS) this.labels.delete(this.labels.keys().next().value!);
  }

  get(jobId: string): ClaimLabel | undefined {
    return this.labels.get(jobId);
  }

  /** A retry's label replaces its earlier attempt's (whose birth identity it replaced). */
  drop(jobId: string): void {
    this.labels.delete(jobId);
  }

  clear(): void {
    this.labels.clear();
  }
}
