/**
 * Renewals that reach the device. A pending successor made for delivery (the renewal sweep,
 * `renew/` with `deliver`) waits in `renewal_deliveries`; the server then asks the device over MQTT
 * (`cert_renew`, the MQTT renewal path in mqtt/renewal*.ts) as soon as it is online: at once when it is,
 * else when the presence consumer next sees it come online. The device answers with a CSR; its
 * certificate is stored as the pending successor (a CSR for the waiting certificate's own key gets
 * that very certificate; a CSR for a new key — what the ESP32 firmware and the Pi agent send —
 * replaces it, revoked as superseded, in the same transaction), sent back in `cert_update`, and only
 * the device's `cert/ack` activates it and revokes the old certificate.
 *
 * - Idempotent: an attempt is recorded (database) before it is sent, and none is repeated within the
 *   resend interval, so repeated online events, the periodic pass and several triggers at once ask
 *   the device once. Until the device answers (its CSR replaces the waiting certificate with one for
 *   its new key), asking again is harmless: after 5 minutes, or 30 s when it reconnects (a command
 *   sent while it was away is lost). Once it answered, it is asked again only after `resendAfterMs`
 *   (an hour: its own CSR retries get the same certificate; a second key now would replace it).
 *   A device that never acks keeps its old certificate.
 * - A waiting certificate that would expire before it can be delivered (before the next sweep), or
 *   whose predecessor expired (the device can no longer connect to receive it), is cancelled:
 *   revoked (cessationOfOperation) with the note DELIVERY_CANCEL_NOTE.
 * The transport is attached by the MQTT side (`attachSender`); without one nothing is sent and the
 * renewals wait.
 */
import { X509Certificate } from 'node:crypto';
import type { RenewalDeliveryRecord } from '../store/repository.js';
import { StateError } from '../store/repository.js';
import type { IssuanceCore } from './core.js';

/** Sends `cert_renew` with this command id to the device; rejects when the broker is not reachable. */
export type RenewalSender = (mac: string, commandId: string) => Promise<void>;

export const DELIVERY_CANCEL_NOTE = 'renewal not delivered in time';
/** The device's own retries take about an hour (ESP32 firmware: 6 CSRs, 10 min apart). */
export const DEFAULT_RESEND_AFTER_MS = 60 * 60_000;
/** Not answered yet: asked again after this (periodic pass) ... */
export const UNANSWERED_RESEND_MS = 5 * 60_000;
/** ... or after this when the device reconnects. */
export const RECONNECT_RESEND_MS = 30_000;

/** The device answered: the waiting certificate is no longer the one for the predecessor's key. */
function answered(d: RenewalDeliveryRecord): boolean {
  const key = (pem: string): Buffer => new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' });
  return !key(d.pendingPem).equals(key(d.predecessorPem));
}

export interface DeliveryAttempt {
  mac: string;
  gatewayId: number;
  pendingSerial: string;
  commandId: string;
  attempt: number;
  sent: boolean;
  error?: string;
}

/** `renew-<first 16 hex of the certificate being renewed>-<attempt>`: fits the protocol's id rule. */
export function deliveryCommandId(predecessorSerial: string, attempt: number): string {
  return `renew-${predecessorSerial.slice(0, 16).toLowerCase()}-${attempt}`;
}

export class RenewalDeliveryService {
  private sender: RenewalSender | undefined;
  resendAfterMs = DEFAULT_RESEND_AFTER_MS;

  constructor(private readonly core: IssuanceCore) {}

  /** The MQTT side plugs its `cert_renew` sender in (undefined: no MQTT connection). */
  attachSender(sender: RenewalSender | undefined): void {
    this.sender = sender;
  }

  get canSend(): boolean {
    return this.sender !== undefined;
  }

  /** Open deliveries, e.g. for a gateway's detail view. */
  open(filter: { mac?: string; gatewayId?: number; onlineOnly?: boolean } = {}): Promise<RenewalDeliveryRecord[]> {
    return this.core.repo.listRenewalDeliveries({ ...filter, now: this.core.at() });
  }

  /** The presence consumer saw `mac` come online: deliver its waiting renewal, if any. */
  async onOnline(mac: string): Promise<DeliveryAttempt[]> {
    return this.deliverAll(await this.open({ mac }), RECONNECT_RESEND_MS);
  }

