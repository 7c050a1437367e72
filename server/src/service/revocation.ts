/**
 * Revocation: a gateway's certificates over the API (`revoke/`), and any certificate by serial for
 * the operator's CLI and service identities. The CRL is re-signed before the answer.
 */
import type { RevocationReasonName } from '../ca/authority.js';
import type { CertificateRecord } from '../store/repository.js';
import type { Actor, IssuanceCore } from './core.js';

export const REVOCATION_REASONS: readonly RevocationReasonName[] = [
  'unspecified',
  'keyCompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'certificateHold',
  'privilegeWithdrawn',
];

/** An RFC 5280 reason name (any case), or free text kept as the note with reason *unspecified*. */
export function parseRevocationReason(text: string): { reason: RevocationReasonName; note: string | null } {
  const reason = REVOCATION_REASONS.find((r) => r.toLowerCase() === text.toLowerCase());
  return reason ? { reason, note: null } : { reason: 'unspecified', note: text };
}

export class RevocationService {
  constructor(private readonly core: IssuanceCore) {}

  /** POST gateways/{id}/revoke/: the gateway's active and pending certificates. */
  async revoke(actor: Actor, gatewayId: number, reasonText: string): Promise<{ revoked: CertificateRecord[]; crlNumber: number }> {
    const c = this.core;
    await c.authorize(actor, 'revoke', `gateway:${gatewayId}`);
    return c.guard(actor, 'certificate.revoke', `gateway:${gatewayId}`, async () => {
      const { reason, note } = parseRevocationReason(reasonText);
      const revoked = await c.repo.revokeGatewayCertificates(
        { accountId: actor.accountId, gatewayId, reason, note, at: c.at() },
        c.audit(actor, 'certificate.revoke', 'ok', null, `reason=${reason}`),
      );
      for (const r of revoked) c.announceRevoked(r);
      const crl = await c.crl.publish(`gateway ${gatewayId} revoked`);
      return { revoked, crlNumber: crl.crlNumber };
    });
  }

  /** Any certificate by serial (operator CLI; service identities); an active device certificate takes its pending successor with it. */
  async revokeBySerial(serialNumber: string, reasonText: string, actorLabel: string): Promise<CertificateRecord> {
    const c = this.core;
    const { reason, note } = parseRevocationReason(reasonText);
    const revoked = await c.repo.revokeCertificateBySerial(serialNumber.toUpperCase(), reason, note, c.at(), c.systemAudit(actorLabel, 'certificate.revoke', `reason=${reason}`));
    for (const r of revoked) c.announceRevoked(r);
    await c.crl.publish(`certificate ${serialNumber} revoked`);
    return revoked[0]!;
  }
}
