/**
 * The pending-renewal state machine: a successor certificate waits (`pending`) next to the active
 * one until the device has been seen using it; confirmation makes it active and revokes the old one
 * (superseded), cancellation revokes it and keeps the old one. REST (`renew/` with `pending`,
 * `renew/confirm/`, `renew/cancel/`), renewal over MQTT and `renew-expiring` all go through
 * `addPendingSuccessor` and `activatePending` here.
 */
import { X509Certificate } from 'node:crypto';
import type { IssuedCertificate } from '../ca/authority.js';
import { NotFoundError, StateError, type CertificateRecord, type KeyOrigin, type NewAuditEvent, type PendingRenewalResult } from '../store/repository.js';
import { describeStatus, type Actor, type DeviceKeyInput, type IssuanceCore } from './core.js';
import type { IssueOutcome } from './provisioning.js';

/** A pending renewal: `certificate` waits for confirmation; `replaces` stays valid until then. */
export interface PendingRenewOutcome extends IssueOutcome {
  replaces: CertificateRecord;
}

export interface ConfirmOutcome {
  activated: CertificateRecord;
  /** The predecessor, now revoked (superseded); null when it had expired. */
  superseded: CertificateRecord | null;
  /** The certificate was already active (a repeated confirmation changes nothing). */
  alreadyConfirmed: boolean;
  /** The CRL that lists the superseded certificate. */
  crlNumber: number;
}

export interface CancelOutcome {
  cancelled: CertificateRecord;
  /** It had already been cancelled (a repeated cancellation changes nothing). */
  alreadyCancelled: boolean;
  /** The gateway's certificate, still valid. */
  active: CertificateRecord | null;
  crlNumber: number;
}

export interface ExpiringRenewal {
  mac: string;
  oldSerial: string;
  newSerial: string | null;
  oldExpiresAt: string;
}

/** Revocation note of a pending certificate withdrawn through renew/cancel/ (how a repeat is recognised). */
export const CANCEL_NOTE = 'pending renewal cancelled';

export class PendingRenewalService {
  constructor(private readonly core: IssuanceCore) {}

  /**
   * POST gateways/{id}/renew/ with `pending: true`: a new certificate that waits for confirmation;
   * the active one stays valid until then (field re-provisioning: the old identity keeps working until
   * the new one has been seen working). An earlier unconfirmed successor is replaced (revoked).
   */
  async renewPending(actor: Actor, gatewayId: number, input: DeviceKeyInput): Promise<PendingRenewOutcome> {
    const c = this.core;
    await c.authorize(actor, 'renew', `gateway:${gatewayId}`);
    return c.guard(actor, 'certificate.renew_pending', `gateway:${gatewayId}`, async () => {
      const gw = await c.gatewayOf(actor, gatewayId);
      const active = gw.activeCertificate;
      if (!active) throw new StateError(`gateway ${gatewayId} has no active certificate to keep valid during the renewal; renew it without "pending"`);
      if (active.expiresAt <= c.at()) {
        throw new StateError(`the certificate of gateway ${gatewayId} expired at ${active.expiresAt}, so there is nothing to keep valid; renew it without "pending"`);
      }
      const { cert, keyOrigin } = await c.issueForMac(gw.mac, input);
      const { certificate, replaced } = await this.addPendingSuccessor(
        active,
        cert,
        keyOrigin,
        c.audit(actor, 'certificate.renew_pending', 'ok', null, `gateway=${gatewayId} serial=${cert.serialNumber} replaces=${active.serialNumber}; waiting for confirmation`),
      );
      const notices = [`certificate ${active.serialNumber} stays valid until this one is confirmed (renew/confirm/) or cancelled (renew/cancel/)`];
      if (replaced) notices.push(`the unconfirmed certificate ${replaced.serialNumber} was revoked (superseded) and replaced by this one`);
      return { gateway: gw, certificate, replaces: active, notices, ...(cert.privateKeyPem ? { privateKeyPem: cert.privateKeyPem } : {}) };
    });
  }

