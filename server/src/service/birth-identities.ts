/**
 * Birth identities of bench-born devices (docs/zero-touch.md §2.1, §3.7, §3.8): a birth certificate
 * from the separate birth CA for the MAC's own key, and a single-use claim secret for its label (only
 * its hash is stored). Revoking one re-signs the birth CRL and voids the MAC's pending attested requests.
 */
import { CsrError } from '../ca/csr.js';
import { IdentityError } from '../ca/authority.js';
import { labelQr } from '../contract/bootstrap.js';
import type { BirthCertificateRecord } from '../store/repository.js';
import { claimSecretHash, newClaimSecret } from './bootstrap-crypto.js';
import { isoSeconds } from './clock.js';
import type { Actor, IssuanceCore, Permission } from './core.js';
import { ValidationError } from './errors.js';
import { parseRevocationReason } from './revocation.js';

export const BIRTH_PERMISSIONS = {
  issue: { name: 'birth_identity', roles: ['operator'], what: 'issue birth identities' },
  revoke: { name: 'birth_identity_revoke', roles: ['operator', 'admin'], what: 'revoke birth identities' },
} as const satisfies Record<string, Permission>;

export interface BirthOutcome {
  record: BirthCertificateRecord;
  /** Shown once. */
  claimSecret: string;
  labelQr: string;
  birthCaPem: string;
  /** The earlier birth certificate of the MAC, revoked (superseded) by `replace`. */
  replaced: BirthCertificateRecord | null;
}

export class BirthIdentityService {
  constructor(private readonly core: IssuanceCore) {}

  /** POST gateways/birth/ (the bench). */
  async issue(actor: Actor, input: { mac: string; csrPem: string; model?: string; replace?: boolean }): Promise<BirthOutcome> {
    const c = this.core;
    await c.authorize(actor, BIRTH_PERMISSIONS.issue, `mac:${input.mac}`);
    return c.guard(actor, 'birth_identity.issue', `mac:${input.mac}`, async () => {
      const birth = c.birth;
      // A device that holds an operational identity is re-onboarded by revoking that first.
      await c.assertMacAvailable(actor.accountId, input.mac);
      let issued;
      try {
        issued = await birth.ca.issueBirthFromCsr({
          mac: input.mac,
          csrPem: input.csrPem,
          subject: c.settings.device.subject,
          validityDays: c.settings.bootstrap.birthValidityDays,
          now: c.now(),
        });
      } catch (err) {
        if (err instanceof CsrError || err instanceof IdentityError) throw new ValidationError('csr_pem', err.message);
        throw err;
      }
      const secret = newClaimSecret();
      const at = c.at();
      const { certificate, replaced } = await c.repo.recordBirthCertificate(
        {
          mac: input.mac,
          serialNumber: issued.serialNumber,
          certificatePem: issued.pem,
          keyType: issued.keyType,
          model: input.model ?? null,
          accountId: actor.accountId,
          claimSecretHash: claimSecretHash(secret),
          issuedAt: at,
          expiresAt: isoSeconds(issued.notAfter),
        },
        { replace: input.replace ?? false, at },
        c.audit(actor, 'birth_identity.issue', 'ok', null, `mac=${input.mac} serial=${issued.serialNumber}${input.replace ? ' replace' : ''}`),
      );
      if (replaced) await birth.crl.publish(`birth certificate ${replaced.serialNumber} superseded`);
      return { record: certificate, claimSecret: secret, labelQr: labelQr(input.mac, secret), birthCaPem: birth.ca.certificatePem, replaced };
    });
  }

  /** POST gateways/birth/revoke/: the account's birth certificate of the MAC; the birth CRL is re-signed first. */
  async revoke(actor: Actor, mac: string, reasonText: string): Promise<{ record: BirthCertificateRecord; crlNumber: number }> {
    const c = this.core;
    await c.authorize(actor, BIRTH_PERMISSIONS.revoke, `mac:${mac}`);
    return c.guard(actor, 'birth_identity.revoke', `mac:${mac}`, async () => {
      const birth = c.birth;
      const { reason, note } = parseRevocationReason(reasonText);
      const record = await c.repo.revokeBirthCertificate(
        { mac, accountId: actor.accountId, reason, note, at: c.at() },
        c.audit(actor, 'birth_identity.revoke', 'ok', null, `mac=${mac} reason=${reason}`),
      );
      const crl = await birth.crl.publish(`birth certificate ${record.serialNumber} revoked`);
      return { record, crlNumber: crl.crlNumber };
    });
  }
}
