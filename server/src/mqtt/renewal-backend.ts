/**
 * Renewal over MQTT on top of the CA and the store (ADR-004). The new certificate is stored as the
 * *pending* successor of the device's active one, so the old certificate keeps working until the
 * device proves it installed the new one (cert/ack); only then is the old one revoked (superseded)
 * and the CRL re-signed and pushed to the broker.
 * - A repeated CSR for the same key returns the same pending certificate (no second issuance).
 * - A CSR for a different key replaces an unconfirmed pending certificate (the device lost it).
 * - At most MAX_RENEWALS_PER_DAY issuances per MAC, so a misbehaving device cannot grow the CRL.
 */
import { createPublicKey } from 'node:crypto';
import type { CertificateAuthority, DeviceProfileSettings } from '../ca/authority.js';
import { CsrError, parseCsr } from '../ca/csr.js';
import type { IssuanceServices } from '../service/issuance.js';
import type { NewAuditEvent, Repository } from '../store/repository.js';
import { RenewalRefused, type RenewalBackend, type RenewalIssued } from './renewal.js';
import type { MqttStore } from './store.js';

export const MAX_RENEWALS_PER_DAY = 5;

export interface RepositoryRenewalBackendOptions {
  ca: CertificateAuthority;
  repo: Repository;
  store: MqttStore;
  /** Issuance of the pending successor, activation and revocation go through the issuance core (events, audit, CRL). */
  issuance: IssuanceServices;
}

const isoSeconds = (d: Date = new Date()): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

function audit(mac: string, action: string, detail: string, result: NewAuditEvent['result'] = 'ok'): NewAuditEvent {
  return { at: isoSeconds(), accountId: null, actor: `device:${mac}`, action, object: null, sourceIp: null, result, detail };
}

function spkiOfCertificate(pem: string): Buffer {
  return createPublicKey(pem).export({ type: 'spki', format: 'der' });
}

export class RepositoryRenewalBackend implements RenewalBackend {
  constructor(private readonly o: RepositoryRenewalBackendOptions) {}

  private profile(): DeviceProfileSettings {
    const d = this.o.issuance.core.settings.device;
    return { subject: d.subject, domain: d.domain, validityDays: d.validityDays };
  }

  async issueRenewal(mac: string, id: string, csrPem: string): Promise<RenewalIssued> {
    const { ca, repo, store } = this.o;
    let spkiDer: Buffer;
    try {
      spkiDer = parseCsr(csrPem).spkiDer;
    } catch (err) {
      throw new RenewalRefused(err instanceof CsrError ? err.message : 'the CSR cannot be read');
    }
    const certs = await store.deviceCertificates(mac);
    const active = certs.find((c) => c.status === 'active');
    if (!active) throw new RenewalRefused(`${mac} has no active certificate; renewal is only for provisioned devices`);
    const pending = certs.find((c) => c.status === 'pending');
    if (pending && spkiOfCertificate(pending.certificatePem).equals(spkiDer)) {
      return { certificatePem: pending.certificatePem, serialNumber: pending.serialNumber, caPem: ca.certificatePem, repeated: true };
    }
    if ((await store.deviceCertificatesIssuedSince(mac, new Date(Date.now() - 86_400_000))) >= MAX_RENEWALS_PER_DAY) {
      await repo.appendAudit(audit(mac, 'certificate.renew', `refused: more than ${MAX_RENEWALS_PER_DAY} renewals in 24 h (request ${id})`, 'denied'));
      throw new RenewalRefused(`too many renewals for ${mac} in the last 24 hours`);
    }
    let issued;
    try {
      issued = await ca.issueDeviceFromCsr({ mac, csrPem, profile: this.profile() });
    } catch (err) {
      await repo.appendAudit(audit(mac, 'certificate.renew', `refused CSR (request ${id}): ${(err as Error).message}`, 'denied'));
      throw new RenewalRefused((err as Error).message);
    }
    // The shared path for pending successors (issuance core): events, audit, CRL. A different key
    // means the device lost the earlier attempt: that unconfirmed certificate is replaced (revoked).
    const { certificate } = await this.o.issuance.renewals.addPendingSuccessor(
      active,
      issued,
      'device',
      audit(mac, 'certificate.renew', `pending renewal over MQTT (request ${id}), confirmation required`),
    );
    store.invalidate(mac);
    return { certificatePem: certificate.certificatePem, serialNumber: certificate.serialNumber, caPem: ca.certificatePem, repeated: false };
  }

  async confirmRenewal(mac: string, id: string, serialNumber: string): Promise<'completed' | 'already-completed'> {
    const { repo, store, issuance } = this.o;
    const cert = await repo.getCertificateBySerial(serialNumber.toUpperCase());
    // A device can only confirm its own certificate.
    if (!cert || cert.kind !== 'device' || cert.subjectCn !== mac) throw new RenewalRefused(`no certificate ${serialNumber} for ${mac}`);
    if (cert.status === 'active') return 'already-completed';
    if (cert.status !== 'pending') throw new RenewalRefused(`certificate ${serialNumber} is ${cert.status}`);
    await issuance.renewals.activatePending(cert.serialNumber, `device:${mac}`);
    store.invalidate(mac);
    return 'completed';
  }
}