  /**
   * POST gateways/{id}/renew/confirm/: the pending certificate becomes active and its predecessor is
   * revoked (superseded); the CRL is re-signed before the answer. Confirming the active certificate
   * again is a no-op (idempotent).
   */
  async confirmRenewal(actor: Actor, gatewayId: number, serialNumber: string): Promise<ConfirmOutcome> {
    const c = this.core;
    await c.authorize(actor, 'renew', `gateway:${gatewayId}`);
    return c.guard(actor, 'certificate.activate', `gateway:${gatewayId}`, async () => {
      await c.gatewayOf(actor, gatewayId);
      const certs = await c.repo.listGatewayCertificates(gatewayId);
      const cert = certs.find((x) => x.serialNumber === serialNumber);
      if (!cert) throw new NotFoundError(`gateway ${gatewayId} has no certificate with serial ${serialNumber}`);
      if (cert.status === 'active') {
        await c.repo.appendAudit(c.audit(actor, 'certificate.activate', 'ok', `certificate:${serialNumber}`, `gateway=${gatewayId}; already active (repeated confirmation, nothing changed)`));
        const previous = certs.find((x) => x.id === cert.replacesId && x.status === 'revoked') ?? null;
        return { activated: cert, superseded: previous, alreadyConfirmed: true, crlNumber: (await c.crl.ensureFresh()).crlNumber };
      }
      if (cert.status !== 'pending') {
        throw new StateError(`certificate ${serialNumber} is ${describeStatus(cert)} and cannot be confirmed; only a certificate waiting for confirmation can (renew again with "pending")`);
      }
      const r = await this.activate(serialNumber, c.audit(actor, 'certificate.activate', 'ok', null, `gateway=${gatewayId}; confirmed over the API`));
      return { activated: r.activated, superseded: r.superseded, alreadyConfirmed: false, crlNumber: r.crlNumber };
    });
  }

  /**
   * POST gateways/{id}/renew/cancel/: the pending certificate is revoked (cessationOfOperation) and the
   * active one stays; for a failed install. With a serial, only that certificate; cancelling it again
   * is a no-op (idempotent).
   */
  async cancelRenewal(actor: Actor, gatewayId: number, serialNumber?: string): Promise<CancelOutcome> {
    const c = this.core;
    await c.authorize(actor, 'renew', `gateway:${gatewayId}`);
    return c.guard(actor, 'certificate.renew_cancel', `gateway:${gatewayId}`, async () => {
      const gw = await c.gatewayOf(actor, gatewayId);
      const certs = await c.repo.listGatewayCertificates(gatewayId);
      const target = serialNumber === undefined ? certs.find((x) => x.status === 'pending') : certs.find((x) => x.serialNumber === serialNumber);
      if (!target) {
        if (serialNumber === undefined) throw new StateError(`gateway ${gatewayId} has no certificate waiting for confirmation`);
        throw new NotFoundError(`gateway ${gatewayId} has no certificate with serial ${serialNumber}`);
      }
      if (target.status === 'revoked' && target.revokeNote === CANCEL_NOTE) {
        await c.repo.appendAudit(c.audit(actor, 'certificate.renew_cancel', 'ok', `certificate:${target.serialNumber}`, `gateway=${gatewayId}; already cancelled (repeated cancellation, nothing changed)`));
        return { cancelled: target, alreadyCancelled: true, active: gw.activeCertificate, crlNumber: (await c.crl.ensureFresh()).crlNumber };
      }
      if (target.status !== 'pending') {
        const hint = target.status === 'active' ? ' (it was already confirmed); to withdraw it, revoke the gateway' : '';
        throw new StateError(`certificate ${target.serialNumber} is ${describeStatus(target)}${hint}; only a certificate waiting for confirmation can be cancelled`);
      }
      const [cancelled] = await c.repo.revokeCertificateBySerial(
        target.serialNumber,
        'cessationOfOperation',
        CANCEL_NOTE,
        c.at(),
        c.audit(actor, 'certificate.renew_cancel', 'ok', null, `gateway=${gatewayId}; reason=cessationOfOperation; ${gw.activeCertificate ? `${gw.activeCertificate.serialNumber} stays active` : 'no active certificate'}`),
        // Refused if a confirmation got there first: the certificate is then active, not pending.
        { status: 'pending', gatewayId },
      );
      c.announceRevoked(cancelled!);
      const crl = await c.crl.publish(`pending certificate ${target.serialNumber} cancelled`);
      return { cancelled: cancelled!, alreadyCancelled: false, active: gw.activeCertificate, crlNumber: crl.crlNumber };
    });
  }

