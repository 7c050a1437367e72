/**
 * The scheduled jobs — the renewal sweep and the CRL re-sign — as one run each, the same whether
 * `serve`'s scheduler, a systemd timer (`tds-server renew-expiring` / `crl`) or an admin starts it:
 * every run is recorded (its last run per job in `scheduled_runs`, for `/healthz`) and audited
 * (`schedule.renewal`, `schedule.crl`, with the result), also when it fails.
 */
import type { ScheduledJob, ScheduledRunRecord } from '../store/repository.js';
import type { IssuanceCore } from './core.js';
import type { ExpiringRenewal, PendingRenewalService } from './pending-renewals.js';
import type { DeliveryAttempt, RenewalDeliveryService } from './renewal-delivery.js';

/** A run that did part of its work: recorded as an error, its outcome kept for the caller. */
export class PartialRunError<T> extends Error {
  constructor(
    message: string,
    readonly outcome: T,
  ) {
    super(message);
  }
}

export interface RenewalRunOutcome {
  renewed: ExpiringRenewal[];
  failed: { mac: string; serial: string; error: string }[];
  cancelled: number;
  delivered: DeliveryAttempt[];
}

export class ScheduledJobs {
  constructor(
    private readonly core: IssuanceCore,
    private readonly renewals: PendingRenewalService,
    private readonly deliveries: RenewalDeliveryService,
  ) {}

  /**
   * The sweep: a pending successor for every active device certificate expiring within `withinMs`
   * (delivered over MQTT), cancellation of waiting renewals that would expire before `nextSweepMs`
   * from now, then delivery to every device online now (when this process has an MQTT connection).
   */
  async renewal(actorLabel: string, withinMs: number, nextSweepMs: number): Promise<RenewalRunOutcome> {
    return this.record('renewal', actorLabel, async () => {
      const { renewed, failed } = await this.renewals.renewExpiring(withinMs, actorLabel);
      const { cancelled } = await this.deliveries.cancelUndeliverable(this.core.at(nextSweepMs), actorLabel);
      const delivered = await this.deliveries.deliverToOnline();
      const outcome = { renewed, failed, cancelled: cancelled.length, delivered };
      const detail = `${renewed.length} renewed, ${failed.length} failed, ${cancelled.length} undelivered cancelled, ${delivered.filter((d) => d.sent).length} asked now`;
      // Failures are recorded (the run's result is error) after the others were renewed.
      if (failed.length > 0) throw new PartialRunError(`${detail}; failed: ${failed.map((f) => `${f.mac}: ${f.error}`).join('; ')}`, outcome);
      return { outcome, detail };
    });
  }

  /** Re-signs the CRL now (also written to <data>/crl.pem and pushed to the brokers by a running server). */
  async crl(actorLabel: string): Promise<{ crlNumber: number; thisUpdate: string; nextUpdate: string }> {
    return this.record('crl', actorLabel, async () => {
      const crl = await this.core.crl.publish(`scheduled re-sign (${actorLabel})`);
      return { outcome: { crlNumber: crl.crlNumber, thisUpdate: crl.thisUpdate, nextUpdate: crl.nextUpdate }, detail: `CRL ${crl.crlNumber}, next update ${crl.nextUpdate}` };
    });
  }

  lastRuns(): Promise<ScheduledRunRecord[]> {
    return this.core.repo.listScheduledRuns();
  }

  private async record<T>(job: ScheduledJob, actorLabel: string, fn: () => Promise<{ outcome: T; detail: string }>): Promise<T> {
    const c = this.core;
    const startedAt = c.at();
    try {
      const { outcome, detail } = await fn();
      await c.repo.recordScheduledRun({ job, startedAt, finishedAt: c.at(), result: 'ok', detail }, c.systemAudit(actorLabel, `schedule.${job}`, detail));
      return outcome;
    } catch (err) {
      const detail = (err instanceof Error ? err.message : String(err)).slice(0, 300);
      await c.repo.recordScheduledRun(
        { job, startedAt, finishedAt: c.at(), result: 'error', detail },
        { ...c.systemAudit(actorLabel, `schedule.${job}`, detail), result: 'error' },
      );
      throw err;
    }
  }
}