  /** A gateway's waiting renewal, asked for now if the gateway is online (`renew/` with `deliver`). */
  async deliverNow(gatewayId: number): Promise<DeliveryAttempt[]> {
    return this.deliverAll(await this.open({ gatewayId, onlineOnly: true }), RECONNECT_RESEND_MS);
  }

  /** Every waiting renewal of a gateway that is online now (after a sweep, and periodically). */
  async deliverToOnline(): Promise<DeliveryAttempt[]> {
    return this.deliverAll(await this.open({ onlineOnly: true }), UNANSWERED_RESEND_MS);
  }

  private async deliverAll(list: RenewalDeliveryRecord[], unansweredResendMs: number): Promise<DeliveryAttempt[]> {
    const out: DeliveryAttempt[] = [];
    for (const d of list) {
      const a = await this.deliverOne(d, answered(d) ? this.resendAfterMs : unansweredResendMs);
      if (a) out.push(a);
    }
    return out;
  }

  private async deliverOne(d: RenewalDeliveryRecord, resendMs: number): Promise<DeliveryAttempt | undefined> {
    const c = this.core;
    const send = this.sender;
    if (!send) return undefined;
    const commandId = deliveryCommandId(d.predecessorSerial, d.attempts + 1);
    const notBefore = c.at(-resendMs);
    if (d.lastAttemptAt !== null && d.lastAttemptAt >= notBefore) return undefined;
    const claimed = await c.repo.claimRenewalDeliveryAttempt(d.predecessorId, c.at(), notBefore, commandId);
    if (!claimed) return undefined; // another trigger got there first, or the renewal closed meanwhile
    const attempt: DeliveryAttempt = { mac: d.mac, gatewayId: d.gatewayId, pendingSerial: claimed.pendingSerial, commandId, attempt: claimed.attempts, sent: false };
    try {
      await send(d.mac, commandId);
      attempt.sent = true;
    } catch (err) {
      attempt.error = err instanceof Error ? err.message : String(err);
    }
    await c.repo.appendAudit({
      ...c.systemAudit('server', 'certificate.renew_deliver', `${attempt.sent ? 'cert_renew sent' : `cert_renew not sent: ${attempt.error ?? ''}`} to ${d.mac} (command ${commandId}, attempt ${claimed.attempts}); waiting: ${claimed.pendingSerial}, replaces ${d.predecessorSerial}`.slice(0, 300), d.accountId),
      object: `gateway:${d.gatewayId}`,
      result: attempt.sent ? 'ok' : 'error',
    });
    return attempt;
  }

  /**
   * Cancels waiting renewals that can no longer be delivered: the waiting certificate expires before
   * `horizon` (the next sweep), or the certificate it renews has expired. Then forgets closed rows.
   */
  async cancelUndeliverable(horizon: string, actorLabel: string): Promise<{ cancelled: RenewalDeliveryRecord[] }> {
    const c = this.core;
    const now = c.at();
    const cancelled: RenewalDeliveryRecord[] = [];
    for (const d of await this.open()) {
      const predecessor = await c.repo.getCertificateBySerial(d.predecessorSerial);
      const predecessorExpired = predecessor !== undefined && predecessor.expiresAt <= now;
      if (d.pendingExpiresAt > horizon && !predecessorExpired) continue;
      const why = predecessorExpired
        ? `certificate ${d.predecessorSerial} expired at ${predecessor.expiresAt} before the device took its renewal`
        : `it expires at ${d.pendingExpiresAt}, before the next renewal sweep`;
      try {
        const revoked = await c.repo.revokeCertificateBySerial(
          d.pendingSerial,
          'cessationOfOperation',
          DELIVERY_CANCEL_NOTE,
          now,
          { ...c.systemAudit(actorLabel, 'certificate.renew_cancel', `undelivered renewal of ${d.mac} cancelled: ${why}`, d.accountId), object: `gateway:${d.gatewayId}` },
          { status: 'pending' },
        );
        for (const r of revoked) c.announceRevoked(r);
        cancelled.push(d);
      } catch (err) {
        if (!(err instanceof StateError)) throw err; // activated or cancelled meanwhile: nothing to do
      }
    }
    if (cancelled.length > 0) await c.crl.publish(`${cancelled.length} undelivered renewal(s) cancelled`);
    await c.repo.pruneRenewalDeliveries(now);
    return { cancelled };
  }
}