  /**
   * The one path for pending successors (renew-expiring, REST renew with `pending`, renewal over
   * MQTT): stored next to the active predecessor, which stays valid until activatePending. With
   * `replacePending`, the MAC's earlier unconfirmed successor is revoked (superseded) in the same
   * transaction and the CRL re-signed — except when that successor certifies the predecessor's own
   * key (a waiting renewal of the sweep, replaced by the device's CSR for a new key): its key stays
   * valid through the predecessor anyway, so the revocation waits for the next CRL (at the latest the
   * one that supersedes the predecessor when the device acks). Re-signing at once would make the
   * broker cut the device's live session (Mosquitto cuts by CN) just before `cert_update` is sent.
   */
  async addPendingSuccessor(
    predecessor: Pick<CertificateRecord, 'id' | 'serialNumber'> & { certificatePem?: string },
    cert: IssuedCertificate,
    keyOrigin: KeyOrigin,
    audit: NewAuditEvent,
    replacePending = true,
    deliver = false,
  ): Promise<PendingRenewalResult> {
    const c = this.core;
    const result = await c.repo.addPendingRenewal(predecessor.id, c.newCertificate(cert, keyOrigin), audit, { replacePending, at: c.at(), deliver });
    if (result.replaced) {
      c.announceRevoked(result.replaced);
      const sameKey = predecessor.certificatePem !== undefined && publicKeyOf(result.replaced.certificatePem).equals(publicKeyOf(predecessor.certificatePem));
      if (!sameKey) await c.crl.publish(`unconfirmed certificate ${result.replaced.serialNumber} replaced`);
    }
    c.announceIssued(result.certificate, predecessor.serialNumber);
    return result;
  }

  /** The device installed its pending successor certificate (cert/ack): activate it, revoke the old one. */
  async activatePending(serialNumber: string, actorLabel: string): Promise<{ activated: CertificateRecord; superseded: CertificateRecord | null; crlNumber: number }> {
    return this.activate(serialNumber, this.core.systemAudit(actorLabel, 'certificate.activate', null));
  }

  private async activate(serialNumber: string, audit: NewAuditEvent): Promise<{ activated: CertificateRecord; superseded: CertificateRecord | null; crlNumber: number }> {
    const c = this.core;
    const result = await c.repo.activatePendingCertificate(serialNumber, c.at(), audit);
    let crlNumber: number;
    if (result.superseded) {
      c.announceRevoked(result.superseded);
      crlNumber = (await c.crl.publish(`certificate ${result.superseded.serialNumber} superseded`)).crlNumber;
    } else {
      crlNumber = (await c.crl.ensureFresh()).crlNumber;
    }
    return { ...result, crlNumber };
  }

