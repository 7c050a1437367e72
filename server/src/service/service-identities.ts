/**
 * Identities that are not devices: the server's own MQTT client and station monitors (service
 * certificates) and brokers or other TLS servers. Each is recorded, so it shows in the CRL when
 * revoked (`RevocationService.revokeBySerial`).
 */
import type { IssuedCertificate } from '../ca/authority.js';
import type { KeyType } from '../contract/api.js';
import type { ServiceKind } from '../contract/identities.js';
import type { KeyOrigin } from '../store/repository.js';
import type { IssuanceCore } from './core.js';

export class ServiceIdentityService {
  constructor(private readonly core: IssuanceCore) {}

  get caPem(): string {
    return this.core.caPem;
  }

  /** A service identity (server MQTT client, station monitor), recorded so it can be revoked. */
  async issueServiceIdentity(
    options: { kind: ServiceKind; name: string; publicKeyPem?: string; keyType?: KeyType; validityDays?: number },
    actorLabel: string,
  ): Promise<IssuedCertificate> {
    const cert = await this.core.ca.issueServiceCertificate({
      kind: options.kind,
      name: options.name,
      ...(options.publicKeyPem ? { publicKey: options.publicKeyPem } : {}),
      ...(options.keyType ? { keyType: options.keyType } : {}),
      ...(options.validityDays ? { validityDays: options.validityDays } : {}),
      subject: this.subject(),
    });
    await this.record(cert, 'service', options.publicKeyPem ? 'station' : 'server', actorLabel);
    return cert;
  }

  /** A broker (or other TLS server) certificate, recorded so it can be revoked. */
  async issueBrokerIdentity(
    options: { hostnames?: string[]; ips?: string[]; publicKeyPem?: string; keyType?: KeyType; validityDays?: number },
    actorLabel: string,
  ): Promise<IssuedCertificate> {
    const cert = await this.core.ca.issueBrokerCertificate({
      ...(options.hostnames ? { hostnames: options.hostnames } : {}),
      ...(options.ips ? { ips: options.ips } : {}),
      ...(options.publicKeyPem ? { publicKey: options.publicKeyPem } : {}),
      ...(options.keyType ? { keyType: options.keyType } : {}),
      ...(options.validityDays ? { validityDays: options.validityDays } : {}),
      subject: this.subject(),
    });
    await this.record(cert, 'broker', options.publicKeyPem ? 'station' : 'server', actorLabel);
    return cert;
  }

  private subject(): { country: string; organization: string } {
    const s = this.core.settings.device.subject;
    return { country: s.country, organization: s.organization };
  }

  private async record(cert: IssuedCertificate, kind: 'service' | 'broker', keyOrigin: KeyOrigin, actorLabel: string): Promise<void> {
    const c = this.core;
    const record = await c.repo.recordCertificate(c.newCertificate(cert, keyOrigin, kind), c.systemAudit(actorLabel, `${kind}_certificate.issue`, `cn=${cert.commonName}`));
    c.announceIssued(record, null);
  }
}