  /**
   * POST gateways/{id}/renew/ with `deliver: true`: a pending successor for the active certificate's
   * own key, recorded for delivery over MQTT (renewal-delivery.ts): the server asks the device at once
   * when it is online, else when it next comes online. An earlier unconfirmed successor is replaced.
   */
  async renewForDelivery(actor: Actor, gatewayId: number): Promise<PendingRenewOutcome> {
    const c = this.core;
    await c.authorize(actor, 'renew', `gateway:${gatewayId}`);
    return c.guard(actor, 'certificate.renew_pending', `gateway:${gatewayId}`, async () => {
      const gw = await c.gatewayOf(actor, gatewayId);
      const active = gw.activeCertificate;
      if (!active) throw new StateError(`gateway ${gatewayId} has no active certificate to renew; provision it first`);
      if (active.expiresAt <= c.at()) {
        throw new StateError(`the certificate of gateway ${gatewayId} expired at ${active.expiresAt}: the device cannot connect to receive a renewal; renew it without "deliver" at the device`);
      }
      const cert = await c.ca.issueDevice({ mac: gw.mac, spkiDer: publicKeyOf(active.certificatePem), profile: c.profile, now: c.now() });
      const { certificate, replaced } = await this.addPendingSuccessor(
        active,
        cert,
        active.keyOrigin,
        c.audit(actor, 'certificate.renew_pending', 'ok', null, `gateway=${gatewayId} serial=${cert.serialNumber} replaces=${active.serialNumber}; to be delivered over MQTT`),
        true,
        true,
      );
      const notices = [`certificate ${active.serialNumber} stays valid until the device acknowledges its renewal`];
      if (replaced) notices.push(`the unconfirmed certificate ${replaced.serialNumber} was revoked (superseded) and replaced by this one`);
      return { gateway: gw, certificate, replaces: active, notices };
    });
  }

  /**
   * The seed's `renovar_certificados`: every active device certificate expiring within `withinMs`
   * gets a successor for the same public key, issued as *pending* and recorded for delivery over
   * MQTT (renewal-delivery.ts). The old certificate keeps working until the device confirms its
   * renewal (cert/ack → activatePending), so a device that never hears about it is not locked out.
   */
  async renewExpiring(withinMs: number, actorLabel: string, dryRun = false): Promise<{ renewed: ExpiringRenewal[]; failed: { mac: string; serial: string; error: string }[] }> {
    const c = this.core;
    const expiring = await c.repo.listExpiringDeviceCertificates(c.at(withinMs));
    const renewed: ExpiringRenewal[] = [];
    const failed: { mac: string; serial: string; error: string }[] = [];
    for (const old of expiring) {
      if (dryRun) {
        renewed.push({ mac: old.subjectCn, oldSerial: old.serialNumber, newSerial: null, oldExpiresAt: old.expiresAt });
        continue;
      }
      // One certificate that cannot be renewed (e.g. its MAC is now held elsewhere) does not stop the others.
      try {
        const cert = await c.ca.issueDevice({ mac: old.subjectCn, spkiDer: publicKeyOf(old.certificatePem), profile: c.profile, now: c.now() });
        const { certificate: record } = await this.addPendingSuccessor(
          old,
          cert,
          old.keyOrigin,
          c.systemAudit(actorLabel, 'certificate.renew_pending', `replaces=${old.serialNumber} expiring=${old.expiresAt}; to be delivered over MQTT`, old.accountId),
          false,
          true,
        );
        renewed.push({ mac: old.subjectCn, oldSerial: old.serialNumber, newSerial: record.serialNumber, oldExpiresAt: old.expiresAt });
      } catch (err) {
        const error = err instanceof Error ? err.message : String(err);
        failed.push({ mac: old.subjectCn, serial: old.serialNumber, error });
        await c.repo.appendAudit({ ...c.systemAudit(actorLabel, 'certificate.renew_pending', `renewal of ${old.serialNumber} failed: ${error}`.slice(0, 300), old.accountId), result: 'error' });
      }
    }
    return { renewed, failed };
  }
}

function publicKeyOf(certificatePem: string): Buffer {
  return new X509Certificate(certificatePem).publicKey.export({ type: 'spki', format: 'der' });
}
